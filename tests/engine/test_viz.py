"""sphmask.viz: the PNG top view and the HTML viewer page show the instances in the PLY's colours; the page
holds the scene exactly (decoded here as the browser decodes it). Browser behaviour: test_viewer_browser.py."""
import filecmp
import os
import subprocess

import numpy as np
import pytest

from sphmask.data.pointcloud import PointCloud
from sphmask.engine.export import BACKGROUND_RGB, instance_palette, point_instance_index
from sphmask.engine.segment import Instance
from sphmask.viz import render_segmentation, render_top_view, write_viewer
from sphmask.viz.palette import NYU40_PALETTE, class_colors
from tests.viewer_page import read_page

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _scene():
    rng = np.random.default_rng(0)
    floor = np.c_[rng.uniform(0, 4, (2000, 2)), np.zeros(2000)]
    box = np.c_[rng.uniform(1, 1.5, (300, 2)), rng.uniform(0, 0.5, 300)]
    table = np.c_[rng.uniform(2.5, 3.5, (300, 2)), np.full(300, 0.7)]
    xyz = np.concatenate([floor, box, table])
    instances = [{"indices": np.arange(2300, 2600), "label_id": 5, "score": 0.9},
                 {"mask": np.r_[np.zeros(2000, bool), np.ones(300, bool), np.zeros(300, bool)], "label_id": 3,
                  "score": 0.8}]
    return xyz, instances


def _png_pixels(path):
    from matplotlib.image import imread

    return (imread(path)[..., :3] * 255).round().astype(np.uint8).reshape(-1, 3)


def test_top_view_png_has_instance_and_background_colours(tmp_path):
    xyz, instances = _scene()
    names = [f"c{i}" for i in range(18)]
    out = tmp_path / "top.png"
    render_top_view(str(out), xyz, instances, names, title="two objects", size_inches=(6, 4), dpi=50)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = {tuple(p) for p in _png_pixels(str(out))}
    palette = instance_palette(2)
    for colour in [tuple(palette[0]), tuple(palette[1]), BACKGROUND_RGB]:
        assert any(max(abs(int(a) - int(b)) for a, b in zip(colour, p)) <= 2 for p in pixels), colour
    assert [f for f in os.listdir(tmp_path) if f.startswith(".tmp")] == []


def test_top_view_rejects_bad_input(tmp_path):
    xyz, instances = _scene()
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        render_top_view(str(tmp_path / "a.png"), xyz[:, :2], instances)
    bad = xyz.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        render_top_view(str(tmp_path / "a.png"), bad, instances)
    with pytest.raises(ValueError, match=r"mask has shape \(5,\)"):
        render_top_view(str(tmp_path / "a.png"), xyz, [{"mask": np.ones(5, bool), "label_id": 1, "score": 1.0}])
    assert not (tmp_path / "a.png").exists()


def _superpoints(xyz):
    return (np.floor(xyz[:, 0] / 0.5) * 100 + np.floor(xyz[:, 1] / 0.5)).astype(np.int64) * 7 + 3


def test_viewer_page_holds_the_scene_exactly(tmp_path):
    xyz, instances = _scene()
    xyz = xyz + [512_000.0, 4_300_000.0, 12.0]  # georeferenced: the page stores coordinates about an origin
    sp = _superpoints(xyz)
    semantic = np.r_[np.ones(2000, int), np.full(300, 3), np.full(300, 99)]  # 99: no such class
    rgb = np.random.default_rng(1).integers(0, 256, xyz.shape).astype(np.uint8)
    names = [f"c{i}" for i in range(18)]
    info = write_viewer(str(tmp_path / "s_viewer.html"), xyz, instances, rgb=rgb, superpoints=sp, semantic=semantic,
                        class_names=names, semantic_names=["wall", "floor", "chair", "table"], title="a <b> scene")
    page = read_page(str(tmp_path / "s_viewer.html"))
    meta, arr = page["meta"], page["arrays"]
    assert info == {"num_points": 2600, "num_displayed": 2600, "num_instances": 2, "bytes": len(page["html"].encode())}
    assert meta["name"] == "s" and "<title>a &lt;b&gt; scene</title>" in page["html"]
    rel = arr["xyz"].reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(rel + meta["origin"], xyz, rtol=0, atol=1e-4)
    assert np.abs(rel).max() < 3  # relative to the bounding-box centre, not the raw 4.3e6
    masks = [np.zeros(2600, bool), np.r_[np.zeros(2000, bool), np.ones(300, bool), np.zeros(300, bool)]]
    masks[0][2300:2600] = True
    np.testing.assert_array_equal(arr["owner"], point_instance_index(2600, [{"mask": m, "score": i["score"]}
                                                                            for m, i in zip(masks, instances)]))
    for k, m in enumerate(masks):
        np.testing.assert_array_equal(arr["inst_points"][arr["inst_offsets"][k]:arr["inst_offsets"][k + 1]],
                                      np.flatnonzero(m))
    # superpoints renumbered 0..S-1, the same partition
    assert arr["superpoints"].max() + 1 == len(np.unique(sp)) == meta["num_superpoints"]
    pairs = set(zip(arr["superpoints"].tolist(), sp.tolist()))
    assert len(pairs) == len(np.unique(sp))
    np.testing.assert_array_equal(arr["semantic"], np.r_[np.ones(2000), np.full(300, 3), np.full(300, -1)])
    np.testing.assert_array_equal(arr["rgb"].reshape(-1, 3), rgb)
    assert "display" not in arr
    insts = meta["instances"]
    assert [(i["id"], i["class"], i["score"], i["num_points"]) for i in insts] == [(0, "c4", 0.9, 300),
                                                                                  (1, "c2", 0.8, 300)]
    assert [i["num_superpoints"] for i in insts] == [len(np.unique(sp[m])) for m in masks]
    assert [i["color"] for i in insts] == instance_palette(2).tolist()
    assert meta["semantic_colors"][0] == [174, 199, 232]  # ScanNet's wall
    # offline: nothing is loaded from anywhere (no src or href attributes), the script is inline
    assert "src=" not in page["html"] and "href=" not in page["html"]


