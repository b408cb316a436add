#!/usr/bin/env python
"""The screenshots of docs/viewer.md: a bundled demo room (from demo/scenes.tar.xz) segmented with the
shipped checkpoint, its viewer opened in headless Chromium at each level, then a selection and its export.

    python tools/viewer_screenshots.py [--scene synth1001_00] [--out docs/images]

Writes ``viewer_<level>.png``, ``viewer_threshold.png``, ``viewer_selection.png`` and
``demo_top.png`` (docs/demo_model.md shows it and ``viewer_instances.png``), and prints what the
selection exported. Needs playwright and Debian's chromium (see tests/browser.py).
"""
import argparse
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scene", default="synth1001_00")
    p.add_argument("--ckpt", default=os.path.join(ROOT, "demo", "spherical_mask_small.pth"))
    p.add_argument("--out", default=os.path.join(ROOT, "docs", "images"))
    args = p.parse_args(argv)

    import numpy as np
    from plyfile import PlyData

    from sphmask.data import load_point_cloud
    from sphmask.data.scannet import scene_paths
    from sphmask.engine.segment import load_segmentation_model, segment_scene
    from sphmask.io import extract_scene_archive
    from sphmask.viz import render_segmentation
    from tests import browser

    if browser.missing():
        print(f"error: {browser.missing()}", file=sys.stderr)
        return 2
    setup = load_segmentation_model(args.ckpt, None, device="cpu")
    work = tempfile.mkdtemp(prefix="sphmask-shots-")
    extract_scene_archive(os.path.join(ROOT, "demo", "scenes.tar.xz"), os.path.join(work, "scenes"))
    scene_dir = os.path.join(work, "scenes", "scans", args.scene)
    # superpoints computed on load are the ones segment_scene then runs with (it computes them only when absent)
    cloud = load_point_cloud(scene_paths(scene_dir, args.scene)["mesh"], compute_superpoints=True)
    seg = segment_scene(setup.model, cloud, voxel=setup.voxel, test_rotation=setup.test_rotation, name=args.scene)
    shown = seg.above(0.3)  # what `make demo` shows (its --score-thresh)
    render_segmentation(work, args.scene, cloud, shown, setup.instance_names,
                        title=f"{args.scene}: {len(shown)} instances with score >= 0.3", superpoints=cloud.superpoints,
                        semantic=seg.semantic, semantic_names=setup.semantic_names, score_threshold=0.3)
    os.makedirs(args.out, exist_ok=True)
    os.replace(os.path.join(work, f"{args.scene}_top.png"), os.path.join(args.out, "demo_top.png"))
    page_path = os.path.join(work, f"{args.scene}_viewer.html")
    with browser.launch() as context:
        page = browser.open_viewer(context, page_path)
        for level in ("superpoints", "instances", "classes"):
            page.check(f"#level-{level}")
            page.screenshot(path=os.path.join(args.out, f"viewer_{level}.png"))
        page.check("#level-instances")
        page.fill("#score", "0.97")
        page.screenshot(path=os.path.join(args.out, "viewer_threshold.png"))
        print("at 0.97:", page.text_content("#visible-count"))
        page.fill("#score", "0.3")
        # the two largest shown instances: click the first on the canvas, shift-click the second in the list
        ids = sorted(range(len(shown)), key=lambda k: -shown[k].num_points)[:2]
        xy = page.evaluate("""(k) => { const v = window.sphmask.viewer, pts = [];
            for (let i = v.offsets[k]; i < v.offsets[k + 1]; i++) pts.push(v.members[i]);
            const mid = pts[Math.floor(pts.length / 2)], q = v.project(mid); return [q.x, q.y]; }""", ids[0])
        page.mouse.click(*xy)
        page.locator(f"#instances li[data-id='{ids[1]}']").click(modifiers=["Shift"])
        page.screenshot(path=os.path.join(args.out, "viewer_selection.png"))
        print("clicked:", page.text_content("#info"))
        print("selection:", page.text_content("#selection"))
        with page.expect_download() as dl:
            page.click("#export-ply")
        ply = PlyData.read(dl.value.path())["vertex"]
        union = np.unique(np.concatenate([shown[k].indices for k in map(int, page.evaluate(
            "[...window.sphmask.viewer.selection]"))]))
        print(f"exported {dl.value.suggested_filename}: {ply.count} points; union of the selected masks: "
              f"{union.size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
