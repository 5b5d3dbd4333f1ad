"""How sure is a model on ordinary, unacted recordings? (issue: confidence that means what it says)

    python scripts/unacted_check.py [--model default] [--audio DIR] [--photos MUXSPACE_DIR] [--videos DIR] [--json OUT]

No labels are needed: on ordinary talk and ordinary faces a model that says one emotion at 0.99,
or anything but calm for most windows, is wrong whatever the truth. Three paths, all through
`emoannotate.annotate` (the run path):

- voice only: every .wav/.flac in --audio (default: the meeting recordings of pyannote-audio,
  `tests/data/*.wav` and `tutorials/assets/sample.wav`, copied to ~/.cache/emoannotate-data/unacted/);
- face only: the held-out people of muxspace (news photos, not acted), each as 3.6 s of video
  (the photo repeated at 10 fps), at most --n-photos of them;
- fused: each of those photos with the next 3.6 s of meeting audio (different people: a check of
  the fused path's confidence, not of its accuracy);
- real video (--videos, when the folder exists): people speaking to camera, face and voice of the same
  person, each window read on all three paths (the row's fused answer, its face-only and voice-only
  answers). The default folder holds 7 clips of people speaking to camera, 5-8 s each: two US
  politicians' weekly addresses (HDTF clips that the public repository OpenTalker/SadTalker keeps as
  `examples/ref_video/WDA_*.mp4`) and the 5 of OpenTalker/video-retalking's `examples/face/*.mp4` (a
  presenter, two US politicians, a newsreader, an EU commissioner); its sibling `dev/` 4 more addresses
  (SadTalker's `test/examples/source_image/*.mp4` at its commit 68651eb), for trying designs on.

Prints, per path: windows, mean confidence, and the share of windows per emotion.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from emoannotate import MediaArrays, annotate
from emoannotate.checkpoint import read_meta
from emoannotate.constants import SAMPLE_RATE, WINDOW_SECONDS
from emoannotate.datasets import load_dataset
from emoannotate.registry import resolve

CACHE = Path.home() / ".cache" / "emoannotate-data"


def summary(rows, path: str = "") -> dict:
    """Windows, mean confidence and share per emotion of one path ("": the row's answer; "face", "voice")."""
    rows = [r for r in rows if r.status in ("ok", "no_audio", "no_face")]
    answers = [(getattr(r, f"{path}_emotion"), getattr(r, f"{path}_confidence")) if path else (r.emotion, r.confidence)
               for r in rows]
    answers = [a for a in answers if a[0] is not None]
    counts = Counter(e for e, _ in answers)
    return {"windows": len(answers),
            "mean_confidence": round(float(np.mean([c for _, c in answers])), 3) if answers else None,
            "share": {e: round(n / len(answers), 3) for e, n in counts.most_common()} if answers else {}}


def held_out_photos(model: str, muxspace: Path, n: int) -> list[Path]:
    meta = read_meta(resolve(model))
    test = set(meta.info.get("split", {}).get("test_speakers", []))
    photos = [s.image for s in load_dataset(f"muxspace:{muxspace}", neutral="calm") if s.speaker in test]
    if not photos:
        raise SystemExit(f"{model} records no muxspace test people: train it with the muxspace corpus")
    step = max(1, len(photos) // n)
    return [p for p in photos[::step][:n] if p is not None]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--audio", type=Path, default=CACHE / "unacted" / "test")
    ap.add_argument("--photos", type=Path, default=CACHE / "muxspace")
    ap.add_argument("--n-photos", type=int, default=150)
    ap.add_argument("--videos", type=Path, default=CACHE / "unacted" / "video" / "test")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from PIL import Image

    wavs = sorted(p for p in args.audio.iterdir() if p.suffix in (".wav", ".flac"))
    voice = annotate(wavs, args.model, workers=0)
    out = {"voice only": summary([r for f in voice for r in f.windows])}
    audio = np.concatenate([_read(p) for p in wavs])
    face, fused = [], []
    span = int(WINDOW_SECONDS * SAMPLE_RATE)
    for k, path in enumerate(held_out_photos(args.model, args.photos, args.n_photos)):
        with Image.open(path) as im:
            frame = np.asarray(im.convert("RGB"))
        frames = np.repeat(frame[None], int(WINDOW_SECONDS * 10), axis=0)
        face.append(MediaArrays(frames=frames, fps=10.0, name=path.name))
        start = (k * span) % max(1, audio.size - span)
        fused.append(MediaArrays(frames=frames, fps=10.0, audio=audio[start:start + span], sample_rate=SAMPLE_RATE,
                                 name=path.name))
    out["face only"] = summary([r for f in annotate(face, args.model, workers=0) for r in f.windows])
    out["fused"] = summary([r for f in annotate(fused, args.model, workers=0) for r in f.windows])
    out["about"] = {"audio": [p.name for p in wavs], "audio_s": round(audio.size / SAMPLE_RATE, 1),
                    "photos": len(face)}
    videos = sorted(p for p in args.videos.glob("*") if p.suffix in (".mp4", ".mkv", ".mov", ".avi")) \
        if args.videos.is_dir() else []
    if videos:
        rows = [r for f in annotate(videos, args.model, workers=0) for r in f.windows]
        both = [r for r in rows if r.face_emotion is not None and r.voice_emotion is not None]
        full = [r for r in both if not r.partial]  # a clip's last window covers only its tail
        for name, path in (("video, fused", ""), ("video, face only", "face"), ("video, voice only", "voice")):
            out[name] = summary(both, path)
            out[f"{name}, full windows"] = summary(full, path)
        out["about"]["videos"] = [p.name for p in videos]
    for name, s in out.items():
        print(f"{name}: {s}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


def _read(path: Path) -> np.ndarray:
    from emoannotate.media import read_audio

    return read_audio(path)


if __name__ == "__main__":
    main()
