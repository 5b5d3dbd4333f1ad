"""Benchmark: the emoannotate pipeline against the practical decode ceiling, on one 720p clip.

    python bench/bench_pipeline.py                        # makes .cache/bench/ clip, runs it all
    python bench/bench_pipeline.py --clip talk.mp4 --workers 0,2 --repeat 3 --json out.json
    python bench/bench_pipeline.py --experiments          # + the alternatives docs/BENCHMARKS.md cites
    python bench/bench_pipeline.py --ravdess              # + the 14 RAVDESS clips of Actor_05

Everything is timed in one process, one run: shared machines are noisy, so compare the
ratios within a run (each row's "x ffmpeg"), not seconds across runs. The load average is
printed before and after; the "cpu s" column (this process and its children) shows how
much of a row's wall time was spent computing rather than waiting for a core.

Parts (--parts, comma-separated):
  ceiling   `ffmpeg -v error -i CLIP -f null -` and PyAV decoding every video + audio frame
  pipeline  Annotator(model, RunOptions(workers=W, batch_size=B)).annotate(discover([clip]))
  stages    one full window: its 15 frames, MTCNN, its audio, its features; the model on 32
Without --clip, a 1280x720 29.97 fps H.264 + AAC clip is made once (ffmpeg CLI) from
scikit-image's astronaut moving over a noisy background, with espeak-ng speech (or a
tone when espeak-ng is missing), into .cache/bench/ (git-ignored).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import importlib.metadata as md
import json
import os
import pickle
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO_ROOT))

import av  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from emoannotate import audio as audio_features  # noqa: E402
from emoannotate import pipeline  # noqa: E402
from emoannotate.constants import FRAMES_PER_WINDOW, WINDOW_SECONDS  # noqa: E402
from emoannotate.discover import discover  # noqa: E402
from emoannotate.faces import DETECT_MAX_SIDE, FaceDetector  # noqa: E402
from emoannotate.media import iter_window_audio, iter_window_frames, probe  # noqa: E402
from emoannotate.model.net import EmotionNet, ModelConfig  # noqa: E402
from emoannotate.pipeline import Annotator, RunOptions  # noqa: E402
from emoannotate.records import WindowInput  # noqa: E402
from emoannotate.windows import frame_times, is_too_short, plan_windows  # noqa: E402

CACHE_DIR = REPO_ROOT / ".cache" / "bench"
RAVDESS_GLOB = "/work/shared/data/ravdess/Actor_05/*.mp4"
CLIP_SIZE = (1280, 720)  # px
CLIP_RATE = "30000/1001"  # fps, 29.97
FACE_PICTURE_PX = 560  # px, side of the astronaut picture in the clip (her face is ~200 px tall)
SPEECH = ("Benchmarks on shared machines are noisy, so we compare ratios measured in one run. "
          "The quick brown fox jumps over the lazy dog, and the five boxing wizards jump quickly. ")
# modules a forkserver imports once before forking workers (librosa itself is a lazy stub)
FORKSERVER_PRELOAD = ("emoannotate.pipeline", "facenet_pytorch", "librosa.core.spectrum", "librosa.core.constantq",
                      "librosa.feature", "scipy.signal")
MODEL_BATCH = 32  # windows per model forward in the stage breakdown
CHUNK = 8  # windows per worker task, as RunOptions.chunk_windows


# --- Timing -----------------------------------------------------------------------------

def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its reaped children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass
class Timing:
    """Wall and CPU seconds of `repeat` runs of one thing; `value` is the last run's result."""

    wall: list[float]
    cpu: list[float]
    value: object = None

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def timed(fn: Callable[[], object], repeat: int = 1, warmup: int = 0) -> Timing:
    for _ in range(warmup):
        fn()
    walls, cpus, value = [], [], None
    for _ in range(repeat):
        gc.collect()
        c0, t0 = _cpu_seconds(), time.perf_counter()
        value = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(_cpu_seconds() - c0)
    return Timing(walls, cpus, value)


@dataclass
class Row:
    """One line of the table. `per_window_s` is `seconds / windows`; `video_s` is what it covers."""

    stage: str
    seconds: float
    windows: float
    video_s: float
    cpu_s: float
    runs: list[float] = field(default_factory=list)
    note: str = ""

    def __post_init__(self) -> None:  # progress on stderr while the run goes on
        print(f"  .. {self.stage}: {self.seconds:.3f} s", file=sys.stderr, flush=True)

    @property
    def per_window_s(self) -> float:
        return self.seconds / self.windows

    def x_ffmpeg(self, ffmpeg_per_window_s: float) -> float:
        return self.per_window_s / ffmpeg_per_window_s

    @property
    def rtf(self) -> float:
        return self.video_s / self.seconds


def print_table(rows: Sequence[Row], ffmpeg_per_window_s: float, title: str) -> None:
    print(f"\n{title}")
    head = f"{'stage':<44} {'seconds':>8} {'per window':>10} {'x ffmpeg':>9} {'RTF':>8} {'cpu s':>7}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r.stage:<44} {r.seconds:8.3f} {r.per_window_s:10.4f} {r.x_ffmpeg(ffmpeg_per_window_s):9.2f}"
              f" {r.rtf:8.2f} {r.cpu_s:7.2f}" + (f"  {r.note}" if r.note else ""))


