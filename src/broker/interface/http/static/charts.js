// Small SVG line charts, written for this page: no library, no build step.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function svgEl(name, attrs, parent) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

// series: [{name, cls, values: [number per slot]}]; opts: {height, max, unit, labels: [first, last]}
function lineChart(series, opts) {
  const width = 360, height = opts.height || 110, left = 48, right = 6, top = 8, bottom = 16;
  const slots = series.length ? series[0].values.length : 0;
  const peak = Math.max(opts.max || 0, 1, ...series.flatMap((s) => s.values));
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  const x = (i) => left + (slots > 1 ? (i * (width - left - right)) / (slots - 1) : 0);
  const y = (v) => top + (height - top - bottom) * (1 - v / peak);
  svgEl("line", { class: "axis", x1: left, x2: width - right, y1: y(0), y2: y(0) }, svg);
  svgEl("line", { class: "axis", x1: left, x2: left, y1: top, y2: y(0) }, svg);
  const label = (text, attrs) => { svgEl("text", attrs, svg).textContent = text; };
  label(formatNumber(peak) + (opts.unit || ""), { x: left - 4, y: top + 8, "text-anchor": "end" });
  label("0", { x: left - 4, y: y(0), "text-anchor": "end" });
  if (opts.labels) {
    label(opts.labels[0], { x: left, y: height - 3 });
    label(opts.labels[1], { x: width - right, y: height - 3, "text-anchor": "end" });
  }
  for (const s of series) {
    const points = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    const line = svgEl("polyline", { class: s.cls, points }, svg);
    svgEl("title", {}, line).textContent = s.name;
  }
  return svg;
}

function formatNumber(n) {
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(0) + "k";
  if (n >= 1e3) return (n / 1e3).toFixed(1) + "k";
  return String(Math.round(n * 100) / 100);
}
