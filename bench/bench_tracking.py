"""Face tracking (MTCNN on key frames, by default 0, 7 and 14) against per-frame MTCNN, on real faces.

    python bench/bench_tracking.py [CLIPS...]             # default: ../shared/data/ravdess/Actor_05/*.mp4
    python bench/bench_tracking.py --move 128 [CLIPS...]  # the same faces swept to and fro (a camera pan)
    python bench/bench_tracking.py --key-every 14         # MTCNN on frames 0 and 14 only

Prints the box agreement (IoU) over every frame with a face, how many frames MTCNN searched and
how many O-Net checked, the detection time per window, and whether the default model's emotion
per clip changes. `--move A` cuts each frame's middle (its width less 2A) out at an offset that
swings A px either side every `--period` seconds, as a pan over the real video (at most
2*pi*A/period px/s): faces that move between key frames, which the tracker must follow.
"""

from __future__ import annotations

import argparse
import glob
import math
import sys
import time
from pathlib import Path

import numpy as np

import emoannotate
from emoannotate import extract
from emoannotate.faces import KEY_FRAME_EVERY, FaceDetector, box_iou
from emoannotate.media import iter_window_frames, probe
from emoannotate.windows import plan_windows

DEFAULT = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess" / "Actor_05" / "*.mp4")


class Counting(FaceDetector):
    """The tracker, counting the frames MTCNN searches and the boxes O-Net checks."""

    searched = checked = 0

    def _detect(self, frames):
        self.searched += len(frames)
        return super()._detect(frames)

    def _refine(self, frames, boxes):
        self.checked += len(boxes)
        return super()._refine(frames, boxes)


def panned(window, frames, amplitude: int, period: float):
    """The frames cut to their width less 2*amplitude, at an offset swinging +-amplitude px."""
    if not amplitude:
        return frames
    out = []
    for k, f in enumerate(frames):
        if f is None:
            out.append(None)
            continue
        t = window.start_s + k * window.duration_s / len(frames)
        x = int(round(amplitude * (1 + math.sin(2 * math.pi * t / period))))
        out.append(f[:, x:f.shape[1] - 2 * amplitude + x])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", nargs="*")
    ap.add_argument("--move", type=int, default=0, help="swing the faces this many px either side (default 0)")
    ap.add_argument("--period", type=float, default=2.0, help="seconds of one swing (default 2)")
    ap.add_argument("--key-every", type=int, default=KEY_FRAME_EVERY,
                    help=f"the tracker's key frames: every Nth frame and the last (default {KEY_FRAME_EVERY})")
    args = ap.parse_args()
    clips = args.clips or sorted(glob.glob(DEFAULT))
    if not clips:
        sys.exit(f"no clips: give some, or put RAVDESS Actor 05 at {DEFAULT}")
    full, tracked = FaceDetector(key_every=1), Counting(key_every=args.key_every)
    tracked.mtcnn = full.mtcnn
    ious, found, t_full, t_tracked, n = [], [0, 0], 0.0, 0.0, 0
    for f in clips:
        for window, frames in iter_window_frames(f, plan_windows(probe(f).duration_s), n_frames=15):
            frames = panned(window, frames, args.move, args.period)
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
    if args.move:
        print(f"faces swung {args.move} px either side every {args.period} s "
              f"(at most {2 * math.pi * args.move / args.period:.0f} px/s)")
    print(f"tracker (key frames every {args.key_every}): MTCNN searched {tracked.searched} of {n * 15} frames, "
          f"O-Net passes on {tracked.checked} boxes")
    print(f"detection per window: per-frame {t_full / n * 1000:.0f} ms, tracked {t_tracked / n * 1000:.0f} ms "
          f"({t_full / t_tracked:.1f}x)")
    if args.move:
        return  # the model's rows below read the clips themselves, not the panned frames
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
