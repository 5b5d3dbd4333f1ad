"""The live page: `emoannotate live` without --source serves one page to the browser on this machine.

The page asks the browser for the camera and the microphone (getUserMedia), records them in
short pieces (MediaRecorder, WebM: VP8 and Opus, 100 ms a piece) and sends the pieces over a
WebSocket. Here they become one stream again (`live.ByteStream`) that `live.LiveAnnotator`
reads exactly as it reads `--source -`: the same rolling windows, MTCNN, voice features and
model, the same dropping of windows when the model falls behind. Each row goes back to the page
as JSON (`run`'s columns, plus wall_time, latency_s and dropped), where the preview shows the
face box, the bars the 7 probabilities, and the timeline the last minutes.

Safe by default: the server listens on 127.0.0.1, answers only requests addressed to the host
it listens on (no DNS rebinding) and WebSockets opened by its own page (no other site can
stream to it), and the page's Content-Security-Policy lets it talk to nothing else. One browser
tab is annotated at a time; when it closes (or presses Stop) its stream ends, the worker
finishes the window in hand and is free for the next tab.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from . import __version__
from .constants import WINDOW_SECONDS
from .errors import EmoannotateError
from .live import ByteStream, LiveAnnotator, LiveRow
from .report import chart_data, web_asset

log = logging.getLogger("emoannotate")

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "LiveServer", "serve"]

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8765
ASSETS = {"emochart.js": "text/javascript", "live.js": "text/javascript", "report.css": "text/css"}
MAX_PIECE_BYTES = 8 * 1024 * 1024  # one MediaRecorder piece (100 ms) is some 12 KB; a bigger message is refused
# Container of the browser's recording (the MIME type's subtype) -> the FFmpeg demuxer that reads it.
DEMUXERS = {"webm": "matroska", "x-matroska": "matroska", "mp4": "mp4", "ogg": "ogg"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "media-src 'self' blob: mediastream:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")
LOCAL_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}


@dataclass
class SessionInfo:
    """One browser tab's stream: when it began, what went back."""

    name: str
    started: float
    rows: int = 0
    dropped: int = 0


