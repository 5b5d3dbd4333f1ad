"""muxspace/facial_expressions: 13,690 labelled photographs, most of them news photos of named people.

Read from a user's clone of the public GitHub repository (research use; never shipped or
committed). Labels are crowd-sourced and noisy, and mostly neutral or happiness: useful to
teach and calibrate the model on ordinary, unacted faces.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

from ..errors import DatasetError
from ._common import LABEL_ALIASES, MUXSPACE, NEUTRAL, Sample, _none_found

_PERSON_RE = re.compile(r"^(.+)_\d{4}$")  # Labeled-Faces-in-the-Wild names: First_Last_0001


def _muxspace(root: Path, files: list[Path], neutral: str | None) -> list[Sample]:
    """`data/legend.csv` (user.id, image, emotion) and the photos in `images/` below `root`.

    The person is the photo's name without its number (`Tiger_Woods_0003.jpg` ->
    "muxspace:Tiger_Woods"), so splits keep each person on one side. Photos without a
    person in their name (`facial-expressions_*.jpg`, about 900) are skipped, as are the
    labels that are not one of the 7 (contempt) and photos listed twice after the first.
    """
    legends = [p for p in files if p.name == "legend.csv"]
    if not legends:
        raise DatasetError(f"no data/legend.csv under {root}: point at a clone of muxspace/facial_expressions")
    by_name = {p.name: p for p in files if p.suffix.lower() in (".jpg", ".jpeg", ".png")}
    skipped: Counter[str] = Counter()
    samples: dict[str, Sample] = {}
    with open(legends[0], newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            name, word = (row.get("image") or "").strip(), (row.get("emotion") or "").strip().lower()
            person = _PERSON_RE.match(Path(name).stem)
            label = LABEL_ALIASES.get(word)
            if person is None:
                skipped["no person in the name"] += 1
            elif label is None:
                skipped[f"label {word}"] += 1
            elif name not in by_name:
                skipped["missing photo"] += 1
            elif name in samples:
                skipped["listed twice"] += 1
            elif label == NEUTRAL and neutral is None:
                skipped["neutral"] += 1
            else:
                samples[name] = Sample(id=Path(name).stem, dataset=MUXSPACE,
                                       label=neutral if label == NEUTRAL else label,  # type: ignore[arg-type]
                                       speaker=f"{MUXSPACE}:{person.group(1)}", image=by_name[name])
    if not samples:
        raise _none_found("muxspace photographs", root, "data/legend.csv and images/<name>.jpg", skipped)
    return list(samples.values())
