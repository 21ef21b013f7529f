// Small inline-SVG charts for the Reports page: built with DOM calls from data (never from markup
// strings), styled by app.css, and redrawn at their container's width so text stays crisp.

import { h } from "./dom.js";

const SVG_NS = "http://www.w3.org/2000/svg";

/** Build an SVG element: s("rect", {x: 1, class: "bar"}, s("title", {}, "tip")). */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null && value !== false) el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An <svg> that names itself for assistive technology (role img with a label). */
function frame(width, height, label, className) {
  return s("svg", {
    class: `chart ${className}`,
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": label,
    focusable: "false",
  });
}

const round = (n) => Math.round(n * 10) / 10;

/**
 * Draw ``draw(width)`` into ``host`` once it has a width, and again when its width changes.
 * The observer lets go when the host leaves the page (the view was replaced).
 */
export function fitChart(host, draw) {
  let drawn = 0;
  const paint = () => {
    const width = Math.floor(host.clientWidth);
    if (width <= 0 || width === drawn) return;
    drawn = width;
    host.replaceChildren(draw(width));
  };
  if (typeof ResizeObserver !== "function") {
    requestAnimationFrame(paint);
    return;
  }
  let seen = false;
  const observer = new ResizeObserver(() => {
    if (!host.isConnected) {
      if (seen) observer.disconnect();
      return;
    }
    seen = true;
    // Drawing on the next frame keeps a redraw from re-entering this callback in one frame.
    requestAnimationFrame(paint);
  });
  observer.observe(host);
}

/** Up to ``count`` whole-number gridline values from 0 covering ``max`` (1, 2, 5 × 10ⁿ steps). */
export function niceTicks(max, count = 4) {
  const top = Math.max(1, max);
  const raw = top / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * magnitude).find((candidate) => candidate >= raw));
  const ticks = [];
  for (let value = 0; value < top + step; value += step) {
    ticks.push(value);
    if (value >= top) break;
  }
  return ticks;
}

/**
 * Bars of one series and a line of another over days: ``points`` are {label, tip, bar, line}
 * (``line`` null where there is no value yet). ``label`` names the whole chart.
 */
export function barLineChart(width, { points, label, formatValue = String, height = 240 }) {
  const margin = { top: 14, right: 22, bottom: 28, left: 40 };
  const plotW = Math.max(40, width - margin.left - margin.right);
  const plotH = height - margin.top - margin.bottom;
  const max = Math.max(0, ...points.map((p) => p.bar), ...points.map((p) => p.line ?? 0));
  const ticks = niceTicks(max);
  const top = ticks[ticks.length - 1];
  const y = (value) => margin.top + plotH - (value / top) * plotH;
  const band = plotW / Math.max(1, points.length);
  const x = (index) => margin.left + band * index + band / 2;
  const barW = Math.max(1, Math.min(26, band * 0.62));
  const svg = frame(width, height, label, "chart--bar-line");

  const grid = s("g", { class: "chart__grid" });
  for (const value of ticks) {
    grid.append(
      s("line", { x1: margin.left, x2: margin.left + plotW, y1: round(y(value)), y2: round(y(value)) }),
      s("text", { x: margin.left - 8, y: round(y(value)), class: "chart__tick", "text-anchor": "end", "dominant-baseline": "middle" }, formatValue(value)),
    );
  }
  svg.append(grid);

  // Day labels as often as they fit (about 72 px each), counted back from the last day.
  const every = Math.max(1, Math.ceil(points.length / Math.max(1, Math.floor(plotW / 72))));
  const labels = s("g", { class: "chart__tick" });
  points.forEach((point, index) => {
    if ((points.length - 1 - index) % every !== 0) return;
    labels.append(s("text", { x: round(x(index)), y: height - 8, "text-anchor": "middle" }, point.label));
  });
  svg.append(labels);

  const bars = s("g", { class: "chart__bars" });
  points.forEach((point, index) => {
    if (point.bar <= 0) return;
    bars.append(s("rect", { x: round(x(index) - barW / 2), y: round(y(point.bar)), width: round(barW), height: round(margin.top + plotH - y(point.bar)), rx: Math.min(3, barW / 3) }));
  });
  svg.append(bars);

  const drawn = points.map((point, index) => (point.line === null ? null : [round(x(index)), round(y(point.line))])).filter(Boolean);
  if (drawn.length) {
    svg.append(s("polyline", { class: "chart__line", points: drawn.map((pair) => pair.join(",")).join(" ") }));
    if (points.length <= 45) {
      svg.append(s("g", { class: "chart__dots" }, drawn.map(([cx, cy]) => s("circle", { cx, cy, r: 3 }))));
    }
  }

  // Full-height hover targets carry each day's figures as a native tooltip.
  svg.append(
    s(
      "g",
      { class: "chart__hits" },
      points.map((point, index) => s("rect", { x: round(margin.left + band * index), y: margin.top, width: round(band), height: plotH }, s("title", {}, point.tip))),
    ),
  );
  return svg;
}

