// The scene arrays of a viewer page: base64 text of zlib-compressed little-endian typed arrays
// (written by sphmask/viz/viewer.py), decoded with the browser's own decompressor.

export async function decodeArray(spec) {
  const text = document.getElementById(spec.element).textContent.trim();
  const packed = await (await fetch("data:application/octet-stream;base64," + text)).arrayBuffer();
  const stream = new Blob([packed]).stream().pipeThrough(new DecompressionStream("deflate"));
  const raw = await new Response(stream).arrayBuffer();
  const Type = { float32: Float32Array, int32: Int32Array, int16: Int16Array, uint8: Uint8Array }[spec.dtype];
  const out = new Type(raw);
  if (out.length !== spec.length) throw new Error(`${spec.element}: ${out.length} values, expected ${spec.length}`);
  return out;
}
