"""FER2013 (Goodfellow et al. 2013): 35,887 48x48 grayscale faces of thousands of people, 7 classes.

Read from a user's copy laid out as image folders, as the public GitHub copy
`RecepTahirGunlu/Duygu-Tanima` holds it; never shipped or committed (no explicit licence;
research use).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from ._common import FER2013, LABEL_ALIASES, NEUTRAL, Sample, _none_found

_NAME_RE = re.compile(r"^(Training|PublicTest|PrivateTest)_(\d+)$")
USAGES = ("Training", "PublicTest", "PrivateTest")  # FER2013's own three parts


def _fer2013(root: Path, files: list[Path], neutral: str | None) -> list[Sample]:
    """`<emotion>/<Usage>_<id>.jpg` anywhere below `root` (usually {train,validation,test}/<emotion>/).

    Emotion folders: angry, disgust, fear, happy, neutral, sad, surprise (any alias of
    LABEL_ALIASES). Augmented copies (`Training_1.jpg0.jpg`, ...) are skipped. FER2013 has no
    person ids: each image is its own `speaker`, "fer2013:<Usage>-<id>", so a split by
    speaker is a split by image (the same person may be in two images), and `subset` is the
    Usage: the mini-Xception backbone was trained on Training, which it has memorised, so
    train a head on PublicTest and test on PrivateTest (the corpus's standard held-out part).
    """
    skipped: Counter[str] = Counter()
    samples = []
    for path in files:
        if path.suffix.lower() != ".jpg":
            continue
        match = _NAME_RE.match(path.stem)
        if match is None:
            skipped["augmented or other file" if ".jpg" in path.stem else "other file"] += 1
            continue
        label = LABEL_ALIASES.get(path.parent.name.lower())
        if label is None:
            skipped["unknown emotion folder"] += 1
            continue
        if label == NEUTRAL:
            if neutral is None:
                skipped["neutral"] += 1
                continue
            label = neutral
        usage, number = match.groups()
        samples.append(Sample(id=f"{usage}_{number}", dataset=FER2013, label=label,
                              speaker=f"{FER2013}:{usage}-{number}", image=path, cropped=True, subset=usage))
    ids = Counter(s.id for s in samples)
    twice = {i for i, n in ids.items() if n > 1}  # the same image filed under two emotions: label unknown
    skipped["under two emotions"] += sum(ids[i] for i in twice)
    samples = [s for s in samples if s.id not in twice]
    if not samples:
        raise _none_found("FER2013 images", root, "<emotion>/{Training,PublicTest,PrivateTest}_<id>.jpg, e.g. "
                          "test/happy/PrivateTest_10131363.jpg", skipped)
    return samples
