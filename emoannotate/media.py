"""Probe and decode media with PyAV (FFmpeg's libraries): frames at window times, audio at 22,050 Hz.

Both decoders stream: they hold only the frames and samples of the windows in flight, so
an hour of video never sits in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import av
import numpy as np

from .constants import SAMPLE_RATE
from .errors import MediaError
from .records import MediaInfo, Window
from .windows import frame_times

log = logging.getLogger("emoannotate")

_SEEK_MIN_S = 2.0  # s, seek instead of decoding from the start when the first window is later


def _fail(path: Path, err: Exception) -> MediaError:
    msg = (getattr(err, "strerror", None) or str(err)).strip() or type(err).__name__
    return MediaError(f"{path}: cannot decode: {msg}; check that the file plays (e.g. `ffprobe '{path}'`)")


def probe(path: str | Path) -> MediaInfo:
    """Read a file's streams and duration (seconds) without decoding it.

    Raises MediaError naming the file when it does not exist, is empty, or is no media.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: file is empty (0 bytes)")
    try:
        with av.open(str(path)) as container:
            vs = container.streams.video[0] if container.streams.video else None
            aus = container.streams.audio[0] if container.streams.audio else None
            durations = []
            if container.duration:
                durations.append(container.duration / av.time_base)
            for s in (vs, aus):
                if s is not None and s.duration and s.time_base:
                    durations.append(float(s.duration * s.time_base))
            if not durations:  # e.g. some raw streams: count by decoding the audio
                durations.append(_decoded_duration(container))
            fps = float(vs.average_rate) if vs is not None and vs.average_rate else None
            info = MediaInfo(
                path=path,
                duration_s=max(durations),
                has_video=vs is not None,
                has_audio=aus is not None,
                fps=fps,
                width=vs.codec_context.width if vs is not None else None,
                height=vs.codec_context.height if vs is not None else None,
            )
    except av.FFmpegError as err:
        raise _fail(path, err) from err
    if not info.has_video and not info.has_audio:
        raise MediaError(f"{path}: no video or audio stream")
    return info


def _decoded_duration(container) -> float:
    """Duration (s) found by decoding the first audio or video stream to its end."""
    stream = (container.streams.audio or container.streams.video)[0]
    end = 0.0
    for frame in container.decode(stream):
        if frame.time is not None:
            dur = frame.samples / frame.sample_rate if stream.type == "audio" else 0.0
            end = max(end, frame.time + dur)
    return end


def _stream_origin(stream) -> float:
    """Time (s) of the stream's first timestamp; frame times are taken relative to it."""
    if stream.start_time is not None and stream.time_base is not None:
        return float(stream.start_time * stream.time_base)
    return 0.0


def iter_window_frames(
    path: str | Path, windows: Sequence[Window], *, n_frames: int
) -> Iterator[tuple[Window, list[np.ndarray | None]]]:
    """Yield, for each window in order, its `n_frames` RGB frames (H, W, 3) uint8.

    Each frame is the one on screen at the target time (`windows.frame_times`). A target
    past the end of the video stream gets None. The video is decoded once, front to back
    (after a seek to the first window when it starts late); frames between targets are
    decoded but never converted.
    """
    path = Path(path)
    if not windows:
        return
    targets = [(t, wi, fi) for wi, w in enumerate(windows) for fi, t in enumerate(frame_times(w, n_frames))]
    targets.sort()
    picked: list[list[np.ndarray | None]] = [[None] * n_frames for _ in windows]
    remaining = [n_frames] * len(windows)
    next_window = 0  # windows are yielded in order
    ti = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            origin = _stream_origin(stream)
            if targets[0][0] > _SEEK_MIN_S:
                container.seek(int((targets[0][0] - 1.0 + origin) / stream.time_base), stream=stream, backward=True)
            prev = None  # (time, frame) shown before the current one
            for frame in container.decode(stream):
                t = (frame.time if frame.time is not None else 0.0) - origin
                while ti < len(targets) and targets[ti][0] < t:
                    chosen = prev[1] if prev is not None else frame
                    _, wi, fi = targets[ti]
                    picked[wi][fi] = chosen.to_ndarray(format="rgb24")
                    remaining[wi] -= 1
                    ti += 1
                while next_window < len(windows) and remaining[next_window] == 0:
                    yield windows[next_window], picked[next_window]
                    picked[next_window] = []
                    next_window += 1
                if ti >= len(targets):
                    break
                prev = (t, frame)
            # Targets at or after the last frame: it stays on screen until the stream ends.
            last_t = prev[0] if prev is not None else None
            frame_dur = 1.0 / float(stream.average_rate) if stream.average_rate else 0.05
            while ti < len(targets):
                t_target, wi, fi = targets[ti]
                if prev is not None and t_target <= last_t + frame_dur:
                    picked[wi][fi] = prev[1].to_ndarray(format="rgb24")
                remaining[wi] -= 1
                ti += 1
    except av.FFmpegError as err:
        raise _fail(path, err) from err
    while next_window < len(windows):
        yield windows[next_window], picked[next_window]
        next_window += 1


