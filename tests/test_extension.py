import subprocess
import sys

import torch

import sphmask
from sphmask.utils.collect_env import collect_env


def test_extension_loads_and_registers_ops():
    assert sphmask.is_available()
    for name in ("voxelize", "voxel_mean", "furthest_point_sample", "ball_query", "sphere_coords",
                 "rays_from_masks", "assemble_masks", "segment_graph"):
        assert hasattr(torch.ops.sphmask, name), name


def test_build_info_matches_this_torch():
    assert sphmask.has_cuda() is (sphmask.cuda_version() is not None)
    assert sphmask.compiler_version()


def test_collect_env_reports_extension():
    report = collect_env()
    assert "sphmask._C: built with" in report
    assert torch.__version__ in report


def test_missing_extension_gives_build_instructions(tmp_path):
    # A copy of the pure-Python package without the compiled library, imported in a fresh interpreter.
    import shutil

    pkg = tmp_path / "sphmask"
    shutil.copytree(sphmask.__path__[0], pkg, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    code = ("import sphmask\nassert not sphmask.is_available()\n"
            "try:\n    sphmask.has_cuda()\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert "make build" in out.stdout and "pip install --no-build-isolation" in out.stdout
