/* report.js: one input's page. The player, the timeline (its playhead follows playback; a click or a
 * key seeks), the current window's reading with the face box over the video, lanes for the face
 * alone and the voice alone per person, the segments, and a summary that follows the filters.
 * Data: the JSON in #emo-data, written by emoannotate/report.py. */
(function () {
  "use strict";
  const t0 = performance.now();
  const E = window.EmoChart, el = E.el;
  const data = JSON.parse(document.getElementById("emo-data").textContent);
  const labels = data.labels, colors = data.colors;
  const col = Object.fromEntries(data.columns.map((c, i) => [c, i]));
  const rows = data.rows.map((r) => {
    const o = {};
    for (const c of data.columns) o[c] = r[col[c]];
    o.probs = labels.map((l) => o[`p_${l}`]);
    if (o.probs.some((p) => p == null)) o.probs = null;
    o.box = o.face_x1 == null ? null : [o.face_x1, o.face_y1, o.face_x2, o.face_y2];
    return o;
  });

  // One row per window for the main timeline: the speaker's (a row per person with --faces all),
  // else the first with a reading (as report.py's _main_rows).
  const byWindow = new Map();
  for (const r of rows) {
    if (!byWindow.has(r.window)) byWindow.set(r.window, []);
    byWindow.get(r.window).push(r);
  }
  const windowIds = [...byWindow.keys()].sort((a, b) => a - b);
  const main = windowIds.map((w) => {
    let best = null;
    for (const r of byWindow.get(w)) {
      if (best === null || (r.speaking && !best.speaking) || (r.emotion && !best.emotion)) best = r;
    }
    return best;
  });
  const windows = main.map((r) => ({start: r.start_s, end: r.end_s, probs: r.probs, status: r.status, dim: false}));
  const labelIndex = (name) => (name == null ? -1 : labels.indexOf(name));
  const people = [...new Set(rows.map((r) => r.person).filter((p) => p != null))].sort((a, b) => a - b);
  const hasAlone = rows.some((r) => r.face_emotion != null || r.voice_emotion != null);

  function lanes() {
    if (!hasAlone) return [];
    const out = [];
    const groups = people.length ? people.map((p) => [`person ${p} face`, (r) => r.person === p])
                                 : [["face", () => true]];
    for (const [name, mine] of groups) {
      const ws = [];
      windowIds.forEach((w) => {
        const r = byWindow.get(w).find(mine);
        if (r) ws.push({start: r.start_s, end: r.end_s, label: labelIndex(r.face_emotion), confidence: r.face_confidence});
      });
      out.push({name, windows: ws});
    }
    out.push({name: "voice", windows: main.map((r) => ({start: r.start_s, end: r.end_s,
      label: labelIndex(r.voice_emotion), confidence: r.voice_confidence}))});
    return out;
  }

  // --- the page ---------------------------------------------------------------------------
  document.title = `${data.file.split("/").pop()}: emotions`;
  const page = el("div", {class: "page"}, document.body);
  const head = el("header", {}, page);
  el("a", {href: data.index, class: "back", text: "← all inputs"}, head);
  el("h1", {text: data.file}, head);
  const duration = data.duration_s;
  el("p", {class: "meta", text: `${E.clock(duration)} · ${main.length} windows` +
    (people.length ? ` · ${people.length} ${people.length === 1 ? "person" : "people"}` : "")}, head);

  const top = el("section", {class: "top"}, page);
  const stage = el("div", {class: "stage"}, top);
  const media = el(data.media.kind, {controls: "", preload: "metadata", src: data.media.href, id: "media"}, stage);
  const overlay = el("div", {class: "overlay"}, stage);
  const missing = el("p", {class: "missing", hidden: ""}, stage);
  const note = `The media was not found at ${data.media.path}. Make the report again with --media-root where the ` +
    "inputs are, or put them there.";
  if (!data.media.found) { missing.hidden = false; missing.textContent = note; }
  media.addEventListener("error", () => { missing.hidden = false; missing.textContent = data.media.found ?
    `The browser cannot play ${data.media.path} (its codec or container).` : note; });

  const now = el("aside", {class: "now"}, top);
  const nowTime = el("div", {class: "now-time"}, now);
  const nowEmotion = el("div", {class: "now-emotion"}, now);
  const nowFacts = el("dl", {class: "now-facts"}, now);
  const nowBars = E.bars(el("div", {}, now), {labels, colors});

  const tl = el("section", {class: "card"}, page);
  const controls = el("div", {class: "controls"}, tl);
  const zoomOut = el("button", {type: "button", title: "zoom out (-)", text: "−"}, controls);
  const zoomFit = el("button", {type: "button", title: "fit (0)", text: "fit"}, controls);
  const zoomIn = el("button", {type: "button", title: "zoom in (+)", text: "+"}, controls);
  const confLabel = el("label", {text: "min. confidence "}, controls);
  const conf = el("input", {type: "range", min: "0", max: "1", step: "0.05", value: "0", id: "min-confidence"}, confLabel);
  const confValue = el("output", {text: "0%"}, confLabel);
  const modLabel = el("label", {text: " modality "}, controls);
  const modality = el("select", {id: "modality"}, modLabel);
  el("option", {value: "", text: "any"}, modality);
  for (const [value, name] of Object.entries(data.modality_names)) {
    if (value !== "none") el("option", {value, text: name}, modality);
  }
  E.legend(el("div", {}, controls), labels, colors);

  const timeline = E.timeline(el("div", {id: "timeline"}, tl), {
    labels, colors, mainName: "fused",
    onSeek: (i) => seek(i),
    describe: (i) => describe(main[i]),
  });
  zoomOut.onclick = () => timeline.zoomBy(0.5);
  zoomIn.onclick = () => timeline.zoomBy(2);
  zoomFit.onclick = () => timeline.zoomBy(0);

  const lower = el("section", {class: "lower"}, page);
  const summary = el("div", {class: "card summary"}, lower);
  el("h2", {text: "Summary"}, summary);
  const shown = el("p", {class: "shown"}, summary);
  el("h3", {text: "Share of each emotion"}, summary);
  const share = E.bars(el("div", {}, summary), {labels, colors});
  el("h3", {text: "Confidence"}, summary);
  const hist = el("div", {}, summary);
  el("h3", {text: "Windows"}, summary);
  const counts = el("table", {class: "counts"}, summary);
  const errors = el("ul", {class: "errors"}, summary);

  const segCard = el("div", {class: "card segments"}, lower);
  el("h2", {text: "Segments"}, segCard);
  el("p", {class: "hint", text: "A person's consecutive windows with one emotion; click one to play it."}, segCard);
  const segTable = el("table", {class: "seg-table"}, segCard);

  function describe(r) {
    if (!r) return "";
    const who = r.person != null ? ` · person ${r.person}` : "";
    const what = r.emotion ? `${r.emotion} ${E.percent(r.confidence)}` : r.status.replace("_", " ");
    return `${E.clock(r.start_s)}–${E.clock(r.end_s)} · ${what} · ${data.modality_names[r.modalities] || r.modalities}${who}`;
  }

  function fact(name, value) {
    if (value == null || value === "") return;
    el("dt", {text: name}, nowFacts);
    el("dd", {text: value}, nowFacts);
  }

  let current = -1;
  function show(i) {
    current = i;
    const r = main[i];
    nowFacts.textContent = "";
    if (!r) {
      nowTime.textContent = "";
      nowEmotion.textContent = "–";
      nowEmotion.style.borderColor = "transparent";
      nowBars.update(null, -1);
      overlay.textContent = "";
      return;
    }
    nowTime.textContent = `window ${i + 1} of ${main.length} · ${E.clock(r.start_s)}–${E.clock(r.end_s)}`;
    const k = labelIndex(r.emotion);
    nowEmotion.textContent = r.emotion ? `${r.emotion} ${E.percent(r.confidence)}` : r.status.replace("_", " ");
    nowEmotion.style.borderColor = k >= 0 ? colors[k] : "#bbb";
    fact("modality", data.modality_names[r.modalities] || r.modalities);
    if (r.person != null) fact("person", `${r.person}${r.speaking ? " (speaking)" : ""}`);
    if (r.face_emotion) fact("face alone", `${r.face_emotion} ${E.percent(r.face_confidence)}`);
    if (r.voice_emotion) fact("voice alone", `${r.voice_emotion} ${E.percent(r.voice_confidence)}`);
    if (r.agreement != null) fact("face and voice", r.agreement ? "agree" : "disagree");
    fact("status", r.status);
    if (r.error) fact("error", r.error);
    nowBars.update(r.probs, k);
    drawBoxes(byWindow.get(windowIds[i]));
  }

  function drawBoxes(list) {
    if (data.media.kind !== "video") return;
    E.faceBoxes(overlay, media, list, {labels: data.labels, colors});
  }

  function seek(i) {
    if (i < 0 || i >= main.length) return;
    const t = main[i].start_s;
    try { media.currentTime = t; } catch (e) { /* not seekable yet: the playhead still moves */ }
    timeline.setPlayhead(t);
    show(i);
  }

  function tick() {
    const t = media.currentTime || 0;
    timeline.setPlayhead(t);
    const i = timeline.windowAt(t);
    if (i !== current) show(i);
  }
  let playing = false;
  function loop() { if (!playing) return; tick(); requestAnimationFrame(loop); }
  media.addEventListener("play", () => { playing = true; requestAnimationFrame(loop); });
  media.addEventListener("pause", () => { playing = false; tick(); });
  media.addEventListener("seeked", tick);
  media.addEventListener("loadedmetadata", () => show(current));
  window.addEventListener("resize", () => show(current));
  document.addEventListener("keydown", (ev) => {
    if (ev.key === " " && ev.target === timeline.element) {
      if (media.paused) media.play(); else media.pause();
      ev.preventDefault();
    }
  });

  // --- filters and summary ------------------------------------------------------------------
  function passes(r) {
    if (!r.emotion) return false;
    if ((r.confidence || 0) < Number(conf.value)) return false;
    return !modality.value || r.modalities === modality.value;
  }

  function refresh() {
    confValue.textContent = E.percent(Number(conf.value));
    const keep = main.map(passes);
    timeline.setDim(keep.map((k, i) => !k && main[i].emotion != null));
    const chosen = main.filter((r, i) => keep[i]);
    shown.textContent = `${chosen.length} of ${main.length} windows shown` +
      (chosen.length < main.filter((r) => r.emotion).length ? " (the others are greyed on the timeline)" : "");
    const n = chosen.length || 1;
    share.update(labels.map((l) => chosen.filter((r) => r.emotion === l).length / n), -1);
    E.histogram(hist, chosen.map((r) => r.confidence), {bins: 10});
    counts.textContent = "";
    const tally = {};
    for (const r of main) tally[r.status] = (tally[r.status] || 0) + 1;
    const names = {ok: "face and voice (or one)", no_face: "without a face (voice only)",
                   no_audio: "without voice (face only)", no_signal: "neither face nor voice",
                   too_short: "too short to read", error: "errors"};
    for (const s of data.statuses) {
      const tr = el("tr", {"data-status": s}, counts);
      el("td", {text: names[s] || s}, tr);
      el("td", {text: String(tally[s] || 0)}, tr);
    }
    errors.textContent = "";
    for (const msg of new Set(rows.filter((r) => r.error).map((r) => r.error))) el("li", {text: msg}, errors);
    renderSegments();
  }

  function renderSegments() {
    segTable.textContent = "";
    const hdr = el("tr", {}, el("thead", {}, segTable));
    for (const h of ["person", "start", "end", "emotion", "confidence", "windows"]) el("th", {text: h}, hdr);
    const body = el("tbody", {}, segTable);
    const min = Number(conf.value);
    for (const s of data.segments) {
      if ((s.confidence || 0) < min) continue;
      const tr = el("tr", {tabindex: "0"}, body);
      el("td", {text: s.person == null ? "" : String(s.person)}, tr);
      el("td", {text: E.clock(s.start_s)}, tr);
      el("td", {text: E.clock(s.end_s)}, tr);
      const td = el("td", {}, tr);
      el("i", {class: "swatch", style: `background:${colors[labelIndex(s.emotion)] || "#bbb"}`}, td);
      td.appendChild(document.createTextNode(s.emotion));
      el("td", {text: E.percent(s.confidence)}, tr);
      el("td", {text: String(s.windows)}, tr);
      const go = () => { const i = windowIds.indexOf(s.first_window); seek(i >= 0 ? i : timeline.windowAt(s.start_s)); };
      tr.addEventListener("click", go);
      tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") go(); });
    }
    if (!body.childNodes.length) el("td", {colspan: "6", text: "none"}, el("tr", {}, body));
  }

  conf.addEventListener("input", refresh);
  modality.addEventListener("change", refresh);

  timeline.setData(windows, lanes(), duration);
  refresh();
  show(main.length ? 0 : -1);
  timeline.setPlayhead(0);
  // For tests and benchmarks: the page is drawn; and how long that took.
  window.emoReport = {windows: main, seek, timeline, get current() { return current; }};
  document.documentElement.dataset.ready = (performance.now() - t0).toFixed(1);
})();
