// Small DOM helpers of the viewer's side panel.

export function rgbCss(c) {
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}