class LiveServer:
    """The live page's web app: `app()` for aiohttp; one tab annotated at a time with `engine`.

    on_row(session_name, live_row) is called (in the worker thread) for every row, e.g. to record it.
    """

    def __init__(self, engine: LiveAnnotator, *, model_name: str = "default",
                 on_row: Callable[[str, LiveRow], None] | None = None) -> None:
        self.engine = engine
        self.model_name = model_name
        self.on_row = on_row
        self._lock = asyncio.Lock()
        self._allowed_hosts: set[str] = set()

    def app(self, host: str = DEFAULT_HOST) -> web.Application:
        self._allowed_hosts = set() if host in ("0.0.0.0", "::", "") else {host} | (
            LOCAL_NAMES if host in LOCAL_NAMES else set())
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/", self._page)
        app.router.add_get("/static/{name}", self._asset)
        app.router.add_get("/socket", self._socket)
        return app

    # --- HTTP ------------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Answer only requests for the host the server listens on (a rebinding DNS name gets 421)."""
        if self._allowed_hosts and _host_name(request.host) not in self._allowed_hosts:
            return web.Response(status=421, text=f"this server answers only for {sorted(self._allowed_hosts)[0]}\n")
        response = await handler(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(text=_page_html(), content_type="text/html", charset="utf-8")

    async def _asset(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in ASSETS:
            raise web.HTTPNotFound()
        return web.Response(text=web_asset(name), content_type=ASSETS[name], charset="utf-8")

    # --- the stream ------------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            return web.Response(status=403, text="only this server's own page may stream to it\n")
        ws = web.WebSocketResponse(max_msg_size=MAX_PIECE_BYTES, heartbeat=20.0)
        await ws.prepare(request)
        if self._lock.locked():
            await ws.send_json({"type": "busy", "message": "another tab is being annotated; close it first"})
            await ws.close()
            return ws
        async with self._lock:
            await self._serve_tab(ws)
        return ws

    async def _serve_tab(self, ws: web.WebSocketResponse) -> None:
        engine = self.engine
        await ws.send_json({"type": "hello", **chart_data(engine.labels), "hop_s": engine.options.hop_s,
                            "window_s": WINDOW_SECONDS, "model": self.model_name})
        first = await ws.receive()
        if first.type != WSMsgType.TEXT:
            await ws.close(message=b"expected the start message")
            return
        try:
            start = json.loads(first.data)
            demuxer = DEMUXERS[str(start.get("mime", "")).split(";")[0].split("/")[-1].strip().lower()]
        except (ValueError, KeyError, AttributeError):
            await ws.send_json({"type": "error", "message": f"cannot read this recording: {first.data[:200]}"})
            await ws.close()
            return
        name = "browser-" + dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        info = SessionInfo(name, time.monotonic())
        stream = ByteStream()
        stop = threading.Event()
        loop = asyncio.get_running_loop()
        outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        worker = threading.Thread(target=self._work, args=(stream, demuxer, info, stop, loop, outbox),
                                  name="emoannotate-live-tab", daemon=True)
        log.info("live: %s began (%s)", name, start.get("mime"))
        worker.start()
        sender = asyncio.create_task(_send_all(ws, outbox))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    stream.write(msg.data)
                elif msg.type == WSMsgType.TEXT and msg.data == "stop":
                    break
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            stop.set()
            stream.close()  # the reader sees the end; the worker finishes the window in hand
            await loop.run_in_executor(None, worker.join, 30.0)
            outbox.put_nowait(None)
            await sender
            if not ws.closed:
                await ws.close()
            seconds = time.monotonic() - info.started
            log.info("live: %s ended after %.0f s (%.1f MB in, %d rows, %d dropped); the worker is free", name,
                     seconds, stream.received / 1e6, info.rows, info.dropped)

    def _work(self, stream: ByteStream, demuxer: str, info: SessionInfo, stop: threading.Event,
              loop: asyncio.AbstractEventLoop, outbox: asyncio.Queue) -> None:
        """The worker thread: annotate the tab's stream, hand each row to the event loop."""
        rows = self.engine.rows(stream, input_format=demuxer, name=info.name)
        try:
            for live in rows:
                if stop.is_set():
                    break
                info.rows += 1
                info.dropped += live.dropped
                if self.on_row is not None:
                    self.on_row(info.name, live)
                loop.call_soon_threadsafe(outbox.put_nowait, {"type": "row", **live.to_dict(self.engine.labels)})
        except EmoannotateError as err:
            if not stop.is_set():
                loop.call_soon_threadsafe(outbox.put_nowait, {"type": "error", "message": str(err)})
        except Exception as err:  # noqa: BLE001 - one tab's failure must not end the server
            log.exception("live: %s failed", info.name)
            loop.call_soon_threadsafe(outbox.put_nowait, {"type": "error", "message": f"the annotator failed: {err}"})
        finally:
            rows.close()


async def _send_all(ws: web.WebSocketResponse, outbox: asyncio.Queue) -> None:
    while (message := await outbox.get()) is not None:
        if not ws.closed:
            try:
                await ws.send_json(message)
            except ConnectionError:
                pass


def _host_name(host: str) -> str:
    """"127.0.0.1:8765" -> "127.0.0.1", "[::1]:8765" -> "[::1]"."""
    if host.startswith("["):
        return host[: host.index("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _page_html() -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<meta name=\"generator\" content=\"emoannotate {__version__}\">\n"
        "<title>emoannotate live</title>\n<link rel=\"icon\" href=\"data:,\">\n"
        "<link rel=\"stylesheet\" href=\"/static/report.css\">\n</head>\n"
        "<body class=\"live\">\n<noscript>The live page needs JavaScript.</noscript>\n"
        "<script src=\"/static/emochart.js\"></script>\n<script src=\"/static/live.js\"></script>\n"
        "</body>\n</html>\n"
    )


async def _run(server: LiveServer, host: str, port: int, on_listening: Callable[[str], None] | None) -> None:
    runner = web.AppRunner(server.app(host), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as err:
            raise EmoannotateError(f"cannot listen on {host}:{port}: {err.strerror or err}; "
                                   "give another --port") from err
        bound = runner.addresses[0]
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        url = f"http://{f'[{shown}]' if ':' in shown else shown}:{bound[1]}/"
        if on_listening is not None:
            on_listening(url)
        await asyncio.Event().wait()  # until Ctrl-C / SIGTERM
    finally:
        await runner.cleanup()


def serve(engine: LiveAnnotator, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, model_name: str = "default",
          on_listening: Callable[[str], None] | None = None,
          on_row: Callable[[str, LiveRow], None] | None = None) -> None:
    """Serve the live page until Ctrl-C (KeyboardInterrupt). `on_listening(url)` once it listens (port 0:
    a free port)."""
    asyncio.run(_run(LiveServer(engine, model_name=model_name, on_row=on_row), host, port, on_listening))
