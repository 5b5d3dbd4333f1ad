"""Probe and decode media with PyAV (FFmpeg's libraries): frames at window times, audio at 22,050 Hz.

Both decoders stream: they hold only the frames and samples of the windows in flight, so
an hour of video never sits in memory. Arrays already in memory (`records.MediaArrays`) are
read through the same interface (`probe_source`, `iter_frames`, `iter_audio`), their audio
resampled by the same FFmpeg resampler as a file's. URLs are read through fsspec (`storage`).
"""

from __future__ import annotations

import bisect
import logging
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import av
import numpy as np

from .constants import SAMPLE_RATE
from .errors import MediaError
from .records import MediaArrays, MediaInfo, Window
from .storage import is_url, readable
from .windows import frame_times

log = logging.getLogger("emoannotate")

_SEEK_MIN_S = 2.0  # s, seek instead of decoding from the start when the first window is later
TAIL_CHECK_S = 10.0  # s before a header's claimed end where probing checks that packets are there
END_TOLERANCE_S = 1.0  # s, packets ending this much before the claimed end mean the header lies
REORDER_PACKETS = 16  # a stream's last packets among which its latest end is (B-frames come out of order)
MAX_BAD_PACKETS = 200  # damaged packets in a row after which a stream is given up
NEAR_TARGET_FRAMES = 2.0  # frame durations before a target time within which every frame is decoded


def _fail(path: str | Path, err: Exception) -> MediaError:
    msg = (getattr(err, "strerror", None) or str(err)).strip() or type(err).__name__
    return MediaError(f"{path}: cannot decode: {msg}; check that the file plays (e.g. `ffprobe '{path}'`)")


def probe(path: str | Path) -> MediaInfo:
    """Read a file's streams and duration (seconds) without decoding it.

    Raises MediaError naming the file when it does not exist, is empty, or is no media (a URL's
    file: when `storage.readable` opens it).
    """
    path = path if is_url(path) else Path(path)
    if isinstance(path, str):
        pass
    elif path.is_symlink() and not path.exists():
        try:
            path.resolve(strict=True)
        except RuntimeError:  # a -> b -> a
            raise MediaError(f"{path}: a symbolic link that loops back on itself") from None
        except OSError:
            pass
        raise MediaError(f"{path}: broken link to {_link_target(path)}")
    elif not path.is_file():
        raise MediaError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    elif path.stat().st_size == 0:
        raise MediaError(f"{path}: file is empty (0 bytes)")
    try:
        with readable(path) as f, av.open(f, mode="r") as container:
            vs = container.streams.video[0] if container.streams.video else None
            aus = container.streams.audio[0] if container.streams.audio else None
            if vs is None and aus is None:
                raise MediaError(f"{path}: no video or audio stream")
            durations = []
            if container.duration:
                durations.append(container.duration / av.time_base)
            for s in (vs, aus):
                if s is not None and s.duration and s.time_base:
                    durations.append(float(s.duration * s.time_base))
            if not durations:  # e.g. some raw streams: count by decoding the audio
                durations.append(_decoded_duration(container))
            claimed = max(durations)
            duration = _media_end(container, claimed) if vs is not None or aus is not None else claimed
            if duration < claimed - END_TOLERANCE_S:
                log.warning("%s: the header says %.1f s, but the media ends at %.1f s; annotating what is there",
                            path, claimed, duration)
            fps = float(vs.average_rate) if vs is not None and vs.average_rate else None
            width = vs.codec_context.width if vs is not None else None
            height = vs.codec_context.height if vs is not None else None
            if vs is not None and _display_rotation(container, vs) % 180:  # shown on its side: swap
                width, height = height, width
            info = MediaInfo(
                path=path,
                duration_s=duration,
                has_video=vs is not None,
                has_audio=aus is not None,
                fps=fps,
                width=width,
                height=height,
            )
    except av.FFmpegError as err:
        raise _fail(path, err) from err
    if not info.has_video and not info.has_audio:
        raise MediaError(f"{path}: no video or audio stream")
    return info


