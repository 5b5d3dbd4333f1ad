"""Face tracking (MTCNN on key frames 0, 7, 14) against per-frame MTCNN, on real faces.

    python bench/bench_tracking.py [CLIPS...]     # default: ../shared/data/ravdess/Actor_05/*.mp4

Prints the box agreement (IoU) over every frame with a face, the detection time per window,
and whether the default model's emotion per clip changes.
"""

from __future__ import annotations

import glob
import sys
import time
from pathlib import Path

import numpy as np

import emoannotate
from emoannotate import extract
from emoannotate.faces import FaceDetector, box_iou
from emoannotate.media import iter_window_frames, probe
from emoannotate.windows import plan_windows

DEFAULT = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess" / "Actor_05" / "*.mp4")


def main() -> None:
    clips = sys.argv[1:] or sorted(glob.glob(DEFAULT))
    if not clips:
        sys.exit(f"no clips: give some, or put RAVDESS Actor 05 at {DEFAULT}")
    full, tracked = FaceDetector(key_every=1), FaceDetector()
    tracked.mtcnn = full.mtcnn
    ious, found, t_full, t_tracked, n = [], [0, 0], 0.0, 0.0, 0
    for f in clips:
        for _, frames in iter_window_frames(f, plan_windows(probe(f).duration_s), n_frames=15):
            t = time.perf_counter()
            a = full.detect(frames)
            t_full += time.perf_counter() - t
            t = time.perf_counter()
            b = tracked.detect(frames)
            t_tracked += time.perf_counter() - t
            found[0] += a.n_found
            found[1] += b.n_found
            ious += [box_iou(x, y) for x, y, p, q in zip(a.boxes, b.boxes, a.mask, b.mask) if p and q]
            n += 1
    iou = np.array(ious)
    print(f"{len(clips)} clips, {n} windows; frames with a face: per-frame {found[0]}, tracked {found[1]}")
    print(f"box IoU over {iou.size} frames: mean {iou.mean():.3f}, median {np.median(iou):.3f}, "
          f"5th percentile {np.percentile(iou, 5):.3f}, min {iou.min():.3f}")
    print(f"detection per window: per-frame {t_full / n * 1000:.0f} ms, tracked {t_tracked / n * 1000:.0f} ms "
          f"({t_full / t_tracked:.1f}x)")
    rows = []
    for detector in (full, tracked):  # the default model on each clip, in-process with this detector
        extract._DETECTORS["cpu"] = detector
        rows.append([r.windows[0] for r in emoannotate.annotate(clips, workers=0, device="cpu")])
    same = sum(a.emotion == b.emotion for a, b in zip(*rows))
    dp = [max(abs(x - y) for x, y in zip(a.probabilities, b.probabilities))
          for a, b in zip(*rows) if a.probabilities and b.probabilities]
    print(f"default model, first window of each clip: the same emotion on {same} of {len(clips)}; "
          f"largest probability difference {max(dp):.3f}, median {np.median(dp):.4f}")


if __name__ == "__main__":
    main()
