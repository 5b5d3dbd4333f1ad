"""What does the fused path say when face and voice disagree? (issue: confidence that means what it says)

    python scripts/disagreement_check.py [--model default] [--split model|validation] [DATA ...]

The fusion is trained on faces paired with voices of their own label; real recordings also have a face
and a voice that say different things. On held-out people (the checkpoint's test or validation people
of the recipe's corpora, DATA as `emoannotate evaluate -d` takes it; default: the recipe's six), each
face-only window is paired with a held-out voice of another label (the k-th face of a label with the
k-th voice of the next label present), and read on the three paths. Prints how often the fused answer
is the face's label, the voice's, or neither; how often it sides with the less sure of the two single
paths; and its mean confidence against theirs, beside the same figures for pairs that agree.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from emoannotate.device import resolve_device
from emoannotate.registry import load_model
from emoannotate.training.batch import TrainItem, calibrated_probs, pair_items
from emoannotate.training.commands import load_samples, sample_items

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PHOTOS = Path.home() / ".cache" / "emoannotate-data"
RECIPE = [f"ravdess:{SHARED / 'ravdess-audio'}", f"ravdess-windows:{SHARED / 'ravdess' / 'windows'}",
          f"london-faces:{SHARED / 'london-faces'}", f"fer2013:{PHOTOS / 'fer2013' / 'validation'}",
          f"fer2013:{PHOTOS / 'fer2013' / 'test'}", f"muxspace:{PHOTOS / 'muxspace'}"]


def disagreeing_pairs(faces: list[TrainItem], voices: list[TrainItem]) -> tuple[list[TrainItem], np.ndarray]:
    """Each face with a voice of the next label present (cyclically; `pair_items` with the faces relabelled):
    the pairs carry the voice's label, the faces' own labels come apart."""
    labels = sorted({v.label for v in voices if v.has_audio and not v.has_video})
    shifted, face_labels = [], []
    for f in faces:
        other = [b for b in labels if b != f.label]
        if other:
            shifted.append(replace(f, label=next((b for b in other if b > f.label), other[0])))
            face_labels.append(f.label)
    return pair_items(shifted, voices), np.array(face_labels)


def describe(model, pairs: list[TrainItem], face_labels: np.ndarray, device) -> dict:
    fused = calibrated_probs(model, pairs, device, "bimodal")
    face = calibrated_probs(model, pairs, device, "video")
    voice = calibrated_probs(model, pairs, device, "audio")
    voice_labels = np.array([it.label for it in pairs])
    f, fa, va = fused.argmax(1), face.argmax(1), voice.argmax(1)
    face_sure = face.max(1) >= voice.max(1)
    product = (face * voice).argmax(1)
    split = fa != va
    return {"pairs": len(pairs),
            "fused = face's label": round(float(np.mean(f == face_labels)), 3),
            "fused = voice's label": round(float(np.mean(f == voice_labels)), 3),
            "where the paths differ, fused sides with the less sure": round(float(np.mean(
                np.where(face_sure, f == va, f == fa)[split])), 3) if split.any() else None,
            "fused = product of the paths": round(float(np.mean(f == product)), 3),
            "mean confidence fused / face / voice": [round(float(p.max(1).mean()), 3) for p in (fused, face, voice)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="*", default=RECIPE)
    ap.add_argument("--model", default="default")
    ap.add_argument("--split", choices=("model", "validation"), default="model")
    ap.add_argument("-j", "--workers", type=int, default=2)
    args = ap.parse_args()
    device = resolve_device("cpu")
    net, meta = load_model(args.model, device=device)
    split = meta.info.get("split", {})
    people = set(split.get("test_speakers" if args.split == "model" else "val_speakers", []))
    samples = [s for s in load_samples(args.data, meta.info.get("neutral")) if s.speaker in people]
    items, = sample_items(net, net.config.backbone, [samples], None, args.workers, device)
    faces = [it for it in items if it.has_video and not it.has_audio]
    voices = [it for it in items if it.has_audio and not it.has_video]
    agree = pair_items(faces, voices)
    print(f"{args.split} people, face and voice agree:",
          describe(net, agree, np.array([it.label for it in agree]), device))
    print(f"{args.split} people, face and voice disagree:", describe(net, *disagreeing_pairs(faces, voices), device))

if __name__ == "__main__":
    main()
