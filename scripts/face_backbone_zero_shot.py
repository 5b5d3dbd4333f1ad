"""The shipped face backbone alone (FER2013 mini-Xception, never trained on RAVDESS) on RAVDESS faces.

    python scripts/face_backbone_zero_shot.py ravdess-windows:../shared/data/ravdess/windows

A speaker-independent figure for the face side: the backbone's own 7 FER2013 classes,
averaged over a window's frames, mapped to ours (neutral -> calm) and scored with the
project's metrics. Prints the paper-style table and the per-class figures.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from emoannotate.constants import EMOTIONS
from emoannotate.metrics import evaluate_probs, format_per_class, format_table
from emoannotate.model.minixception import load_minixception
from emoannotate.training.cache import cached_inputs
from emoannotate.training.commands import load_samples

FER_TO_OURS = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness", "sad": "sadness",
               "surprise": "surprise", "neutral": "calm"}


def main() -> None:
    samples = load_samples(sys.argv[1:] or ["ravdess-windows:../shared/data/ravdess/windows"])
    inputs = cached_inputs(samples, None, workers=0)  # the same window inputs `run` computes
    net = load_minixception()
    order = [EMOTIONS.index(FER_TO_OURS[name]) for name in net.labels]
    probs, targets = [], []
    with torch.no_grad():
        for s, x in zip(samples, inputs):
            if x.faces is None:
                continue
            faces = torch.from_numpy(x.faces[x.face_mask]).permute(0, 3, 1, 2).float() / 255
            fer = torch.softmax(net(faces), dim=1).mean(0).numpy()  # (7,) in FER order
            ours = np.zeros(len(EMOTIONS))
            ours[order] = fer
            probs.append(ours)
            targets.append(s.label_index)
    report = evaluate_probs(np.array(probs), np.array(targets), EMOTIONS)
    print(f"{len(probs)} windows, {len({s.speaker for s in samples})} speaker(s)")
    print(format_table({"video (FER2013 backbone alone)": report}))
    print(format_per_class(report))


if __name__ == "__main__":
    main()
