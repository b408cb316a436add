"""sphmask.viz: the PNG top view and the HTML viewer show the instances in the PLY's colours."""
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from sphmask.engine.export import BACKGROUND_RGB, instance_palette
from sphmask.viz import render_top_view, write_html_viewer


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


def test_html_viewer_traces_and_shared_plotly_js(tmp_path):
    xyz, instances = _scene()
    names = [f"c{i}" for i in range(18)]
    rgb = np.full(xyz.shape, 200, np.uint8)
    for k in range(2):
        write_html_viewer(str(tmp_path / f"s{k}.html"), xyz, rgb, instances, names, title=f"scene {k}")
    html = (tmp_path / "s0.html").read_text()
    assert '<script src="plotly.min.js"' in html or "src=\"plotly.min.js\"" in html
    assert (tmp_path / "plotly.min.js").stat().st_size > 1_000_000
    # one trace per instance, named by class and score, plus the uncovered points
    assert re.findall(r'"name":"(c4 0.90|c2 0.80|no instance)"', html) == ["no instance", "c4 0.90", "c2 0.80"]
    inline = tmp_path / "inline.html"
    write_html_viewer(str(inline), xyz, None, instances, names, plotly_js="inline")
    assert "plotly.min.js" not in inline.read_text()[:2000] and inline.stat().st_size > 1_000_000
    with pytest.raises(ValueError, match="rgb must have shape"):
        write_html_viewer(str(tmp_path / "x.html"), xyz, rgb[:5], instances)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs a chromium binary (Debian package chromium)")
def test_html_viewer_renders_offline_in_headless_chromium(tmp_path):
    xyz, instances = _scene()
    page = tmp_path / "viewer.html"
    write_html_viewer(str(page), xyz, None, instances, [f"c{i}" for i in range(18)])
    shot = tmp_path / "shot.png"
    # No network flags: the page must draw from local files only (plotly.min.js beside it).
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
                    "--window-size=900,700", "--virtual-time-budget=8000", f"--screenshot={shot}",
                    page.as_uri()], check=True, capture_output=True, timeout=120)
    pixels = _png_pixels(str(shot))
    for colour in instance_palette(2):
        close = np.abs(pixels.astype(int) - colour.astype(int)).max(1) <= 3
        assert close.sum() > 50, colour  # both instances are drawn (WebGL ran)