def _link_target(link: Path) -> Path:
    target = Path(os.readlink(link))
    return target if target.is_absolute() else Path(os.path.normpath(link.parent / target))


def _packet_end(packet) -> float | None:
    """Time (s, stream clock) at which a demuxed packet's media ends, or None without a timestamp."""
    ts = packet.pts if packet.pts is not None else packet.dts
    if ts is None or packet.time_base is None:
        return None
    return _unwrap(float((ts + (packet.duration or 0)) * packet.time_base), packet.stream)


def _last_packet_end(container, streams) -> float | None:
    """Where the packets from the container's current position to its end stop (s): per stream the end of
    its last packets (the most of its final REORDER_PACKETS, which B-frames reorder), the latest over the
    streams; None when none is read. Not the latest over all packets: a stream's first packets may
    carry wrapped timestamps (MPEG-TS counts in 33 bits, and an encoder's priming before 0 wraps
    to about 26.5 hours), which would pass for the end of the file."""
    tails: dict[int, deque[float]] = {}
    try:
        for packet in container.demux(*streams):
            t = _packet_end(packet)
            if t is not None:
                tails.setdefault(packet.stream.index, deque(maxlen=REORDER_PACKETS)).append(t)
    except av.FFmpegError:  # a cut file ends in a read error: what came before it is what there is
        pass
    return max((max(tail) for tail in tails.values()), default=None)


def _media_end(container, claimed_s: float) -> float:
    """Where the media really ends (s from its start): the header's duration unless the packets say less.

    Containers lie: an mkv can claim ten hours for eight seconds, a file cut in half keeps its
    full-length index. The packets near the claimed end are demuxed (no decoding); when none
    is there, the whole file is demuxed to find its last packet.
    """
    streams = [*container.streams.video[:1], *container.streams.audio[:1]]
    origin = _media_origin(container)
    tail_start = claimed_s - TAIL_CHECK_S
    end = None
    if tail_start > 0:
        try:
            container.seek(int((tail_start + origin) * av.time_base), backward=True)
            end = _last_packet_end(container, streams)
        except av.FFmpegError:
            end = None
    if end is None or end - origin < claimed_s - END_TOLERANCE_S:
        container.seek(0)
        end = _last_packet_end(container, streams)
    if end is None or end - origin >= claimed_s - END_TOLERANCE_S:
        return claimed_s  # the header is right (its last frame's duration is not in every packet)
    return max(0.0, end - origin)


def _display_rotation(container, stream) -> int:
    """Degrees counter-clockwise the video is turned for display (its display matrix), 0 without one."""
    try:
        container.seek(0)
        frame = next(_decoded(container, stream, Path(container.name)), None)
    except (av.FFmpegError, MediaError):
        return 0
    return int(round((frame.rotation or 0) / 90)) * 90 % 360 if frame is not None else 0


def _upright(frame) -> np.ndarray:
    """A decoded frame as (H, W, 3) uint8 RGB, turned as the display matrix says (phones record rotated)."""
    rgb = frame.to_ndarray(format="rgb24")
    quarter_turns = int(round((frame.rotation or 0) / 90)) % 4
    return np.ascontiguousarray(np.rot90(rgb, k=quarter_turns)) if quarter_turns else rgb


def _decoded_duration(container) -> float:
    """Duration (s) found by decoding the first audio or video stream to its end."""
    stream = (container.streams.audio or container.streams.video)[0]
    end = 0.0
    for frame in _decoded(container, stream, Path(container.name)):
        if frame.time is not None:
            dur = frame.samples / frame.sample_rate if stream.type == "audio" else 0.0
            end = max(end, frame.time + dur)
    return end


MPEG_WRAP_S = 2**33 / 90000  # s: MPEG-TS/PS timestamps count 90 kHz ticks in 33 bits (26.5 hours)
_WRAPPING_FORMATS = ("mpegts", "mpeg", "mpegvideo")


