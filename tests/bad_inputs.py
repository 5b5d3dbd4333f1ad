"""A corpus of bad and odd inputs, generated from nothing: PyAV, numpy and plain file writes.

`make_corpus(folder)` writes every case into `folder` and returns them as `Case`s, each with
what a user should get for it (README: statuses, error rows naming the file; the issue:
media as it really is, the real end over a header's claim, rotation applied, folder links
walked safely, dangling links reported by their target). The expectations are what the
tool should do, not what it does today; tests/test_bad_inputs.py runs the real CLI over
the corpus and checks them.

Media are kept short (1.5-5.4 s) and small (160x120 or 160x160, 2-10 fps) so the whole
corpus annotates in well under a minute on two cores.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from synth import (
    FACE_FPS,
    FACE_SIDE,
    PLAIN_FPS,
    PLAIN_SIZE,
    TONE_HZ,
    astronaut_face,
    flat_frame,
    mux_audio,
    silence,
    sine,
    write_media,
)

WINDOW_S = 3.6  # the tool's window (README)
MIN_WINDOW_S = 1.0  # the default --min-window
END_TOLERANCE_S = 0.3  # codec padding (AAC/MP3 priming, a frame's duration) on a media's real end

Rows = list[dict[str, str]]  # the CSV rows of one input

# Every case make_corpus writes, in order (the tests are parametrized by these names before
# the corpus exists). OPTIONAL ones depend on an encoder or on not running as root.
CASE_NAMES = (
    "empty_file", "random_bytes", "text_named_mp4", "truncated_50", "truncated_10", "truncated_moov_last",
    "header_only_1k", "corrupt_middle", "no_frames_mp4", "no_frames_mkv", "tiny_16x16", "huge_4000x3000",
    "mpeg4_mp4", "mjpeg_avi", "vp9_webm", "vp8_webm", "ffv1_mkv", "pcm_audio_only_mov", "wav_8k_mono",
    "wav_96k_6ch", "mp3", "flac", "opus_ogg", "wav_streamed_sizes", "wav_garbled_header", "wav_named_mp4",
    "audio_half_second", "silence_wav", "silent_flat_video", "variable_frame_rate", "audio_starts_2s_late",
    "audio_ends_2s_early", "name_spaces", "name_unicode", "name_leading_hash", "name_quotes", "name_leading_dash",
    "rotation_90", "mkv_duration_lies", "dangling_link_in_folder", "symlink_loop_folder", "dir_named_like_video",
    "file_link_loop_in_folder", "dangling_link_given", "no_read_permission",
)
OPTIONAL = ("vp9_webm", "vp8_webm", "mp3", "opus_ogg", "no_read_permission")


@dataclass(frozen=True)
class Check:
    """A predicate on one input's rows: `fn(rows)` raises AssertionError when they are wrong."""

    description: str
    fn: Callable[[Rows], None]

    def __call__(self, rows: Rows) -> None:
        self.fn(rows)

    def __str__(self) -> str:
        return self.description


@dataclass(frozen=True)
class Case:
    """One bad or odd input.

    name:    the test id.
    path:    the file whose rows are checked (for a folder input: the file inside it).
    expect:  "error" (one error row whose error names the file), a status ("ok", "no_face",
             "no_audio", "no_signal", "too_short": every window has it, except a tail
             under --min-window, which is too_short), or a Check on the rows.
    arg:     what the command line is given, when not `path` (a folder, "./-x.mp4").
    seconds: the media's real length, when known: the rows must end there (not at a
             header's claim), within END_TOLERANCE_S.
    mentions: more text the error must contain (a dangling link's target).
    alone:   run in its own CLI run (with one good file), because it may abort a whole run.
    """

    name: str
    path: Path
    expect: str | Check
    arg: str | None = None
    seconds: float | None = None
    mentions: tuple[str, ...] = ()
    alone: bool = False

    @property
    def cli_arg(self) -> str:
        return self.arg if self.arg is not None else str(self.path)

    def describe(self) -> str:
        extra = f" (ends at {self.seconds:.2f} s)" if self.seconds is not None else ""
        extra += f" (error names {', '.join(self.mentions)})" if self.mentions else ""
        return f"{self.name} -> {self.expect}{extra}"


# --- Writing media -------------------------------------------------------------------------

