"""Build the sample clips in sample_videos/ from public-domain pictures and espeak-ng speech.

    python scripts/make_sample_videos.py            # writes sample_videos/
    python scripts/make_sample_videos.py --check    # ... then counts MTCNN faces per frame

Pictures come from packages (scikit-image's astronaut and coffee, matplotlib's Grace
Hopper); a slow pan, zoom, roll and seeded hand-held shake turn each still into a video.
Speech is synthesised with the espeak-ng program. Nothing is random but the shake, drawn
from fixed seeds. Encoding goes through PyAV (libx264 on one thread and FFmpeg's AAC, with
bit-exact flags), so a rerun on the same machine with the same versions of espeak-ng,
PyAV and the pictures' packages writes the same bytes; elsewhere the bytes may differ while
the clips look and sound the same. Needs: espeak-ng (apt package espeak-ng), PyAV with
libx264, numpy, pillow, scikit-image, matplotlib; facenet-pytorch for --check only.
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys
import tempfile
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "sample_videos"

ESPEAK_RATE = 22050  # Hz, what espeak-ng writes (mono, 16-bit)
SILENCE_LEVEL = 1e-3  # |sample| (full scale 1.0) under which espeak-ng's edges are trimmed
AAC_FRAME = 1024  # samples per AAC frame
CRF = 26  # libx264 constant quality; higher is smaller (the folder must stay under ~3 MB)
MAX_FOLDER_BYTES = 3 * 1024 * 1024
MIN_FACE_HEIGHT = 120  # px, smallest face height the clips are designed to show
MIN_FACE_FRACTION = 0.9  # share of frames in which --check must find a face (face clips)
CHECK_BATCH = 16  # frames per MTCNN call


# --- What to build ----------------------------------------------------------------------
@dataclass(frozen=True)
class Speech:
    """One espeak-ng utterance placed in a clip's audio track."""

    text: str
    voice: str  # espeak-ng voice[+variant], e.g. "en-us+f3"
    words_per_minute: int
    pitch: int  # espeak-ng -p, 0..99 (50 is the default)
    start_s: float  # s, silence before the speech starts


@dataclass(frozen=True)
class Motion:
    """A virtual camera over a still picture; positions in source pixels, time in s.

    The camera centre and zoom (output px per source px) ease from start to end over the
    clip; the roll swings as a sine; a seeded sum of slow sines adds hand-held shake.
    """

    centre_start: tuple[float, float]  # (x, y) source px
    centre_end: tuple[float, float]  # (x, y) source px
    zoom_start: float  # output px per source px
    zoom_end: float
    roll_deg: float  # amplitude of the roll, degrees
    roll_period_s: float  # s
    shake_px: float  # amplitude of the shake, source px
    seed: int


@dataclass(frozen=True)
class Clip:
    """One file of the sample folder."""

    name: str
    duration_s: float  # s
    picture: str | None = None  # key of PICTURES; None: audio only
    motion: Motion | None = None
    size: tuple[int, int] = (640, 480)  # (width, height) px, see check_size
    fps: int = 25
    speech: Speech | None = None  # None: the file has no audio stream at all
    audio_rate: int = ESPEAK_RATE  # Hz
    audio_channels: int = 1
    face_expected: bool = False  # what --check expects MTCNN to find


