"""The Face Research Lab London Set (DeBruine & Jones 2017, CC BY 4.0): 102 adults, neutral and smiling."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from ._common import LONDON_FACES, Sample, _none_found

_NAME_RE = re.compile(r"^(\d{3})_(\d\d)$")
_FOLDER_LABELS = {"neutral": None, "smiling": "happiness"}  # None: the `neutral` option decides


def _london(root: Path, files: list[Path], neutral: str | None) -> list[Sample]:
    """`neutral/NNN_03.jpg` and `smiling/NNN_08.jpg` below `root`; NNN is the person (`london-faces:NNN`).

    Frontal studio photographs, one per person and expression: neutral (kept under the
    label `neutral` names, e.g. "calm"; dropped when it is None) and smiling (happiness).
    """
    skipped: Counter[str] = Counter()
    samples = []
    for path in files:
        match = _NAME_RE.match(path.stem)
        kind = path.parent.name.lower()
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png") or match is None or kind not in _FOLDER_LABELS:
            continue
        label = _FOLDER_LABELS[kind] or neutral
        if label is None:
            skipped["neutral"] += 1
            continue
        person = match.group(1)
        samples.append(Sample(id=f"{kind}/{path.stem}", dataset=LONDON_FACES, label=label,
                              speaker=f"{LONDON_FACES}:{person}", image=path))
    if not samples:
        raise _none_found("London set photographs", root, "neutral/NNN_03.jpg and smiling/NNN_08.jpg", skipped)
    return samples
