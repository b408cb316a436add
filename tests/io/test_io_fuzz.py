"""Loader fuzz: random truncations and byte flips of small PLY / NPY / TXT files give a
DataFormatError (or load), never another exception type. Seeded, so a failure reproduces."""
import numpy as np
import pytest
from ply_writers import write_raw_ply

from sphmask.data.pointcloud import load_point_cloud
from sphmask.io.errors import DataFormatError

CASES_PER_FILE = 400
SEEDS = {"bin.ply": 1, "ascii.ply": 2, "a.npy": 3, "a.txt": 4}


def _sources(tmp_path):
    rng = np.random.default_rng(0)
    xyz = rng.uniform(0, 2, (12, 3))
    rgb = rng.integers(0, 256, (12, 3)).astype(np.uint8)
    vertex = {"x": xyz[:, 0].astype("f4"), "y": xyz[:, 1].astype("f4"), "z": xyz[:, 2].astype("f4"),
              "red": rgb[:, 0], "green": rgb[:, 1], "blue": rgb[:, 2]}
    faces = [[0, 1, 2], [2, 3, 4, 5], [6, 7, 8]]
    write_raw_ply(tmp_path / "bin.ply", vertex, faces)
    write_raw_ply(tmp_path / "ascii.ply", vertex, faces, text=True)
    np.save(tmp_path / "a.npy", np.concatenate([xyz, rgb], 1))
    np.savetxt(tmp_path / "a.txt", np.concatenate([xyz, rgb], 1), fmt="%.4f", header="x y z r g b", comments="")
    return {name: (tmp_path / name).read_bytes() for name in ("bin.ply", "ascii.ply", "a.npy", "a.txt")}


def _mutations(data: bytes, rng):
    for _ in range(CASES_PER_FILE):
        kind = rng.integers(3)
        if kind == 0:
            yield data[: rng.integers(len(data))]
        else:
            b = bytearray(data)
            for pos in rng.integers(0, len(b), rng.integers(1, 6)):
                b[pos] = rng.integers(256) if kind == 1 else b[pos] ^ (1 << rng.integers(8))
            yield bytes(b)


@pytest.mark.parametrize("name", ["bin.ply", "ascii.ply", "a.npy", "a.txt"])
def test_truncated_or_byte_flipped_file_gives_data_format_error_only(tmp_path, name):
    data = _sources(tmp_path)[name]
    rng = np.random.default_rng(SEEDS[name])
    path = tmp_path / ("fuzz_" + name)
    for i, blob in enumerate(_mutations(data, rng)):
        path.write_bytes(blob)
        try:
            pc = load_point_cloud(str(path), compute_superpoints=False)
        except DataFormatError:
            continue
        except Exception as exc:  # noqa: BLE001 - the point of the test
            pytest.fail(f"mutation {i} of {name} ({len(blob)} bytes) raised {type(exc).__name__}: {exc}")
        assert np.isfinite(pc.xyz).all() and pc.rgb.min() >= -1 and pc.rgb.max() <= 1