CLIPS: tuple[Clip, ...] = (
    Clip(
        name="astronaut_speech.mp4",
        duration_s=8.0,
        picture="astronaut",
        motion=Motion(
            centre_start=(222, 170), centre_end=(262, 182), zoom_start=1.6, zoom_end=1.85,
            roll_deg=2.5, roll_period_s=7.0, shake_px=2.0, seed=1,
        ),
        speech=Speech(
            text=(
                "Hello. This is a sample clip for emotion annotation. "
                "The face is a photograph, and the voice is synthetic."
            ),
            voice="en-us+f3", words_per_minute=165, pitch=55, start_s=0.3,
        ),
        face_expected=True,
    ),
    Clip(
        name="hopper_speech.mkv",
        duration_s=5.0,
        picture="grace_hopper",
        motion=Motion(
            centre_start=(262, 296), centre_end=(250, 318), zoom_start=1.3, zoom_end=1.2,
            roll_deg=2.0, roll_period_s=5.0, shake_px=1.5, seed=2,
        ),
        size=(512, 640),  # portrait 4:5
        fps=30,
        speech=Speech(
            text="A second sample, in another container, with another voice.",
            voice="en-gb+f4", words_per_minute=150, pitch=35, start_s=0.4,
        ),
        audio_rate=44100,
        audio_channels=2,
        face_expected=True,
    ),
    Clip(
        name="astronaut_silent.mp4",
        duration_s=4.0,
        picture="astronaut",
        motion=Motion(
            centre_start=(240, 128), centre_end=(214, 118), zoom_start=1.75, zoom_end=2.0,
            roll_deg=-2.0, roll_period_s=6.0, shake_px=1.5, seed=3,
        ),
        size=(640, 360),  # 16:9
        face_expected=True,
    ),
    Clip(
        name="no_face_speech.mp4",
        duration_s=4.0,
        picture="coffee",
        motion=Motion(
            centre_start=(262, 200), centre_end=(338, 200), zoom_start=1.35, zoom_end=1.45,
            roll_deg=1.5, roll_period_s=4.0, shake_px=1.5, seed=4,
        ),
        speech=Speech(
            text="There is no face in this picture, only a cup of coffee.",
            voice="en-us+m3", words_per_minute=170, pitch=40, start_s=0.3,
        ),
        face_expected=False,
    ),
    Clip(
        name="speech_only.wav",
        duration_s=3.0,
        speech=Speech(
            text="This file holds speech, and nothing else.",
            voice="en-gb-scotland", words_per_minute=160, pitch=50, start_s=0.25,
        ),
    ),
)


def check_size(clip: Clip) -> None:
    """yuv420p needs even sides. Widths are also kept to multiples of 64: with a 480 px wide
    clip, PyAV's libx264 on an AVX-512 CPU wrote different bytes on each run."""
    width, height = clip.size
    if width % 64 or height % 2:
        raise SystemExit(
            f"{clip.name}: size {width}x{height}; want a width divisible by 64, even height"
        )


# --- Tools ------------------------------------------------------------------------------
def require_tools(*, check: bool) -> None:
    """Fail early, naming each missing tool and how to install it."""
    missing = []
    if shutil.which("espeak-ng") is None:
        missing.append("espeak-ng (the speech synthesiser): sudo apt-get install espeak-ng")
    try:
        import av
    except ImportError:
        missing.append("PyAV (Python bindings to FFmpeg): pip install av")
    else:
        for codec in ("libx264", "aac"):
            if codec not in av.codecs_available:
                missing.append(
                    f"the {codec} encoder in PyAV's FFmpeg: pip install --force-reinstall av"
                )
    if check:
        try:
            import facenet_pytorch  # noqa: F401
        except ImportError:
            missing.append("facenet-pytorch (for --check): pip install facenet-pytorch")
    if missing:
        sys.exit("make_sample_videos.py needs:\n  " + "\n  ".join(missing))


def load_picture(key: str) -> np.ndarray:
    """A public-domain (or CC0) picture shipped in a package, as (height, width, 3) uint8."""
    if key == "astronaut":  # Eileen Collins, NASA, public domain
        from skimage import data

        return data.astronaut()
    if key == "coffee":  # Rachel Michetti, CC0
        from skimage import data

        return data.coffee()
    if key == "grace_hopper":  # US Navy, public domain
        from matplotlib import cbook
        from PIL import Image

        with cbook.get_sample_data("grace_hopper.jpg") as f:
            return np.asarray(Image.open(f).convert("RGB"))
    raise KeyError(key)