def _unwrap(t: float, stream) -> float:
    """A stream time (s) with the 33-bit wrap of MPEG-TS/PS undone: a time in the upper half of the clock
    is one just before 0 (an audio encoder's priming, written as -1090 ticks, reads as 26.5 hours)."""
    names = (getattr(stream.container.format, "name", "") or "").split(",")
    if t > MPEG_WRAP_S / 2 and any(n in _WRAPPING_FORMATS for n in names):
        return t - MPEG_WRAP_S
    return t


def _frame_time(frame, stream) -> float:
    """A decoded frame's time (s, stream clock, unwrapped); 0 without a timestamp."""
    return _unwrap(float(frame.time), stream) if frame.time is not None else 0.0


def _stream_origin(stream) -> float:
    """Time (s) of the stream's first timestamp."""
    if stream.start_time is not None and stream.time_base is not None:
        return _unwrap(float(stream.start_time * stream.time_base), stream)
    return 0.0


def _media_origin(container) -> float:
    """Time (s) where the media starts: the earliest first timestamp of its video and audio.

    Frame and sample times are taken relative to it, so an audio track that starts two
    seconds after the picture stays two seconds late (silence before it), as a player shows it.
    """
    streams = [*container.streams.video[:1], *container.streams.audio[:1]]
    return min((_stream_origin(s) for s in streams), default=0.0)


def _decoded(container, stream, path: str | Path, needed: Callable[[av.Packet], bool] | None = None) -> Iterator:
    """The stream's frames; a packet that does not decode (a damaged stretch) is skipped, not fatal.

    needed: whether a packet's frame is wanted; the decoder skips the frames of packets that are
    not wanted and that no other frame refers to (FFmpeg's skip_frame "NONREF": B-frames that are
    not references, about half of an x264 stream's frames). Every frame it does decode has the
    same pixels as without skipping, since nothing depends on the skipped ones.
    Raises MediaError when nothing decodes, or when MAX_BAD_PACKETS in a row do not.
    """
    bad_run = bad = good = 0
    skipping = False
    for packet in container.demux(stream):
        if needed is not None and needed(packet) == skipping:
            skipping = not skipping
            stream.codec_context.skip_frame = "NONREF" if skipping else "DEFAULT"
        try:
            frames = packet.decode()
        except av.FFmpegError as err:
            bad, bad_run = bad + 1, bad_run + 1
            if bad_run >= MAX_BAD_PACKETS:
                raise _fail(path, err) from err
            continue
        bad_run = 0
        for frame in frames:
            good += 1
            yield frame
    if bad:
        log.warning("%s: %d damaged packet(s) of its %s were skipped", path, bad, stream.type)
        if not good:
            raise MediaError(f"{path}: no {stream.type} frame could be decoded ({bad} damaged packets)")


