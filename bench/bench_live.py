"""Benchmark: `emoannotate live --source -` fed a clip at real-time speed: latency, drops, memory.

    python bench/bench_live.py                         # the 360p talking head of bench_pipeline, 60 s
    python bench/bench_live.py --clip talk.mp4 --loop 5 --json out.json

The clip is remuxed (no re-encoding) to MPEG-TS, a container that streams through a pipe,
optionally `--loop`ed, and written to the live process's stdin evenly over its duration once
the process says it is ready. Reported: rows, windows dropped, the latency of each row (from
the moment the stream passed its window's end to the row; `latency_s`) as median, 95th
percentile and maximum, and the process's RSS at the start and the end of the stream.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import REPO_ROOT, make_clip  # noqa: E402


def to_ts(clip: Path, out: Path, loop: int = 1) -> float:
    """Remux `clip` `loop` times into MPEG-TS at `out`; returns the duration in seconds."""
    with av.open(str(clip)) as src, av.open(str(out), "w", format="mpegts") as dst:
        streams = {s.index: dst.add_stream_from_template(s) for s in src.streams if s.type in ("video", "audio")}
        length: dict[int, int] = {}
        first: dict[int, int] = {}
        for packet in src.demux():
            if packet.dts is not None and packet.stream.index in streams:
                first.setdefault(packet.stream.index, packet.dts)
                length[packet.stream.index] = packet.dts + (packet.duration or 0) - first[packet.stream.index]
        end = 0.0
        for k in range(loop):
            src.seek(0)
            for packet in src.demux():
                if packet.dts is None or packet.stream.index not in streams:
                    continue
                shift = k * length[packet.stream.index]
                packet.pts, packet.dts = packet.pts + shift, packet.dts + shift
                end = max(end, float((packet.pts + (packet.duration or 0)) * packet.stream.time_base))
                packet.stream = streams[packet.stream.index]
                dst.mux(packet)
    return end


def rss_mb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmRSS"))


def feed(proc: subprocess.Popen, data: bytes, seconds: float) -> None:
    step = max(1, len(data) // int(seconds * 20))
    start = time.monotonic()
    assert proc.stdin is not None
    try:
        for i in range(0, len(data), step):
            time.sleep(max(0.0, start + seconds * i / len(data) - time.monotonic()))
            proc.stdin.write(data[i:i + step])
            proc.stdin.flush()
    except BrokenPipeError:
        pass
    finally:
        proc.stdin.close()


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clip", type=Path, help="a video with audio (default: the made 360p talking head)")
    p.add_argument("--loop", type=int, default=1, help="play it this many times in a row")
    p.add_argument("--args", default="", help="extra `emoannotate live` options")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    clip = args.clip or make_clip("360p", 60.0, REPO_ROOT / ".cache" / "bench")
    with tempfile.TemporaryDirectory() as tmp:
        ts = Path(tmp) / "stream.ts"
        seconds = to_ts(clip, ts, args.loop)
        cmd = [sys.executable, "-m", "emoannotate", "live", "--source", "-", *args.args.split()]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stderr is not None and proc.stdout is not None
        proc.stderr.readline()  # "live: reading standard input ..." once warm
        rss_start = rss_mb(proc.pid)
        feeder = threading.Thread(target=feed, args=(proc, ts.read_bytes(), seconds), daemon=True)
        feeder.start()
        rows, rss_end = [], rss_start
        for line in proc.stdout:
            rows.append(json.loads(line))
            rss_end = rss_mb(proc.pid)
        proc.wait()
    latency = np.array([r["latency_s"] for r in rows])
    report = {
        "clip": str(clip), "stream_s": round(seconds, 1), "rows": len(rows),
        "dropped": int(sum(r["dropped"] for r in rows)),
        "latency_median_s": float(np.median(latency)) if len(rows) else None,
        "latency_p95_s": float(np.percentile(latency, 95)) if len(rows) else None,
        "latency_max_s": float(latency.max()) if len(rows) else None,
        "rss_start_mb": rss_start, "rss_end_mb": rss_end, "returncode": proc.returncode,
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
