"""The HTML viewer in a real browser (headless Debian Chromium via Playwright): picking with the
page's own camera, the score slider, the levels and the exports, on a synthetic room whose
instances are its annotated objects."""
import json

import numpy as np
import pytest

from sphmask.data.classes import SCANNETV2
from sphmask.data.synthetic import generate_scene
from sphmask.engine.export import instance_palette
from sphmask.viz import write_viewer
from sphmask.viz.palette import class_colors
from tests import browser

pytestmark = pytest.mark.skipif(bool(browser.missing()), reason=browser.missing() or "browser available")

NAMES = SCANNETV2.instance_names


def _room():
    """A small synthetic room: its points, and as 'predictions' its annotated instance-class objects
    (scores falling in aggregation order) plus one low-score instance overlapping the first."""
    import torch

    from sphmask.ops import segment_mesh

    scene = generate_scene(0, seed=0, size="small")
    xyz = scene.vertices.astype(np.float64)
    nyu = scene.vertex_nyu40
    train_id = {b: s for s, b in enumerate(SCANNETV2.benchmark_ids)}
    semantic = np.array([train_id.get(int(v), -1) for v in nyu])
    instances = []
    for k, obj in enumerate(scene.objects):
        s = train_id.get(obj.nyu40)
        if s is not None and s >= SCANNETV2.label_shift:
            instances.append({"indices": np.flatnonzero(scene.vertex_object == k), "label_id": s - 1})
    for k, inst in enumerate(instances):
        inst["score"] = round(0.95 - 0.08 * k, 2)
    # lowest score, overlapping instance 0: exports must still hold its whole mask
    first = instances[0]["indices"]
    instances.append({"indices": np.unique(np.r_[first[: first.size // 2], instances[1]["indices"]]),
                      "label_id": instances[1]["label_id"], "score": 0.1})
    superpoints = segment_mesh(torch.from_numpy(scene.vertices), torch.from_numpy(scene.faces)).numpy()
    return xyz, scene.colors, instances, semantic, superpoints


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    xyz, rgb, instances, semantic, superpoints = _room()
    out = tmp_path_factory.mktemp("viewer")
    path = str(out / "room_viewer.html")
    write_viewer(path, xyz, instances, rgb=rgb, superpoints=superpoints, semantic=semantic, class_names=NAMES,
                 semantic_names=SCANNETV2.semantic_names, title="synthetic room")
    decimated = str(out / "decimated_viewer.html")
    write_viewer(decimated, xyz, instances, superpoints=superpoints, class_names=NAMES, max_display_points=3000)
    masks = [np.zeros(len(xyz), bool) for _ in instances]
    for m, inst in zip(masks, instances):
        m[inst["indices"]] = True
    return {"xyz": xyz, "instances": instances, "masks": masks, "path": path, "decimated": decimated}


@pytest.fixture(scope="module")
def context():
    with browser.launch() as ctx:
        yield ctx


def _owner(masks, scores):
    owner = np.full(masks[0].shape[0], -1)
    for k in np.argsort(scores, kind="stable"):
        owner[masks[k]] = k
    return owner


def _screen(page, xyz):
    """Client coordinates and depth of the drawn points, projected in numpy with the page's own
    camera (its view-projection matrix and canvas rectangle)."""
    cam = page.evaluate("""(() => { const v = window.sphmask.viewer, r = v.renderer.domElement.getBoundingClientRect();
        return {m: v.viewProjection().elements, rect: [r.left, r.top, r.width, r.height], origin: v.meta.origin,
                display: v.display ? Array.from(v.display) : null}; })()""")
    pts = np.arange(len(xyz)) if cam["display"] is None else np.array(cam["display"])
    m = np.array(cam["m"]).reshape(4, 4).T  # three.js stores column-major
    h = np.c_[xyz[pts] - cam["origin"], np.ones(len(pts))] @ m.T
    ndc = h[:, :3] / h[:, 3:]
    left, top, w, hgt = cam["rect"]
    return pts, left + (ndc[:, 0] + 1) / 2 * w, top + (1 - ndc[:, 1]) / 2 * hgt, ndc[:, 2], cam["rect"]


def _clickable_point(page, room, target, screen=None):
    """A drawn point of instance ``target`` that is the front-most of all drawn points within 7 px
    of its screen position, and that position; (None, None) when every one is hidden."""
    pts, x, y, depth, (left, top, w, h) = screen or _screen(page, room["xyz"])
    owner = _owner(room["masks"], [i["score"] for i in room["instances"]])
    inside = (x > left + 10) & (x < left + w - 10) & (y > top + 10) & (y < top + h - 10)
    for j in np.flatnonzero((owner[pts] == target) & inside):
        near = (np.abs(x - x[j]) <= 7) & (np.abs(y - y[j]) <= 7)
        if depth[j] <= depth[near].min():
            return pts[j], (x[j], y[j])
    return None, None


def _panel(page):
    return page.evaluate("""(() => { const info = document.getElementById('info');
        const cls = info.querySelector('td[data-key=class]');
        return {instance: info.dataset.instance, cls: cls ? cls.textContent : null,
                points: (info.querySelector('td[data-key=points]') || {}).textContent}; })()""")


@pytest.mark.parametrize("which", ["path", "decimated"])
def test_click_known_point_shows_its_instance_and_class(room, context, which):
    page = browser.open_viewer(context, room[which])
    screen = _screen(page, room["xyz"])  # clicks do not move the camera
    clicked = 0
    for target in range(len(room["instances"])):
        p, xy = _clickable_point(page, room, target, screen)
        if p is None:  # hidden behind others from the initial camera
            continue
        clicked += 1
        page.mouse.click(*xy)
        panel = _panel(page)
        inst = room["instances"][target]
        assert panel["instance"] == str(target), (p, panel)
        assert panel["cls"] == NAMES[inst["label_id"] - 1]
        assert panel["points"].replace(",", "") == str(room["masks"][target].sum())
        assert page.get_attribute("#selection", "data-count") == "1"  # a plain click replaces the selection
        if clicked == 1:
            first = target
    assert clicked >= 4
    # shift-click adds the first clicked instance to the last one
    page.keyboard.down("Shift")
    page.mouse.click(*_clickable_point(page, room, first, screen)[1])
    page.keyboard.up("Shift")
    assert page.get_attribute("#selection", "data-count") == "2"
    page.close()


def test_score_slider_hides_instances_below_it(room, context):
    page = browser.open_viewer(context, room["path"])
    scores = np.array([i["score"] for i in room["instances"]])
    for t in ("0.5", "0.8", "0", "1"):
        page.fill("#score", t)
        expected = int((scores >= float(t)).sum())
        assert page.get_attribute("#visible-count", "data-count") == str(expected)
        assert page.locator("#instances li:not(.hidden)").count() == expected
    # drawn colours follow the slider: instance 0 (0.95) stays, instance 5 (0.55) goes at 0.6
    page.fill("#score", "0.6")
    pixels = _canvas_pixels(page)
    palette = instance_palette(len(scores))
    assert _has_colour(pixels, palette[0]) and not _has_colour(pixels, palette[5])
    page.close()


def _canvas_pixels(page):
    from io import BytesIO

    from matplotlib.image import imread

    png = page.locator("#view canvas").screenshot()
    return (imread(BytesIO(png), format="png")[..., :3] * 255).round().astype(int).reshape(-1, 3)


def _has_colour(pixels, colour, tol=2, min_count=20):
    return int((np.abs(pixels - np.asarray(colour, int)).max(1) <= tol).sum()) >= min_count


def test_levels_colour_by_superpoint_instance_and_class(room, context):
    page = browser.open_viewer(context, room["path"])
    inst0 = room["instances"][0]
    pixels = {}
    for level in ("superpoints", "instances", "classes"):
        page.check(f"#level-{level}")
        pixels[level] = _canvas_pixels(page)
    assert _has_colour(pixels["instances"], instance_palette(1)[0])
    assert not _has_colour(pixels["classes"], instance_palette(1)[0])
    class_colour = class_colors(SCANNETV2.semantic_names)[inst0["label_id"] + 1]
    assert _has_colour(pixels["classes"], class_colour)
    # the superpoint level shades each superpoint of an instance differently
    distinct = {lv: len(np.unique(px @ [65536, 256, 1])) for lv, px in pixels.items()}
    assert distinct["superpoints"] > 2 * distinct["instances"], distinct
    page.close()


@pytest.mark.parametrize("which", ["path", "decimated"])
def test_shift_click_selection_exports_whole_masks(room, context, tmp_path, which):
    from plyfile import PlyData

    page = browser.open_viewer(context, room[which])
    page.locator("#instances li[data-id='1']").click()
    last = len(room["instances"]) - 1  # the low-score instance overlapping instance 0 and holding 1
    page.locator(f"#instances li[data-id='{last}']").click(modifiers=["Shift"])
    assert page.get_attribute("#selection", "data-count") == "2"
    union = room["masks"][1] | room["masks"][last]
    assert page.get_attribute("#selection", "data-points") == str(union.sum())

    with page.expect_download() as dl:
        page.click("#export-ply")
    ply_path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(ply_path)
    vertex = PlyData.read(str(ply_path))["vertex"]
    assert vertex.count == union.sum()
    np.testing.assert_array_equal(vertex["point_index"], np.flatnonzero(union))
    xyz = np.c_[vertex["x"], vertex["y"], vertex["z"]]
    np.testing.assert_allclose(xyz, room["xyz"][union], atol=2e-6)
    # where the two selected masks overlap, the better-scoring instance (1) is the point's instance
    tag = np.where(room["masks"][1][union], 1, last)
    np.testing.assert_array_equal(vertex["instance"], tag)

    with page.expect_download() as dl:
        page.click("#export-json")
    doc = json.loads(open(dl.value.path()).read())
    assert [i["id"] for i in doc["instances"]] == [1, last]
    for inst in doc["instances"]:
        np.testing.assert_array_equal(inst["point_indices"], np.flatnonzero(room["masks"][inst["id"]]))
        assert inst["num_points"] == room["masks"][inst["id"]].sum()

    page.locator("#instances li[data-id='1']").click(modifiers=["Shift"])  # shift-click again: removed
    assert page.get_attribute("#selection", "data-count") == "1"
    page.click("#clear")
    assert page.get_attribute("#selection", "data-count") == "0"
    page.close()
