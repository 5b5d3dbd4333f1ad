"""Benchmark: is the person speaking chosen? Two-person media made from real faces, scored window by window.

    python bench/bench_speaker.py                       # ../shared/data/ravdess/Actor_05, both conditions
    python bench/bench_speaker.py --clips DIR --turns 12 --json out.json

Two RAVDESS Actor 05 clips side by side (each 640x360 of a 1280x360 frame), in turns of one
3.6 s window each, the speaker alternating sides with a seeded shuffle. The speaker's side
plays a clip with its voice; the other side, the listener, is one of two conditions:

- `listening`: the listener's frames are the silent lead-in of another clip (before its
  voice starts), played forwards and backwards: a face that sits and blinks but does not talk;
- `mouthing`: the listener plays another clip's speech with its voice removed, so both
  mouths move and only the timing of the voice tells who speaks (harder; no interview has it
  all the time, but crosstalk and lip-synced video do).

Each made file is annotated with `--faces all`; in every window the row with `speaking` true
(else the highest `speaking_score`) should be the speaker's side (face box centre left or
right of the middle). Reported per condition: windows where one person speaks, how often the
speaker is chosen, and how often its `speaking` flag is set. The media are made from the
clips in memory each time (no file of them is kept outside the temporary folder).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CLIPS = REPO_ROOT.parent / "shared" / "data" / "ravdess" / "Actor_05"
FPS = 30
RATE = 44100  # Hz, audio of the made files
SIDE = (640, 360)  # px, each person's half of the frame
TURN_S = 3.6  # one window
ONSET_DB = -35.0  # dB under the clip's loudest 10 ms that counts as its voice starting
CONDITIONS = ("listening", "mouthing")


@dataclass
class Clip:
    name: str
    frames: np.ndarray  # (T, 360, 640, 3) uint8 at FPS
    audio: np.ndarray  # (n,) float32 mono at RATE
    onset_s: float  # when its voice starts

    def lead_in(self) -> np.ndarray:
        """Frames before the voice starts (at least 6), for a listener."""
        return self.frames[:max(6, int((self.onset_s - 0.1) * FPS))]


def load_clip(path: Path) -> Clip:
    """A clip's frames resized to SIDE at FPS (nearest frame by time), mono audio at RATE, voice onset."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        decoded = [(float(f.time), f.to_ndarray(format="rgb24")) for f in c.decode(vs)]
    with av.open(str(path)) as c:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        chunks = [r.to_ndarray().reshape(-1) for f in c.decode(c.streams.audio[0]) for r in resampler.resample(f)]
    audio = np.concatenate(chunks).astype(np.float32)
    times = np.array([t for t, _ in decoded]) - decoded[0][0]
    n = int(times[-1] * FPS) + 1
    idx = np.searchsorted(times, np.arange(n) / FPS, side="right") - 1
    frames = np.stack([np.asarray(Image.fromarray(decoded[max(0, i)][1]).resize(SIDE, Image.BILINEAR))
                       for i in idx])
    hop = RATE // 100
    rms = np.sqrt(np.mean(audio[:len(audio) // hop * hop].reshape(-1, hop).astype(np.float64) ** 2, axis=1))
    db = 20 * np.log10(np.maximum(rms, 1e-9) / max(rms.max(), 1e-9))
    onset = float(np.argmax(db > ONSET_DB) * hop / RATE)
    return Clip(path.name, frames, audio, onset)


def fill(frames: np.ndarray, n: int, *, bounce: bool) -> np.ndarray:
    """`frames` (T, ...) to exactly n: played forwards and backwards (`bounce`), or the last held."""
    if bounce:
        order = np.concatenate([np.arange(len(frames)), np.arange(len(frames) - 2, 0, -1)])
        return frames[np.resize(order, n)]
    idx = np.minimum(np.arange(n), len(frames) - 1)
    return frames[idx]


def make_media(clips: list[Clip], turns: int, condition: str, out: Path, seed: int = 0) -> list[str]:
    """Write a two-person file of `turns` windows to `out`; return the speaker's side per turn."""
    rng = np.random.default_rng(seed)
    sides = ["left" if k % 2 == 0 else "right" for k in range(turns)]
    rng.shuffle(sides)
    per_turn = round(TURN_S * FPS)
    n_audio = round(TURN_S * RATE)
    with av.open(str(out), "w") as container:
        vs = container.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = SIDE[0] * 2, SIDE[1], "yuv420p"
        vs.options = {"preset": "veryfast", "crf": "20"}
        aus = container.add_stream("aac", rate=RATE, layout="mono")
        a_pos = 0
        for k, side in enumerate(sides):
            talker = clips[int(rng.integers(len(clips)))]
            other = clips[int(rng.integers(len(clips)))]
            speak = fill(talker.frames, per_turn, bounce=False)
            listen = (fill(other.lead_in(), per_turn, bounce=True) if condition == "listening"
                      else fill(other.frames, per_turn, bounce=False))
            voice = np.zeros(n_audio, np.float32)
            voice[:min(n_audio, talker.audio.size)] = talker.audio[:n_audio]
            for i in range(per_turn):
                pair = (speak[i], listen[i]) if side == "left" else (listen[i], speak[i])
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.concatenate(pair, axis=1)), format="rgb24")
                vf.pts, vf.time_base = k * per_turn + i, Fraction(1, FPS)
                container.mux(vs.encode(vf))
                t_end = (k * per_turn + i + 1) / FPS
                while a_pos < round(t_end * RATE):
                    start = a_pos - k * n_audio
                    chunk = voice[start:start + 1024] if 0 <= start < n_audio else np.zeros(0, np.float32)
                    if chunk.size == 0:
                        break
                    af = av.AudioFrame.from_ndarray(chunk[None].copy(), format="flt", layout="mono")
                    af.sample_rate, af.pts, af.time_base = RATE, a_pos, Fraction(1, RATE)
                    container.mux(aus.encode(af))
                    a_pos += chunk.size
        container.mux(vs.encode())
        container.mux(aus.encode())
    return sides


def score(rows: list[dict], sides: list[str], width: int = SIDE[0] * 2) -> dict:
    """Per window, whether the chosen speaker (speaking true, else the top speaking_score) is on the
    right side; and whether the speaker's `speaking` flag is set."""
    by_window: dict[int, list[dict]] = {}
    for r in rows:
        by_window.setdefault(int(r["window"]), []).append(r)
    right = flagged = two_faces = 0
    for w, side in enumerate(sides):
        people = [r for r in by_window.get(w, []) if r.get("face_x1") is not None]
        two_faces += len(people) >= 2
        if not people:
            continue
        chosen = max(people, key=lambda r: (bool(r["speaking"]), r["speaking_score"] or -1e9))
        centre = (chosen["face_x1"] + chosen["face_x2"]) / 2
        right += ("left" if centre < width / 2 else "right") == side
        flagged += bool(chosen["speaking"]) and ("left" if centre < width / 2 else "right") == side
    n = len(sides)
    return {"windows": n, "two_faces_found": two_faces, "speaker_chosen": right, "speaker_chosen_pct": 100 * right / n,
            "speaking_flag_on_speaker": flagged, "speaking_flag_pct": 100 * flagged / n}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=Path, default=DEFAULT_CLIPS, help="folder of RAVDESS audio-video clips (.mp4)")
    p.add_argument("--turns", type=int, default=40, help="windows per made file (default 40)")
    p.add_argument("--conditions", default=",".join(CONDITIONS), help="listening, mouthing (default both)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="passed to annotate")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)

    import emoannotate

    paths = sorted(args.clips.glob("*.mp4"))
    if len(paths) < 2:
        sys.exit(f"{args.clips}: needs at least 2 .mp4 clips (RAVDESS Actor 05, see ../shared/data/README.md)")
    clips = [load_clip(x) for x in paths]
    report: dict = {"clips": [c.name for c in clips], "turns": args.turns, "seed": args.seed, "conditions": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for condition in args.conditions.split(","):
            media = Path(tmp) / f"two_people_{condition}.mp4"
            sides = make_media(clips, args.turns, condition, media, seed=args.seed)
            t0 = time.perf_counter()
            results = emoannotate.annotate(media, faces="all", workers=args.workers)
            figures = score(results.records(), sides)
            figures["seconds"] = round(time.perf_counter() - t0, 1)
            report["conditions"][condition] = figures
            print(f"{condition:10s} windows {figures['windows']:3d}  two faces found {figures['two_faces_found']:3d}  "
                  f"speaker chosen {figures['speaker_chosen']:3d} ({figures['speaker_chosen_pct']:.1f}%)  "
                  f"its speaking flag {figures['speaking_flag_on_speaker']:3d} ({figures['speaking_flag_pct']:.1f}%)"
                  f"  [{figures['seconds']} s]", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
