"""Benchmark: the live page in headless Chromium, fake camera and microphone, for as long as you like.

    python bench/bench_live_page.py --seconds 60
    python bench/bench_live_page.py --seconds 3600 --json hour.json          # the hour-long figure
    python bench/bench_live_page.py --clips a.mp4 b.mp4 --seconds 25 --screenshot page.png

`emoannotate live --port 0` serves the page; Debian's Chromium (/usr/bin/chromium) opens it with
fake media devices fed from `--clips` (default: the made 360p talking head of bench_pipeline),
looped by Chromium, and presses Start: the browser records the camera and microphone as WebM and
streams it to the server, as it does for a user. Every 10 s it reads the new rows from the page
and the server's memory. Reported: rows, windows dropped, latency (from the moment the server's
reader has passed a window's end to its row; `latency_s`) as median, 95th percentile and maximum,
the latency the user sees (on the page's clock, from the window's end after the recording began
to the row drawn: the recorder's 100 ms pieces and the WebSocket both ways included),
the server's RSS and PSS at the start, after the first minute and at the end, and the page's
JavaScript heap.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import REPO_ROOT, make_clip  # noqa: E402
from bench_report import ARGS  # noqa: E402  (headless Chromium's flags, one list for every page benchmark)

CHROMIUM = "/usr/bin/chromium"
FAKE_RATE = 48000  # Hz, the fake microphone


def fake_devices(clips: list[Path], folder: Path, *, empty_s: float = 0.0, fps: int = 15,
                 size: tuple[int, int] = (640, 360)) -> tuple[Path, Path]:
    """A Y4M camera and a WAV microphone for Chromium's fake capture: the clips one after the other
    (video at `fps`, scaled to `size`), then `empty_s` seconds of a grey, empty picture while the voice
    goes on (it repeats from the start)."""
    camera, microphone = folder / "camera.y4m", folder / "microphone.wav"
    planes: list[np.ndarray] = []
    voice: list[np.ndarray] = []
    for clip in clips:
        with av.open(str(clip)) as c:
            k = 0
            for f in c.decode(video=0):
                while f.time is not None and k / fps <= f.time:  # the frame on screen at each output time
                    planes.append(f.to_ndarray(width=size[0], height=size[1], format="yuv420p"))
                    k += 1
        with av.open(str(clip)) as c:
            resampler = av.AudioResampler(format="s16", layout="mono", rate=FAKE_RATE)
            for f in c.decode(audio=0):
                voice += [g.to_ndarray().reshape(-1) for g in resampler.resample(f)]
    face_s = len(planes) / fps
    planes += [np.full_like(planes[0], 128)] * round(empty_s * fps)  # grey Y, U and V: nobody in view
    with av.open(str(camera), "w", format="yuv4mpegpipe") as out:
        stream = out.add_stream("rawvideo", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for plane in planes:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(plane, format="yuv420p")))
        out.mux(stream.encode())
    samples = np.resize(np.concatenate(voice), round((face_s + empty_s) * FAKE_RATE))  # as long as the picture
    with av.open(str(microphone), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=FAKE_RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = FAKE_RATE
        out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return camera, microphone


def chromium_args(camera: Path, microphone: Path) -> list[str]:
    """The report benchmark's headless flags, and the fake camera and microphone fed from these files."""
    return [*ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}", f"--use-file-for-fake-audio-capture={microphone}"]


def memory_mb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in MB."""
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmRSS"))
    with open(f"/proc/{pid}/smaps_rollup") as f:
        pss = next(int(line.split()[1]) // 1024 for line in f if line.startswith("Pss:"))
    return rss, pss


def main(argv: list[str] | None = None) -> dict:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=Path, nargs="+", help="videos with a face and a voice (default: the made "
                   "360p talking head)")
    p.add_argument("--seconds", type=float, default=60.0, help="how long to stream")
    p.add_argument("--args", default="", help="extra `emoannotate live` options")
    p.add_argument("--screenshot", type=Path, help="a picture of the page at the end")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    clips = args.clips or [make_clip("360p", 60.0, REPO_ROOT / ".cache" / "bench")]
    cmd = [sys.executable, "-m", "emoannotate", "live", "--port", "0", *args.args.split()]
    with tempfile.TemporaryDirectory() as tmp:
        camera, microphone = fake_devices(clips, Path(tmp))
        server = subprocess.Popen(cmd, cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True)
        assert server.stderr is not None
        url = server.stderr.readline().split("open ", 1)[1].split()[0]
        samples: list[dict] = []
        rows: dict[int, dict] = {}
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=chromium_args(camera, microphone))
                page = browser.new_page(viewport={"width": 1280, "height": 860})
                page.goto(url)
                page.wait_for_selector("html[data-ready]")
                rss, pss = memory_mb(server.pid)
                samples.append({"t": 0.0, "rss_mb": rss, "pss_mb": pss, "heap_mb": None})
                page.click("#start")
                start = time.monotonic()
                while (elapsed := time.monotonic() - start) < args.seconds:
                    time.sleep(min(10.0, max(0.0, args.seconds - elapsed)))
                    for r in page.evaluate("emoLive.rows.map(r => [r.window, r.latency_s, r.dropped, r.modalities, "
                                           "r.page_latency_s])"):
                        rows.setdefault(r[0], {"latency_s": r[1], "dropped": r[2], "modalities": r[3],
                                               "page_latency_s": r[4]})
                    rss, pss = memory_mb(server.pid)
                    heap = page.evaluate("performance.memory ? performance.memory.usedJSHeapSize : null")
                    samples.append({"t": round(time.monotonic() - start, 1), "rss_mb": rss, "pss_mb": pss,
                                    "heap_mb": round(heap / 2**20, 1) if heap else None})
                if args.screenshot:
                    page.screenshot(path=str(args.screenshot))
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    latency = np.array([r["latency_s"] for r in rows.values()])
    page = np.array([r["page_latency_s"] for r in rows.values()])
    first_minute = next((s for s in samples if s["t"] >= 60.0), samples[-1])
    report = {
        "clips": [str(c) for c in clips], "stream_s": round(samples[-1]["t"], 1), "rows": len(rows),
        "dropped": int(sum(r["dropped"] for r in rows.values())),
        "modalities": {m: sum(r["modalities"] == m for r in rows.values())
                       for m in sorted({r["modalities"] for r in rows.values()})},
        "latency_median_s": float(np.median(latency)) if len(rows) else None,
        "latency_p95_s": float(np.percentile(latency, 95)) if len(rows) else None,
        "latency_max_s": float(latency.max()) if len(rows) else None,
        "page_latency_median_s": float(np.median(page)) if len(rows) else None,
        "page_latency_p95_s": float(np.percentile(page, 95)) if len(rows) else None,
        "rss_mb": [samples[0]["rss_mb"], first_minute["rss_mb"], samples[-1]["rss_mb"]],
        "pss_mb": [samples[0]["pss_mb"], first_minute["pss_mb"], samples[-1]["pss_mb"]],
        "page_heap_mb": [first_minute["heap_mb"], samples[-1]["heap_mb"]],
        "samples": samples,
    }
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
