// Small SVG charts for the admin dashboard: vertical bars, lines over days, horizontal bars.
// Each function takes a container element and data, and replaces the container's content with
// one <svg> (viewBox-scaled to the container's width). Plain JS, no build step, no library.
"use strict";

const ZhikuCharts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const W = 640;
  const PAD = { top: 14, right: 16, bottom: 30, left: 44 };
  const LEGEND_ROW = 30;
  const COLORS = { blue: "#1f5fbf", red: "#c62828", green: "#1a7f37", amber: "#9a6700", grey: "#57606a" };

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, String(v)));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svg(container, height, label) {
    const root = el("svg", { viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": label, class: "chart-svg" });
    container.replaceChildren(root);
    return root;
  }

  function empty(container, text) {
    const p = document.createElement("p");
    p.className = "muted chart-empty";
    p.textContent = text || "暂无数据";
    container.replaceChildren(p);
  }

  // A count axis: the smallest step of 1, 2 or 5 × 10^n that needs at most 5 intervals.
  function countAxis(max) {
    if (max <= 0) return { max: 1, intervals: 1 };
    for (let base = 1; ; base *= 10) {
      for (const m of [1, 2, 5]) {
        const step = m * base;
        const intervals = Math.ceil(max / step);
        if (intervals <= 5) return { max: intervals * step, intervals: intervals };
      }
    }
  }

  function yAxis(root, height, axis, format, top) {
    const padTop = top === undefined ? PAD.top : top;
    const inner = height - padTop - PAD.bottom;
    for (let i = 0; i <= axis.intervals; i += 1) {
      const value = (axis.max * i) / axis.intervals;
      const y = padTop + inner - (inner * i) / axis.intervals;
      root.appendChild(el("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: "grid" }));
      root.appendChild(el("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end", class: "tick" }, format(value)));
    }
  }

  // Day labels under the plot, thinned so that they do not overlap (MM-DD).
  function xLabels(root, labels, xOf, height) {
    const every = Math.max(1, Math.ceil(labels.length / 8));
    const last = labels.length - 1;
    labels.forEach((label, i) => {
      // Every n-th day, and the last one unless it would crowd the label before it.
      const shown = i === last ? last % every === 0 || last % every > every / 2 : i % every === 0;
      if (!shown) return;
      root.appendChild(el("text", { x: xOf(i), y: height - 10, "text-anchor": "middle", class: "tick" }, label.slice(5)));
    });
  }

  const integer = (v) => String(Math.round(v));
  const percent = (v) => `${Math.round(v * 100)}%`;

  // points: [{label, value}] (value a count)
  function bars(container, points, opts) {
    const o = Object.assign({ height: 220, color: COLORS.blue, label: "", unit: "" }, opts);
    if (!points.length) return empty(container);
    const root = svg(container, o.height, o.label);
    const axis = countAxis(Math.max(...points.map((p) => p.value)));
    const max = axis.max;
    yAxis(root, o.height, axis, integer);
    const inner = o.height - PAD.top - PAD.bottom;
    const step = (W - PAD.left - PAD.right) / points.length;
    const width = Math.max(2, step * 0.7);
    points.forEach((p, i) => {
      const h = (inner * p.value) / max;
      const x = PAD.left + step * i + (step - width) / 2;
      const bar = el("rect", { x: x, y: PAD.top + inner - h, width: width, height: Math.max(h, 0), fill: o.color, class: "bar" });
      bar.appendChild(el("title", {}, `${p.label}：${p.value}${o.unit}`));
      root.appendChild(bar);
    });
    xLabels(root, points.map((p) => p.label), (i) => PAD.left + step * i + step / 2, o.height);
    return root;
  }

  // series: [{name, color, points: [{label, value | null}]}], values in 0..1 (rates)
  function lines(container, series, opts) {
    const o = Object.assign({ height: 220, label: "" }, opts);
    const labels = series.length ? series[0].points.map((p) => p.label) : [];
    if (!labels.length) return empty(container);
    const root = svg(container, o.height, o.label);
    // The legend gets a row of its own above the plot: drawn inside the top padding, its text
    // was cut off at the top of the chart and collided with the 100% line.
    const top = LEGEND_ROW + PAD.top;
    yAxis(root, o.height, { max: 1, intervals: 4 }, percent, top);
    const inner = o.height - top - PAD.bottom;
    const step = labels.length > 1 ? (W - PAD.left - PAD.right) / (labels.length - 1) : 0;
    const xOf = (i) => (labels.length > 1 ? PAD.left + step * i : (PAD.left + W - PAD.right) / 2);
    const yOf = (v) => top + inner - inner * v;
    let legendX = PAD.left;
    const lineLayer = root.appendChild(el("g"));
    const dotLayer = root.appendChild(el("g"));
    series.forEach((s) => {
      // A day without searches (or votes) has no rate: the line breaks there.
      let d = "";
      let open = false;
      s.points.forEach((p, i) => {
        if (p.value === null || p.value === undefined) { open = false; return; }
        d += `${open ? "L" : "M"}${xOf(i).toFixed(1)},${yOf(p.value).toFixed(1)}`;
        open = true;
        const dot = el("circle", { cx: xOf(i), cy: yOf(p.value), r: 3, fill: s.color, class: "dot" });
        dot.appendChild(el("title", {}, `${p.label} ${s.name}：${percent(p.value)}`));
        dotLayer.appendChild(dot);
      });
      if (d) lineLayer.appendChild(el("path", { d: d, fill: "none", stroke: s.color, "stroke-width": 2, class: "line" }));
      const mark = el("rect", { x: legendX, y: LEGEND_ROW / 2 - 2, width: 14, height: 4, fill: s.color, class: "legend-mark" });
      root.appendChild(mark);
      const text = el("text", { x: legendX + 20, y: LEGEND_ROW / 2, "dominant-baseline": "middle", class: "legend" }, s.name);
      root.appendChild(text);
      legendX += 20 + (text.getComputedTextLength() || s.name.length * 14) + 24;
    });
    xLabels(root, labels, xOf, o.height);
    return root;
  }

  // items: [{label, value}], biggest first; one row each, the label left of the bar
  function hbars(container, items, opts) {
    const o = Object.assign({ color: COLORS.blue, label: "", row: 26, labelWidth: 230, unit: "" }, opts);
    if (!items.length) return empty(container, o.emptyText);
    const height = items.length * o.row + 8;
    const root = svg(container, height, o.label);
    const max = Math.max(...items.map((i) => i.value), 1);
    const span = W - o.labelWidth - 60;
    items.forEach((item, i) => {
      const y = 4 + i * o.row;
      const text = item.label.length > 16 ? item.label.slice(0, 15) + "…" : item.label;
      root.appendChild(el("text", { x: o.labelWidth - 8, y: y + o.row / 2 + 4, "text-anchor": "end", class: "hlabel" }, text));
      const w = Math.max(2, (span * item.value) / max);
      const bar = el("rect", { x: o.labelWidth, y: y + 4, width: w, height: o.row - 8, fill: item.color || o.color, class: "bar" });
      bar.appendChild(el("title", {}, `${item.label}：${item.value}${o.unit}`));
      root.appendChild(bar);
      root.appendChild(el("text", { x: o.labelWidth + w + 6, y: y + o.row / 2 + 4, class: "tick" }, String(item.value)));
    });
    return root;
  }

  return { bars: bars, lines: lines, hbars: hbars, COLORS: COLORS };
})();