# --- Inputs -----------------------------------------------------------------------------

def make_clip(seconds: float, out: Path) -> Path:
    """A 720p H.264 + AAC clip of a moving astronaut with speech; made once, then reused."""
    if out.is_file():
        return out
    from skimage import data
    from PIL import Image

    if shutil.which("ffmpeg") is None:
        sys.exit("the ffmpeg program is needed to make the test clip; install it or pass --clip")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pic = Path(tmp) / "astronaut.png"
        Image.fromarray(data.astronaut()).resize((FACE_PICTURE_PX, FACE_PICTURE_PX), Image.BICUBIC).save(pic)
        speech = Path(tmp) / "speech.wav"
        if shutil.which("espeak-ng"):
            subprocess.run(["espeak-ng", "-s", "150", "-w", str(speech), SPEECH * 4], check=True)
            audio_in = ["-stream_loop", "-1", "-i", str(speech)]
        else:
            audio_in = ["-f", "lavfi", "-i", f"sine=frequency=220:duration={seconds}"]
        w, h = CLIP_SIZE
        # The picture drifts on two slow sines (never leaving the frame); temporal noise on the
        # whole frame gives the encoder camera-like texture (bitrate ~ a phone's 720p).
        graph = (f"[0:v]noise=alls=10:allf=t[bg];"
                 f"[bg][1:v]overlay=x='(W-w)/2*(1+0.8*sin(2*PI*t/13))':y='(H-h)/2*(1+0.8*sin(2*PI*t/7))'"
                 f":shortest=1,format=yuv420p[v]")
        cmd = ["ffmpeg", "-y", "-v", "error",
               "-f", "lavfi", "-i", f"color=c=0x5a6e82:s={w}x{h}:r={CLIP_RATE}:d={seconds}",
               "-loop", "1", "-framerate", CLIP_RATE, "-i", str(pic), *audio_in,
               "-filter_complex", graph, "-map", "[v]", "-map", "2:a",
               "-c:v", "libx264", "-preset", "medium", "-crf", "23", "-pix_fmt", "yuv420p",
               "-c:a", "aac", "-b:a", "128k", "-ar", "44100", "-ac", "2", "-t", str(seconds),
               "-movflags", "+faststart", str(out)]
        subprocess.run(cmd, check=True)
    return out


def load_model(name: str | None, device: str) -> tuple[EmotionNet, str]:
    """The model to time: --model (shipped name or path), else the shipped default, else random."""
    from emoannotate import registry

    if name:
        model, _ = registry.load_model(name, device=device)
        return model, f"{name} (loaded)"
    if any(e.name == registry.DEFAULT_MODEL for e in registry.available_models()):
        model, _ = registry.load_model(registry.DEFAULT_MODEL, device=device)
        return model, f"shipped '{registry.DEFAULT_MODEL}'"
    torch.manual_seed(0)
    return EmotionNet(ModelConfig(backbone="minixception")).eval(), \
        "random EmotionNet(ModelConfig(backbone='minixception')) (no shipped model yet)"


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for pkg in ("torch", "av", "facenet-pytorch", "librosa", "numpy", "pillow", "emoannotate"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    ff = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0] \
        if shutil.which("ffmpeg") else None
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(), "loadavg_start": os.getloadavg(),
        "versions": versions, "ffmpeg": ff,
        "libav": {k: ".".join(map(str, v)) for k, v in av.library_versions.items()},
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


# --- Ceiling ----------------------------------------------------------------------------

def ffmpeg_null(path: Path, threads: int | None = None) -> None:
    cmd = ["ffmpeg", "-v", "error"] + (["-threads", str(threads)] if threads else []) + \
        ["-i", str(path), "-f", "null", "-"]
    subprocess.run(cmd, check=True)


def pyav_decode_all(path: Path, *, thread_type: str = "AUTO", skip_frame: str | None = None,
                    audio: bool = True) -> tuple[int, int]:
    """Decode every video frame (no conversion) and every audio frame; returns their counts."""
    n_video = n_audio = 0
    with av.open(str(path)) as container:
        streams = []
        if container.streams.video:
            vs = container.streams.video[0]
            vs.thread_type = thread_type
            if skip_frame:
                vs.codec_context.skip_frame = skip_frame
            streams.append(vs)
        if audio and container.streams.audio:
            streams.append(container.streams.audio[0])
        for frame in container.decode(*streams):
            if isinstance(frame, av.VideoFrame):
                n_video += 1
            else:
                n_audio += 1
    return n_video, n_audio


# --- A variant of media.iter_window_frames, for the experiments only ----------------------

