// Exports of a viewer's selection, built in the page and downloaded: the points of the selected
// masks as a binary PLY, the selected instances as JSON (docs/viewer.md lists the fields).
import { el } from "./dom.js";

// Points of the selection: every point of every selected mask, ascending, each with the selected
// instance that holds it (the best score where selected masks overlap).
export function selectionPoints(v) {
  const tag = new Int32Array(v.n).fill(-1);
  const order = [...v.selection].sort((a, b) => v.instances[a].score - v.instances[b].score);
  for (const k of order) for (let i = v.offsets[k]; i < v.offsets[k + 1]; i++) tag[v.members[i]] = k;
  const points = [];
  for (let p = 0; p < v.n; p++) if (tag[p] >= 0) points.push(p);
  return { points, tag };
}

export function selectionPly(v) {
  const { points, tag } = selectionPoints(v);
  const ids = [...v.selection].sort((a, b) => a - b);
  const header = "ply\nformat binary_little_endian 1.0\n"
    + `comment sphmask viewer selection of ${v.meta.name}: instances ${ids.join(" ")}\n`
    + `element vertex ${points.length}\n`
    + "property float x\nproperty float y\nproperty float z\n"
    + "property uchar red\nproperty uchar green\nproperty uchar blue\n"
    + "property int instance\nproperty int point_index\nend_header\n";
  const head = new TextEncoder().encode(header);
  const stride = 12 + 3 + 8;
  const buf = new ArrayBuffer(head.length + stride * points.length);
  new Uint8Array(buf).set(head);
  const dv = new DataView(buf, head.length);
  const origin = v.meta.origin; // the page stores coordinates relative to it (float32 precision)
  points.forEach((p, i) => {
    const o = i * stride, k = tag[p];
    dv.setFloat32(o, v.xyz[3 * p] + origin[0], true);
    dv.setFloat32(o + 4, v.xyz[3 * p + 1] + origin[1], true);
    dv.setFloat32(o + 8, v.xyz[3 * p + 2] + origin[2], true);
    const c = v.rgb ? [v.rgb[3 * p], v.rgb[3 * p + 1], v.rgb[3 * p + 2]] : v.instances[k].color;
    dv.setUint8(o + 12, c[0]); dv.setUint8(o + 13, c[1]); dv.setUint8(o + 14, c[2]);
    dv.setInt32(o + 15, k, true);
    dv.setInt32(o + 19, p, true);
  });
  return new Blob([buf], { type: "application/octet-stream" });
}

export function selectionJson(v) {
  const ids = [...v.selection].sort((a, b) => a - b);
  const doc = {
    scene: v.meta.name, num_input_points: v.n, score_threshold: v.threshold,
    instances: ids.map((k) => {
      const inst = v.instances[k];
      return {
        id: k, label_id: inst.label_id, class: inst.class, score: inst.score, num_points: inst.num_points,
        num_superpoints: inst.num_superpoints, point_indices: Array.from(v.members.subarray(v.offsets[k], v.offsets[k + 1])),
      };
    }),
  };
  return new Blob([JSON.stringify(doc, null, 1)], { type: "application/json" });
}

export function download(v, blob, suffix) {
  const a = el("a", { href: URL.createObjectURL(blob), download: `${v.meta.name}_${suffix}` });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 0);
}
