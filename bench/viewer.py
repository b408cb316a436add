#!/usr/bin/env python
"""The HTML viewer at 250k points: writing the page, loading it in headless Chromium, a click and a
slider move, side by side with a plotly Scatter3d page of the same points (the viewer sphmask
shipped before, one trace per instance).

    python bench/viewer.py [--points 250000] [--repeats 5] [--write docs/benchmarks.md]

Needs playwright (requirements.txt), Debian's chromium and, for the plotly row, plotly
(requirements-bench.txt). The scene: synthetic rooms (sphmask.data.synthetic, default size) side by
side, their annotated objects as instances with seeded scores, mesh superpoints, sampled down to
``--points``. Chromium draws WebGL with SwiftShader (no GPU), so draw-heavy numbers are the CPU's.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from bench._common import Row, format_table, machine_info, report  # noqa: E402

BEGIN, END = "<!-- viewer-begin -->", "<!-- viewer-end -->"


def scene(num_points: int, seed: int = 0):
    """``(xyz [N,3], rgb uint8 [N,3], instances, superpoints [N], semantic [N])`` of rooms side by side."""
    import torch

    from sphmask.data.classes import SCANNETV2
    from sphmask.data.synthetic import generate_scene
    from sphmask.ops import segment_mesh

    train_id = {b: s for s, b in enumerate(SCANNETV2.benchmark_ids)}
    parts, k = [], 0
    while sum(p[0].shape[0] for p in parts) < num_points:
        room = generate_scene(k, seed=seed)
        sp = segment_mesh(torch.from_numpy(room.vertices), torch.from_numpy(room.faces)).numpy()
        offset = np.array([9.0 * k, 0.0, 0.0])
        obj = room.vertex_object.copy()
        parts.append((room.vertices.astype(np.float64) + offset, room.colors, obj, room.objects, sp))
        k += 1
    xyz = np.concatenate([p[0] for p in parts])
    rgb = np.concatenate([p[1] for p in parts])
    sp = np.concatenate([p[4] + 10_000_000 * i for i, p in enumerate(parts)])
    obj_global, labels, base = [], [], 0
    for p in parts:
        obj_global.append(np.where(p[2] >= 0, p[2] + base, -1))
        labels += [train_id.get(int(o.nyu40)) for o in p[3]]
        base += len(p[3])
    obj = np.concatenate(obj_global)
    sem_point = np.array([s if s is not None else -1 for s in labels] + [-1])[obj]
    keep = np.sort(np.random.default_rng(seed).choice(xyz.shape[0], num_points, replace=False))
    xyz, rgb, sp, obj, sem_point = xyz[keep], rgb[keep], sp[keep], obj[keep], sem_point[keep]
    rng = np.random.default_rng(seed + 1)
    instances = []
    for o, s in enumerate(labels):
        if s is not None and s >= SCANNETV2.label_shift:
            idx = np.flatnonzero(obj == o)
            if idx.size:
                instances.append({"indices": idx, "label_id": s - 1, "score": float(rng.uniform(0.2, 1.0))})
    instances.sort(key=lambda i: -i["score"])
    return xyz, rgb, instances, sp, sem_point


def plotly_page(path, xyz, instances):
    """The previous sphmask viewer's design: one Scatter3d trace per instance plus the rest, plotly.js inlined."""
    import plotly.graph_objects as go

    from sphmask.engine.export import instance_palette, point_instance_index

    masks = []
    for inst in instances:
        m = np.zeros(len(xyz), bool)
        m[inst["indices"]] = True
        masks.append({"mask": m, "score": inst["score"]})
    owner = point_instance_index(len(xyz), masks)
    pal = instance_palette(len(instances))
    traces = []
    for k in range(-1, len(instances)):
        sel = owner == k
        color = "rgb(128,128,128)" if k < 0 else "rgb({},{},{})".format(*pal[k])
        traces.append(go.Scatter3d(x=xyz[sel, 0], y=xyz[sel, 1], z=xyz[sel, 2], mode="markers",
                                   marker=dict(size=2, color=color), hoverinfo="name"))
    fig = go.Figure(traces)
    fig.update_layout(scene=dict(aspectmode="data"))
    with open(path, "w", encoding="utf-8") as f:
        f.write(fig.to_html(include_plotlyjs=True, full_html=True, post_script="window.plotlyReady = true;"))


