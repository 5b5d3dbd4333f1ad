"""`emoannotate live --source -`: a container on stdin, fed at real-time speed, gives a JSON line per rolling
window soon after the window ends, and falls back to the voice when the face leaves."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from synth import FACE_SIDE, TONE_HZ, write_media

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from bench_live import feed  # noqa: E402  (writes a file to a process's stdin at real-time speed)

pytestmark = pytest.mark.slow  # a 12 s stream in real time, MTCNN and the model on every window

SECONDS = 12.0
FACE_UNTIL_S = 6.0  # the face leaves the frame here; the voice goes on


@pytest.fixture(scope="module")
def stream_file(tmp_path_factory, face_image) -> Path:
    """An MPEG-TS file (streamable from a pipe): the astronaut for 6 s, then an empty grey frame; a 440 Hz
    voice all along."""
    grey = np.full_like(face_image, 120)
    path = tmp_path_factory.mktemp("live") / "stream.ts"
    return write_media(path, duration_s=SECONDS, frame_fn=lambda i: face_image if i / 10 < FACE_UNTIL_S else grey,
                       size=(FACE_SIDE, FACE_SIDE), fps=10, audio_fn=lambda t: 0.5 * np.sin(2 * np.pi * TONE_HZ * t))


def test_live_from_stdin_at_real_time(stream_file, tiny_checkpoint, tmp_path):
    record = tmp_path / "rows.csv"
    cmd = [sys.executable, "-m", "emoannotate", "live", "--source", "-", "--model", str(tiny_checkpoint),
           "--device", "cpu", "--record", str(record)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    assert "live: reading standard input" in proc.stderr.readline().decode()  # warm: the stream may start
    start = time.monotonic()
    feeder = threading.Thread(target=feed, args=(proc, stream_file.read_bytes(), SECONDS), daemon=True)
    feeder.start()
    lines: list[tuple[float, dict]] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append((time.monotonic() - start, json.loads(line)))
    proc.wait(timeout=60)
    assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
    rows = [r for _, r in lines]
    # windows of 3.6 s every second that end within the 12 s: starts 0, 1, ..., 8
    assert [r["window"] for r in rows] == list(range(9))
    assert [r["start_s"] for r in rows] == [float(k) for k in range(9)]
    assert all(r["end_s"] == pytest.approx(r["start_s"] + 3.6) for r in rows)
    for arrived, r in lines:  # each arrives after its window has been fed, and not long after
        assert arrived >= r["end_s"] - 0.5, (arrived, r)
        assert arrived <= r["end_s"] + 8.0, (arrived, r)  # generous: a busy 2-core CI machine
        assert r["latency_s"] >= 0 and r["wall_time"].endswith("+00:00")
    assert rows[0]["modalities"] == "audio+video" and rows[0]["person"] == 1
    assert rows[-1]["modalities"] == "audio" and rows[-1]["status"] == "no_face"  # the face left: the voice alone
    recorded = record.read_text().splitlines()
    assert len(recorded) == 1 + len(rows)  # the header and every row, as they came


def test_live_reads_windows_as_run_does(stream_file, tiny_checkpoint):
    """The same windows through `live` (a file: read as fast as the model goes, never dropped) and through
    `run --hop 1` give the same probabilities: one code path makes every window's inputs."""
    import emoannotate
    from emoannotate.live import LiveOptions, live_rows
    from emoannotate.registry import load_model

    net = load_model(str(tiny_checkpoint), device="cpu")[0]
    live = [item.row for item in live_rows(str(stream_file), net, LiveOptions(device="cpu"))]
    assert [r.window for r in live] == list(range(9))
    run = emoannotate.annotate(stream_file, model=tiny_checkpoint, hop_s=1.0, workers=0, device="cpu")[0].windows
    for a in live:
        b = run[a.window]
        assert (a.start_s, a.modalities, a.emotion) == (b.start_s, b.modalities, b.emotion)
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-3)
        np.testing.assert_allclose(a.voice_probabilities, b.voice_probabilities, atol=1e-3)


def test_a_byte_stream_reads_pieces_in_order_blocks_until_more_and_ends_on_close():
    """The browser's MediaRecorder pieces, as PyAV reads them (`read(n)` of any size) from another thread."""
    from emoannotate.live import ByteStream

    stream = ByteStream()
    stream.write(b"abc")
    stream.write(b"")  # an empty piece is nothing
    stream.write(b"defgh")
    assert stream.read(2) == b"ab" and stream.read(10) == b"c" and stream.read(-1) == b"defgh"
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(stream.read(4)))
    reader.start()
    time.sleep(0.2)
    assert reader.is_alive() and not got  # nothing to read yet: it waits
    stream.write(b"ijklmn")
    reader.join(timeout=5)
    assert got == [b"ijkl"]
    stream.close()
    stream.write(b"late")  # after the end: dropped
    assert stream.read(10) == b"mn" and stream.read(10) == b"" and stream.received == 14


def test_live_reads_a_network_stream_and_its_end_is_not_an_error(stream_file, tiny_checkpoint):
    """`--source http://...`: an MPEG-TS served at real-time speed (as a camera's HTTP stream); when the
    server closes the connection the stream has ended: every window is there, a warning says how, exit 0."""
    import http.server

    data = stream_file.read_bytes()

    class Live(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.end_headers()
            step, start = 188 * 20, time.monotonic()
            for i in range(0, len(data), step):
                time.sleep(max(0.0, start + SECONDS * i / len(data) - time.monotonic()))
                try:
                    self.wfile.write(data[i:i + step])
                    self.wfile.flush()
                except BrokenPipeError:
                    return

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Live)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/live.ts"
        proc = subprocess.run([sys.executable, "-m", "emoannotate", "live", "--source", url, "--model",
                               str(tiny_checkpoint), "--device", "cpu"], capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["window"] for r in rows] == list(range(9)) and all(r["dropped"] == 0 for r in rows)
    assert rows[0]["modalities"] == "audio+video" and rows[-1]["modalities"] == "audio"
    assert "Traceback" not in proc.stderr and "ended" in proc.stderr  # FFmpeg's http reads the close as EIO