# --- Speech -----------------------------------------------------------------------------
def synthesise(speech: Speech, workdir: Path) -> np.ndarray:
    """Run espeak-ng; returns the trimmed utterance: mono float32 in [-1, 1], (n,) at
    ESPEAK_RATE."""
    wav_path = workdir / "speech.wav"
    cmd = [
        "espeak-ng", "-v", speech.voice, "-s", str(speech.words_per_minute),
        "-p", str(speech.pitch), "-w", str(wav_path), speech.text,
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    with wave.open(str(wav_path), "rb") as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (ESPEAK_RATE, 1, 2):
            raise RuntimeError(f"espeak-ng wrote an unexpected WAV format: {w.getparams()}")
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    samples = pcm.astype(np.float32) / 32768.0
    voiced = np.flatnonzero(np.abs(samples) > SILENCE_LEVEL)
    if voiced.size == 0:
        raise RuntimeError(f"espeak-ng produced silence for {speech.text!r}")
    return samples[voiced[0] : voiced[-1] + 1]  # without espeak-ng's leading/trailing silence


def resample(samples: np.ndarray, rate: int, channels: int) -> np.ndarray:
    """Mono ESPEAK_RATE (n,) -> float32 (channels, m) at rate, through FFmpeg's swresample."""
    import av

    if rate == ESPEAK_RATE and channels == 1:
        return samples[None, :]
    layout = {1: "mono", 2: "stereo"}[channels]
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
    frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
    frame.sample_rate = ESPEAK_RATE
    frame.pts = 0
    frame.time_base = Fraction(1, ESPEAK_RATE)
    parts = [f.to_ndarray() for f in resampler.resample(frame)]
    parts += [f.to_ndarray() for f in resampler.resample(None)]
    return np.concatenate(parts, axis=1).astype(np.float32)


def soundtrack(clip: Clip, workdir: Path) -> np.ndarray:
    """The clip's whole audio track: float32 (channels, duration * rate), speech + silence."""
    assert clip.speech is not None
    speech = resample(synthesise(clip.speech, workdir), clip.audio_rate, clip.audio_channels)
    total = round(clip.duration_s * clip.audio_rate)  # samples
    start = round(clip.speech.start_s * clip.audio_rate)  # samples
    if start + speech.shape[1] > total:
        spoken_s = speech.shape[1] / clip.audio_rate
        raise SystemExit(
            f"{clip.name}: the speech lasts {spoken_s:.2f} s and starts at "
            f"{clip.speech.start_s} s, past the clip's {clip.duration_s} s; "
            "shorten the text or raise words_per_minute"
        )
    track = np.zeros((clip.audio_channels, total), dtype=np.float32)
    track[:, start : start + speech.shape[1]] = speech
    return track


# --- Pictures in motion -----------------------------------------------------------------
def _ease(u: float) -> float:
    """Smoothstep: 0 -> 0, 1 -> 1, with zero slope at both ends."""
    return u * u * (3.0 - 2.0 * u)


def camera_path(
    motion: Motion, n_frames: int, fps: int
) -> Iterator[tuple[float, float, float, float]]:
    """Per frame: (centre x, centre y, zoom, roll in radians)."""
    rng = np.random.default_rng(motion.seed)
    # Hand-held shake: three slow sines per axis with seeded frequencies and phases.
    freqs = rng.uniform(0.3, 1.2, size=(2, 3))  # Hz
    phases = rng.uniform(0.0, 2.0 * math.pi, size=(2, 3))
    weights = rng.uniform(0.5, 1.0, size=(2, 3))
    weights /= weights.sum(axis=1, keepdims=True)
    for i in range(n_frames):
        t = i / fps  # s
        u = _ease(i / max(n_frames - 1, 1))
        shake = motion.shake_px * (weights * np.sin(2 * math.pi * freqs * t + phases)).sum(1)
        cx = motion.centre_start[0] + u * (motion.centre_end[0] - motion.centre_start[0])
        cy = motion.centre_start[1] + u * (motion.centre_end[1] - motion.centre_start[1])
        zoom = motion.zoom_start + u * (motion.zoom_end - motion.zoom_start)
        roll = math.radians(motion.roll_deg) * math.sin(2 * math.pi * t / motion.roll_period_s)
        yield cx + shake[0], cy + shake[1], zoom, roll


def render_frames(clip: Clip) -> Iterator[np.ndarray]:
    """The clip's video frames, each (height, width, 3) uint8 RGB."""
    from PIL import Image

    assert clip.picture is not None and clip.motion is not None
    source = Image.fromarray(load_picture(clip.picture))
    width, height = clip.size
    n_frames = round(clip.duration_s * clip.fps)
    ox, oy = width / 2, height / 2  # output centre, px
    corners = [(0, 0), (width, 0), (0, height), (width, height)]
    for i, (cx, cy, zoom, roll) in enumerate(camera_path(clip.motion, n_frames, clip.fps)):
        # PIL's affine maps each output pixel (x, y) to the source pixel it samples.
        a, b = math.cos(roll) / zoom, -math.sin(roll) / zoom
        d, e = math.sin(roll) / zoom, math.cos(roll) / zoom
        c, f = cx - a * ox - b * oy, cy - d * ox - e * oy
        for x, y in corners:  # the view must stay on the picture: no blank corners
            sx, sy = a * x + b * y + c, d * x + e * y + f
            if not (0 <= sx <= source.width and 0 <= sy <= source.height):
                raise SystemExit(f"{clip.name}: frame {i} leaves the picture; adjust its Motion")
        frame = source.transform(
            (width, height), Image.Transform.AFFINE, (a, b, c, d, e, f),
            resample=Image.Resampling.BICUBIC,
        )
        yield np.asarray(frame)


# --- Writing ----------------------------------------------------------------------------
def write_wav(path: Path, track: np.ndarray, rate: int) -> None:
    """track: float32 (channels, n) in [-1, 1] -> 16-bit PCM WAV."""
    pcm = np.clip(np.round(track.T * 32767.0), -32768, 32767).astype("<i2")  # (n, channels)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(track.shape[0])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def write_video(
    path: Path, clip: Clip, frames: Iterator[np.ndarray], track: np.ndarray | None
) -> None:
    """H.264 yuv420p video (+ AAC audio when track is given), packets interleaved in time."""
    import av

    options = {"fflags": "+bitexact"}  # no random Matroska UIDs, no version strings
    if path.suffix == ".mp4":
        options["movflags"] = "+faststart"
    with av.open(str(path), "w", options=options) as container:
        video = container.add_stream(
            "libx264", rate=clip.fps,
            options={"crf": str(CRF), "preset": "slow", "flags": "+bitexact"},
        )
        video.width, video.height = clip.size
        video.pix_fmt = "yuv420p"
        video.codec_context.thread_count = 1  # x264's output depends on the thread count
        audio = None
        if track is not None:
            layout = {1: "mono", 2: "stereo"}[clip.audio_channels]
            audio = container.add_stream(
                "aac", rate=clip.audio_rate, layout=layout, options={"flags": "+bitexact"}
            )
            audio.bit_rate = 48_000 * clip.audio_channels  # bit/s
        audio_pos = 0  # samples already sent to the encoder
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, clip.fps)
            container.mux(video.encode(frame.reformat(format="yuv420p")))
            if audio is not None:  # audio up to the end of this video frame
                until = min(round((i + 1) / clip.fps * clip.audio_rate), track.shape[1])
                audio_pos = _send_audio(container, audio, track, audio_pos, until, clip)
        container.mux(video.encode(None))
        if audio is not None:
            _send_audio(container, audio, track, audio_pos, track.shape[1], clip)
            container.mux(audio.encode(None))