def window_frames_variant(path: Path, windows: Sequence, *, n_frames: int = FRAMES_PER_WINDOW,
                          thread_type: str = "AUTO", skip_frame: str | None = None,
                          size: tuple[int, int] | None = None, convert: bool = True) -> list[list]:
    """The picking rule of media.iter_window_frames (the frame on screen at each target time),
    with knobs: decoder threads, skip_frame ("NONREF": non-reference frames are never
    decoded, so a target gets the last decoded frame before it), and conversion straight to
    `size` (w, h) inside FFmpeg's swscale. Returns each window's frames (RGB uint8)."""
    targets = sorted((t, wi, fi) for wi, w in enumerate(windows) for fi, t in enumerate(frame_times(w, n_frames)))
    picked = [[None] * n_frames for _ in windows]

    def conv(frame):
        if not convert:
            return frame
        if size is not None:
            return frame.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray()
        return frame.to_ndarray(format="rgb24")

    ti = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = thread_type
        if skip_frame:
            stream.codec_context.skip_frame = skip_frame
        origin = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        if targets[0][0] > 2.0:
            container.seek(int((targets[0][0] - 1.0 + origin) / stream.time_base), stream=stream, backward=True)
        prev = None
        for frame in container.decode(stream):
            t = (frame.time or 0.0) - origin
            while ti < len(targets) and targets[ti][0] < t:
                _, wi, fi = targets[ti]
                picked[wi][fi] = conv(prev if prev is not None else frame)
                ti += 1
            if ti >= len(targets):
                break
            prev = frame
        while ti < len(targets) and prev is not None:
            _, wi, fi = targets[ti]
            picked[wi][fi] = conv(prev)
            ti += 1
    return picked


# --- Worker start-up (spawned process) ---------------------------------------------------

def _cold_start_probe() -> dict:
    """Run in a fresh spawned worker: what a pipeline worker pays before its first window."""
    t0 = time.perf_counter()
    pipeline._worker_init()
    import librosa  # noqa: F401  (the pipeline imports it on the first features call)
    t1 = time.perf_counter()
    pipeline._detector("cpu")
    t2 = time.perf_counter()
    rng = np.random.default_rng(0)
    y = (0.1 * rng.standard_normal(79380)).astype(np.float32)
    audio_features.window_features(y)
    t3 = time.perf_counter()
    audio_features.window_features(y)
    t4 = time.perf_counter()
    return {"import_s": t1 - t0, "mtcnn_init_s": t2 - t1, "features_first_s": t3 - t2,
            "features_second_s": t4 - t3}


def _noop() -> int:
    return os.getpid()


def _pool_probe(method: str, preload: str, n_workers: int) -> dict:
    """In a fresh interpreter: seconds from creating a pool to n workers ready for windows."""
    import multiprocessing as mp

    mpctx = mp.get_context(method)
    if method == "forkserver" and preload:
        mpctx.set_forkserver_preload(preload.split(","))
    c0, t0 = _cpu_seconds(), time.perf_counter()
    with ProcessPoolExecutor(n_workers, mp_context=mpctx, initializer=pipeline._worker_init) as pool:
        res = [f.result() for f in [pool.submit(_cold_start_probe) for _ in range(n_workers)]]
    return {"start_s": time.perf_counter() - t0, "cpu_s": _cpu_seconds() - c0, "worker": res[0]}


def _pool_probe_subprocess(method: str, preload: str, n_workers: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--pool-probe", f"{method}:{preload}:{n_workers}"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# --- Parts ------------------------------------------------------------------------------

@dataclass
class Context:
    clip: Path
    info: object
    windows: list
    model: EmotionNet
    model_desc: str
    args: argparse.Namespace

    @property
    def n_windows(self) -> int:
        return len(self.windows)


def run_ceiling(ctx: Context) -> list[Row]:
    r = ctx.args.repeat
    t_ff = timed(lambda: ffmpeg_null(ctx.clip), r)
    t_av = timed(lambda: pyav_decode_all(ctx.clip), r)
    nv, na = t_av.value
    d, n = ctx.info.duration_s, ctx.n_windows
    return [Row("ffmpeg -f null (whole file)", t_ff.median, n, d, t_ff.cpu_median, t_ff.wall),
            Row("PyAV decode video+audio (whole file)", t_av.median, n, d, t_av.cpu_median, t_av.wall,
                note=f"{nv} video + {na} audio frames, thread_type=AUTO")]


def run_pipeline(ctx: Context, workers: int, jobs_inputs: Sequence[str], *, label: str,
                 detect_max_side: int | None = None, frames_fn=None, threads: int | None = None,
                 chunk_windows: int | None = None, inline_threads_as_main: bool = False) -> tuple[Row, dict]:
    """Time one full `annotate`.

    detect_max_side / frames_fn patch the inline (workers=0) path; threads sets this
    process's torch threads for the run (workers set their own to 1); chunk_windows is
    RunOptions.chunk_windows; inline_threads_as_main undoes the package's one-thread block
    around inline tasks (pipeline.torch_threads), i.e. MTCNN runs on all of this process's
    threads, as before commit 30c7fa7.
    """
    a = ctx.args
    saved = (pipeline._detector, pipeline.iter_window_frames, pipeline._DETECTOR,
             getattr(pipeline, "torch_threads", None))
    saved_threads = torch.get_num_threads()
    extra = {"chunk_windows": chunk_windows} if chunk_windows else {}

    def run():
        jobs = discover(list(jobs_inputs))
        annot = Annotator(ctx.model, RunOptions(workers=workers, batch_size=a.batch_size, device=a.device, **extra))
        return list(annot.annotate(jobs))

    try:
        if detect_max_side is not None:
            det = FaceDetector(device="cuda" if a.device == "cuda" else "cpu", detect_max_side=detect_max_side)
            pipeline._detector = lambda device="cpu": det
        if frames_fn is not None:
            pipeline.iter_window_frames = frames_fn
        if threads is not None:
            torch.set_num_threads(threads)
        if inline_threads_as_main and saved[3] is not None:
            pipeline.torch_threads = lambda n: contextlib.nullcontext()
        t = timed(run, a.pipeline_repeat)
    finally:
        pipeline._detector, pipeline.iter_window_frames, pipeline._DETECTOR = saved[:3]
        if saved[3] is not None:
            pipeline.torch_threads = saved[3]
        torch.set_num_threads(saved_threads)
    results = t.value
    rows = [row for fr in results for row in fr.windows]
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row.status] = statuses.get(row.status, 0) + 1
    face_frames = sum(row.face_frames for row in rows)
    video_s = sum((fr.info.duration_s if fr.info else 0.0) for fr in results)
    n = sum(1 for row in rows if row.status != "too_short") or 1
    summary = {"files": len(results), "windows": len(rows), "statuses": statuses, "face_frames": face_frames,
               "emotions": [row.emotion for row in rows][:40]}
    # Worker processes are not this process's reaped children (forkserver): their CPU is unseen.
    cpu = t.cpu_median if workers == 0 else float("nan")
    return Row(label, t.median, n, video_s, cpu, t.wall,
               note=f"face frames {face_frames}/{FRAMES_PER_WINDOW * len(rows)}"), summary


