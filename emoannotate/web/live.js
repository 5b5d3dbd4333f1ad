/* live.js: the live page of `emoannotate live`. The camera and microphone (getUserMedia) are
 * recorded in 100 ms pieces (MediaRecorder, WebM) and sent to this page's own server over a
 * WebSocket; each window's row comes back as JSON and updates the preview's face box, the bars,
 * the reading and the timeline of the last minutes. Stop, or closing the tab, ends the recording,
 * frees the camera and ends the server's session. The page talks to nothing else.
 * Test hook: window.emoLive = {rows, state, chartUpdates}. */
(function () {
  "use strict";
  const E = window.EmoChart, el = E.el;
  const PIECE_MS = 100, HISTORY_S = 120;
  const MIMES = ["video/webm;codecs=vp8,opus", "video/webm;codecs=vp9,opus", "video/webm", "video/mp4"];
  const AUDIO_MIMES = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"];
  const live = window.emoLive = {rows: [], state: "idle", chartUpdates: 0, error: null, recordingStartedAt: 0};
  let hello = null, socket = null, recorder = null, media = null, bars = null, timeline = null;
  let firstRowAt = 0;

  // --- the page ----------------------------------------------------------------------------
  document.title = "emoannotate live";
  const page = el("div", {class: "page"}, document.body);
  const head = el("header", {}, page);
  el("h1", {text: "emoannotate live"}, head);
  const status = el("p", {class: "meta", id: "status", role: "status",
                          text: "Press Start and allow the camera and the microphone."}, head);

  const top = el("section", {class: "top"}, page);
  const left = el("div", {}, top);
  const stage = el("div", {class: "stage mirrored", id: "stage"}, left);
  const video = el("video", {id: "preview", autoplay: "", playsinline: ""}, stage);
  video.muted = true;  // the preview never plays the microphone back
  const overlay = el("div", {class: "overlay"}, stage);
  const controls = el("div", {class: "controls"}, left);
  const startButton = el("button", {id: "start", type: "button", text: "Start"}, controls);
  const stopButton = el("button", {id: "stop", type: "button", text: "Stop", disabled: ""}, controls);
  const mirrorLabel = el("label", {}, controls);
  const mirror = el("input", {type: "checkbox", id: "mirror", checked: ""}, mirrorLabel);
  mirrorLabel.appendChild(document.createTextNode(" mirror the preview"));
  el("span", {class: "hint", text: "Nothing leaves this computer: the page talks only to the emoannotate " +
    `server at ${location.host}.`}, controls);

  const now = el("aside", {class: "now", id: "now"}, top);
  const nowTime = el("div", {class: "now-time", text: "no window yet"}, now);
  const nowEmotion = el("div", {class: "now-emotion", id: "now-emotion", text: "–"}, now);
  const facts = el("dl", {class: "now-facts"}, now);
  const barsHost = el("div", {id: "bars"}, now);

  const card = el("section", {class: "card"}, page);
  const tlHead = el("div", {class: "controls"}, card);
  el("h2", {text: `The last ${HISTORY_S / 60} minutes`}, tlHead);
  const legendHost = el("div", {}, tlHead);
  const timelineHost = el("div", {id: "timeline"}, card);
  const note = el("p", {class: "hint", id: "note"}, card);

  function say(text) { status.textContent = text; }

  function fact(name, value) {
    el("dt", {text: name}, facts);
    el("dd", {text: value}, facts);
  }

  mirror.addEventListener("change", () => stage.classList.toggle("mirrored", mirror.checked));

  // --- rows --------------------------------------------------------------------------------
  function onHello(msg) {
    hello = msg;
    legendHost.textContent = "";
    E.legend(legendHost, msg.labels, msg.colors);
    barsHost.textContent = "";
    bars = E.bars(barsHost, {labels: msg.labels, colors: msg.colors});
    bars.update(null, -1);
    timelineHost.textContent = "";
    timeline = E.timeline(timelineHost, {labels: msg.labels, colors: msg.colors, mainName: "fused",
                                         height: 90, minPxPerWindow: 1,
                                         describe: (i) => describe(shown[i])});
    note.textContent = `Model ${msg.model} (emoannotate ${msg.version}): a ${msg.window_s} s window every ` +
      `${msg.hop_s} s, read from the face and the voice, or from the one that is there.`;
  }

  let shown = [];

  function describe(r) {
    if (!r) return "";
    const what = r.emotion ? `${r.emotion} ${E.percent(r.confidence)}` : r.status;
    return `${E.clock(r.start_s)}–${E.clock(r.end_s)} · ${what} · ${hello.modality_names[r.modalities] || r.modalities}`;
  }

  function onRow(r) {
    const labels = hello.labels;
    r.probs = labels.map((l) => r[`p_${l}`]);
    if (r.probs.some((p) => p == null)) r.probs = null;
    r.box = r.face_x1 == null ? null : [r.face_x1, r.face_y1, r.face_x2, r.face_y2];
    // What the user waits: from the window's end on this page's clock (the recording's start + end_s)
    // to the row drawn; it adds the recorder's piece and the way to the server and back to latency_s.
    r.page_latency_s = (performance.now() - live.recordingStartedAt) / 1000 - r.end_s;
    live.rows.push(r);
    if (!firstRowAt) firstRowAt = performance.now();
    // The speaker's row (or the first) is the window's reading; others are other people's.
    const sameWindow = live.rows.filter((o) => o.window === r.window);
    const main = sameWindow.find((o) => o.speaking) || sameWindow[0];
    const k = labels.indexOf(main.emotion);
    nowTime.textContent = `${E.clock(main.start_s)}–${E.clock(main.end_s)} · ` +
      `${Math.max(0, main.page_latency_s).toFixed(2)} s after the window ended`;
    nowEmotion.textContent = main.emotion ? `${main.emotion} ${E.percent(main.confidence)}` : "no reading";
    nowEmotion.style.borderLeftColor = k >= 0 ? hello.colors[k] : "transparent";
    facts.textContent = "";
    fact("read from", hello.modality_names[main.modalities] || main.modalities);
    if (main.face_emotion) fact("face alone", `${main.face_emotion} ${E.percent(main.face_confidence)}`);
    if (main.voice_emotion) fact("voice alone", `${main.voice_emotion} ${E.percent(main.voice_confidence)}`);
    if (main.status !== "ok") fact("status", main.status.replace("_", " "));
    const dropped = live.rows.reduce((n, o) => n + (o.dropped || 0), 0);
    if (dropped) fact("dropped", `${dropped} window(s): the model is slower than the hop`);
    stage.dataset.modality = main.modalities;
    bars.update(main.probs, k);
    E.faceBoxes(overlay, video, sameWindow, {labels, colors: hello.colors});
    // The timeline: the last HISTORY_S seconds, one window per start.
    const byStart = new Map();
    for (const o of live.rows) if (!byStart.has(o.window) || o.speaking) byStart.set(o.window, o);
    const end = main.end_s;
    shown = [...byStart.values()].filter((o) => o.start_s >= end - HISTORY_S).sort((a, b) => a.start_s - b.start_s);
    if (live.rows.length > 4 * HISTORY_S) live.rows.splice(0, live.rows.length - 4 * HISTORY_S);
    const ws = shown.map((o) => ({start: o.start_s, end: o.end_s, probs: o.probs, status: o.status}));
    timeline.setData(ws, [], Math.max(end, HISTORY_S), Math.max(0, end - HISTORY_S));
    timeline.setPlayhead(end);
    live.chartUpdates++;
    say(`Annotating: ${hello.modality_names[main.modalities] || main.modalities}` +
        (main.face_frames ? `, a face in ${main.face_frames} of 15 frames` : ", no face in view"));
  }

  // --- the stream --------------------------------------------------------------------------
  async function openMedia() {
    const want = {video: {width: {ideal: 640}, height: {ideal: 480}, frameRate: {ideal: 30}},
                  audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false}};
    const tries = [want, {video: want.video}, {audio: want.audio}];
    let last = null;
    for (const constraints of tries) {
      try { return await navigator.mediaDevices.getUserMedia(constraints); } catch (err) { last = err; }
    }
    throw last;
  }

  async function start() {
    if (!navigator.mediaDevices || !window.MediaRecorder) {
      say("This browser cannot record the camera here (it needs http://127.0.0.1 or https, and MediaRecorder).");
      return;
    }
    startButton.disabled = true;
    say("Asking for the camera and the microphone…");
    try {
      media = await openMedia();
    } catch (err) {
      say(`No camera or microphone: ${err.name === "NotAllowedError" ? "the browser was not allowed to use them" : err.message}.`);
      startButton.disabled = false;
      return;
    }
    video.srcObject = media;
    const hasVideo = media.getVideoTracks().length > 0, hasAudio = media.getAudioTracks().length > 0;
    const mime = (hasVideo ? MIMES : AUDIO_MIMES).find((m) => MediaRecorder.isTypeSupported(m));
    if (!mime) { say("This browser records in no format the server reads (WebM, MP4 or Ogg)."); stop(); return; }
    socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/socket`);
    socket.binaryType = "arraybuffer";
    live.state = "connecting";
    socket.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.type === "hello") {
        onHello(msg);
        socket.send(JSON.stringify({type: "start", mime, video: hasVideo, audio: hasAudio}));
        recorder = new MediaRecorder(media, {mimeType: mime, videoBitsPerSecond: 1000000});
        recorder.ondataavailable = (e) => {
          if (e.data.size && socket && socket.readyState === WebSocket.OPEN) socket.send(e.data);
        };
        recorder.start(PIECE_MS);
        live.recordingStartedAt = performance.now();
        live.state = "streaming";
        stopButton.disabled = false;
        say(`Streaming ${hasVideo && hasAudio ? "camera and microphone" : hasVideo ? "the camera (no microphone)" :
             "the microphone (no camera)"}: the first window ends in ${hello.window_s} s.`);
      } else if (msg.type === "row") {
        onRow(msg);
      } else if (msg.type === "busy" || msg.type === "error") {
        live.error = msg.message;
        say(msg.type === "busy" ? `The server is busy: ${msg.message}.` : `Stopped: ${msg.message}`);
        stop();
      }
    };
    socket.onclose = () => { if (live.state === "streaming") { say("The server closed the stream."); stop(); } };
  }

  function stop() {
    if (recorder && recorder.state !== "inactive") recorder.stop();
    if (media) media.getTracks().forEach((t) => t.stop());  // the camera light goes off
    if (socket && socket.readyState <= WebSocket.OPEN) {
      try { socket.send("stop"); } catch (e) { /* closing anyway */ }
      socket.close();
    }
    recorder = null; media = null; socket = null;
    video.srcObject = null;
    overlay.textContent = "";
    if (live.state !== "idle" && !live.error) say("Stopped. Press Start to go on.");
    live.state = "idle";
    startButton.disabled = false;
    stopButton.disabled = true;
  }

  startButton.addEventListener("click", start);
  stopButton.addEventListener("click", stop);
  window.addEventListener("pagehide", stop);
  document.documentElement.dataset.ready = "1";
})();