def test_viewer_draws_a_seeded_sample_above_the_limit_and_keeps_all_points(tmp_path):
    xyz, instances = _scene()
    for k in range(2):
        info = write_viewer(str(tmp_path / f"d{k}.html"), xyz, instances, max_display_points=1000)
        assert info["num_displayed"] == 1000
    a, b = read_page(str(tmp_path / "d0.html")), read_page(str(tmp_path / "d1.html"))
    display = a["arrays"]["display"]
    assert display.size == 1000 and (np.diff(display) > 0).all() and display.max() < 2600
    np.testing.assert_array_equal(display, b["arrays"]["display"])
    assert a["arrays"]["xyz"].size == 3 * 2600 and a["arrays"]["inst_points"].size == 600


def test_viewer_rejects_bad_input_and_writes_nothing(tmp_path):
    xyz, instances = _scene()
    out = str(tmp_path / "x.html")
    cases = [
        (dict(superpoints=np.zeros(5, int)), r"superpoints must have shape \(2600,\)"),
        (dict(semantic=np.zeros(2600)), "semantic must be integers"),
        (dict(rgb=np.zeros((2600, 3))), "rgb must be uint8"),
        (dict(score_threshold=1.5), r"score_threshold must be in \[0, 1\]"),
        (dict(max_display_points=0), "max_display_points must be at least 1"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            write_viewer(out, xyz, instances, **kwargs)
    with pytest.raises(ValueError, match=r"point indices must be in \[0, 2600\)"):
        write_viewer(out, xyz, [{"indices": [0, 2600], "label_id": 1, "score": 0.5}])
    with pytest.raises(ValueError, match="score must be finite"):
        write_viewer(out, xyz, [{"indices": [0], "label_id": 1, "score": float("nan")}])
    assert os.listdir(tmp_path) == []


def test_class_colours_are_scannets_by_name_and_distinct_for_other_names():
    colours = class_colors(["wall", "refrigerator", "chair", "beam", "column"])
    assert colours[:3].tolist() == [NYU40_PALETTE[1].tolist(), NYU40_PALETTE[24].tolist(), NYU40_PALETTE[5].tolist()]
    assert len({tuple(c) for c in colours.tolist()}) == 5
    assert len({tuple(c) for c in class_colors([f"x{i}" for i in range(40)]).tolist()}) == 40


def test_render_segmentation_writes_png_and_viewer_with_superpoints_and_semantics(tmp_path):
    xyz, _ = _scene()
    cloud = PointCloud(xyz=xyz, rgb=np.zeros(xyz.shape, np.float32), superpoints=_superpoints(xyz), faces=None,
                       has_color=True)
    kept = [Instance(indices=np.arange(2300, 2600), label_id=5, score=0.9)]
    render_segmentation(str(tmp_path), "room", cloud, kept, [f"c{i}" for i in range(18)], title="room",
                        semantic=np.zeros(2600, np.int64), semantic_names=["wall"], score_threshold=0.3)
    assert (tmp_path / "room_top.png").read_bytes()[:4] == b"\x89PNG"
    meta = read_page(str(tmp_path / "room_viewer.html"))["meta"]
    assert meta["superpoint_source"] == "of the input cloud" and meta["score_threshold"] == 0.3
    assert meta["instances"][0]["num_superpoints"] == len(np.unique(_superpoints(xyz)[2300:]))
    assert set(meta["arrays"]) >= {"superpoints", "semantic", "rgb"}


ESBUILD = os.path.join(ROOT, "js", "viewer", "node_modules", ".bin", "esbuild")


@pytest.mark.skipif(not os.path.exists(ESBUILD), reason="needs `npm ci` in js/viewer (make viewer-js; .ci/run does it)")
def test_committed_viewer_script_is_built_from_its_sources(tmp_path):
    out = tmp_path / "bundle.js"
    subprocess.run(["npm", "run", "--silent", "build", "--", f"--outfile={out}"],
                   cwd=os.path.join(ROOT, "js", "viewer"),
                   check=True, capture_output=True, timeout=120)
    assert filecmp.cmp(out, os.path.join(ROOT, "sphmask", "viz", "static", "sphmask-viewer.min.js"), shallow=False), \
        "sphmask/viz/static/sphmask-viewer.min.js is stale: run `make viewer-js` and commit it"