/**
 * A ring of ``slices`` ({key, value, tip}) around a centre figure. Slices carry the class
 * chart__slice--<key> for their colour.
 */
export function donutChart({ slices, label, centre, centreLabel, size = 168 }) {
  const stroke = 26;
  const radius = (size - stroke) / 2;
  const c = size / 2;
  const circumference = 2 * Math.PI * radius;
  const total = slices.reduce((sum, slice) => sum + slice.value, 0);
  const svg = frame(size, size, label, "chart--donut");
  svg.append(s("circle", { class: "chart__track", cx: c, cy: c, r: radius, "stroke-width": stroke }));
  let offset = 0;
  const ring = s("g", { transform: `rotate(-90 ${c} ${c})` });
  for (const slice of slices) {
    if (!total || slice.value <= 0) continue;
    const length = (slice.value / total) * circumference;
    ring.append(
      s(
        "circle",
        {
          class: `chart__slice chart__slice--${slice.key}`,
          cx: c,
          cy: c,
          r: radius,
          "stroke-width": stroke,
          "stroke-dasharray": `${round(length)} ${round(circumference - length)}`,
          "stroke-dashoffset": round(-offset),
        },
        s("title", {}, slice.tip),
      ),
    );
    offset += length;
  }
  svg.append(ring);
  svg.append(
    s("text", { x: c, y: c - 4, class: "chart__centre", "text-anchor": "middle" }, centre),
    s("text", { x: c, y: c + 16, class: "chart__centre-label", "text-anchor": "middle" }, centreLabel),
  );
  return svg;
}

/** Cut ``text`` to about ``px`` pixels of 12 px text, with an ellipsis. */
function fit(text, px) {
  const chars = Math.max(4, Math.floor(px / 6.8));
  return text.length > chars ? `${text.slice(0, chars - 1)}…` : text;
}

/**
 * Horizontal bars of shares (0..1): ``rows`` are {label, value (or null), text, tip}. A bar's
 * class says how good the share is (chart__bar--good ≥ 80 %, --fair ≥ 50 %, --poor below).
 */
export function shareBars(width, { rows, label, formatShare = (share) => `${share * 100}%` }) {
  const rowH = 30;
  const labelW = Math.min(170, Math.round(width * 0.34));
  const valueW = 52;
  const plotX = labelW + 10;
  const plotW = Math.max(40, width - plotX - valueW);
  const height = Math.max(rowH, rows.length * rowH) + 18;
  const svg = frame(width, height, label, "chart--shares");
  const grid = s("g", { class: "chart__grid" });
  for (const share of [0, 0.5, 1]) {
    const gx = round(plotX + share * plotW);
    grid.append(s("line", { x1: gx, x2: gx, y1: 0, y2: height - 18 }));
    grid.append(s("text", { x: gx, y: height - 4, class: "chart__tick", "text-anchor": share === 0 ? "start" : share === 1 ? "end" : "middle" }, formatShare(share)));
  }
  svg.append(grid);
  rows.forEach((row, index) => {
    const top = index * rowH;
    const mid = top + rowH / 2;
    const quality = row.value === null ? "none" : row.value >= 0.8 ? "good" : row.value >= 0.5 ? "fair" : "poor";
    svg.append(
      s(
        "g",
        { class: `chart__row chart__row--${quality}` },
        s("title", {}, row.tip),
        s("text", { x: 0, y: mid, class: "chart__label", "dominant-baseline": "middle" }, fit(row.label, labelW)),
        s("rect", { class: "chart__track-bar", x: plotX, y: mid - 7, width: round(plotW), height: 14, rx: 7 }),
        row.value === null ? null : s("rect", { class: "chart__bar", x: plotX, y: mid - 7, width: round(Math.max(row.value > 0 ? 4 : 0, row.value * plotW)), height: 14, rx: 7 }),
        s("text", { x: width, y: mid, class: "chart__value", "text-anchor": "end", "dominant-baseline": "middle" }, row.text),
      ),
    );
  });
  return svg;
}

/** A chart legend: [{key, label, shape: "bar" | "line" | "dot"}]; swatches take colours from CSS. */
export function legend(items) {
  return h(
    "ul",
    { class: "legend" },
    items.map((item) => h("li", { class: "legend__item" }, h("span", { class: ["legend__swatch", `legend__swatch--${item.shape || "dot"}`, `legend__swatch--${item.key}`], "aria-hidden": "true" }), h("span", {}, item.label), item.value !== undefined ? h("span", { class: "legend__value" }, item.value) : null)),
  );
}
