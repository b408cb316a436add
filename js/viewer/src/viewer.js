// The sphmask segmentation viewer (docs/viewer.md): one page per scene, written by sphmask.viz.write_viewer.
//
// The page carries its data as compressed base64 arrays (see sphmask/viz/viewer.py for the layout);
// this script decodes them, draws the displayed points with three.js and keeps all interaction on
// the full cloud: picking maps the clicked displayed point back to its index in the input cloud,
// selections and exports use every point of the instances' masks.
import {
  BufferAttribute, BufferGeometry, Color, LinearSRGBColorSpace, Matrix4, PerspectiveCamera, Points, PointsMaterial, Scene, Vector3,
  WebGLRenderer,
} from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";

import { decodeArray } from "./data.js";
import { el, rgbCss } from "./dom.js";
import { download, selectionJson, selectionPly, selectionPoints } from "./export.js";

const LEVELS = ["superpoints", "instances", "classes"];
const DIM = 0.28; // brightness of points outside the selection while something is selected
const PICK_RADIUS_PX = 6;

// Superpoint shading: a per-superpoint brightness factor from an integer hash, so neighbouring
// superpoints of one instance differ while keeping the instance's hue.
function superpointFactor(id) {
  let h = Math.imul(id ^ 0x9e3779b9, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return 0.45 + 1.0 * ((h >>> 0) / 4294967295);
}

class Viewer {
  constructor(meta, arrays) {
    this.meta = meta;
    this.n = meta.num_points;
    this.xyz = arrays.xyz;
    this.rgb = arrays.rgb || null;
    this.owner = arrays.owner;
    this.sp = arrays.superpoints || null;
    this.sem = arrays.semantic || null;
    this.offsets = arrays.inst_offsets;
    this.members = arrays.inst_points;
    this.display = arrays.display || null; // null: every point is drawn
    this.instances = meta.instances;
    this.threshold = meta.score_threshold;
    this.level = "instances";
    this.focus = -1;
    this.useRgb = false;
    this.selection = new Set();
    this.selectedPoint = new Uint8Array(this.n);
    this.lastPick = null;
    this.buildScene();
    this.buildControls();
    this.recolour();
  }

  get numDisplayed() {
    return this.display ? this.display.length : this.n;
  }

  pointOf(j) {
    return this.display ? this.display[j] : j;
  }

  buildScene() {
    const d = this.numDisplayed;
    const pos = new Float32Array(3 * d);
    for (let j = 0; j < d; j++) {
      const p = this.pointOf(j);
      pos[3 * j] = this.xyz[3 * p];
      pos[3 * j + 1] = this.xyz[3 * p + 1];
      pos[3 * j + 2] = this.xyz[3 * p + 2];
    }
    this.positions = pos;
    this.colours = new Uint8Array(3 * d);
    const geom = new BufferGeometry();
    geom.setAttribute("position", new BufferAttribute(pos, 3));
    this.colourAttr = new BufferAttribute(this.colours, 3, true);
    geom.setAttribute("color", this.colourAttr);
    const size = d > 100000 ? 2 : d > 20000 ? 3 : 4;
    this.material = new PointsMaterial({ size, sizeAttenuation: false, vertexColors: true });
    this.scene = new Scene();
    this.scene.background = new Color(0xffffff);
    this.scene.add(new Points(geom, this.material));

    const host = document.getElementById("view");
    this.renderer = new WebGLRenderer({ antialias: false, preserveDrawingBuffer: true });
    this.renderer.setPixelRatio(window.devicePixelRatio || 1);
    // the palettes are sRGB bytes meant to appear as given: no colour-space conversion on output
    this.renderer.outputColorSpace = LinearSRGBColorSpace;
    host.append(this.renderer.domElement);
    const [cx, cy, cz] = [0, 0, 0]; // coordinates are relative to the bounding-box centre
    const r = this.meta.radius;
    this.camera = new PerspectiveCamera(50, 1, r / 200, r * 50);
    this.camera.up.set(0, 0, 1);
    this.camera.position.set(cx + 0.9 * r, cy - 1.25 * r, cz + 1.15 * r);
    this.controls = new OrbitControls(this.camera, this.renderer.domElement);
    this.controls.target.set(cx, cy, cz);
    this.controls.update();
    this.controls.addEventListener("change", () => this.render());
    window.addEventListener("resize", () => this.resize());
    this.resize();
    this.installPicking();
  }

  resize() {
    const host = document.getElementById("view");
    const w = host.clientWidth, h = host.clientHeight;
    this.renderer.setSize(w, h, true);
    this.camera.aspect = w / Math.max(h, 1);
    this.camera.updateProjectionMatrix();
    this.render();
  }

  render() {
    this.renderer.render(this.scene, this.camera);
  }

  visible(k) {
    return k >= 0 && this.instances[k].score >= this.threshold;
  }

  visibleInstances() {
    return this.instances.filter((inst) => inst.score >= this.threshold).map((inst) => inst.id);
  }

  baseColour(p, out) {
    const k = this.owner[p];
    const vis = this.visible(k);
    let c;
    if (this.level === "classes") {
      if (vis) c = this.instances[k].class_color;
      else if (this.sem && this.sem[p] >= 0 && this.sem[p] < this.meta.semantic_colors.length) {
        c = this.meta.semantic_colors[this.sem[p]];
      }
    } else if (vis) {
      c = this.instances[k].color;
    }
    if (c) {
      out[0] = c[0]; out[1] = c[1]; out[2] = c[2];
    } else if (this.useRgb && this.rgb) {
      out[0] = this.rgb[3 * p]; out[1] = this.rgb[3 * p + 1]; out[2] = this.rgb[3 * p + 2];
    } else {
      out[0] = out[1] = out[2] = this.meta.background[0];
    }
    if (this.level === "superpoints") {
      const f = superpointFactor(this.sp[p]);
      for (let i = 0; i < 3; i++) out[i] = Math.min(255, out[i] * f);
    }
  }

  recolour() {
    const out = [0, 0, 0];
    const dim = this.selection.size > 0;
    for (let j = 0, d = this.numDisplayed; j < d; j++) {
      const p = this.pointOf(j);
      this.baseColour(p, out);
      const s = dim && !this.selectedPoint[p] ? DIM : 1;
      this.colours[3 * j] = out[0] * s + (1 - s) * 235;
      this.colours[3 * j + 1] = out[1] * s + (1 - s) * 235;
      this.colours[3 * j + 2] = out[2] * s + (1 - s) * 235;
    }
    this.colourAttr.needsUpdate = true;
    this.render();
    this.updatePanels();
  }

  // ------------------------------------------------------------------------------------ picking

  viewProjection() {
    this.camera.updateMatrixWorld();
    return new Matrix4().multiplyMatrices(this.camera.projectionMatrix, this.camera.matrixWorldInverse);
  }

  // Client (CSS pixel) coordinates of point p of the input cloud, with its depth in [-1, 1].
  project(p) {
    const v = new Vector3(this.xyz[3 * p], this.xyz[3 * p + 1], this.xyz[3 * p + 2]).applyMatrix4(this.viewProjection());
    const rect = this.renderer.domElement.getBoundingClientRect();
    return { x: rect.left + (v.x + 1) / 2 * rect.width, y: rect.top + (1 - v.y) / 2 * rect.height, depth: v.z };
  }

  // Index (in the input cloud) of the front-most displayed point within PICK_RADIUS_PX of (x, y), or -1.
  pick(clientX, clientY) {
    const rect = this.renderer.domElement.getBoundingClientRect();
    const m = this.viewProjection().elements;
    const w = rect.width, h = rect.height;
    const px = clientX - rect.left, py = clientY - rect.top;
    const r = Math.max(PICK_RADIUS_PX, this.material.size);
    let best = -1, bestDepth = Infinity;
    const pos = this.positions;
    for (let j = 0, d = this.numDisplayed; j < d; j++) {
      const x = pos[3 * j], y = pos[3 * j + 1], z = pos[3 * j + 2];
      const cw = m[3] * x + m[7] * y + m[11] * z + m[15];
      if (cw <= 0) continue;
      const sx = ((m[0] * x + m[4] * y + m[8] * z + m[12]) / cw + 1) / 2 * w;
      if (Math.abs(sx - px) > r) continue;
      const sy = (1 - (m[1] * x + m[5] * y + m[9] * z + m[13]) / cw) / 2 * h;
      if (Math.abs(sy - py) > r) continue;
      const depth = (m[2] * x + m[6] * y + m[10] * z + m[14]) / cw;
      if (depth < bestDepth && depth >= -1 && depth <= 1) {
        bestDepth = depth;
        best = this.pointOf(j);
      }
    }
    return best;
  }

  installPicking() {
    const canvas = this.renderer.domElement;
    let down = null;
    canvas.addEventListener("pointerdown", (e) => { down = [e.clientX, e.clientY]; });
    canvas.addEventListener("pointerup", (e) => {
      // a drag rotates the camera; only a click (little movement) picks
      if (!down || Math.hypot(e.clientX - down[0], e.clientY - down[1]) > 4 || e.button !== 0) return;
      this.clickPoint(this.pick(e.clientX, e.clientY), e.shiftKey);
    });
  }

  clickPoint(p, add) {
    this.lastPick = p;
    const k = p >= 0 ? this.owner[p] : -1;
    this.choose(this.visible(k) ? k : -1, add);
  }

  // Plain: the selection becomes k (or empty for -1); add (shift): k is toggled in the selection.
  choose(k, add) {
    if (!add) this.selection.clear();
    if (k >= 0) {
      if (add && this.selection.has(k)) this.selection.delete(k);
      else this.selection.add(k);
    }
    this.focus = k;
    this.updateSelectedPoints();
    this.recolour();
  }

  updateSelectedPoints() {
    this.selectedPoint.fill(0);
    for (const k of this.selection) {
      for (let i = this.offsets[k]; i < this.offsets[k + 1]; i++) this.selectedPoint[this.members[i]] = 1;
    }
  }

  setThreshold(t) {
    this.threshold = t;
    for (const k of [...this.selection]) if (!this.visible(k)) this.selection.delete(k);
    if (this.focus >= 0 && !this.visible(this.focus)) this.focus = -1;
    this.updateSelectedPoints();
    this.recolour();
  }

  setLevel(level) {
    this.level = level;
    this.recolour();
  }

  // ----------------------------------------------------------------------------------------- UI

  buildControls() {
    const meta = this.meta;
    document.getElementById("title").textContent = meta.title || meta.name;
    const levels = document.getElementById("levels");
    for (const level of LEVELS) {
      const input = el("input", { type: "radio", name: "level", value: level, id: `level-${level}` });
      input.checked = level === this.level;
      if (level === "superpoints" && !this.sp) {
        input.disabled = true;
        input.title = "no superpoints were given to the viewer";
      }
      input.addEventListener("change", () => this.setLevel(level));
      levels.append(el("label", {}, input, level));
    }
    const slider = document.getElementById("score");
    slider.value = String(this.threshold);
    slider.addEventListener("input", () => this.setThreshold(parseFloat(slider.value)));
    const rgbBox = document.getElementById("use-rgb");
    if (this.rgb) {
      rgbBox.addEventListener("change", () => { this.useRgb = rgbBox.checked; this.recolour(); });
    } else {
      rgbBox.parentElement.style.display = "none";
    }
    document.getElementById("export-ply").addEventListener("click", () => download(this, selectionPly(this), "selection.ply"));
    document.getElementById("export-json").addEventListener("click", () => download(this, selectionJson(this), "selection.json"));
    document.getElementById("clear").addEventListener("click", () => this.choose(-1, false));
    const list = document.getElementById("instances");
    this.rows = [];
    const order = this.instances.map((_, k) => k).sort((a, b) => this.instances[b].score - this.instances[a].score || a - b);
    for (const k of order) {
      const inst = this.instances[k];
      const swatch = el("span", { class: "swatch" });
      const row = el("li", { "data-id": String(k) }, swatch, el("span", { text: `#${k} ${inst.class}` }),
        el("span", { class: "score", text: inst.score.toFixed(2) }));
      row.addEventListener("click", (e) => { if (this.visible(k)) this.choose(k, e.shiftKey); });
      list.append(row);
      this.rows[k] = { row, swatch };
    }
    const shown = this.display ? `${this.numDisplayed.toLocaleString()} drawn (decimated for display; selection and export use all points)`
      : "all drawn";
    document.getElementById("footer").textContent = `${this.n.toLocaleString()} points, ${shown}; `
      + `${meta.num_superpoints === null ? "no" : meta.num_superpoints.toLocaleString()} superpoints`
      + `${meta.superpoint_source ? ` (${meta.superpoint_source})` : ""}`;
  }

  updatePanels() {
    const vis = this.visibleInstances();
    document.getElementById("score-value").textContent = this.threshold.toFixed(2);
    const count = document.getElementById("visible-count");
    count.textContent = `${vis.length} of ${this.instances.length} instances shown`;
    count.dataset.count = String(vis.length);
    for (let k = 0; k < this.instances.length; k++) {
      const { row, swatch } = this.rows[k];
      const inst = this.instances[k];
      row.classList.toggle("hidden", !this.visible(k));
      row.classList.toggle("selected", this.selection.has(k));
      swatch.style.background = rgbCss(this.level === "classes" ? inst.class_color : inst.color);
    }
    this.updateInfo();
    const sel = document.getElementById("selection");
    const ids = [...this.selection].sort((a, b) => a - b);
    const total = ids.length ? selectionPoints(this).points.length : 0;
    sel.textContent = ids.length ? `${ids.length} selected (${ids.map((k) => "#" + k).join(", ")}), ${total.toLocaleString()} points`
      : "nothing selected (click a point; shift-click adds)";
    sel.dataset.count = String(ids.length);
    sel.dataset.points = String(total);
    for (const id of ["export-ply", "export-json", "clear"]) document.getElementById(id).disabled = ids.length === 0;
    this.updateLegend();
  }

  updateInfo() {
    const info = document.getElementById("info");
    info.replaceChildren();
    const p = this.lastPick;
    const k = this.focus;
    info.dataset.instance = k >= 0 ? String(k) : "";
    info.dataset.class = k >= 0 ? this.instances[k].class : "";
    if (p === null) {
      info.append(el("p", { class: "hint", text: "Click a point to see its instance." }));
      return;
    }
    const rows = [];
    if (k >= 0) {
      const inst = this.instances[k];
      rows.push(["instance", `#${k}`], ["class", inst.class], ["score", inst.score.toFixed(3)],
        ["points", inst.num_points.toLocaleString()],
        ["superpoints", inst.num_superpoints === null ? "n/a" : inst.num_superpoints.toLocaleString()]);
    } else {
      rows.push(["instance", p >= 0 ? "none shown here" : "no point under the cursor"]);
    }
    if (p >= 0) {
      rows.push(["point", `#${p}`]);
      if (this.sp) rows.push(["superpoint", `#${this.sp[p]}`]);
      if (this.sem && this.meta.semantic_names && this.sem[p] >= 0) rows.push(["semantic", this.meta.semantic_names[this.sem[p]] ?? `class ${this.sem[p]}`]);
    }
    const table = el("table");
    for (const [key, value] of rows) table.append(el("tr", {}, el("th", { text: key }), el("td", { text: value, "data-key": key })));
    info.append(table);
  }

  updateLegend() {
    const legend = document.getElementById("legend");
    legend.replaceChildren();
    if (this.level !== "classes") return;
    const seen = new Map();
    for (const inst of this.instances) if (inst.score >= this.threshold) seen.set(inst.class, inst.class_color);
    if (this.sem && this.meta.semantic_names) {
      const present = new Set();
      for (let j = 0, d = this.numDisplayed; j < d; j++) {
        const p = this.pointOf(j);
        if (!this.visible(this.owner[p]) && this.sem[p] >= 0) present.add(this.sem[p]);
      }
      for (const s of [...present].sort((a, b) => a - b)) {
        const name = this.meta.semantic_names[s];
        if (!seen.has(name)) seen.set(name, this.meta.semantic_colors[s]);
      }
    }
    for (const [name, c] of [...seen].sort()) {
      legend.append(el("li", {}, el("span", { class: "swatch", style: `background:${rgbCss(c)}` }), name));
    }
  }
}

async function main() {
  const t0 = performance.now();
  const status = document.getElementById("status");
  try {
    const meta = JSON.parse(document.getElementById("sphmask-meta").textContent);
    const arrays = {};
    for (const [name, spec] of Object.entries(meta.arrays)) arrays[name] = await decodeArray(spec);
    const decoded = performance.now();
    const viewer = new Viewer(meta, arrays);
    await new Promise((resolve) => requestAnimationFrame(resolve));
    status.remove();
    // what the browser tests and docs/viewer.md's load-time measurement read
    window.sphmask = {
      viewer, ready: true, timing: { decode_ms: decoded - t0, total_ms: performance.now() - t0 },
    };
  } catch (err) {
    status.textContent = `The viewer could not start: ${err.message}`;
    status.classList.add("error");
    window.sphmask = { ready: false, error: String(err.message) };
  }
}

main();
