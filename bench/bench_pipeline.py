"""Benchmark: `emoannotate run` end to end against the PyAV decode ceiling, on made or given clips.

    python bench/bench_pipeline.py                                  # 720p + 1080p, 60 s each
    python bench/bench_pipeline.py --clips 720p --repeat 3 --json out.json
    python bench/bench_pipeline.py --clip talk.mp4 --run-args "--workers 2 --batch-size 64"
    python bench/bench_pipeline.py --device cuda

Only stable interfaces are used: the CLI in a subprocess, and the public leaf modules
(`media`, `faces`, `audio`, `registry`) for the stage costs. Compare ratios within a run
(the ceiling and the pipeline are timed back to back), not seconds across runs.
See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import importlib.metadata as md
import importlib.util
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections import Counter
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
CLIP_SIZES = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080)}
FPS = Fraction(30000, 1001)  # 29.97
AUDIO_RATE = 44100  # Hz, stereo AAC
MODEL_BATCH = 32  # windows per model forward in the stage costs
STAGES = ("decode", "detect", "audio_decode", "features", "model")
SPEECH = ("Benchmarks on shared machines are noisy, so we compare ratios measured in one run. "
          "The quick brown fox jumps over the lazy dog, and the five boxing wizards jump quickly. ")


# --- Test clips (PyAV + numpy, no ffmpeg program) ---------------------------------------

def _speech(seconds: float, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """(n,) float32 mono speech at AUDIO_RATE: espeak-ng when present, else a synthetic voice."""
    n = round(seconds * AUDIO_RATE)
    if shutil.which("espeak-ng"):
        try:
            with tempfile.TemporaryDirectory() as tmp:
                wav = Path(tmp) / "speech.wav"
                subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), SPEECH * 3], check=True, capture_output=True)
                with wave.open(str(wav)) as w:
                    rate, pcm = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), "<i2")
            y = pcm.astype(np.float32) / 32768.0
            y = np.interp(np.arange(round(y.size * AUDIO_RATE / rate)) * rate / AUDIO_RATE, np.arange(y.size), y)
            return np.resize(y, n).astype(np.float32), "espeak-ng"
        except (OSError, subprocess.CalledProcessError, wave.Error) as err:
            print(f"espeak-ng failed ({err}); using a synthetic voice", file=sys.stderr)
    # Harmonics of a gliding f0 (110-190 Hz) shaped by two formants that change every syllable
    # (4.5 per second), under a syllable envelope, with a 0.3 s pause every 2.7 s.
    t = np.arange(n) / AUDIO_RATE
    f0 = 150 + 25 * np.sin(2 * np.pi * t / 2.3) + 15 * np.sin(2 * np.pi * t / 0.7)
    phase = 2 * np.pi * np.cumsum(f0) / AUDIO_RATE
    syl = np.floor(t * 4.5).astype(int)
    f1, f2 = rng.uniform(300, 800, syl.max() + 1)[syl], rng.uniform(900, 2400, syl.max() + 1)[syl]
    y = np.zeros(n)
    for k in range(1, 30):
        gain = np.exp(-((k * f0 - f1) / 150) ** 2) + 0.6 * np.exp(-((k * f0 - f2) / 250) ** 2) + 0.05
        y += gain / k ** 0.7 * np.sin(k * phase)
    y = y * np.sin(np.pi * ((t * 4.5) % 1.0)) ** 2 * ((t % 2.7) < 2.4) + 0.01 * rng.standard_normal(n)
    return (0.3 * y / np.abs(y).max()).astype(np.float32), "synthetic voice"


def make_clip(name: str, seconds: float, cache_dir: Path) -> Path:
    """A talking head (the astronaut drifting over a noisy background, speech), H.264 + AAC; cached."""
    out = cache_dir / f"talking_{name}_{seconds:g}s.mp4"
    if out.is_file():
        return out
    from PIL import Image
    from skimage import data

    w, h = CLIP_SIZES[name]
    side = round(560 * h / 720)  # her face is about 200 px tall at 720p
    pic = np.asarray(Image.fromarray(data.astronaut()).resize((side, side), Image.BICUBIC))
    rng = np.random.default_rng(0)
    voice, source = _speech(seconds, rng)
    stereo = np.stack([voice, voice])  # (2, n) planar
    base = np.empty((h, w, 3), np.uint8)
    base[:] = (90, 110, 130)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part.mp4")
    print(f"making {out} ({w}x{h}, {seconds:g} s, {source})", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    with av.open(str(tmp), "w", options={"movflags": "+faststart"}) as container:
        vs = container.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"preset": "medium", "crf": "23", "profile": "high"}  # x264 defaults: B-frames, GOP 250
        aus = container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        aus.bit_rate = 128_000
        a_pos, n_frames = 0, round(seconds * FPS)
        for i in range(n_frames + 1):
            t = float(i / FPS)
            while a_pos < stereo.shape[1] and (a_pos / AUDIO_RATE <= t or i == n_frames):  # interleaved
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(stereo[:, a_pos:a_pos + 1024]),
                                                format="fltp", layout="stereo")
                af.sample_rate, af.pts, af.time_base = AUDIO_RATE, a_pos, Fraction(1, AUDIO_RATE)
                container.mux(aus.encode(af))
                a_pos += 1024
            if i == n_frames:
                break
            frame = base + rng.integers(0, 24, (h, w, 1), np.uint8)  # camera-like temporal noise
            x = round((w - side) / 2 * (1 + 0.3 * np.sin(2 * np.pi * t / 13)))
            y = round((h - side) / 2 * (1 + 0.3 * np.sin(2 * np.pi * t / 7)))
            frame[y:y + side, x:x + side] = pic
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts, vf.time_base = i, 1 / FPS
            container.mux(vs.encode(vf))
        container.mux(vs.encode())
        container.mux(aus.encode())
    tmp.rename(out)
    print(f"  made in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return out


def looped(clip: Path, times: int) -> Path:
    """`clip` played `times` times in a row, made by copying its packets with shifted timestamps (no
    re-encoding: an hour-long file in seconds, for memory against length); cached beside it."""
    out = clip.with_name(f"{clip.stem}_x{times}.mp4")
    if out.is_file():
        return out
    tmp = out.with_suffix(".part.mp4")
    with av.open(str(clip)) as src:
        first: dict[int, int] = {}
        length: dict[int, int] = {}  # per stream, in its time base: from the first dts to the last packet's end
        for packet in src.demux():
            if packet.dts is not None:
                first.setdefault(packet.stream.index, packet.dts)
                length[packet.stream.index] = packet.dts + (packet.duration or 0) - first[packet.stream.index]
        with av.open(str(tmp), "w") as dst:
            streams = {s.index: dst.add_stream_from_template(s) for s in src.streams}
            for k in range(times):
                src.seek(0)
                for packet in src.demux():
                    if packet.dts is None:
                        continue
                    shift = k * length[packet.stream.index]
                    packet.pts, packet.dts = packet.pts + shift, packet.dts + shift
                    packet.stream = streams[packet.stream.index]
                    dst.mux(packet)
    tmp.rename(out)
    return out


# --- The ceiling ------------------------------------------------------------------------

def pyav_decode_all(path: Path, thread_type: str | None) -> dict:
    """Decode every video and audio frame (no conversion); None keeps PyAV's default threading."""
    t0 = time.perf_counter()
    with av.open(str(path)) as container:
        streams = [*container.streams.video[:1], *container.streams.audio[:1]]
        if container.streams.video and thread_type:
            container.streams.video[0].thread_type = thread_type
        used = str(container.streams.video[0].thread_type) if container.streams.video else "-"
        counts = Counter(type(frame).__name__ for frame in container.decode(*streams))
    return {"s": time.perf_counter() - t0, "video_frames": counts["VideoFrame"], "audio_frames": counts["AudioFrame"],
            "thread_type": used}


