/* index.js: the report's index, one line per input: its timeline strip, duration, dominant emotion
 * and status counts, sortable by any column, filtered by name, each linking to the input's page.
 * Strips are drawn as they scroll into view, so an index over thousands of inputs opens at once. */
(function () {
  "use strict";
  const t0 = performance.now();
  const E = window.EmoChart, el = E.el;
  const data = JSON.parse(document.getElementById("emo-data").textContent);
  const labels = data.labels, colors = data.colors;
  const inputs = data.inputs.map((x, i) => ({...x, order: i}));
  const statusNames = {ok: "ok", no_face: "no face", no_audio: "no voice", no_signal: "neither",
                       too_short: "too short", error: "errors"};

  const page = el("div", {class: "page"}, document.body);
  const head = el("header", {}, page);
  el("h1", {text: "Emotions by input"}, head);
  const total = inputs.reduce((s, x) => s + x.duration_s, 0);
  el("p", {class: "meta", text: `${inputs.length} inputs · ${E.clock(total)} in all · ` +
    `${inputs.reduce((s, x) => s + x.windows, 0)} windows · emoannotate ${data.version}`}, head);
  const controls = el("div", {class: "controls"}, page);
  const search = el("input", {type: "search", placeholder: "filter by name", id: "filter"}, controls);
  E.legend(el("div", {}, controls), labels, colors);

  const table = el("table", {class: "index-table"}, el("div", {class: "card"}, page));
  const columns = [
    ["file", "input", (x) => x.file],
    ["strip", "timeline", null],
    ["duration_s", "duration", (x) => x.duration_s],
    ["dominant", "dominant", (x) => x.dominant || ""],
    ["windows", "windows", (x) => x.windows],
    ...data.statuses.filter((s) => s !== "ok").map((s) => [s, statusNames[s] || s, (x) => x.status[s]]),
  ];
  const hdr = el("tr", {}, el("thead", {}, table));
  let sortKey = null, sortDir = 1;
  for (const [key, name, get] of columns) {
    const th = el("th", {text: name, "data-key": key}, hdr);
    if (get) {
      th.classList.add("sortable");
      th.tabIndex = 0;
      const sort = () => {
        sortDir = sortKey === key ? -sortDir : 1;
        sortKey = key;
        for (const other of hdr.children) other.removeAttribute("aria-sort");
        th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
        inputs.sort((a, b) => {
          const va = get(a), vb = get(b);
          const c = typeof va === "string" ? va.localeCompare(vb) : va - vb;
          return c * sortDir || a.order - b.order;
        });
        fill();
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", (ev) => { if (ev.key === "Enter") sort(); });
    }
  }
  const body = el("tbody", {}, table);

  const pending = new Map();
  const observer = window.IntersectionObserver ? new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      const x = pending.get(entry.target);
      if (x) { E.strip(entry.target, x.strip, {colors, duration: x.duration_s}); pending.delete(entry.target); }
      observer.unobserve(entry.target);
    }
  }, {rootMargin: "400px"}) : null;

  function fill() {
    body.textContent = "";
    pending.clear();
    if (observer) observer.disconnect();
    const needle = search.value.trim().toLowerCase();
    const frag = document.createDocumentFragment();
    for (const x of inputs) {
      if (needle && !x.file.toLowerCase().includes(needle)) continue;
      const tr = el("tr", {}, frag);
      const name = el("td", {class: "file"}, tr);
      el("a", {href: x.page, text: x.file}, name);
      if (!x.media_found) el("span", {class: "flag", title: "media not found when the report was made", text: " (media missing)"}, name);
      const canvas = el("canvas", {class: "strip", width: "240", height: "14"}, el("td", {}, tr));
      if (observer) { pending.set(canvas, x); observer.observe(canvas); } else E.strip(canvas, x.strip, {colors, duration: x.duration_s});
      el("td", {class: "num", text: E.clock(x.duration_s)}, tr);
      const dom = el("td", {}, tr);
      if (x.dominant) {
        el("i", {class: "swatch", style: `background:${colors[labels.indexOf(x.dominant)] || "#bbb"}`}, dom);
        dom.appendChild(document.createTextNode(x.dominant));
      }
      el("td", {class: "num", text: String(x.windows)}, tr);
      for (const s of data.statuses) {
        if (s === "ok") continue;
        el("td", {class: "num" + (x.status[s] && s === "error" ? " bad" : ""), text: String(x.status[s]),
                  title: s === "error" && x.error ? x.error : ""}, tr);
      }
    }
    body.appendChild(frag);
  }
  search.addEventListener("input", fill);
  fill();
  document.documentElement.dataset.ready = (performance.now() - t0).toFixed(1);
})();
