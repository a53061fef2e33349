// A small time-series chart drawn as SVG (no library): lines with a light area, a y axis with round ticks,
// time labels and a legend. Redrawn whole on every update; a few hundred points cost nothing.

import { h, svg, fmtRate } from "./dom.js";

const H = 200;
const PAD = { left: 44, right: 12, top: 12, bottom: 24 };

function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (value <= step * power) return step * power;
  }
  return 10 * power;
}

function clock(ms) {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

/**
 * A chart element with an `update(series)` method. `series` = [{name, kind, points: [[ms, value], ...]}];
 * `kind` picks the colour (CSS class `series-<kind>`). `windowMs` is the time span shown.
 */
export function timeChart({ label, unit = "/s", windowMs = 5 * 60 * 1000 } = {}) {
  const root = svg("svg", { viewBox: `0 0 720 ${H}`, class: "chart", role: "img", "aria-label": label });
  const legend = h("div", { class: "chart-legend" });
  const el = h("figure", { class: "chart-box" }, root, legend);

  el.update = (series) => {
    while (root.firstChild) root.firstChild.remove();
    while (legend.firstChild) legend.firstChild.remove();
    // Drawn in CSS pixels at the current width, so text and lines keep their size on any screen.
    const W = Math.max(320, Math.round(root.getBoundingClientRect().width) || 720);
    root.setAttribute("viewBox", `0 0 ${W} ${H}`);
    const now = Date.now();
    // From the first sample (at least 30 s) up to `windowMs`: a page just opened shows its data at once.
    let first = now;
    let count = 0;
    for (const s of series) {
      if (s.points.length) first = Math.min(first, s.points[0][0]);
      count = Math.max(count, s.points.length);
    }
    root.setAttribute("data-points", String(count));
    const span = Math.min(windowMs, Math.max(30 * 1000, now - first));
    const start = now - span;
    const plotW = W - PAD.left - PAD.right;
    const plotH = H - PAD.top - PAD.bottom;
    let max = 0;
    for (const s of series) for (const [, v] of s.points) max = Math.max(max, v);
    max = niceMax(max);
    const x = (t) => PAD.left + ((t - start) / span) * plotW;
    const y = (v) => PAD.top + plotH - (v / max) * plotH;

    for (let i = 0; i <= 4; i += 1) {
      const value = (max * i) / 4;
      const yy = y(value);
      root.append(
        svg("line", { x1: PAD.left, x2: W - PAD.right, y1: yy, y2: yy, class: i ? "grid" : "axis" }),
        svg("text", { x: PAD.left - 6, y: yy + 4, class: "tick", "text-anchor": "end" }, fmtRate(value)),
      );
    }
    for (let i = 0; i <= 4; i += 1) {
      const t = start + (span * i) / 4;
      root.append(svg("text", { x: x(t), y: H - 6, class: "tick", "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" },
        i === 4 ? "now" : clock(t)));
    }
    for (const s of series) {
      const points = s.points.filter(([t]) => t >= start);
      if (points.length) {
        const line = points.map(([t, v], i) => `${i ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
        const last = points[points.length - 1];
        const area = `${line} L${x(last[0]).toFixed(1)},${y(0)} L${x(points[0][0]).toFixed(1)},${y(0)} Z`;
        root.append(svg("path", { d: area, class: `area series-${s.kind}` }),
          svg("path", { d: line, class: `line series-${s.kind}` }));
        if (points.length === 1) {
          root.append(svg("circle", { cx: x(last[0]), cy: y(last[1]), r: 3, class: `dot series-${s.kind}` }));
        }
      }
      const current = points.length ? points[points.length - 1][1] : 0;
      legend.append(h("span", { class: "legend-item" },
        h("span", { class: `legend-swatch series-${s.kind}` }), `${s.name} `,
        h("strong", null, `${fmtRate(current)}${unit}`)));
    }
  };
  el.update([]);
  return el;
}

/**
 * Turns polled counters into per-second rates: feed it {name: counter} snapshots, read back series.
 * A counter that goes down (metrics reset, node restart) restarts the rate at 0 instead of going negative.
 */
export class RateTracker {
  constructor(names, keep = 200) {
    this.names = names;
    this.keep = keep;
    this.last = null;
    this.points = Object.fromEntries(names.map((n) => [n, []]));
  }

  add(counters, at = Date.now()) {
    if (this.last) {
      const dt = (at - this.last.at) / 1000;
      if (dt > 0) {
        for (const name of this.names) {
          const delta = counters[name] - this.last.counters[name];
          const list = this.points[name];
          list.push([at, delta >= 0 ? delta / dt : 0]);
          if (list.length > this.keep) list.shift();
        }
      }
    }
    this.last = { at, counters: { ...counters } };
  }

  current(name) {
    const list = this.points[name];
    return list.length ? list[list.length - 1][1] : null;
  }
}