def iter_window_frames(
    path: str | Path, windows: Sequence[Window], *, n_frames: int, skip_unneeded: bool = True
) -> Iterator[tuple[Window, list[np.ndarray | None]]]:
    """Yield, for each window in order, its `n_frames` RGB frames (H, W, 3) uint8.

    Each frame is the one on screen at the target time (`windows.frame_times`). A target
    past the end of the video stream gets None. The video is decoded once, front to back
    (after a seek to the first window when it starts late); frames between targets are
    never converted, and those that are not references for others (most B-frames) are not
    even decoded unless they are within NEAR_TARGET_FRAMES of a target (`_decoded`): the
    frames returned are the same, pixel for pixel (tests/test_media.py), for about a third
    less decoding at 15 frames a window.
    """
    path = path if is_url(path) else Path(path)
    if not windows:
        return
    targets = [(t, wi, fi) for wi, w in enumerate(windows) for fi, t in enumerate(frame_times(w, n_frames))]
    targets.sort()
    picked: list[list[np.ndarray | None]] = [[None] * n_frames for _ in windows]
    remaining = [n_frames] * len(windows)
    next_window = 0  # windows are yielded in order
    ti = 0
    try:
        with readable(path) as f, av.open(f, mode="r") as container:
            if not container.streams.video:
                raise MediaError(f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            origin = _media_origin(container)
            if targets[0][0] > _SEEK_MIN_S:
                container.seek(int((targets[0][0] - 1.0 + origin) / stream.time_base), stream=stream, backward=True)
            prev = None  # (time, frame) shown before the current one
            frame_dur = 1.0 / float(stream.average_rate) if stream.average_rate else 0.05
            times = [t for t, _, _ in targets]

            def needed(packet: av.Packet) -> bool:
                """Whether the packet's frame may be the one on screen at a target: shown up to
                NEAR_TARGET_FRAMES before it, or half a frame after (timestamps round)."""
                if packet.pts is None or packet.time_base is None:
                    return True
                t = _unwrap(float(packet.pts * packet.time_base), stream) - origin
                k = bisect.bisect_left(times, t - 0.5 * frame_dur)  # the first target not before it
                return k < len(times) and times[k] < t + NEAR_TARGET_FRAMES * frame_dur

            for frame in _decoded(container, stream, path, needed if skip_unneeded else None):
                t = _frame_time(frame, stream) - origin
                while ti < len(targets) and targets[ti][0] < t:
                    chosen = prev[1] if prev is not None else frame
                    _, wi, fi = targets[ti]
                    picked[wi][fi] = _upright(chosen)
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
            while ti < len(targets):
                t_target, wi, fi = targets[ti]
                if prev is not None and t_target <= prev[0] + frame_dur:  # prev[0]: time of the last frame
                    picked[wi][fi] = _upright(prev[1])
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

    Returns (n,) float32 in [-1, 1] covering [input_start_s, end_s) of the window; n may be
    smaller than the window's length at the end of the stream (the caller pads). The
    audio is resampled by FFmpeg (swresample) while it streams.
    """
    path = path if is_url(path) else Path(path)
    if not windows:
        return
    starts = [round(w.input_start_s * sample_rate) for w in windows]
    ends = [round(w.end_s * sample_rate) for w in windows]
    chunks: list[np.ndarray] = []
    buf_start = 0  # sample index (at sample_rate) of chunks[0][0]
    buf_len = 0
    wi = 0
    try:
        with readable(path) as f, av.open(f, mode="r") as container:
            if not container.streams.audio:
                raise MediaError(f"{path}: no audio stream")
            stream = container.streams.audio[0]
            origin = _media_origin(container)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            first_s = windows[0].input_start_s  # windows come in order, and so do where they read from
            if first_s > _SEEK_MIN_S:
                if stream.time_base is None:
                    raise MediaError(f"{path}: audio stream without a time base, cannot seek")
                container.seek(int((first_s - 1.0 + origin) / stream.time_base), stream=stream, backward=True)
            started = False

            def frames():
                yield from _decoded(container, stream, path)
                yield None  # flush the resampler

            for in_frame in frames():
                if not started:
                    if in_frame is None:
                        break
                    t0 = _frame_time(in_frame, stream) - origin
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


# --- Arrays in memory, and one interface over both -----------------------------------------

def probe_arrays(arrays: MediaArrays) -> MediaInfo:
    """MediaInfo of arrays in memory; InputError-like MediaError when they are not media."""
    name = Path(arrays.name)
    frames, audio = arrays.frames, arrays.audio
    if frames is not None:
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise MediaError(f"{name}: frames must be (T, H, W, 3) uint8 RGB, got {frames.dtype} {frames.shape}")
        if not arrays.fps > 0:
            raise MediaError(f"{name}: fps must be positive, got {arrays.fps}")
    if audio is not None:
        if audio.ndim not in (1, 2):
            raise MediaError(f"{name}: audio must be (n,) or (n, channels), got shape {audio.shape}")
        if not arrays.sample_rate > 0:
            raise MediaError(f"{name}: sample_rate must be positive, got {arrays.sample_rate}")
    n_video = len(frames) if frames is not None else 0
    n_audio = len(audio) if audio is not None else 0
    has_video, has_audio = n_video > 0, n_audio > 0
    if not has_video and not has_audio:
        raise MediaError(f"{name}: no video frames or audio samples")
    durations = [n_video / arrays.fps] if has_video else []
    durations += [n_audio / arrays.sample_rate] if has_audio else []
    size = frames.shape[1:3] if frames is not None and has_video else None  # (H, W)
    return MediaInfo(path=name, duration_s=max(durations), has_video=has_video, has_audio=has_audio,
                     fps=float(arrays.fps) if has_video else None,
                     width=int(size[1]) if size is not None else None,
                     height=int(size[0]) if size is not None else None)


def iter_array_frames(arrays: MediaArrays, windows: Sequence[Window], *, n_frames: int
                      ) -> Iterator[tuple[Window, list[np.ndarray | None]]]:
    """`iter_window_frames` for arrays: frame floor(t * fps) is the one on screen at time t."""
    frames = arrays.frames
    if frames is None:
        raise MediaError(f"{arrays.name}: no video frames")
    for w in windows:
        idx = np.floor(frame_times(w, n_frames) * arrays.fps + 1e-9).astype(int)
        yield w, [np.ascontiguousarray(frames[i]) if i < len(frames) else None for i in idx]


def iter_array_audio(arrays: MediaArrays, windows: Sequence[Window], *, sample_rate: int = SAMPLE_RATE
                     ) -> Iterator[tuple[Window, np.ndarray]]:
    """`iter_window_audio` for arrays: mixed to mono and resampled once by swresample, then sliced."""
    if arrays.audio is None:
        raise MediaError(f"{arrays.name}: no audio samples")
    mono = _resample(arrays.audio, arrays.sample_rate, sample_rate)
    for w in windows:
        yield w, mono[round(w.input_start_s * sample_rate):round(w.end_s * sample_rate)].copy()


def _resample(audio: np.ndarray, rate: int, out_rate: int) -> np.ndarray:
    """(n,) or (n, channels) float samples at `rate` -> (m,) mono float32 at `out_rate`."""
    planar = np.ascontiguousarray(np.asarray(audio, np.float32).reshape(len(audio), -1).T)  # (channels, n)
    if planar.shape[0] == 1 and rate == out_rate:
        return planar[0].copy()
    layout = {1: "mono", 2: "stereo"}.get(planar.shape[0])
    if layout is None:  # FFmpeg layouts beyond stereo need names; a plain mean is what "mono" means
        planar, layout = planar.mean(axis=0, keepdims=True), "mono"
    frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout=layout)
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=out_rate)
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.float32, copy=False) if out else np.zeros(0, np.float32)


def probe_source(source: str | Path | MediaArrays) -> MediaInfo:
    """`probe` for a file, `probe_arrays` for arrays."""
    return probe_arrays(source) if isinstance(source, MediaArrays) else probe(source)


def iter_frames(source: str | Path | MediaArrays, windows: Sequence[Window], *, n_frames: int
                ) -> Iterator[tuple[Window, list[np.ndarray | None]]]:
    """Each window's `n_frames` RGB frames, from a file or from arrays."""
    if isinstance(source, MediaArrays):
        return iter_array_frames(source, windows, n_frames=n_frames)
    return iter_window_frames(source, windows, n_frames=n_frames)


def iter_audio(source: str | Path | MediaArrays, windows: Sequence[Window], *, sample_rate: int = SAMPLE_RATE
               ) -> Iterator[tuple[Window, np.ndarray]]:
    """Each window's mono samples at `sample_rate`, from a file or from arrays."""
    if isinstance(source, MediaArrays):
        return iter_array_audio(source, windows, sample_rate=sample_rate)
    return iter_window_audio(source, windows, sample_rate=sample_rate)
