"""Live: annotate a stream as it arrives, one row per rolling window as soon as the window has ended.

    >>> for live in live_rows("rtsp://camera/stream", net):   # or "-" for a container on stdin
    ...     print(live.row.emotion, live.latency_s)

A reader thread demuxes and decodes the source (PyAV: a network stream, a capture device, a
file, or a container on stdin) and keeps only what the coming windows need: the frame on
screen at each of their 15 frame times (`windows.frame_times`) and the last seconds of audio
(mono, 22,050 Hz). Windows are 3.6 s long and start every `hop_s` (1 s: the chart moves every
second). As soon as the stream has passed a window's end, the main thread finds the faces
(`extract.find_faces`), computes the voice's features and the speaker (`extract.assemble`, the
code path of `run` and of training) and runs the model (`Annotator.rows`). When it falls
behind, it drops the older ready windows instead of queueing them, and says so in the next
row (`dropped`): the latency stays bounded however long the stream runs. A window without
a face is read from the voice alone, a silent one from the face alone, as in `run`.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import av
import numpy as np

from .constants import FACES_SPEAKER, FRAMES_PER_WINDOW, SAMPLE_RATE, WINDOW_SECONDS
from .errors import InputError, MediaError
from .extract import assemble, default_detector, find_faces
from .heap import release_memory
from .model.net import EmotionNet
from .people import PersonLinker
from .pipeline import Annotator, RunOptions
from .records import FileResult, MediaJob, Window, WindowResult
from .windows import frame_times
from .writers import row_to_dict

log = logging.getLogger("emoannotate")

LIVE_HOP_S = 1.0  # s between window starts
AUDIO_KEEP_S = WINDOW_SECONDS + 4.0  # s of audio kept behind the newest sample
THROTTLE_WINDOWS = 2  # a file source is read at most this many ready windows ahead of the model


@dataclass(frozen=True)
class LiveRow:
    """One row of a live window: `row` as `run` gives it (times from the stream's start), when it was
    written (`wall_time`, UTC), how long after the stream passed the window's end (`latency_s`), and
    how many older ready windows were dropped to keep up (`dropped`)."""

    row: WindowResult
    wall_time: str
    latency_s: float
    dropped: int

    def to_dict(self, labels: tuple[str, ...]) -> dict[str, Any]:
        """`run`'s columns for `labels`, then wall_time, latency_s, dropped."""
        return {**row_to_dict(self.row, labels), "wall_time": self.wall_time, "latency_s": self.latency_s,
                "dropped": self.dropped}


@dataclass(frozen=True)
class LiveOptions:
    """hop_s: seconds between window starts; faces: as `RunOptions.faces`; device: for the model and
    MTCNN; input_format: the FFmpeg demuxer (e.g. "v4l2" for a camera, "mpegts"), None to probe."""

    hop_s: float = LIVE_HOP_S
    faces: str = FACES_SPEAKER
    device: str = "auto"
    input_format: str | None = None

    def __post_init__(self) -> None:
        if not (0 < self.hop_s <= WINDOW_SECONDS * 10 and np.isfinite(self.hop_s)):
            raise InputError(f"hop must be a positive number of seconds, got {self.hop_s}")


class _Buffers:
    """What the reader thread has decoded that coming windows need; guarded by `cond`."""

    def __init__(self, hop_s: float, has_video: bool, has_audio: bool, throttle: bool = False) -> None:
        self.cond = threading.Condition()
        self.throttle = throttle  # a file: the reader waits for the model instead of windows being dropped
        self.hop_s = hop_s
        self.has_video, self.has_audio = has_video, has_audio
        self.frames: dict[tuple[int, int], np.ndarray | None] = {}  # (window, frame) -> the frame on screen
        self.next_target = 0  # windows whose targets are being filled: from this one on
        self.video_s = 0.0  # media time the video has reached (s from the stream's start)
        self.audio: np.ndarray = np.zeros(0, np.float32)
        self.audio_start = 0  # sample index of audio[0]
        self.audio_s = 0.0
        self.passed: dict[int, float] = {}  # window not yet taken -> wall time (monotonic) the stream passed its end
        self.next_pass = 0  # the first window the stream has not passed yet
        self.ended = False
        self.error: str | None = None

    def window(self, k: int) -> Window:
        start = round(k * self.hop_s, 6)
        return Window(k, start, round(start + WINDOW_SECONDS, 6))

    def reached(self) -> float:
        """The media time both streams have reached."""
        times = ([self.video_s] if self.has_video else []) + ([self.audio_s] if self.has_audio else [])
        return min(times) if times else 0.0


def _reader(container: Any, buffers: _Buffers) -> None:
    """Decode the source into `buffers` until it ends (runs in its own thread)."""
    video = container.streams.video[0] if buffers.has_video else None
    audio = container.streams.audio[0] if buffers.has_audio else None
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    origin: float | None = None
    last_frame: Any = None  # the newest decoded video frame (not yet converted)
    last_t = 0.0
    try:
        for packet in container.demux([s for s in (video, audio) if s is not None]):
            if buffers.throttle:  # a file can wait: never more than THROTTLE_WINDOWS ready and not yet read
                with buffers.cond:
                    while len(buffers.passed) >= THROTTLE_WINDOWS:
                        buffers.cond.wait(0.5)
            for frame in packet.decode():
                if frame.time is None:
                    continue
                origin = float(frame.time) if origin is None else origin
                t = float(frame.time) - origin
                with buffers.cond:
                    if packet.stream is video:
                        _fill_targets(buffers, last_frame, t)
                        last_frame, last_t = frame, t
                        buffers.video_s = max(buffers.video_s, t)
                    else:
                        for out in resampler.resample(frame):
                            samples = out.to_ndarray().reshape(-1).astype(np.float32)
                            buffers.audio = np.concatenate([buffers.audio, samples])
                        keep = int(AUDIO_KEEP_S * SAMPLE_RATE)
                        if buffers.audio.size > keep:
                            buffers.audio_start += buffers.audio.size - keep
                            buffers.audio = buffers.audio[-keep:]
                        buffers.audio_s = (buffers.audio_start + buffers.audio.size) / SAMPLE_RATE
                    _mark_passed(buffers)
                    buffers.cond.notify_all()
        with buffers.cond:  # the last frame stays on screen for one frame's time
            rate = float(video.average_rate) if video is not None and video.average_rate else 25.0
            _fill_targets(buffers, last_frame, last_t + 1.0 / rate)
            buffers.video_s = max(buffers.video_s, last_t + 1.0 / rate)
    except (av.FFmpegError, OSError) as err:
        with buffers.cond:
            buffers.error = f"reading the stream failed: {err}"
    finally:
        with buffers.cond:
            buffers.ended = True
            _mark_passed(buffers)
            buffers.cond.notify_all()


def _fill_targets(buffers: _Buffers, frame: Any, until_s: float) -> None:
    """Give `frame` (on screen until `until_s`) to every coming window's frame time before `until_s`."""
    if frame is None:
        return
    image = None
    k = buffers.next_target
    while True:
        w = buffers.window(k)
        if w.start_s >= until_s:
            break
        for i, t in enumerate(frame_times(w, FRAMES_PER_WINDOW)):
            if t < until_s and (k, i) not in buffers.frames:
                image = image if image is not None else frame.to_ndarray(format="rgb24")
                buffers.frames[(k, i)] = image
        if all((k, i) in buffers.frames for i in range(FRAMES_PER_WINDOW)) and k == buffers.next_target:
            buffers.next_target = k + 1
        k += 1


def _mark_passed(buffers: _Buffers) -> None:
    reached = buffers.reached()
    while buffers.window(buffers.next_pass).end_s <= reached + 1e-9:
        buffers.passed[buffers.next_pass] = time.monotonic()
        buffers.next_pass += 1


class ByteStream:
    """Bytes that arrive in pieces (a browser's MediaRecorder chunks) read as one stream by PyAV.

    `write` never blocks (the network side); `read` blocks until bytes come or `close` is called,
    then returns what is left and b"" (the end). Thread-safe; not seekable, like a pipe.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._chunks: collections.deque[bytes] = collections.deque()
        self._closed = False
        self.received = 0  # bytes written so far

    def write(self, data: bytes) -> None:
        with self._cond:
            if not self._closed and data:
                self._chunks.append(bytes(data))
                self.received += len(data)
                self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def read(self, size: int = -1) -> bytes:
        with self._cond:
            while not self._chunks and not self._closed:
                self._cond.wait()
            if not self._chunks:
                return b""
            head = self._chunks.popleft()
            if 0 <= size < len(head):
                self._chunks.appendleft(head[size:])
                head = head[:size]
            return head


Source = str | BinaryIO | ByteStream


def _where(source: Source) -> str:
    if isinstance(source, str):
        return "standard input" if source == "-" else source
    return "the browser's stream" if isinstance(source, ByteStream) else "the stream"


def _open(source: Source, input_format: str | None) -> Any:
    target: Any = sys.stdin.buffer if source == "-" else source
    try:
        # probe little: by default FFmpeg reads up to 5 MB / 5 s of a stream before the first frame
        return av.open(target, format=input_format, timeout=10.0 if isinstance(source, str) else None,
                       options={"probesize": "65536", "analyzeduration": "1000000"})
    except (av.FFmpegError, OSError) as err:
        raise MediaError(f"{_where(source)}: cannot open the stream: {err}; for a camera give --input-format "
                         "(v4l2, avfoundation, dshow)") from err


def _warm_up(annotator: Annotator, detector: Any) -> None:
    """One MTCNN pass and one model batch on blank inputs (their first calls are several times slower)."""
    w = Window(0, 0.0, WINDOW_SECONDS)
    blank = np.full((120, 160, 3), 127, np.uint8)
    detector.detect([blank] * 3)
    x = assemble(w, [], np.random.default_rng(0).normal(0, 0.05, round(WINDOW_SECONDS * SAMPLE_RATE)))
    annotator.rows([(MediaJob(0, Path("warm-up"), "warm-up"), x, [])])


class LiveAnnotator:
    """The model, MTCNN and the options, warmed once, for stream after stream (the live page's sessions).

    >>> engine = LiveAnnotator(net, LiveOptions(hop_s=1.0))
    >>> for live in engine.rows("rtsp://camera/stream"):
    ...     print(live.row.emotion)
    """

    def __init__(self, model: EmotionNet, options: LiveOptions | None = None) -> None:
        self.options = options or LiveOptions()
        self.annotator = Annotator(model, RunOptions(device=self.options.device, faces=self.options.faces, workers=0))
        self.detector = default_detector("cuda" if self.annotator.device.type == "cuda" else "cpu")
        self.labels = tuple(model.config.labels)
        _warm_up(self.annotator, self.detector)  # the first window should not pay for first calls

    def rows(self, source: Source, *, input_format: str | None = None, name: str | None = None
             ) -> Generator[LiveRow, None, None]:
        """The rows of the rolling windows of `source` (a URL, a file, "-" for stdin, a binary file object
        or a ByteStream), each as soon as it is ready (one per window, or per person with faces="all").
        Rows name the source as `file` (or `name`). Ends with the stream; closing the generator stops
        it after the window in hand."""
        options = self.options
        container = _open(source, input_format or options.input_format)
        has_video, has_audio = bool(container.streams.video), bool(container.streams.audio)
        if not (has_video or has_audio):
            container.close()
            raise MediaError(f"{_where(source)}: the stream has neither video nor audio")
        throttle = isinstance(source, str) and source != "-" and Path(source).is_file()
        buffers = _Buffers(options.hop_s, has_video, has_audio, throttle=throttle)
        reader = threading.Thread(target=_reader, args=(container, buffers), name="emoannotate-live-reader",
                                  daemon=True)
        reader.start()
        file = name or (source if isinstance(source, str) else "live")
        job = MediaJob(0, Path(file), "live")
        linker = PersonLinker()
        done = -1  # the last window annotated (or dropped)
        try:
            while True:
                with buffers.cond:
                    while max(buffers.passed, default=-1) <= done and not buffers.ended:
                        buffers.cond.wait(0.5)
                    taken = _take(buffers, done, has_audio)
                    buffers.cond.notify_all()
                if taken is None:
                    break  # the stream ended and every window was taken
                w, frames, samples, passed_at, dropped = taken
                done = w.index
                faces = find_faces(frames, self.detector, options.faces) if has_video else []
                x = assemble(w, faces, samples if samples is not None and samples.size else None,
                             faces=options.faces)
                (rows,) = self.annotator.rows([(job, x, linker.link(x) if x.people else [])])
                del frames, faces, x
                release_memory()  # as the pipeline does after each batch: freed pages go back
                latency = round(time.monotonic() - passed_at, 3)
                wall = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
                for row in rows:
                    yield LiveRow(row, wall, latency, dropped)
                if dropped:
                    log.warning("live: %d window(s) dropped to keep up (the model is slower than --hop)", dropped)
            if buffers.error:
                if throttle or done < 0:  # a file that breaks, or a stream that never gave a window
                    raise MediaError(f"{_where(source)}: {buffers.error}")
                # A live stream has no defined end: a server or camera that goes away ends it with a
                # read error. What came before was annotated; say how it ended and stop cleanly.
                log.warning("live: %s ended (%s)", _where(source), buffers.error)
        finally:
            if not reader.is_alive():  # else the reader still uses it; it is a daemon and ends with the stream
                container.close()


def _take(buffers: _Buffers, done: int, has_audio: bool
          ) -> tuple[Window, list[np.ndarray | None], np.ndarray | None, float, int] | None:
    """The next window to annotate after `done` and what it needs, taken out of `buffers` (held locked):
    the newest ready one when behind (older ones are dropped), in turn for a file or at the end."""
    ready = [k for k in buffers.passed if k > done]
    if not ready:
        return None
    k = min(ready) if buffers.ended or buffers.throttle else max(ready)
    if has_audio:  # at the end: a window whose audio has left the buffer cannot be read
        readable = [j for j in ready if j >= k and round(buffers.window(j).start_s * SAMPLE_RATE)
                    >= buffers.audio_start]
        k = min(readable) if readable else max(ready)
    dropped = len([j for j in ready if j < k])
    w = buffers.window(k)
    frames = [buffers.frames.pop((k, i), None) for i in range(FRAMES_PER_WINDOW)]
    for key in [key for key in buffers.frames if key[0] <= k]:
        del buffers.frames[key]
    a = round(w.start_s * SAMPLE_RATE) - buffers.audio_start
    samples = buffers.audio[max(0, a):max(0, a + round(WINDOW_SECONDS * SAMPLE_RATE))].copy() \
        if has_audio else None
    passed_at = buffers.passed[k]
    for j in [j for j in buffers.passed if j <= k]:
        del buffers.passed[j]
    buffers.next_target = max(buffers.next_target, k + 1)  # its frames are taken: fill no more
    return w, frames, samples, passed_at, dropped


class LiveRecord:
    """`--record FILE`: live rows kept in a file (.csv, .jsonl, .json: `run`'s writers), as they come;
    thread-safe (the page's sessions write from their workers). A context manager; None keeps nothing."""

    def __init__(self, path: str | Path | None, *, model: str, labels: tuple[str, ...], overwrite: bool = False
                 ) -> None:
        from .outputs import format_from_path, get_writer

        self._lock = threading.Lock()
        self._writer = None
        if path is not None:
            self._writer = get_writer(format_from_path(path), model=model, labels=labels)
            self._writer.open(path, overwrite=overwrite)

    def write(self, file: str, live: LiveRow) -> None:
        if self._writer is not None:
            with self._lock:
                self._writer.write_file(FileResult(MediaJob(0, Path(file), "live"), None, [live.row]))

    def __enter__(self) -> LiveRecord:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._writer is not None:
            with self._lock:
                self._writer.close()


def live_rows(source: Source, model: EmotionNet, options: LiveOptions | None = None, *,
              on_ready: Callable[[], None] | None = None) -> Iterator[LiveRow]:
    """The rows of the rolling windows of a stream, each as soon as it is ready (one per window, or per
    person with faces="all"). Ends with the stream. `on_ready` is called once the model and the
    detector are warm, just before the source is opened (a feeder may start then)."""
    engine = LiveAnnotator(model, options)
    if on_ready is not None:
        on_ready()
    yield from engine.rows(source)
