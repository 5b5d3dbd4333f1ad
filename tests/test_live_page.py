"""`emoannotate live` without --source: the page served on 127.0.0.1, driven in Debian's headless Chromium
with fake camera and microphone fed from a real face video (RAVDESS Actor 05) and a real voice; and the
server's guards (local host names only, its own page's WebSockets only), which need no browser."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from browser import CHROMIUM, HAVE_CHROMIUM, watched_page

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from bench_live_page import chromium_args  # noqa: E402
from bench_live_page import fake_devices as fake_device_files  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
EMPTY_S = 5.0  # the fake camera loops: two clips with a face (6.5 s), then 5 s of an empty room

pytestmark = pytest.mark.slow


class Server:
    """`emoannotate live --port 0` in a subprocess; `url` once it listens, `log` what it said on stderr."""

    def __init__(self, model: str | Path) -> None:
        cmd = [sys.executable, "-m", "emoannotate", "live", "--port", "0", "--model", str(model), "--device", "cpu"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        self.lines: list[str] = []
        line = self.proc.stderr.readline()  # after the model and MTCNN are warm
        self.lines.append(line)
        assert "live: open http://127.0.0.1:" in line, line
        self.url = line.split("open ", 1)[1].split()[0]
        self.host = self.url.split("//", 1)[1].rstrip("/")

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        assert self.proc.stderr is not None
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.lines.append(line)
            if text in line:
                return line
        raise AssertionError(f"the server never said {text!r}: {''.join(self.lines)[-2000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def test_the_server_answers_only_local_names_and_its_own_page(tiny_checkpoint):
    aiohttp = pytest.importorskip("aiohttp")
    server = Server(tiny_checkpoint)
    try:
        with urllib.request.urlopen(server.url, timeout=10) as r:
            page = r.read().decode()
            csp = r.headers["Content-Security-Policy"]
        assert "/static/live.js" in page and "connect-src 'self'" in csp and "default-src 'none'" in csp
        for name in ("live.js", "emochart.js", "report.css"):
            with urllib.request.urlopen(server.url + "static/" + name, timeout=10) as r:
                assert r.status == 200 and len(r.read()) > 500
        for path, headers, status in [("static/report.py", {}, 404), ("static/../cli.py", {}, 404),
                                      ("", {"Host": f"attacker.example:{server.host.split(':')[1]}"}, 421)]:
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(urllib.request.Request(server.url + path, headers=headers), timeout=10)
            assert err.value.code == status, path

        async def socket_from(origin: str) -> object:
            async with aiohttp.ClientSession() as session:
                try:
                    async with session.ws_connect(server.url + "socket", origin=origin) as ws:
                        return (await ws.receive_json())["type"]
                except aiohttp.WSServerHandshakeError as e:
                    return e.status

        assert asyncio.run(socket_from("https://attacker.example")) == 403  # another site's page
        assert asyncio.run(socket_from(f"http://{server.host}")) == "hello"  # its own page
    finally:
        server.stop()


@pytest.fixture(scope="module")
def fake_devices(tmp_path_factory) -> tuple[Path, Path]:
    """A Y4M camera (two Actor 05 clips, then an empty room for 5 s) and a WAV microphone (their voice, on
    through the empty room)."""
    clips = sorted((DATA / "ravdess" / "Actor_05").glob("*.mp4"))[:2]
    if len(clips) < 2:
        pytest.skip(f"no RAVDESS Actor 05 clips in {DATA} (they are never part of the project)")
    return fake_device_files(clips, tmp_path_factory.mktemp("fake-devices"), empty_s=EMPTY_S)


def _poll(page, expression: str, timeout: float = 40.0):
    """Wait until `expression` is truthy in the page (the page's CSP forbids Playwright's eval-based waits)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = page.evaluate(expression)
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{expression} stayed false for {timeout} s")


@pytest.mark.skipif(not HAVE_CHROMIUM, reason="needs Debian's chromium (.ci/run installs it)")
def test_the_live_page_in_headless_chromium_with_a_real_face_and_voice(fake_devices, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    camera, microphone = fake_devices
    server = Server("default")  # the shipped model, as a user gets it
    args = chromium_args(camera, microphone)
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
            try:
                page, errors, requests = watched_page(browser, viewport={"width": 1280, "height": 860})
                page.goto(server.url)
                page.wait_for_selector("html[data-ready]")
                page.click("#start")
                started = time.monotonic()
                server.wait_for("began (video/webm")
                assert _poll(page, "emoLive.rows.length >= 1")
                first = time.monotonic() - started
                assert first < 3.6 + 6.0, first  # the first window ends 3.6 s in; then MTCNN and the model
                assert page.locator(".face-box").count() == 1  # the face of the first window, over the preview
                other = browser.new_page()  # a second tab while the first streams: told so, nothing starts
                other.goto(server.url)
                other.wait_for_selector("html[data-ready]")
                other.click("#start")
                assert "another tab" in _poll(other, "emoLive.error", timeout=20)
                assert other.evaluate("emoLive.state") == "idle"
                other.close()
                _poll(page, "emoLive.rows.some(r => r.modalities === 'audio')")  # the room is empty: the voice alone
                rows = page.evaluate("emoLive.rows")
                assert rows[0]["modalities"] == "audio+video" and rows[0]["face_frames"] >= 12
                assert [r["window"] for r in rows] == sorted({r["window"] for r in rows})  # one row per window
                assert all(r["end_s"] == pytest.approx(r["start_s"] + 3.6) for r in rows)
                assert all(0 <= r["latency_s"] < 5.0 for r in rows), [r["latency_s"] for r in rows]
                voice_only = [r for r in rows if r["modalities"] == "audio"]
                assert voice_only[0]["status"] == "no_face" and voice_only[0]["face_x1"] is None
                assert page.get_attribute("#stage", "data-modality") == rows[-1]["modalities"]
                # the chart follows: a mark per window on the timeline, the bars of the newest window
                assert page.evaluate("emoLive.chartUpdates") == len(rows)
                assert page.locator("#timeline .emo-mark").count() == len(rows)
                newest = rows[-1]
                widths = page.eval_on_selector_all("#bars .emo-bar-fill", "els => els.map(e => e.style.width)")
                k = ["calm", "happiness", "sadness", "anger", "fear", "disgust", "surprise"].index(newest["emotion"])
                assert float(widths[k].rstrip("%")) == pytest.approx(newest["confidence"] * 100, abs=0.01)
                assert newest["emotion"] in page.inner_text("#now-emotion")
                page.screenshot(path=str(tmp_path / "live-page.png"))
                assert not errors, errors
                assert [u for u in requests if not u.startswith(server.url)] == []  # nothing goes elsewhere
                page.close()  # closing the tab ends the session: the worker is free for the next one
                line = server.wait_for("the worker is free", timeout=20)
                assert "0 dropped" in line or "dropped" in line
                again = browser.new_page()
                again.goto(server.url)
                again.wait_for_selector("html[data-ready]")
                again.click("#start")
                _poll(again, "emoLive.state === 'streaming'", timeout=20)  # not "busy": the first tab let go
                again.close()
                server.wait_for("the worker is free", timeout=20)
            finally:
                browser.close()
    finally:
        server.stop()