def write_av(path: Path, *, seconds: float, frame_fn=None, size: tuple[int, int] = PLAIN_SIZE, fps: int = PLAIN_FPS,
             vcodec: str = "libx264", pix_fmt: str = "yuv420p", voptions: dict | None = None,
             frame_pts_ms: Sequence[int] | None = None, audio_fn=None, acodec: str = "aac", arate: int = 44100,
             layout: str = "mono", audio_from_s: float = 0.0, audio_to_s: float | None = None,
             options: dict | None = None) -> Path:
    """Like synth.write_media, for any codec PyAV can write: video from `frame_fn(i)` (at `fps`, or at
    the millisecond times `frame_pts_ms`: a variable frame rate), audio from `audio_fn(t)` over
    [audio_from_s, audio_to_s) on the file's clock (so a late start stays late), any layout."""
    with av.open(str(path), "w", options=options or {}) as container:
        video = audio = None
        if frame_fn is not None:
            video = container.add_stream(vcodec, rate=fps)
            video.width, video.height = size
            video.pix_fmt = pix_fmt
            if voptions:
                video.options = voptions
            if frame_pts_ms is not None:
                video.codec_context.time_base = Fraction(1, 1000)
        if audio_fn is not None:
            audio = container.add_stream(acodec, rate=arate, layout=layout)
        if video is not None:
            times = frame_pts_ms if frame_pts_ms is not None else range(round(seconds * fps))
            base = Fraction(1, 1000) if frame_pts_ms is not None else Fraction(1, fps)
            for i, pts in enumerate(times):
                frame = av.VideoFrame.from_ndarray(frame_fn(i), format="rgb24")
                frame.pts, frame.time_base = pts, base
                for packet in video.encode(frame):
                    container.mux(packet)
            for packet in video.encode():
                container.mux(packet)
        if audio is not None:
            to_s = audio_to_s if audio_to_s is not None else seconds
            mux_audio(container, audio, audio_fn, round(audio_from_s * arate), round(to_s * arate))
    return path


def has_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:  # av raises UnknownCodecError (a ValueError) or FFmpegError, by version
        return False
    return True


def decoded_end_s(path: Path) -> float:
    """Where a file's media really ends: the latest decoded frame's end (s) over its streams, read
    by PyAV until the data runs out (0.0 when nothing decodes). The truth a header may contradict."""
    end = 0.0
    try:
        with av.open(str(path)) as container:
            for stream in [*container.streams.video[:1], *container.streams.audio[:1]]:
                if stream.type == "video":
                    rate = float(stream.average_rate or 0) or 25.0
                    step = 1.0 / rate
                try:
                    container.seek(0)
                    for frame in container.decode(stream):
                        if frame.time is None:
                            continue
                        if stream.type == "audio":
                            step = frame.samples / frame.sample_rate
                        end = max(end, frame.time + step)
                except av.FFmpegError:
                    pass  # truncated: what decoded so far is the real media
    except av.FFmpegError:
        return 0.0
    return end


def face_frame_fn(side: int = FACE_SIDE):
    face = astronaut_face(side)
    return lambda i: face


def portrait_face() -> np.ndarray:
    """An upright portrait frame, 120 wide x 160 tall, the astronaut's face in its middle."""
    up = np.zeros((160, 120, 3), np.uint8)
    up[20:140] = astronaut_face(120)
    return up


def huge_face(width: int = 4000, height: int = 3000) -> np.ndarray:
    frame = np.full((height, width, 3), 90, np.uint8)
    side = int(height * 0.8)
    y, x = (height - side) // 2, (width - side) // 2
    frame[y:y + side, x:x + side] = astronaut_face(side)
    return frame


# --- Byte surgery ------------------------------------------------------------------------

def _rotation_matrix_90(height: int) -> bytes:
    """The tkhd matrix of a track shown rotated 90 degrees clockwise (what phones write for
    portrait, FFmpeg's `rotate=90` / display matrix -90): a b u / c d v / x y w, 16.16 and 2.30."""
    return struct.pack(">9I", 0, 0x10000, 0, 0xFFFF0000, 0, 0, height << 16, 0, 0x40000000)


def set_mp4_rotation_90(path: Path, height: int) -> None:
    """Patch the first (video) track header's display matrix to a 90-degree rotation.

    PyAV cannot write one: it exposes no stream side data for writing, and FFmpeg's mov
    muxer no longer reads the `rotate` metadata tag (checked: a stream with
    metadata["rotate"] = "90" decodes with rotation 0). So the matrix is written into the
    tkhd box's bytes, where phones put it.
    """
    data = bytearray(path.read_bytes())
    i = data.find(b"tkhd")
    assert i > 0 and data[i + 4] == 0, "expected a version-0 tkhd box"
    matrix_at = i + 4 + 4 + 20 + 8 + 8  # type, version+flags, times/id/duration, reserved, layer..volume
    data[matrix_at:matrix_at + 36] = _rotation_matrix_90(height)
    path.write_bytes(bytes(data))