def _send_audio(container, stream, track: np.ndarray, pos: int, until: int, clip: Clip) -> int:
    """Encode whole AAC frames of track from pos up to until (only the track's last frame
    may be short); returns the new pos."""
    import av

    layout = {1: "mono", 2: "stereo"}[clip.audio_channels]
    while pos < until and (until - pos >= AAC_FRAME or until == track.shape[1]):
        chunk = np.ascontiguousarray(track[:, pos : pos + AAC_FRAME])  # (channels, <=1024)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
        frame.sample_rate = clip.audio_rate
        frame.pts = pos
        frame.time_base = Fraction(1, clip.audio_rate)
        container.mux(stream.encode(frame))
        pos += chunk.shape[1]
    return pos


def build(clip: Clip, out_dir: Path, workdir: Path) -> Path:
    """Write one clip into out_dir (overwriting it); returns its path."""
    path = out_dir / clip.name
    track = soundtrack(clip, workdir) if clip.speech is not None else None
    if clip.picture is None:
        assert track is not None
        write_wav(path, track, clip.audio_rate)
    else:
        write_video(path, clip, render_frames(clip), track)
    return path


# --- Describing and checking ------------------------------------------------------------
def describe(path: Path) -> str:
    """One line: size, duration and streams, as PyAV reads the file back."""
    import av

    with av.open(str(path)) as container:
        duration = container.duration / av.time_base if container.duration else float("nan")
        parts = []
        for s in container.streams:
            if s.type == "video":
                parts.append(f"{s.codec_context.name} {s.width}x{s.height} {s.average_rate} fps")
            elif s.type == "audio":
                parts.append(f"{s.codec_context.name} {s.rate} Hz {s.channels} ch")
    size_kib = path.stat().st_size / 1024
    return f"{path.name:24s} {size_kib:7.1f} KiB  {duration:5.2f} s  " + ", ".join(parts)