def load_ms(context, path, ready_js, repeats):
    times = []
    for _ in range(repeats + 1):  # the first load warms Chromium's caches and is not counted
        page = context.new_page()
        t0 = time.perf_counter()
        page.goto("file://" + path, wait_until="commit", timeout=300_000)
        page.wait_for_function(ready_js, timeout=300_000, polling=20)
        times.append((time.perf_counter() - t0) * 1e3)
        page.close()
    return times[1:]


def stats(times):
    return statistics.median(times), min(times), max(times)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--points", type=int, default=250_000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--write", help="markdown file whose viewer section is replaced by the results")
    args = p.parse_args()

    from importlib.metadata import version

    from sphmask.data.classes import SCANNETV2
    from sphmask.viz import write_viewer
    from tests import browser

    if browser.missing():
        sys.exit(f"error: {browser.missing()}")
    xyz, rgb, instances, sp, sem = scene(args.points)
    out = tempfile.mkdtemp(prefix="sphmask-viewer-bench-")
    page_path = os.path.join(out, "bench_viewer.html")
    case = f"{args.points // 1000}k points, {len(instances)} instances"
    write_times, info = [], None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        info = write_viewer(page_path, xyz, instances, rgb=rgb, superpoints=sp, semantic=sem,
                            class_names=SCANNETV2.instance_names, semantic_names=SCANNETV2.semantic_names)
        write_times.append((time.perf_counter() - t0) * 1e3)
    rows = [Row("viewer: write page", case, "sphmask write_viewer", *stats(write_times),
                note=f"{info['bytes'] / 2**20:.1f} MiB HTML, {info['num_displayed'] // 1000}k drawn")]
    with browser.launch() as context:
        ours = load_ms(context, page_path, "window.sphmask && window.sphmask.ready", args.repeats)
        rows.append(Row("viewer: open page", case, "sphmask viewer (goto to first frame)", *stats(ours),
                        note="three.js, WebGL on SwiftShader"))
        try:
            import plotly
        except ImportError:
            plotly = None
        if plotly is not None:
            plotly_path = os.path.join(out, "bench_plotly.html")
            plotly_page(plotly_path, xyz, instances)
            theirs = load_ms(context, plotly_path, "window.plotlyReady === true", args.repeats)
            rows.append(Row("viewer: open page", case, f"plotly {plotly.__version__} Scatter3d, a trace per instance",
                            *stats(theirs), note=f"{os.path.getsize(plotly_path) / 2**20:.1f} MiB HTML; no selection"))
        page = context.new_page()
        page.goto("file://" + page_path)
        page.wait_for_function("window.sphmask && window.sphmask.ready", timeout=300_000)
        timed = page.evaluate("""(repeats) => {
            const v = window.sphmask.viewer, r = v.renderer.domElement.getBoundingClientRect(), click = [], slide = [];
            for (let i = 0; i < repeats; i++) {
                let t = performance.now();
                v.clickPoint(v.pick(r.left + r.width / 2, r.top + r.height / 2), false);
                click.push(performance.now() - t);
                t = performance.now();
                v.setThreshold(i % 2 ? 0.25 : 0.75);
                slide.push(performance.now() - t);
            }
            return {click, slide, timing: window.sphmask.timing}; }""", args.repeats)
        rows.append(Row("viewer: click a point", case, "sphmask viewer (pick + highlight + panel)",
                        *stats(timed["click"]), note="pick over every drawn point"))
        rows.append(Row("viewer: move the score slider", case, "sphmask viewer (recolour + panel)",
                        *stats(timed["slide"])))
    chromium = os.popen(f"{browser.CHROMIUM} --version 2>/dev/null").read().strip()
    report(format_table(rows), machine_info(chromium, f"playwright {version('playwright')}"),
           f"median of {args.repeats} runs; the machine was shared with other engineers' jobs", args.write,
           (BEGIN, END), "HTML viewer")


if __name__ == "__main__":
    main()