def stage_inputs(ctx: Context) -> dict:
    """The middle full window's frames, faces, samples and features (for stages + experiments)."""
    full = [w for w in ctx.windows if not w.partial]
    w = full[len(full) // 2]
    (_, frames), = list(iter_window_frames(ctx.clip, [w], n_frames=FRAMES_PER_WINDOW))
    (_, samples), = list(iter_window_audio(ctx.clip, [w]))
    return {"window": w, "frames": frames, "samples": samples}


def run_stages(ctx: Context, det: FaceDetector, annot: Annotator) -> tuple[list[Row], dict]:
    """Each stage alone, at --stage-threads torch threads (default 1, as pipeline workers run)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(ctx.args.stage_threads)
    try:
        return _run_stages(ctx, det, annot)
    finally:
        torch.set_num_threads(saved)


def _run_stages(ctx: Context, det: FaceDetector, annot: Annotator) -> tuple[list[Row], dict]:
    r = ctx.args.repeat
    s = stage_inputs(ctx)
    w, frames, samples = s["window"], s["frames"], s["samples"]
    rows = []
    t = timed(lambda: list(iter_window_frames(ctx.clip, [w], n_frames=FRAMES_PER_WINDOW)), r)
    rows.append(Row(f"decode 15 frames (window {w.index}, seek)", t.median, 1, WINDOW_SECONDS, t.cpu_median, t.wall))
    chunk = ctx.windows[:CHUNK]
    t = timed(lambda: list(iter_window_frames(ctx.clip, chunk, n_frames=FRAMES_PER_WINDOW)), r)
    rows.append(Row(f"decode 15 frames, chunk of {len(chunk)} windows", t.median, len(chunk),
                    sum(x.duration_s for x in chunk), t.cpu_median, t.wall, note="amortised, as a worker task"))
    t_det = timed(lambda: det.detect(frames), r, warmup=1)
    faces = t_det.value
    rows.append(Row("MTCNN detect, 15 frames", t_det.median, 1, WINDOW_SECONDS, t_det.cpu_median, t_det.wall,
                    note=f"detect side {det.detect_max_side}px, faces in {faces.n_found}/15"))
    t = timed(lambda: list(iter_window_audio(ctx.clip, [w])), r)
    rows.append(Row("audio decode + resample (one window)", t.median, 1, WINDOW_SECONDS, t.cpu_median, t.wall))
    t_feat = timed(lambda: audio_features.window_features(samples), r, warmup=1)
    feats = t_feat.value
    rows.append(Row("audio features (librosa)", t_feat.median, 1, WINDOW_SECONDS, t_feat.cpu_median, t_feat.wall))
    inputs = [WindowInput(0, w, faces.crops if faces.n_found else None, faces.mask, None, faces.max_faces, feats)
              for _ in range(MODEL_BATCH)]
    t = timed(lambda: annot.predict(inputs), r, warmup=1)
    rows.append(Row(f"model forward, batch of {MODEL_BATCH}", t.median, MODEL_BATCH, MODEL_BATCH * WINDOW_SECONDS,
                    t.cpu_median, t.wall, note=f"{faces.n_found * MODEL_BATCH} face crops"))
    per = [rows[1].per_window_s] + [x.per_window_s for x in rows[2:]]
    rows.append(Row("sum of stages (chunked decode)", sum(per), 1, WINDOW_SECONDS, float("nan"),
                    note="what one process needs per window"))
    return rows, {"faces": faces, "features": feats, **s}


EXPERIMENT_GROUPS = ("decode", "convert", "mtcnn", "threads", "audio", "pool", "pipeline")


def run_experiments(ctx: Context, det: FaceDetector, annot: Annotator, st: dict) -> dict:
    """Alternatives to the package's choices, timed in this run (--experiment-groups picks).

    Micro-benchmarks run at --stage-threads torch threads (as in a worker), except the
    "threads" group, which compares thread counts, and the "pipeline" group, whose runs
    say their own.
    """
    default_threads = torch.get_num_threads()
    torch.set_num_threads(ctx.args.stage_threads)
    try:
        return _run_experiments(ctx, det, annot, st, default_threads)
    finally:
        torch.set_num_threads(default_threads)


def _run_experiments(ctx: Context, det: FaceDetector, annot: Annotator, st: dict, default_threads: int) -> dict:
    r, out, groups = ctx.args.repeat, {}, ctx.args.groups_set
    frames, w, samples = st["frames"], st["window"], st["samples"]
    n = ctx.n_windows
    small = _detect_size(ctx.info.width, ctx.info.height, DETECT_MAX_SIDE)
    dev = "cuda" if ctx.args.device == "cuda" else "cpu"

    def show(name: str, t: Timing, extra: str = "", unit: str = "s") -> float:
        print(f"  {name:<62} {t.median:8.3f} {unit:<2} min {min(t.wall):7.3f}  cpu {t.cpu_median:6.2f}"
              f"{'  ' + extra if extra else ''}", flush=True)
        out[name] = {unit: t.median, "runs": t.wall, "cpu": t.cpu_median, "note": extra}
        return t.median

    print(f"\nExperiments (whole file unless noted; torch threads {ctx.args.stage_threads} unless noted)")
    if "decode" in groups:
        print(" decode every frame of the file, no conversion:")
        for thr in (None, 1):
            show(f"ffmpeg -f null, -threads {thr or 'auto'}", timed(lambda: ffmpeg_null(ctx.clip, thr), r))
        for tt in ("NONE", "SLICE", "FRAME", "AUTO"):
            t = timed(lambda: pyav_decode_all(ctx.clip, thread_type=tt, audio=False), r)
            show(f"PyAV video, thread_type={tt}", t, f"{t.value[0]} frames")
        t = timed(lambda: pyav_decode_all(ctx.clip, thread_type="AUTO", skip_frame="NONREF", audio=False), r)
        show("PyAV video, thread_type=AUTO, skip_frame=NONREF", t, f"{t.value[0]} frames decoded")
        print(" decode stage (15 frames per window, converted to RGB) over all windows:")
        show("media.iter_window_frames, one pass over all windows",
             timed(lambda: list(iter_window_frames(ctx.clip, ctx.windows, n_frames=FRAMES_PER_WINDOW)), r))
        chunks = [ctx.windows[i:i + CHUNK] for i in range(0, n, CHUNK)]
        show(f"media.iter_window_frames, in chunks of {CHUNK} (as worker tasks)",
             timed(lambda: [list(iter_window_frames(ctx.clip, c, n_frames=FRAMES_PER_WINDOW)) for c in chunks], r),
             f"{len(chunks)} chunks, each seeks to the keyframe before it")
        show("variant: same, no RGB conversion (decode only)",
             timed(lambda: window_frames_variant(ctx.clip, ctx.windows, convert=False), r))
        show(f"variant: reformat to {small[0]}x{small[1]} rgb24 in swscale",
             timed(lambda: window_frames_variant(ctx.clip, ctx.windows, size=small), r))
        show("variant: skip_frame=NONREF, full-size RGB",
             timed(lambda: window_frames_variant(ctx.clip, ctx.windows, skip_frame="NONREF"), r))
        show("variant: thread_type=NONE (single-threaded decoder)",
             timed(lambda: window_frames_variant(ctx.clip, ctx.windows, thread_type="NONE"), r))
    if "convert" in groups:
        print(" per frame, 1280x720 -> array (mean of the window's 15 frames):")
        with av.open(str(ctx.clip)) as c:
            vframes = []
            for f in c.decode(video=0):
                vframes.append(f)
                if len(vframes) == FRAMES_PER_WINDOW:
                    break
        k = len(vframes)
        conv = {
            "to_ndarray(rgb24) full size": lambda: [f.to_ndarray(format="rgb24") for f in vframes],
            f"reformat({small[0]}x{small[1]}, rgb24).to_ndarray()":
                lambda: [f.reformat(width=small[0], height=small[1], format="rgb24").to_ndarray() for f in vframes],
            "PIL resize full RGB -> detect size (faces._shrink)":
                lambda: [FaceDetector._shrink(x, small[0] / ctx.info.width) for x in frames],
            "to_ndarray(yuv420p) (no colour conversion)": lambda: [f.to_ndarray() for f in vframes],
        }
        for name, fn in conv.items():
            t = timed(fn, max(r, 3), warmup=1)
            t.wall = [x * 1000 / k for x in t.wall]
            t.cpu = [x * 1000 / k for x in t.cpu]
            show(name + " per frame", t, unit="ms")
    if "mtcnn" in groups:
        print(" MTCNN on the window's 15 frames:")
        ref = det.detect(frames)
        for side in (320, 480, 640, 960):
            d2 = FaceDetector(device=dev, detect_max_side=side)
            t = timed(lambda: d2.detect(frames), r, warmup=1)
            show(f"detect side {side}px", t, _face_agreement(ref, t.value))
        d2 = FaceDetector(device=dev, detect_max_side=DETECT_MAX_SIDE, min_face_px=80)
        t = timed(lambda: d2.detect(frames), r, warmup=1)
        show(f"detect side {DETECT_MAX_SIDE}px, min_face_px=80", t, _face_agreement(ref, t.value))
        full_side = max(ctx.info.width, ctx.info.height)
        scaled_min = round(40 * full_side / DETECT_MAX_SIDE)
        d2 = FaceDetector(device=dev, detect_max_side=full_side, min_face_px=scaled_min)
        t = timed(lambda: d2.detect(frames), r, warmup=1)
        show(f"no PIL shrink: full {full_side}px, min_face_px={scaled_min} (same smallest face)", t,
             _face_agreement(ref, t.value))
        small_frames = np.stack(window_frames_variant(ctx.clip, [w], size=small)[0])
        t = timed(lambda: det.mtcnn.detect(small_frames), r, warmup=1)
        show("mtcnn.detect alone on frames shrunk by swscale", t, "no PIL shrink, no crops")
        nonref = window_frames_variant(ctx.clip, [w], skip_frame="NONREF")[0]
        t = timed(lambda: det.detect(nonref), r, warmup=1)
        show("detect on the NONREF-decoded frames of the window", t, _face_agreement(ref, t.value))
    if "threads" in groups:
        print(" torch intra-op threads (this process):")
        faces = st["faces"]
        inputs = [WindowInput(0, w, faces.crops if faces.n_found else None, faces.mask, None, 1, st["features"])
                  for _ in range(MODEL_BATCH)]
        for nt in sorted({1, default_threads}):
            torch.set_num_threads(nt)
            show(f"detect side {DETECT_MAX_SIDE}px, torch threads {nt}", timed(lambda: det.detect(frames), r, warmup=1))
            show(f"model forward batch {MODEL_BATCH}, torch threads {nt}",
                 timed(lambda: annot.predict(inputs), r, warmup=1))
        torch.set_num_threads(ctx.args.stage_threads)
    if "audio" in groups:
        print(" audio features of one window:")
        import librosa

        y = audio_features.fit_length(samples)
        show("window_features (all)", timed(lambda: audio_features.window_features(samples), r, warmup=1))
        show("  STFT + Mel + MFCC + contrast only", timed(lambda: _features_without_tonnetz(y), r, warmup=1))
        show("  tonnetz (chroma_cqt inside)",
             timed(lambda: librosa.feature.tonnetz(y=y, sr=22050, hop_length=512), r, warmup=1))
        t = timed(lambda: _tonnetz_from_stft(y), r, warmup=1)
        ref_t = np.nan_to_num(librosa.feature.tonnetz(y=y, sr=22050, hop_length=512))
        corr = float(np.corrcoef(ref_t.ravel(), np.nan_to_num(t.value).ravel())[0, 1])
        show("  tonnetz from chroma_stft (different features!)", t, f"corr with cqt tonnetz {corr:.2f}")
    if "pool" in groups:
        print(" process pool start-up (each in a fresh interpreter, as a CLI run) and result transfer:")
        workers_n = max(ctx.args.workers_list + [1])
        for method, preload in (("spawn", ""), ("forkserver", "emoannotate.pipeline"),
                                ("forkserver", ",".join(FORKSERVER_PRELOAD))):
            probes = [_pool_probe_subprocess(method, preload, workers_n) for _ in range(r)]
            label = f"{method} {workers_n} workers" + (f", preload {preload}" if preload else "")
            show(label, Timing([x["start_s"] for x in probes], [x["cpu_s"] for x in probes]),
                 "pool start until every worker has MTCNN and one features call done; in a worker: " +
                 ", ".join(f"{k} {v:.2f}" for k, v in probes[-1]["worker"].items()))
        faces = st["faces"]
        task = pipeline._TaskResult(0, tuple(ctx.windows[:CHUNK]), [
            WindowInput(0, x, faces.crops, faces.mask, None, 1, st["features"]) for x in ctx.windows[:CHUNK]])
        blob = pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
        t = timed(lambda: pickle.loads(pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)), max(r, 3))
        show(f"pickle dumps+loads of one task result ({CHUNK} windows)", t, f"{len(blob) / 1e6:.1f} MB")
    if "pipeline" in groups:
        reps = ctx.args.pipeline_repeat
        print(f" whole pipeline with changes patched in (bench only; {reps} round(s), variants interleaved "
              f"so that a change in load hits them all):")
        variants = [
            ("workers=0, as shipped", 0, {}),
            ("workers=0, MTCNN on all torch threads (before 30c7fa7)", 0, dict(inline_threads_as_main=True)),
            ("workers=0, one task per file (no re-seek per 8 windows)", 0, dict(chunk_windows=10**6)),
            ("workers=0, DETECT_MAX_SIDE=480", 0, dict(detect_max_side=480)),
            ("workers=0, DETECT_MAX_SIDE=320", 0, dict(detect_max_side=320)),
            ("workers=0, skip_frame=NONREF decode", 0, dict(frames_fn=_nonref_iter_window_frames)),
            ("workers=0, NONREF + DETECT_MAX_SIDE=480 + one task per file", 0,
             dict(detect_max_side=480, frames_fn=_nonref_iter_window_frames, chunk_windows=10**6)),
        ] + [(f"workers={wk}, as shipped", wk, {}) for wk in ctx.args.workers_list if wk > 0]
        runs: dict[str, list[Row]] = {label: [] for label, _, _ in variants}
        saved_repeat, ctx.args.pipeline_repeat = ctx.args.pipeline_repeat, 1
        try:
            for _ in range(reps):
                for label, wk, kw in variants:
                    row, _ = run_pipeline(ctx, wk, [str(ctx.clip)], label=label, **kw)
                    runs[label].append(row)
        finally:
            ctx.args.pipeline_repeat = saved_repeat
        base = statistics.median(x.seconds for x in runs[variants[0][0]])
        for label, _, _ in variants:
            rs = runs[label]
            t = Timing([x.seconds for x in rs], [x.cpu_s for x in rs])
            show(f"pipeline {label}", t, f"{rs[-1].note}; x{base / t.median:.2f} vs shipped workers=0")
    return out


def _nonref_iter_window_frames(path, windows, *, n_frames):
    """Drop-in for media.iter_window_frames (yields at the end, not streaming) with NONREF."""
    frames = window_frames_variant(Path(path), windows, n_frames=n_frames, skip_frame="NONREF")
    yield from zip(windows, frames)


def _detect_size(w: int, h: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def _face_agreement(ref, got) -> str:
    both = ref.mask & got.mask
    ious = [_iou(ref.boxes[i], got.boxes[i]) for i in np.flatnonzero(both)]
    return f"faces {got.n_found}/15 (ref {ref.n_found}), mean IoU vs {DETECT_MAX_SIDE}px " + \
        (f"{np.mean(ious):.3f}" if ious else "n/a")


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _features_without_tonnetz(y: np.ndarray) -> np.ndarray:
    import librosa

    s = np.abs(librosa.stft(y, n_fft=2048, hop_length=512, center=True))
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=s**2, sr=22050, n_mels=128), ref=1.0)
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=40)
    contrast = librosa.feature.spectral_contrast(S=s, sr=22050, n_bands=6)
    return np.concatenate([mfcc, mel_db, contrast])


def _tonnetz_from_stft(y: np.ndarray) -> np.ndarray:
    import librosa

    s = np.abs(librosa.stft(y, n_fft=2048, hop_length=512, center=True))
    return librosa.feature.tonnetz(chroma=librosa.feature.chroma_stft(S=s**2, sr=22050), sr=22050)


def run_ravdess(ctx: Context, workers_list: Sequence[int]) -> dict:
    import glob

    files = sorted(glob.glob(RAVDESS_GLOB))
    if not files:
        print(f"\n--ravdess: no files match {RAVDESS_GLOB}; skipped")
        return {}
    total_s = sum(probe(f).duration_s for f in files)
    t_ff = timed(lambda: [ffmpeg_null(Path(f)) for f in files], ctx.args.repeat)
    rows = [Row(f"ffmpeg -f null, {len(files)} files one by one", t_ff.median, len(files), total_s,
                t_ff.cpu_median, t_ff.wall)]
    out = {"files": len(files), "video_s": total_s, "ffmpeg_s": t_ff.median}
    for wk in workers_list:
        row, summary = run_pipeline(ctx, wk, files, label=f"pipeline workers={wk}, batch {ctx.args.batch_size}")
        row.note += f"; {len(files) / row.seconds:.2f} clips/s"
        rows.append(row)
        out[f"workers={wk}"] = {"seconds": row.seconds, "runs": row.runs, "clips_per_s": len(files) / row.seconds,
                                "statuses": summary["statuses"], "face_frames": summary["face_frames"]}
    row, summary = run_pipeline(ctx, 0, files, label="pipeline workers=0, torch threads 1", threads=1)
    row.note += f"; {len(files) / row.seconds:.2f} clips/s"
    rows.append(row)
    out["workers=0,threads=1"] = {"seconds": row.seconds, "clips_per_s": len(files) / row.seconds}
    print_table(rows, t_ff.median / len(files), f"RAVDESS Actor_05: {len(files)} clips, {total_s:.1f} s of video "
                f"(per window = per clip; x ffmpeg against ffmpeg on the same files)")
    out["rows"] = [_row_dict(x, t_ff.median / len(files)) for x in rows]
    return out


def _row_dict(r: Row, ff_pw: float) -> dict:
    d = asdict(r)
    d.update(per_window_s=r.per_window_s, x_ffmpeg=r.x_ffmpeg(ff_pw), rtf=r.rtf)
    return d


# --- Main -------------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", type=Path, help="video to time (default: make a 720p test clip)")
    p.add_argument("--seconds", type=float, default=60.0, help="length of the made clip (s)")
    p.add_argument("--model", help="shipped model name or .safetensors path (default: shipped 'default', "
                                   "else a random minixception EmotionNet)")
    p.add_argument("--workers", default=f"0,{os.cpu_count() or 1}",
                   help="comma-separated worker counts for the pipeline (default: 0,<cores>)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--torch-threads", type=int, help="torch intra-op threads of this process "
                                                      "(default: torch's, i.e. the core count)")
    p.add_argument("--stage-threads", type=int, default=1,
                   help="torch threads for the stage rows (default 1, as in a pipeline worker)")
    p.add_argument("--pipeline-repeat", type=int, default=1,
                   help="runs of each whole-pipeline timing (default 1: they take minutes)")
    p.add_argument("--repeat", type=int, default=1, help="runs of each timing (the median is shown)")
    p.add_argument("--parts", default="ceiling,pipeline,stages", help="which of ceiling,pipeline,stages to run")
    p.add_argument("--experiments", action="store_true", help="also time the alternatives (~30 min on 2 cores)")
    p.add_argument("--experiment-groups", default=",".join(EXPERIMENT_GROUPS),
                   help="which experiment groups to run (default: all of them; see EXPERIMENT_GROUPS)")
    p.add_argument("--ravdess", action="store_true", help=f"also run the pipeline on {RAVDESS_GLOB}")
    p.add_argument("--json", type=Path, help="write every figure to this JSON file")
    a = p.parse_args(argv)
    a.workers_list = [int(x) for x in a.workers.split(",") if x.strip()]
    a.parts_set = {x.strip() for x in a.parts.split(",") if x.strip()}
    a.groups_set = {x.strip() for x in a.experiment_groups.split(",") if x.strip()}
    if a.groups_set - set(EXPERIMENT_GROUPS):
        p.error(f"unknown experiment groups {sorted(a.groups_set - set(EXPERIMENT_GROUPS))}; "
                f"choose from {','.join(EXPERIMENT_GROUPS)}")
    if a.repeat < 1:
        p.error("--repeat must be at least 1")
    if a.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: PyTorch sees no CUDA GPU")
    return a


def main(argv: Sequence[str] | None = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--pool-probe"]:  # internal: one pool start-up, in a fresh interpreter
        method, preload, n = argv[1].split(":")
        print(json.dumps(_pool_probe(method, preload, int(n))))
        return {}
    a = parse_args(argv)
    if a.torch_threads:
        torch.set_num_threads(a.torch_threads)
    machine = machine_info()
    clip = a.clip or make_clip(a.seconds, CACHE_DIR / f"astronaut_720p_{a.seconds:g}s.mp4")
    info = probe(clip)
    windows = [w for w in plan_windows(info.duration_s) if not is_too_short(w)]
    model, model_desc = load_model(a.model, a.device)
    ctx = Context(clip, info, windows, model, model_desc, a)
    print(f"clip    {clip} ({info.width}x{info.height}, {info.fps:.2f} fps, {info.duration_s:.1f} s, "
          f"{len(windows)} windows, audio {info.has_audio})")
    print(f"model   {model_desc}")
    print(f"machine {machine['cpu']}, {machine['cores']} cores, torch threads {machine['torch_threads']}, "
          f"load {' '.join(f'{x:.2f}' for x in machine['loadavg_start'])}")
    print(f"command {' '.join([Path(sys.executable).name, *sys.argv])}")
    report: dict = {"machine": machine, "clip": str(clip), "duration_s": info.duration_s,
                    "windows": len(windows), "model": model_desc,
                    "args": {k: (str(v) if isinstance(v, Path) else sorted(v) if isinstance(v, set) else v)
                             for k, v in vars(a).items()}}
    rows: list[Row] = []
    if "ceiling" in a.parts_set:
        rows += run_ceiling(ctx)
    ff_s = rows[0].seconds if rows else timed(lambda: ffmpeg_null(clip)).median
    ff_pw = ff_s / len(windows)
    if "pipeline" in a.parts_set:
        report["pipeline"] = {}
        for wk in a.workers_list:
            row, summary = run_pipeline(ctx, wk, [str(clip)], label=f"pipeline workers={wk}, batch {a.batch_size}")
            rows.append(row)
            report["pipeline"][f"workers={wk}"] = summary
    det = annot = st = None
    if "stages" in a.parts_set or a.experiments:
        det = FaceDetector(device="cuda" if a.device == "cuda" else "cpu")
        annot = Annotator(model, RunOptions(workers=0, batch_size=a.batch_size, device=a.device))
        stage_rows, st = run_stages(ctx, det, annot)
        if "stages" in a.parts_set:
            rows += stage_rows
    print_table(rows, ff_pw, f"{clip.name}: {info.duration_s:.1f} s, {len(windows)} windows; per window = seconds / "
                f"windows; x ffmpeg = per-window cost / ffmpeg's; RTF = video seconds per wall second")
    report["rows"] = [_row_dict(r, ff_pw) for r in rows]
    if a.experiments:
        report["experiments"] = run_experiments(ctx, det, annot, st)
    if a.ravdess:
        report["ravdess"] = run_ravdess(ctx, a.workers_list)
    machine["loadavg_end"] = os.getloadavg()
    print(f"\nload at the end {' '.join(f'{x:.2f}' for x in machine['loadavg_end'])}")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(report, indent=2, default=str))
        print(f"wrote {a.json}")
    return report


if __name__ == "__main__":
    main()