def ffmpeg_null(path: Path) -> dict:
    t0 = time.perf_counter()
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"], check=True)
    return {"s": time.perf_counter() - t0}


# --- The pipeline as users run it, with its memory --------------------------------------

def _kb(path: str, key: str) -> int:
    with contextlib.suppress(OSError, ValueError, IndexError), open(path) as f:
        return next((int(line.split()[1]) for line in f if line.startswith(key)), 0)
    return 0


def _tree(root: int) -> list[int]:
    """root and its descendants, from the parent pid in /proc/*/stat (kernels may lack task/*/children)."""
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError), open(f"/proc/{entry.name}/stat") as f:
                kids.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        out.append(todo.pop())
        todo += kids.get(out[-1], [])
    return out


def cli_command() -> list[str]:
    spec = importlib.util.find_spec("emoannotate")
    has_main = spec is not None and any(Path(p, "__main__.py").is_file() for p in spec.submodule_search_locations or [])
    return [sys.executable, "-m", "emoannotate" if has_main else "emoannotate.cli"]


def run_pipeline(clip: Path, run_args: list[str], workdir: Path) -> dict:
    """Time `emoannotate run CLIP` from process start to exit; poll its process tree's memory every 0.1 s."""
    out = workdir / "out.csv"
    cmd = [*cli_command(), "run", str(clip), "--out", str(out), "--overwrite", "-q", *run_args]
    peak = {"largest_kb": 0, "all_kb": 0, "pss_kb": 0}
    done = threading.Event()

    def poll(pid: int) -> None:
        while not done.is_set():
            pids = _tree(pid)
            rss = [_kb(f"/proc/{p}/status", "VmRSS:") for p in pids]
            peak["largest_kb"] = max(peak["largest_kb"], max(rss, default=0))
            peak["all_kb"] = max(peak["all_kb"], sum(rss))
            peak["pss_kb"] = max(peak["pss_kb"], sum(_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids))
            done.wait(0.1)

    with open(workdir / "stderr.txt", "w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=workdir)
        poller = threading.Thread(target=poll, args=(proc.pid,), daemon=True)
        poller.start()
        _, status, usage = os.wait4(proc.pid, 0)  # rusage of it and of the descendants it waited for
        seconds = time.perf_counter() - t0
        done.set()
        poller.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read()[-3000:]
    if proc.returncode != 0:
        sys.exit(f"the pipeline failed (exit {proc.returncode}): {shlex.join(cmd)}\n{tail}")
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    largest = max(peak["largest_kb"], usage.ru_maxrss)  # ru_maxrss: KiB, the kernel's high-water mark
    mem = {"largest_mb": largest, "all_mb": max(peak["all_kb"], largest),  # a sum is at least its largest part
           "all_pss_mb": peak["pss_kb"], "largest_polled_mb": peak["largest_kb"], "all_polled_mb": peak["all_kb"]}
    return {"s": seconds, "rows": len(rows), "command": cmd, "statuses": dict(Counter(r.get("status") for r in rows)),
            "stderr_tail": tail[-500:], **{k: v / 1024 for k, v in mem.items()}}


# --- Stage costs, with the public leaf modules ------------------------------------------

def stage_costs(clip: Path, *, n_windows: int, repeat: int, device: str, threads: int) -> dict:
    """ms per window of each stage, on `n_windows` consecutive full windows from the clip's middle."""
    import torch

    from emoannotate import audio, media, registry
    from emoannotate.constants import FRAMES_PER_WINDOW
    from emoannotate.faces import FaceDetector
    from emoannotate.windows import plan_windows

    torch.set_num_threads(threads)
    full = [w for w in plan_windows(media.probe(clip).duration_s) if not w.partial]
    if not full:
        return {}
    k = min(n_windows, len(full))
    ws = full[(len(full) - k) // 2:][:k]
    det = FaceDetector(device=device)
    model, _ = registry.load_model("default", device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def clock(fn):
        sync()
        t0 = time.perf_counter()
        value = fn()
        sync()
        return time.perf_counter() - t0, value

    def batch(faces, feats, n=MODEL_BATCH):  # predict_proba(faces, face_mask, audio, audio_mask)
        ff, aa = [faces[i % k] for i in range(n)], [feats[i % k] for i in range(n)]
        shape = next((a.shape for a in aa if a is not None), (181, 156))
        crops = [f.crops[f.mask] for f in ff if f.n_found]
        return (torch.from_numpy(np.concatenate(crops)).to(device) if crops else None,
                torch.from_numpy(np.stack([f.mask for f in ff])).to(device),
                torch.from_numpy(np.stack([np.zeros(shape, np.float32) if a is None else a for a in aa])).to(device),
                torch.tensor([a is not None for a in aa], device=device))

    runs: dict[str, list[float]] = {s: [] for s in STAGES}
    for r in range(repeat):
        t, frames = clock(lambda: [f for _, f in media.iter_window_frames(clip, ws, n_frames=FRAMES_PER_WINDOW)])
        runs["decode"].append(t / k)
        if r == 0:
            det.detect(frames[0])  # warm-up
        t, faces = clock(lambda fr=frames: [det.detect(f) for f in fr])
        runs["detect"].append(t / k)
        t, samples = clock(lambda: [s for _, s in media.iter_window_audio(clip, ws)])
        runs["audio_decode"].append(t / k)
        if r == 0:
            audio.window_audio_features(samples[0])  # warm-up (librosa's lazy imports)
        t, feats = clock(lambda ss=samples: [audio.window_audio_features(s) for s in ss])
        runs["features"].append(t / k)
        inputs = batch(faces, feats)
        with torch.inference_mode():
            if r == 0:
                model.predict_proba(*batch(faces, feats, 2))  # warm-up
            t, _ = clock(lambda x=inputs: model.predict_proba(*x))
        runs["model"].append(t / MODEL_BATCH)
    ms = {s: 1000 * statistics.median(v) for s, v in runs.items()}
    total = sum(ms.values())
    return {"windows": k, "first_window": ws[0].index, "repeat": repeat, "torch_threads": threads, "device": device,
            "face_frames": f"{sum(f.n_found for f in faces)}/{FRAMES_PER_WINDOW * k}", "ms_per_window": ms,
            "total_ms_per_window": total, "share": {s: v / total for s, v in ms.items()}, "runs_s": runs}


# --- Machine and software ---------------------------------------------------------------

def _git() -> str:
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:  # --no-optional-locks: never touch the index others may be using
        dirty = git("--no-optional-locks", "status", "--porcelain", "--untracked-files=no")
        return git("rev-parse", "--short", "HEAD") + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_info() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    cpu = next((x.split(":", 1)[1].strip() for x in cpuinfo.splitlines() if x.startswith("model name")),
               platform.processor() or "unknown")
    versions = {}
    for pkg in ("emoannotate", "torch", "av", "facenet-pytorch", "librosa", "numpy"):
        with contextlib.suppress(md.PackageNotFoundError):
            versions[pkg] = md.version(pkg)
    versions["libavcodec"] = ".".join(map(str, av.library_versions.get("libavcodec", ())))
    versions["ffmpeg_cli"] = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout \
        .split("\n")[0] if shutil.which("ffmpeg") else None
    return {"cpu": cpu, "cores": os.cpu_count(), "load_before": os.getloadavg(), "python": platform.python_version(),
            "platform": platform.platform(), "software": versions, "git": _git(), "gpu": None}


# --- Main -------------------------------------------------------------------------------

def bench_clip(name: str, clip: Path, args: argparse.Namespace, run_args: list[str]) -> dict:
    from emoannotate.media import probe
    from emoannotate.windows import plan_windows

    info = probe(clip)
    runs: dict[str, list] = {"pyav_default": [], "pyav_auto": [], "ffmpeg_null": [], "pipeline": []}
    with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
        for r in range(args.repeat):  # back to back on the same file, so that a change of load hits both
            print(f"  {name} round {r + 1}/{args.repeat}: ceiling, pipeline", file=sys.stderr, flush=True)
            if not args.no_ceiling:
                runs["pyav_default"].append(pyav_decode_all(clip, None))
                runs["pyav_auto"].append(pyav_decode_all(clip, "AUTO"))
            if shutil.which("ffmpeg") and not args.no_ceiling:
                runs["ffmpeg_null"].append(ffmpeg_null(clip))
            runs["pipeline"].append(run_pipeline(clip, run_args, Path(tmp)))
    med = {k: statistics.median(x["s"] for x in v) if v else None for k, v in runs.items()}
    ceiling = min(("pyav_default", "pyav_auto"), key=lambda k: med[k] if med[k] is not None else float("inf"))
    last = runs["pipeline"][-1]
    if last["rows"] == 0:
        print(f"WARNING: the pipeline wrote no rows for {clip}:\n{last['stderr_tail']}", file=sys.stderr)
    res = {"name": name, "path": str(clip), "width": info.width, "height": info.height, "fps": info.fps,
           "video_s": info.duration_s, "windows_planned": len(plan_windows(info.duration_s)),
           "ceiling_s": med[ceiling], "ceiling": ceiling, "pipeline_s": med["pipeline"],
           "rtf": info.duration_s / med["pipeline"],
           "ratio": med["pipeline"] / med[ceiling] if med[ceiling] else None,
           **{f"{k}_s": med[k] for k in ("pyav_default", "pyav_auto", "ffmpeg_null")},
           "pyav_default_threading": runs["pyav_default"][-1]["thread_type"] if runs["pyav_default"] else None,
           "decoded_frames": {k: runs["pyav_auto"][-1][k] for k in ("video_frames", "audio_frames")}
           if runs["pyav_auto"] else None,
           "rows_written": last["rows"], "statuses": last["statuses"], "command": shlex.join(last["command"]),
           **{f"peak_{k}": max(x[k] for x in runs["pipeline"]) for k in last if k.endswith("_mb")},
           "runs_s": {k: [x["s"] for x in v] for k, v in runs.items()}}
    if not args.no_stages:
        print(f"  {name}: stage costs", file=sys.stderr, flush=True)
        res["stages"] = stage_costs(clip, n_windows=args.stage_windows, repeat=args.repeat,
                                    device=args.device or "cpu", threads=args.stage_threads)
    return res


def print_report(report: dict) -> None:
    m, s = report["machine"], report["machine"]["software"]
    load = {k: " ".join(f"{x:.2f}" for x in m[k]) for k in ("load_before", "load_after")}
    print(f"\nmachine  {m['cpu']}, {m['cores']} cores{', GPU ' + m['gpu'] if m['gpu'] else ''}; "
          f"load average {load['load_before']} before, {load['load_after']} after")
    print(f"software emoannotate {s.get('emoannotate')} at {m['git']}, torch {s.get('torch')}, av {s.get('av')} "
          f"(libavcodec {s['libavcodec']}), python {m['python']}" + (f", {s['ffmpeg_cli']}" if s["ffmpeg_cli"] else ""))
    nw = max([8] + [len(c["name"]) for c in report["clips"]])
    head = (f"{'clip':<{nw}} {'video s':>7} {'ceiling s':>9} {'ffmpeg s':>8} {'pipeline s':>10} {'RTF':>6} "
            f"{'x ceiling':>9} {'peak MB 1 proc':>14} {'peak MB all':>11} {'rows':>5}")
    print(f"\n{head}\n{'-' * len(head)}")
    for c in report["clips"]:
        ff = f"{c['ffmpeg_null_s']:.2f}" if c["ffmpeg_null_s"] is not None else "-"
        ceiling = f"{c['ceiling_s']:9.2f}" if c["ceiling_s"] is not None else f"{'-':>9}"
        ratio = f"{c['ratio']:9.2f}" if c["ratio"] is not None else f"{'-':>9}"
        print(f"{c['name']:<{nw}} {c['video_s']:7.1f} {ceiling} {ff:>8} {c['pipeline_s']:10.2f} "
              f"{c['rtf']:6.2f} {ratio} {c['peak_largest_mb']:14.0f} {c['peak_all_mb']:11.0f} "
              f"{c['rows_written']:5d}")
    for c in report["clips"]:
        print(f"\n{c['name']}: {c['command']}  (x{report['args']['repeat']}, median)")
        if c["decoded_frames"]:
            print(f"  ceiling = PyAV, default threading ({c['pyav_default_threading']}) {c['pyav_default_s']:.2f} s, "
                  f"AUTO {c['pyav_auto_s']:.2f} s; {c['decoded_frames']['video_frames']} video + "
                  f"{c['decoded_frames']['audio_frames']} audio frames")
        print(f"  peak summed PSS {c['peak_all_pss_mb']:.0f} MB")
        if st := c.get("stages"):
            print(f"  stages, {st['windows']} windows from window {st['first_window']}, torch threads "
                  f"{st['torch_threads']}, faces in {st['face_frames']} frames:")
            for k, v in st["ms_per_window"].items():
                print(f"    {k:<14} {v:8.1f} ms/window {100 * st['share'][k]:6.1f}%")
            print(f"    {'sum':<14} {st['total_ms_per_window']:8.1f} ms/window")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", default="720p,1080p", help="made clips to run: 360p, 720p, 1080p (default 720p,1080p)")
    p.add_argument("--loop", type=int, default=1, help="play each made clip this many times in a row (a 60 s clip "
                   "with --loop 60 is an hour long: memory against length)")
    p.add_argument("--clip", type=Path, action="append", help="benchmark this file instead (repeatable)")
    p.add_argument("--seconds", type=float, default=60.0, help="length of the made clips (default 60)")
    p.add_argument("--cache-dir", type=Path, default=REPO_ROOT / ".cache" / "bench", help="where made clips are kept")
    p.add_argument("--repeat", type=int, default=1, help="rounds of ceiling + pipeline (and stages); medians")
    p.add_argument("--run-args", default="", help='extra `emoannotate run` options, e.g. "--workers 2 --batch-size 64"')
    p.add_argument("--device", choices=("cpu", "cuda"), help="passed to the run (--device) and used for the stages")
    p.add_argument("--stage-windows", type=int, default=8, help="consecutive windows timed per stage (default 8)")
    p.add_argument("--stage-threads", type=int, default=1, help="torch threads for the stage costs (default 1)")
    p.add_argument("--no-stages", action="store_true", help="skip the stage costs")
    p.add_argument("--no-ceiling", action="store_true", help="skip the decode ceiling (memory runs of long files)")
    p.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    a = p.parse_args(argv)
    if a.repeat < 1 or a.stage_windows < 1 or a.seconds <= 0:
        p.error("--repeat and --stage-windows must be at least 1, --seconds positive")
    names = [x.strip() for x in a.clips.split(",") if x.strip()]
    if not a.clip and (bad := set(names) - set(CLIP_SIZES)):
        p.error(f"unknown clips {sorted(bad)}; choose from {','.join(CLIP_SIZES)}")
    if a.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            p.error("--device cuda: PyTorch sees no CUDA GPU")
    run_args = shlex.split(a.run_args) + (["--device", a.device] if a.device else [])
    machine = machine_info()
    clips = [(c.stem, c.resolve()) for c in a.clip] if a.clip else \
        [(n, make_clip(n, a.seconds, a.cache_dir.resolve())) for n in names]
    if a.loop > 1:
        clips = [(f"{n} x{a.loop}", looped(c, a.loop)) for n, c in clips]
    report = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
              "argv": sys.argv if argv is None else argv, "machine": machine, "clips": [],
              "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()}}
    for name, clip in clips:
        report["clips"].append(bench_clip(name, clip, a, run_args))
    machine["load_after"] = os.getloadavg()
    if "torch" in sys.modules and sys.modules["torch"].cuda.is_available():  # imported by the stages or --device
        machine["gpu"] = sys.modules["torch"].cuda.get_device_name(0)
    print_report(report)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(report, indent=2, default=str))
        print(f"\nwrote {a.json}")
    return report


if __name__ == "__main__":
    main()
