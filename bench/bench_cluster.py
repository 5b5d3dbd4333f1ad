"""Benchmark: `run --ray local` against the local run, on one folder of 720p clips, in one session.

    python bench/bench_cluster.py                      # 3 clips of 60 s, 2 rounds, alternating
    python bench/bench_cluster.py --clips 4 --seconds 30 --rounds 1 --json out.json

The clips are the made 720p talking head of bench_pipeline (the same file hard-linked under several
names: each is decoded and annotated as its own input). Each round times, from process start to
exit, `emoannotate run FOLDER --out rows.csv` and the same with `--ray local` (the Ray cluster's
start included), in turn; the figure is the ratio of the medians. The rows of the two runs are
compared too (emotions equal, probabilities within 1e-5).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import REPO_ROOT, machine_info, make_clip  # noqa: E402


def timed_run(folder: Path, out: Path, extra: list[str]) -> tuple[float, list[dict]]:
    cmd = [sys.executable, "-m", "emoannotate", "run", str(folder), "--out", str(out), "--overwrite", "-q", *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    with open(out, newline="") as f:
        return seconds, list(csv.DictReader(f))


def same_rows(a: list[dict], b: list[dict]) -> float:
    """The largest probability difference; exits if the rows differ otherwise."""
    worst = 0.0
    assert len(a) == len(b), (len(a), len(b))
    for x, y in zip(a, b):
        assert (x["file"], x["window"], x["emotion"], x["modalities"]) == (y["file"], y["window"], y["emotion"],
                                                                         y["modalities"]), (x, y)
        for k in x:
            if k.startswith("p_") and x[k]:
                worst = max(worst, abs(float(x[k]) - float(y[k])))
    return worst


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=int, default=3, help="inputs in the folder")
    p.add_argument("--seconds", type=float, default=60.0, help="length of each")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    clip = make_clip("720p", a.seconds, REPO_ROOT / ".cache" / "bench")
    times: dict[str, list[float]] = {"local": [], "ray": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "clips")
        folder.mkdir()
        for i in range(a.clips):
            (folder / f"talk{i}.mp4").hardlink_to(clip)  # a link would be one input (inputs are de-duplicated)
        worst = 0.0
        for _ in range(a.rounds):
            s_local, rows_local = timed_run(folder, Path(tmp, "local.csv"), [])
            s_ray, rows_ray = timed_run(folder, Path(tmp, "ray.csv"), ["--ray", "local"])
            times["local"].append(s_local)
            times["ray"].append(s_ray)
            worst = max(worst, same_rows(rows_local, rows_ray))
            print(f"local {s_local:.1f} s, --ray local {s_ray:.1f} s", flush=True)
    local, ray = statistics.median(times["local"]), statistics.median(times["ray"])
    report = {"machine": machine_info(), "clips": a.clips, "seconds_each": a.seconds, "rounds": a.rounds,
              "local_s": times["local"], "ray_s": times["ray"], "ratio": ray / local,
              "rows": len(rows_local), "max_probability_difference": worst,
              "real_time_factor_local": a.clips * a.seconds / local, "real_time_factor_ray": a.clips * a.seconds / ray}
    print(json.dumps(report, indent=2, default=str))
    if a.json:
        a.json.write_text(json.dumps(report, indent=2, default=str))
    return report


if __name__ == "__main__":
    main()
