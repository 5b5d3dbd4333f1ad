"""Pool the folds of `scripts/cross_people.sh` into one table: every person tested once.

    python scripts/cross_people_summary.py runs/folds/4-* [--fixed fer2013] [--json OUT]

Per corpus and path: n, accuracy pooled over the folds (from their confusion matrices: each person's
windows counted once), the folds' accuracies, and the folds' expected calibration error (their mean,
weighted by n, and range; a pooled ECE needs every window's confidence, which reports do not keep). A
`--fixed` corpus has the same test people in every fold (FER2013's PrivateTest: no person ids to deal):
its line is the mean over the folds' models, not a pool.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

PATHS = {"audio (all)": "voice", "video (all)": "face", "bimodal": "face + voice",
         "video zero-shot (FER head)": "face, backbone's head",
         "video zero-shot (mini-Xception)": "face, mini-Xception head"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folds", nargs="+", type=Path, help="fold folders, each with report/report.json")
    ap.add_argument("--fixed", default="fer2013",
                    help="comma-separated corpora tested on the same people in every fold")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    fixed = set(filter(None, args.fixed.split(",")))
    reports = [json.loads((f / "report" / "report.json").read_text())["reports"] for f in args.folds]
    rows = []
    groups = sorted({g for r in reports for g in r if g != "overall"})
    for group in groups:
        for cond, path in PATHS.items():
            per = [r[group][cond] for r in reports if cond in r.get(group, {})]
            if not per:
                continue
            ns = np.array([p["n"] for p in per])
            accs = np.array([p["accuracy"] for p in per])
            eces = np.array([p["ece"] for p in per])
            if group in fixed:
                n, acc = int(ns[0]), float(accs.mean())
            else:
                confusion = sum(np.array(p["confusion"]) for p in per)
                n, acc = int(confusion.sum()), float(np.trace(confusion) / confusion.sum())
            rows.append({"corpus": group, "path": path, "n": n, "folds": len(per), "pooled": group not in fixed,
                         "accuracy": acc, "fold_accuracy": accs.round(4).tolist(),
                         "ece_mean": float((eces * ns).sum() / ns.sum()), "ece_range": [float(eces.min()),
                                                                                       float(eces.max())]})
    print(f"{'corpus':<16} {'path':<26} {'n':>6} {'acc %':>6}  {'folds %':<34} {'ECE mean':>8}  ECE range")
    for r in rows:
        how = "" if r["pooled"] else " (mean of folds' models; same people in each)"
        folds = " ".join(f"{100 * a:.1f}" for a in r["fold_accuracy"])
        print(f"{r['corpus']:<16} {r['path']:<26} {r['n']:>6} {100 * r['accuracy']:>6.1f}  {folds:<34} "
              f"{r['ece_mean']:>8.3f}  {r['ece_range'][0]:.3f}-{r['ece_range'][1]:.3f}{how}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