def patch_mkv_duration(path: Path, seconds: float) -> None:
    """Make a Matroska file's Segment Info Duration (EBML id 0x4489) claim `seconds`."""
    data = bytearray(path.read_bytes())
    i = data.find(b"\x44\x89")
    assert i > 0, "no Duration element"
    size_byte = data[i + 2]
    assert size_byte in (0x84, 0x88), f"unexpected Duration size {size_byte:#x}"
    timecode_scale_ns = 1_000_000  # FFmpeg's default TimecodeScale: the duration is in ms
    value = seconds * 1e9 / timecode_scale_ns
    packed = struct.pack(">f", value) if size_byte == 0x84 else struct.pack(">d", value)
    data[i + 3:i + 3 + len(packed)] = packed
    path.write_bytes(bytes(data))


def set_wav_sizes(path: Path, value: int) -> None:
    """Set the RIFF and data chunk sizes, as recorders that stream a WAV leave them (0xFFFFFFFF)."""
    data = bytearray(path.read_bytes())
    i = data.find(b"data")
    data[4:8] = struct.pack("<I", value)
    data[i + 4:i + 8] = struct.pack("<I", value)
    path.write_bytes(bytes(data))


def overwrite_middle(path: Path, n: int, rng: np.random.Generator) -> None:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def cut(src: Path, dst: Path, *, fraction: float | None = None, n_bytes: int | None = None) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[:n_bytes if n_bytes is not None else int(len(data) * fraction)])
    return dst


# --- Checks on rows ----------------------------------------------------------------------

def _f(row: dict[str, str], key: str) -> float:
    return float(row[key])


def rows_within(real_end_s: float, *, slack_s: float = END_TOLERANCE_S, statuses: Sequence[str] = ()) -> Check:
    """Rows that stop at the media's real end: none ends past it (+ slack), the last reaches it."""
    def check(rows: Rows) -> None:
        assert rows, "no rows"
        assert all(r["status"] != "error" for r in rows), f"error rows: {[r['error'] for r in rows]}"
        ends = [_f(r, "end_s") for r in rows]
        assert max(ends) <= real_end_s + slack_s, f"rows run to {max(ends)} s, the media ends at {real_end_s:.2f} s"
        assert max(ends) >= real_end_s - slack_s, f"rows stop at {max(ends)} s, the media runs to {real_end_s:.2f} s"
        if statuses:
            main = [r["status"] for r in rows if r["status"] != "too_short" or "too_short" in statuses]
            assert main and set(main) <= set(statuses), f"statuses {main}, expected {list(statuses)}"

    return Check(f"rows end at the real end {real_end_s:.2f} s, not past it"
                 + (f"; statuses {'/'.join(statuses)}" if statuses else ""), check)


def no_row_starts_after(real_end_s: float, statuses: Sequence[str]) -> Check:
    """The header claims far more than the media holds: windows stop near the real end."""
    def check(rows: Rows) -> None:
        assert rows, "no rows"
        starts = [_f(r, "start_s") for r in rows]
        assert max(starts) <= real_end_s + WINDOW_S, (
            f"{len(rows)} rows, the last starting at {max(starts)} s; the media ends at {real_end_s:.2f} s")
        main = [r["status"] for r in rows if r["status"] != "too_short"]
        assert main and set(main) <= set(statuses), f"statuses {sorted(set(main))}, expected {list(statuses)}"

    return Check(f"no row starts after the real end {real_end_s:.2f} s + {WINDOW_S} s; statuses "
                 f"{'/'.join(statuses)}", check)


def statuses_in_order(expected: Sequence[str]) -> Check:
    def check(rows: Rows) -> None:
        got = [r["status"] for r in rows]
        assert got == list(expected), f"statuses {got}, expected {list(expected)}"

    return Check(f"statuses {list(expected)} in window order", check)