def iter_window_audio(
    path: str | Path, windows: Sequence[Window], *, sample_rate: int = SAMPLE_RATE
) -> Iterator[tuple[Window, np.ndarray]]:
    """Yield, for each window in order, its mono samples at `sample_rate`.

    Returns (n,) float32 in [-1, 1] covering [start_s, end_s) of the window; n may be
    smaller than the window's length at the end of the stream (the caller pads). The
    audio is resampled by FFmpeg (swresample) while it streams.
    """
    path = Path(path)
    if not windows:
        return
    starts = [round(w.start_s * sample_rate) for w in windows]
    ends = [round(w.end_s * sample_rate) for w in windows]
    chunks: list[np.ndarray] = []
    buf_start = 0  # sample index (at sample_rate) of chunks[0][0]
    buf_len = 0
    wi = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaError(f"{path}: no audio stream")
            stream = container.streams.audio[0]
            origin = _stream_origin(stream)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            first_s = windows[0].start_s
            if first_s > _SEEK_MIN_S:
                container.seek(int((first_s - 1.0 + origin) / stream.time_base), stream=stream, backward=True)
            started = False

            def frames():
                for packet_frame in container.decode(stream):
                    yield packet_frame
                yield None  # flush the resampler

            for in_frame in frames():
                if not started:
                    if in_frame is None:
                        break
                    t0 = (in_frame.time if in_frame.time is not None else 0.0) - origin
                    buf_start = max(0, round(t0 * sample_rate))
                    started = True
                for out in resampler.resample(in_frame):
                    data = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                    chunks.append(data)
                    buf_len += data.size
                # Emit every window the buffer now covers.
                while wi < len(windows) and buf_start + buf_len >= ends[wi]:
                    yield windows[wi], _slice(chunks, buf_start, starts[wi], ends[wi])
                    wi += 1
                    # Drop samples no later window needs.
                    keep_from = starts[wi] if wi < len(windows) else buf_start + buf_len
                    chunks, buf_start, buf_len = _trim(chunks, buf_start, keep_from)
                if wi >= len(windows):
                    break
    except av.FFmpegError as err:
        raise _fail(path, err) from err
    while wi < len(windows):  # end of stream: what is left, possibly short or empty
        yield windows[wi], _slice(chunks, buf_start, starts[wi], ends[wi])
        wi += 1


def _slice(chunks: list[np.ndarray], buf_start: int, start: int, end: int) -> np.ndarray:
    """Samples [start, end) (absolute indices) from a chunk list beginning at buf_start."""
    if not chunks:
        return np.zeros(0, np.float32)
    data = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    lo, hi = max(0, start - buf_start), max(0, min(end - buf_start, data.size))
    pad = max(0, buf_start - start)  # a stream that starts late: silence before it
    out = data[lo:hi]
    return np.concatenate([np.zeros(pad, np.float32), out]) if pad else out.copy()


def _trim(chunks: list[np.ndarray], buf_start: int, keep_from: int) -> tuple[list[np.ndarray], int, int]:
    """Drop whole chunks that end before `keep_from`; return (chunks, buf_start, buf_len)."""
    while chunks and buf_start + chunks[0].size <= keep_from:
        buf_start += chunks[0].size
        chunks = chunks[1:]
    return chunks, buf_start, sum(c.size for c in chunks)


def read_audio(path: str | Path, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Whole file's audio, mono float32 at `sample_rate` (for training clips; short files)."""
    info = probe(path)
    whole = Window(0, 0.0, info.duration_s + 1.0)
    return next(iter_window_audio(path, [whole], sample_rate=sample_rate))[1]