def check_faces(path: Path, detector) -> tuple[int, int, float, float]:
    """Run MTCNN on every frame; returns (frames with a face, frames, min face height px,
    min face probability), heights and probabilities over the frames where a face was found."""
    import av
    from PIL import Image

    found = total = 0
    heights, probs = [], []

    def run(batch: list[Image.Image]) -> None:
        nonlocal found, total
        boxes, scores = detector.detect(batch)
        for b, p in zip(boxes, scores):
            total += 1
            if b is not None:
                found += 1
                heights.append(float(max(b[:, 3] - b[:, 1])))
                probs.append(float(max(p)))

    with av.open(str(path)) as container:
        batch = []
        for frame in container.decode(video=0):
            batch.append(Image.fromarray(frame.to_ndarray(format="rgb24")))
            if len(batch) == CHECK_BATCH:
                run(batch)
                batch = []
        if batch:
            run(batch)
    return found, total, min(heights, default=0.0), min(probs, default=0.0)


def check(out_dir: Path) -> bool:
    """Print MTCNN's face count per video; True when every clip meets its expectation."""
    from facenet_pytorch import MTCNN

    detector = MTCNN(keep_all=True, device="cpu")
    ok = True
    print("\nMTCNN check (facenet-pytorch, keep_all=True, default thresholds):")
    for clip in CLIPS:
        if clip.picture is None:
            continue
        found, total, min_h, min_p = check_faces(out_dir / clip.name, detector)
        if clip.face_expected:
            good = found >= MIN_FACE_FRACTION * total and min_h >= MIN_FACE_HEIGHT
            want = f"want >= {MIN_FACE_FRACTION:.0%} of frames, faces >= {MIN_FACE_HEIGHT} px"
        else:
            good = found == 0
            want = "want none"
        ok &= good
        detail = f"smallest face {min_h:.0f} px, lowest prob {min_p:.4f}" if found else ""
        print(
            f"  {'ok  ' if good else 'FAIL'} {clip.name:24s} face in {found:3d}/{total:3d} frames"
            f"  {detail}  ({want})"
        )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output folder (default: sample_videos/)"
    )
    parser.add_argument(
        "--check", action="store_true", help="afterwards, count MTCNN faces in every frame"
    )
    args = parser.parse_args(argv)

    require_tools(check=args.check)
    for clip in CLIPS:
        if clip.picture is not None:
            check_size(clip)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for clip in CLIPS:
            print(describe(build(clip, args.out, Path(tmp))))
    total = sum((args.out / c.name).stat().st_size for c in CLIPS)
    print(f"{'total':24s} {total / 1024:7.1f} KiB")
    if total > MAX_FOLDER_BYTES:
        limit_kib = MAX_FOLDER_BYTES // 1024
        print(f"warning: the clips exceed {limit_kib} KiB; raise CRF", file=sys.stderr)
    if args.check and not check(args.out):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