def face_found(statuses: Sequence[str]) -> Check:
    """The rotated phone video: the upright face is found (the display matrix was applied)."""
    def check(rows: Rows) -> None:
        assert rows, "no rows"
        got = [r["status"] for r in rows if r["status"] != "too_short"]
        assert got and set(got) <= set(statuses), f"statuses {got}, expected {list(statuses)}"
        frames = [int(r["face_frames"]) for r in rows if r["status"] != "too_short"]
        assert all(n > 0 for n in frames), f"face_frames {frames}: the face was not found (rotation not applied?)"

    return Check(f"face found in every window, status {'/'.join(statuses)}", check)


def only_inner_file(inner: Path, status: str) -> Check:
    def check(rows: Rows) -> None:
        assert rows, f"no rows for {inner.name}"
        assert {r["status"] for r in rows} <= {status, "too_short"}, [r["status"] for r in rows]
        assert [int(r["window"]) for r in rows] == list(range(len(rows))), "windows repeated or missing"

    return Check(f"the file inside is annotated once ({status}), the folder itself gives no row", check)


# --- The corpus ----------------------------------------------------------------------------

def make_corpus(folder: Path) -> list[Case]:
    """Write the bad-input corpus into `folder`; return its cases (at least 30)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1234)
    tone, face = sine(TONE_HZ), face_frame_fn()
    cases: list[Case] = []

    def add(name: str, path: Path, expect: str | Check, **kw) -> None:
        cases.append(Case(name, path, expect, **kw))

    def face_video(path: Path, seconds: float = 3.0, **kw) -> Path:
        kw = {"frame_fn": face, "size": (FACE_SIDE, FACE_SIDE), "fps": FACE_FPS, "audio_fn": tone, **kw}
        return write_av(path, seconds=seconds, **kw)

    def tone_wav(path: Path, seconds: float = 2.0, rate: int = 16000) -> Path:
        return write_media(path, duration_s=seconds, audio_fn=tone, audio_rate=rate, audio_codec="pcm_s16le")

    # -- Not media at all
    p = folder / "empty.mp4"
    p.write_bytes(b"")
    add("empty_file", p, "error")
    p = folder / "random_bytes.mp4"
    p.write_bytes(rng.integers(0, 256, 64 * 1024, dtype=np.uint8).tobytes())
    add("random_bytes", p, "error")
    p = folder / "text.mp4"
    p.write_text("This is not a video.\nIt is a text file named .mp4.\n" * 20, encoding="utf-8")
    add("text_named_mp4", p, "error")

    # -- Broken files: truncated, header only, corrupted middle, no frames
    base = folder / "_src" / "faststart.mp4"
    base.parent.mkdir(exist_ok=True)
    write_av(base, seconds=4.0, frame_fn=flat_frame, audio_fn=tone, voptions={"preset": "ultrafast", "crf": "18"},
             options={"movflags": "+faststart"})
    for name, fraction in (("truncated_50", 0.5), ("truncated_10", 0.1)):
        p = cut(base, folder / f"{name}.mp4", fraction=fraction)
        real_end = decoded_end_s(p)
        # The index (moov, first) still claims 4 s; the media stops where the bytes do.
        if real_end >= MIN_WINDOW_S:
            add(name, p, rows_within(real_end, statuses=("no_face",)), seconds=real_end)
        elif real_end > 0:
            add(name, p, rows_within(real_end, statuses=("too_short",)), seconds=real_end)
        else:
            add(name, p, "error")  # nothing decodes: a file that cannot be read
    plain = write_media(folder / "_src" / "moov_last.mp4", frame_fn=flat_frame, audio_fn=tone)
    add("truncated_moov_last", cut(plain, folder / "truncated_moov_last.mp4", fraction=0.5), "error")  # no index
    add("header_only_1k", cut(plain, folder / "header_only.mp4", n_bytes=1024), "error")
    p = folder / "corrupt_middle.mp4"
    p.write_bytes(plain.read_bytes())
    overwrite_middle(p, 2048, rng)
    add("corrupt_middle", p, "no_face", seconds=4.0)  # a damaged stretch plays with glitches: still annotated
    p = folder / "no_frames.mp4"
    with av.open(str(p), "w") as container:  # a video stream, and not one frame encoded
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        container.start_encoding()
    add("no_frames_mp4", p, "error", alone=True)  # ends a whole run today (see the note on `alone` cases below)
    p = folder / "no_frames.mkv"
    with av.open(str(p), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        container.start_encoding()
    add("no_frames_mkv", p, "error")

    # -- Frame sizes
    add("tiny_16x16", write_av(folder / "tiny_16x16.mp4", seconds=2.0, frame_fn=lambda i: np.full((16, 16, 3), 128,
                                                                                                  np.uint8),
                               size=(16, 16), audio_fn=tone), "no_face", seconds=2.0)
    big = huge_face()
    add("huge_4000x3000", write_av(folder / "huge_4000x3000.mp4", seconds=1.5, frame_fn=lambda i: big,
                                   size=(4000, 3000), fps=2, voptions={"preset": "ultrafast"}, audio_fn=tone),
        "ok", seconds=1.5)

    # -- Odd codecs (face + tone: both modalities must come through)
    add("mpeg4_mp4", face_video(folder / "mpeg4.mp4", vcodec="mpeg4"), "ok", seconds=3.0)
    add("mjpeg_avi", face_video(folder / "mjpeg.avi", vcodec="mjpeg", pix_fmt="yuvj420p", acodec="pcm_s16le"), "ok",
        seconds=3.0)
    if has_encoder("libvpx-vp9") and has_encoder("libopus"):
        add("vp9_webm", face_video(folder / "vp9.webm", vcodec="libvpx-vp9", acodec="libopus", arate=48000,
                                   voptions={"deadline": "realtime", "cpu-used": "8"}), "ok", seconds=3.0)
    if has_encoder("libvpx") and has_encoder("libopus"):
        add("vp8_webm", face_video(folder / "vp8.webm", vcodec="libvpx", acodec="libopus", arate=48000,
                                   voptions={"deadline": "realtime", "cpu-used": "8"}), "ok", seconds=3.0)
    add("ffv1_mkv", face_video(folder / "ffv1.mkv", vcodec="ffv1", acodec="flac"), "ok", seconds=3.0)
    add("pcm_audio_only_mov", write_av(folder / "pcm_audio_only.mov", seconds=2.0, audio_fn=tone, acodec="pcm_s24le",
                                       arate=48000), "no_face", seconds=2.0)  # a video extension, only a voice

    # -- Audio only, in odd forms
    add("wav_8k_mono", write_av(folder / "wav_8k_mono.wav", seconds=2.0, audio_fn=tone, acodec="pcm_s16le",
                                arate=8000), "no_face", seconds=2.0)
    add("wav_96k_6ch", write_av(folder / "wav_96k_6ch.wav", seconds=2.0, audio_fn=tone, acodec="pcm_s16le",
                                arate=96000, layout="5.1"), "no_face", seconds=2.0)
    if has_encoder("libmp3lame"):
        add("mp3", write_av(folder / "mp3_tone.mp3", seconds=2.0, audio_fn=tone, acodec="libmp3lame"), "no_face",
            seconds=2.0)
    add("flac", write_av(folder / "flac_tone.flac", seconds=2.0, audio_fn=tone, acodec="flac"), "no_face",
        seconds=2.0)
    if has_encoder("libopus"):
        add("opus_ogg", write_av(folder / "opus_tone.ogg", seconds=2.0, audio_fn=tone, acodec="libopus",
                                 arate=48000), "no_face", seconds=2.0)
    p = tone_wav(folder / "wav_streamed_sizes.wav")
    set_wav_sizes(p, 0xFFFFFFFF)  # sizes unknown while recording: the data runs to the end of the file
    add("wav_streamed_sizes", p, "no_face", seconds=2.0)
    p = tone_wav(folder / "wav_garbled_header.wav")
    data = bytearray(p.read_bytes())
    data[:80] = rng.integers(0, 256, 80, dtype=np.uint8).tobytes()  # RIFF, fmt and data headers destroyed
    p.write_bytes(bytes(data))
    add("wav_garbled_header", p, "error")
    add("wav_named_mp4", tone_wav(folder / "wav_inside.mp4"), "no_face", seconds=2.0)  # FFmpeg reads the content
    add("audio_half_second", tone_wav(folder / "half_second.wav", seconds=0.5), "too_short", seconds=0.5)
    add("silence_wav", write_media(folder / "silence.wav", duration_s=2.0, audio_fn=silence, audio_rate=16000,
                                   audio_codec="pcm_s16le"), "no_signal", seconds=2.0)
    add("silent_flat_video", write_media(folder / "silent_flat.mp4", duration_s=2.0, frame_fn=flat_frame,
                                         audio_fn=silence), "no_signal", seconds=2.0)

    # -- Timing: variable frame rate, audio that starts late or ends early (5.4 s: two windows)
    steps = [40, 40, 200, 40, 500, 100, 33, 33, 33, 400]
    pts, t = [], 0
    while t < 3000:
        pts.append(t)
        t += steps[len(pts) % len(steps)]
    add("variable_frame_rate", write_av(folder / "vfr.mp4", seconds=3.0, frame_fn=face, size=(FACE_SIDE, FACE_SIDE),
                                        frame_pts_ms=pts, audio_fn=tone), "ok", seconds=3.0)
    # Audio 2.0-5.4 s on the file's clock: both windows hear it (if its start were moved to 0, the
    # second window would be silent).
    add("audio_starts_2s_late", face_video(folder / "audio_late.mp4", seconds=5.4, audio_from_s=2.0),
        statuses_in_order(["ok", "ok"]), seconds=5.4)
    add("audio_ends_2s_early", face_video(folder / "audio_early_end.mp4", seconds=5.4, audio_to_s=3.4),
        statuses_in_order(["ok", "no_audio"]), seconds=5.4)

    # -- Names a shell or a parser trips on
    names = folder / "names"
    names.mkdir(exist_ok=True)
    add("name_spaces", tone_wav(names / "clip with  spaces.wav"), "no_face", seconds=2.0)
    add("name_unicode", tone_wav(names / "émotion 日本語 🎬.wav"), "no_face", seconds=2.0)
    add("name_leading_hash", tone_wav(names / "#1 interview.wav"), "no_face", seconds=2.0)
    add("name_quotes", tone_wav(names / "it's \"quoted\".wav"), "no_face", seconds=2.0)
    p = write_media(folder / "-x.mp4", duration_s=2.0, frame_fn=flat_frame, audio_fn=tone)
    add("name_leading_dash", p, "no_face", arg="./-x.mp4", seconds=2.0)  # the run's working folder is `folder`

    # -- A phone's portrait video: stored sideways, with a 90-degree display matrix
    upright = portrait_face()
    stored = np.ascontiguousarray(np.rot90(upright, 1))  # 160 wide x 120 tall; shown rotated clockwise
    p = write_av(folder / "rotated_phone.mp4", seconds=2.0, frame_fn=lambda i: stored, size=(160, 120), fps=FACE_FPS,
                 audio_fn=tone)
    set_mp4_rotation_90(p, height=120)
    add("rotation_90", p, face_found(("ok", "no_audio")), seconds=2.0)

    # -- A header that lies: a 3 s mkv whose Segment Duration claims 10 minutes
    p = write_av(folder / "lying_duration.mkv", seconds=3.0, frame_fn=flat_frame, audio_fn=tone)
    real_end = decoded_end_s(p)
    patch_mkv_duration(p, 600.0)
    add("mkv_duration_lies", p, no_row_starts_after(real_end, ("no_face",)))

    # -- Links and folders
    walked = folder / "walked"
    walked.mkdir(exist_ok=True)
    target = folder / "missing_target.mp4"
    (walked / "gone.mp4").symlink_to(target)
    add("dangling_link_in_folder", walked / "gone.mp4", "error", arg=str(walked), mentions=(target.name,))

    loops = folder / "loopdir"
    (loops / "sub").mkdir(parents=True, exist_ok=True)
    inner = tone_wav(loops / "inner.wav")
    (loops / "again").symlink_to(".")
    (loops / "sub" / "up").symlink_to("..")
    add("symlink_loop_folder", inner, only_inner_file(inner, "no_face"), arg=str(loops), seconds=2.0)

    dir_like = folder / "folder.mp4"
    dir_like.mkdir(exist_ok=True)
    inside = tone_wav(dir_like / "inside.wav")
    add("dir_named_like_video", inside, only_inner_file(inside, "no_face"), arg=str(dir_like), seconds=2.0)

    # These two end a whole run today (an exception before any row): each gets its own run.
    fileloop = folder / "fileloop"
    fileloop.mkdir(exist_ok=True)
    (fileloop / "self_loop.mp4").symlink_to("self_loop.mp4")
    add("file_link_loop_in_folder", fileloop / "self_loop.mp4", "error", arg=str(fileloop), alone=True)
    direct = folder / "dangling_direct.mp4"
    direct.symlink_to(folder / "nowhere.mp4")
    add("dangling_link_given", direct, "error", mentions=("nowhere.mp4",), alone=True)

    if os.geteuid() != 0:  # root reads a chmod 000 file anyway: the case means nothing there
        p = tone_wav(folder / "unreadable.wav")
        p.chmod(0)
        add("no_read_permission", p, "error")
    return cases
