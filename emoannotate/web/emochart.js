/* emochart.js: the emotion charts of emoannotate's report pages and of the live page.
 *
 * Plain JavaScript, no library and no network: SVG for the timeline, HTML for the bars,
 * canvas for the index's small strips. One global, EmoChart:
 *
 *   EmoChart.timeline(host, {labels, colors, onSeek})  stacked probabilities over time, lanes, playhead
 *   EmoChart.bars(host, {labels, colors})               one horizontal bar per label
 *   EmoChart.histogram(host, values, {bins})            counts of values in [0, 1]
 *   EmoChart.strip(canvas, windows, {colors, duration}) a run of coloured windows (index, live)
 *   EmoChart.legend(host, labels, colors)             a swatch and name per label
 *   EmoChart.faceBoxes(overlay, video, rows, {labels, colors})  face boxes over a video
 *   EmoChart.clock(seconds)                             "1:02:03.4" / "2:03.4"
 *
 * A window is {start, end, probs: [p per label] | null, status, dim}; times in seconds.
 */
(function (global) {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const GAP = "#e4e4e4";
  const ERROR = "#f3c4c4";

  function el(tag, attrs, parent) {
    const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else if (k === "style") node.style.cssText = v;  // CSSOM: allowed where a CSP forbids style attributes
      else node.setAttribute(k, v);
    }
    if (parent) parent.appendChild(node);
    return node;
  }

  function clock(seconds) {
    if (seconds == null || !isFinite(seconds)) return "";
    const s = Math.max(0, seconds);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = (s % 60).toFixed(1);
    const ss = sec.length < 4 ? "0" + sec : sec;
    return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
  }

  function percent(p) { return p == null ? "" : `${Math.round(p * 100)}%`; }

  // Seconds between axis ticks so that ticks are at least `minPx` apart.
  function tickStep(pxPerSecond, minPx) {
    for (const step of [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200]) {
      if (step * pxPerSecond >= minPx) return step;
    }
    return 14400;
  }

  // Each window's drawn span: its start to the next window's start (or its end), so overlapping
  // windows (hop < 3.6 s) tile the time axis instead of covering each other.
  function spans(windows) {
    return windows.map((w, i) => {
      const next = i + 1 < windows.length ? windows[i + 1].start : Infinity;
      return [w.start, Math.max(w.start, Math.min(w.end, next))];
    });
  }

  /* The timeline: a main row of stacked probabilities (one mark per window), optional lanes
   * (one emotion per window, opacity by confidence), an axis and a playhead, in one horizontally
   * scrolling SVG. Click or keys (arrows, Home, End) call onSeek(windowIndex). */
  function timeline(host, opts) {
    const labels = opts.labels, colors = opts.colors;
    const height = opts.height || 120, laneHeight = opts.laneHeight || 16, axisHeight = 18;
    const minPxPerWindow = opts.minPxPerWindow || 4;
    host.classList.add("emo-timeline");
    const names = el("div", {class: "emo-lane-names"}, host);
    const scroller = el("div", {class: "emo-scroll", tabindex: "0", role: "slider",
                                "aria-label": "emotion timeline: click or use the arrow keys to seek"}, host);
    const svg = el("svg:svg", {class: "emo-svg"}, scroller);
    const tip = el("div", {class: "emo-tip", hidden: ""}, host);
    let windows = [], lanes = [], duration = 0, origin = 0, pxPerSecond = 1, zoom = 1, current = -1, follow = true;
    let marks = null, playhead = null, cursor = null, dimPath = null;

    function fitPxPerSecond() {
      const width = Math.max(200, scroller.clientWidth || host.clientWidth || 800);
      const span = Math.max(duration - origin, 1e-3);
      const n = Math.max(windows.length, 1);
      return Math.max(width / span, (minPxPerWindow * n) / span) * zoom;
    }

    function x(t) { return ((t - origin) * pxPerSecond).toFixed(1); }

    function render() {
      pxPerSecond = fitPxPerSecond();
      const width = Math.ceil((duration - origin) * pxPerSecond) + 1;
      const total = height + lanes.length * (laneHeight + 2) + axisHeight;
      svg.setAttribute("width", width);
      svg.setAttribute("height", total);
      svg.textContent = "";
      names.textContent = "";
      el("div", {class: "emo-lane-name", style: `height:${height}px`, text: opts.mainName || "fused"}, names);
      const span = spans(windows);
      // Stacked probabilities: one path per label, one rectangle per window in each.
      const d = labels.map(() => []);
      const gaps = [], errors = [];
      windows.forEach((w, i) => {
        const [a, b] = span[i];
        const x0 = x(a), wpx = ((b - a) * pxPerSecond).toFixed(1);
        if (!w.probs) {
          (w.status === "error" ? errors : gaps).push(`M${x0},0h${wpx}v${height}h-${wpx}z`);
          return;
        }
        let y = height;
        w.probs.forEach((p, k) => {
          const h = p * height;
          if (h >= 0.05) d[k].push(`M${x0},${(y - h).toFixed(1)}h${wpx}v${h.toFixed(1)}h-${wpx}z`);
          y -= h;
        });
      });
      const main = el("svg:g", {class: "emo-main"}, svg);
      d.forEach((parts, k) => el("svg:path", {d: parts.join(""), fill: colors[k], "data-label": labels[k]}, main));
      el("svg:path", {d: gaps.join(""), fill: GAP, class: "emo-gap"}, main);
      el("svg:path", {d: errors.join(""), fill: ERROR, class: "emo-error"}, main);
      dimPath = el("svg:path", {class: "emo-dim", d: ""}, main);
      // Lanes: one emotion per window.
      lanes.forEach((lane, j) => {
        const top = height + 2 + j * (laneHeight + 2);
        el("div", {class: "emo-lane-name", style: `height:${laneHeight + 2}px`, text: lane.name}, names);
        const g = el("svg:g", {class: "emo-lane", "data-lane": lane.name}, svg);
        const byLabel = new Map();
        const laneSpans = spans(lane.windows);
        lane.windows.forEach((w, i) => {
          if (w.label < 0) return;
          const [a, b] = laneSpans[i];
          const key = `${w.label}:${Math.round((w.confidence == null ? 1 : w.confidence) * 4)}`;
          if (!byLabel.has(key)) byLabel.set(key, []);
          byLabel.get(key).push(`M${x(a)},${top}h${((b - a) * pxPerSecond).toFixed(1)}v${laneHeight}h-${((b - a) * pxPerSecond).toFixed(1)}z`);
        });
        el("svg:rect", {x: 0, y: top, width, height: laneHeight, fill: "#f4f4f4"}, g);
        for (const [key, parts] of byLabel) {
          const [label, q] = key.split(":").map(Number);
          el("svg:path", {d: parts.join(""), fill: colors[label], "fill-opacity": (0.25 + 0.75 * q / 4).toFixed(2)}, g);
        }
      });
      // Axis.
      const axisTop = total - axisHeight;
      const axis = el("svg:g", {class: "emo-axis"}, svg);
      const step = tickStep(pxPerSecond, 70);
      for (let t = Math.ceil(origin / step - 1e-9) * step; t <= duration + 1e-9; t += step) {
        el("svg:line", {x1: x(t), x2: x(t), y1: axisTop, y2: axisTop + 4}, axis);
        el("svg:text", {x: x(t), y: axisTop + 15, text: clock(t).replace(/\.0$/, "")}, axis);
      }
      // Marks: one transparent rectangle per window, for hover, click and tests.
      marks = el("svg:g", {class: "emo-marks"}, svg);
      const frag = document.createDocumentFragment();
      windows.forEach((w, i) => {
        const [a, b] = span[i];
        el("svg:rect", {class: "emo-mark", x: x(a), y: 0, width: ((b - a) * pxPerSecond).toFixed(1),
                        height: height, "data-i": i}, frag);
      });
      marks.appendChild(frag);
      cursor = el("svg:rect", {class: "emo-cursor", x: 0, y: 0, width: 0, height: height}, svg);
      playhead = el("svg:line", {class: "emo-playhead", x1: 0, x2: 0, y1: 0, y2: axisTop}, svg);
      redim();
      if (current >= 0) select(current, false);
    }

    function redim() {
      if (!dimPath) return;
      const span = spans(windows);
      const parts = [];
      windows.forEach((w, i) => {
        if (w.dim) {
          const [a, b] = span[i];
          parts.push(`M${x(a)},0h${((b - a) * pxPerSecond).toFixed(1)}v${height}h-${((b - a) * pxPerSecond).toFixed(1)}z`);
        }
      });
      dimPath.setAttribute("d", parts.join(""));
    }

    // The window shown at time t: the last one whose start is <= t.
    function windowAt(t) {
      let lo = 0, hi = windows.length - 1, found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (windows[mid].start <= t + 1e-6) { found = mid; lo = mid + 1; } else hi = mid - 1;
      }
      return found;
    }

    function select(i, scroll) {
      current = i;
      if (!cursor || i < 0 || i >= windows.length) { if (cursor) cursor.setAttribute("width", 0); return; }
      const [a, b] = spans(windows)[i];
      cursor.setAttribute("x", x(a));
      cursor.setAttribute("width", Math.max(1, (b - a) * pxPerSecond).toFixed(1));
      scroller.setAttribute("aria-valuenow", String(i));
      scroller.setAttribute("aria-valuetext", `window ${i + 1} of ${windows.length}, ${clock(windows[i].start)}`);
      if (scroll) keepVisible((a - origin) * pxPerSecond);
    }

    function keepVisible(px) {
      const left = scroller.scrollLeft, width = scroller.clientWidth;
      if (follow && (px < left || px > left + width - 40)) scroller.scrollLeft = Math.max(0, px - width * 0.2);
    }

    function setPlayhead(t) {
      if (!playhead) return;
      playhead.setAttribute("x1", x(t));
      playhead.setAttribute("x2", x(t));
      const i = windowAt(t);
      if (i !== current) select(i, true);
      else keepVisible((t - origin) * pxPerSecond);
    }

    function eventWindow(ev) {
      const box = svg.getBoundingClientRect();
      return windowAt(origin + (ev.clientX - box.left) / pxPerSecond);
    }

    svg.addEventListener("click", (ev) => {
      const i = eventWindow(ev);
      if (i >= 0 && opts.onSeek) opts.onSeek(i);
      scroller.focus({preventScroll: true});
    });
    svg.addEventListener("mousemove", (ev) => {
      const i = eventWindow(ev);
      if (i < 0 || !opts.describe) { tip.hidden = true; return; }
      tip.textContent = opts.describe(i);
      tip.hidden = false;
      const hostBox = host.getBoundingClientRect();
      tip.style.left = `${Math.min(ev.clientX - hostBox.left + 12, hostBox.width - 220)}px`;
      tip.style.top = `${ev.clientY - hostBox.top + 12}px`;
    });
    svg.addEventListener("mouseleave", () => { tip.hidden = true; });
    scroller.addEventListener("keydown", (ev) => {
      if (!windows.length || !opts.onSeek) return;
      const moves = {ArrowLeft: current - 1, ArrowRight: current + 1, Home: 0, End: windows.length - 1,
                     PageUp: current - 10, PageDown: current + 10};
      if (ev.key in moves) {
        opts.onSeek(Math.max(0, Math.min(windows.length - 1, moves[ev.key])));
        ev.preventDefault();
      } else if ((ev.key === "+" || ev.key === "=") || ev.key === "-" || ev.key === "0") {
        zoomBy(ev.key === "-" ? 0.5 : ev.key === "0" ? 0 : 2);
        ev.preventDefault();
      }
    });
    scroller.addEventListener("scroll", () => { follow = true; }, {passive: true});

    function zoomBy(factor) {
      zoom = factor === 0 ? 1 : Math.max(0.25, Math.min(64, zoom * factor));
      render();
      if (current >= 0) keepVisible((spans(windows)[current][0] - origin) * pxPerSecond);
    }

    let resizeTimer = null;
    if (global.ResizeObserver) {
      new ResizeObserver(() => {
        clearTimeout(resizeTimer);
        resizeTimer = setTimeout(() => { if (windows.length) render(); }, 150);
      }).observe(host);
    }

    return {
      /* windows: [{start, end, probs, status}]; lanes: [{name, windows: [{start, end, label, confidence}]}];
       * the axis runs from `from` (default 0) to `dur` seconds (the live page shows its last minutes). */
      setData(ws, ls, dur, from) {
        windows = ws; lanes = ls || []; duration = dur || (ws.length ? ws[ws.length - 1].end : 0);
        origin = Math.min(from || 0, duration);
        render();
      },
      setDim(flags) { flags.forEach((f, i) => { if (windows[i]) windows[i].dim = f; }); redim(); },
      setPlayhead, select: (i) => select(i, true), windowAt, zoomBy,
      get marks() { return marks ? marks.childNodes.length : 0; },
      get element() { return scroller; },
    };
  }

  /* Bars: one row per label, a bar and its percentage; update(values, active) highlights `active`. */
  function bars(host, opts) {
    host.classList.add("emo-bars");
    const rows = opts.labels.map((label, k) => {
      const row = el("div", {class: "emo-bar", "data-label": label}, host);
      el("span", {class: "emo-bar-name", text: label}, row);
      const track = el("span", {class: "emo-bar-track"}, row);
      const fill = el("span", {class: "emo-bar-fill", style: `background:${opts.colors[k]};width:0%`}, track);
      const value = el("span", {class: "emo-bar-value"}, row);
      return {row, fill, value};
    });
    return {
      update(values, active) {
        rows.forEach((r, k) => {
          const v = values ? values[k] : null;
          r.fill.style.width = `${v == null ? 0 : Math.max(0, Math.min(1, v)) * 100}%`;
          r.value.textContent = v == null ? "–" : percent(v);
          r.row.classList.toggle("active", k === active);
        });
      },
    };
  }

  /* Face boxes over a video: each row's box [x1, y1, x2, y2] (source-frame pixels) scaled to the
   * displayed picture (letterboxed in the element), edged in the colour of its emotion. */
  function faceBoxes(overlay, media, rows, opts) {
    overlay.textContent = "";
    if (!media.videoWidth || !rows) return;
    const cw = media.clientWidth, ch = media.clientHeight;
    const scale = Math.min(cw / media.videoWidth, ch / media.videoHeight);
    const ox = (cw - media.videoWidth * scale) / 2, oy = (ch - media.videoHeight * scale) / 2;
    for (const r of rows) {
      if (!r.box) continue;
      const [x1, y1, x2, y2] = r.box;
      const k = opts.labels.indexOf(r.emotion || r.face_emotion);
      const box = el("div", {class: "face-box" + (r.speaking ? " speaking" : ""),
        style: `left:${ox + x1 * scale}px;top:${oy + y1 * scale}px;width:${(x2 - x1) * scale}px;` +
               `height:${(y2 - y1) * scale}px;border-color:${k >= 0 ? opts.colors[k] : "#fff"}`}, overlay);
      el("span", {text: (r.person != null ? `person ${r.person}: ` : "") + (r.emotion || r.face_emotion || "")}, box);
    }
  }

  /* Legend: a swatch and the name of each label. */
  function legend(host, labels, colors) {
    host.classList.add("legend");
    labels.forEach((l, k) => {
      const item = el("span", {class: "legend-item"}, host);
      el("i", {style: `background:${colors[k]}`}, item);
      item.appendChild(document.createTextNode(l));
    });
    return host;
  }

  /* Histogram of values in [0, 1]: `bins` SVG bars with their counts on hover. */
  function histogram(host, values, opts) {
    const bins = (opts && opts.bins) || 10, width = 240, height = 70;
    const counts = new Array(bins).fill(0);
    for (const v of values) if (v != null) counts[Math.min(bins - 1, Math.floor(v * bins))]++;
    const top = Math.max(1, ...counts);
    host.textContent = "";
    const svg = el("svg:svg", {class: "emo-hist", width, height: height + 16, viewBox: `0 0 ${width} ${height + 16}`}, host);
    counts.forEach((c, b) => {
      const h = (c / top) * height, w = width / bins;
      const r = el("svg:rect", {x: (b * w + 1).toFixed(1), y: (height - h).toFixed(1), width: (w - 2).toFixed(1),
                                height: h.toFixed(1)}, svg);
      el("svg:title", {text: `${Math.round(b * 100 / bins)}-${Math.round((b + 1) * 100 / bins)}%: ${c}`}, r);
    });
    for (const t of [0, 0.5, 1]) {
      el("svg:text", {x: t * width, y: height + 13, "text-anchor": t === 0 ? "start" : t === 1 ? "end" : "middle",
                      text: percent(t)}, svg);
    }
    return counts;
  }

  /* A strip: each window [start, end, label, confidence] as a coloured run; gaps grey. */
  function strip(canvas, windows, opts) {
    const ratio = global.devicePixelRatio || 1;
    const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
    const ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    ctx.fillStyle = "#f0f0f0";
    ctx.fillRect(0, 0, w, h);
    const duration = opts.duration || (windows.length ? windows[windows.length - 1][1] : 1) || 1;
    const scale = w / duration;
    windows.forEach((win, i) => {
      const next = i + 1 < windows.length ? windows[i + 1][0] : Infinity;
      const a = win[0], b = Math.max(a, Math.min(win[1], next));
      ctx.fillStyle = win[2] >= 0 ? opts.colors[win[2]] : GAP;
      ctx.globalAlpha = win[2] >= 0 && win[3] != null ? 0.35 + 0.65 * win[3] : 1;
      ctx.fillRect(a * scale, 0, Math.max(1, (b - a) * scale), h);
    });
    ctx.globalAlpha = 1;
  }

  global.EmoChart = {timeline, bars, histogram, strip, legend, faceBoxes, clock, percent, el};
})(window);
