"""Files that annotation tools open: ELAN (.eaf) and Praat (TextGrid), a tier per person and reading.

Each person in a file gets three tiers: the fused emotion ("person 1"), what the face alone
says ("person 1 face") and what the voice alone says ("person 1 voice"); windows without a
face (voice only) go to the tiers "no face" and "no face voice". With `segments`, an
annotation is a segment (a person's consecutive windows with one emotion, `segments.merge`),
otherwise one per window. Annotations on one tier never overlap (with a hop under 3.6 s an
annotation starts where the one before it ends), as both tools require. The EAF links the
annotated media. Both are written by pympi-ling, which reads them back too.
"""

from __future__ import annotations

import mimetypes
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .records import FileResult, WindowResult
from .segments import READINGS, Segment, merge, people, reading_of
from .writers import ResultWriter

CONFIDENCE_DECIMALS = 2  # "anger 0.82"


def tier_name(person: int | None, reading: str) -> str:
    """"person 2", "person 2 face", "person 2 voice"; "no face" ... for rows without a face."""
    base = f"person {person}" if person is not None else "no face"
    return base if reading == "emotion" else f"{base} {reading}"


def tier_annotations(result: FileResult, *, segments: bool) -> Iterator[tuple[str, float, float, str]]:
    """(tier, start s, end s, text) for every annotation of one input, tier by tier, in time order,
    never overlapping within a tier. Text: "anger 0.82"."""
    rows = [r for r in result.windows if r.emotion is not None]
    for person in people(rows):
        own = [r for r in rows if r.person == person]
        for reading in READINGS:
            if person is None and reading == "face":
                continue  # rows without a face have no face reading
            items: list[Segment | WindowResult] = list(merge(own, reading)) if segments else list(own)
            last_end = 0.0
            for item in items:
                emotion: str | None
                confidence: float | None
                if isinstance(item, Segment):
                    emotion, confidence = item.emotion, item.confidence
                else:
                    emotion, confidence = reading_of(item, reading)
                if emotion is None:
                    continue
                start = max(item.start_s, last_end)
                if item.end_s - start < 1e-3:
                    continue
                last_end = item.end_s
                text = emotion if confidence is None else f"{emotion} {confidence:.{CONFIDENCE_DECIMALS}f}"
                yield tier_name(person, reading), start, item.end_s, text


def _duration(result: FileResult) -> float:
    ends = [r.end_s for r in result.windows]
    info = result.info.duration_s if result.info is not None else 0.0
    return max([info, *ends, 0.001])


class EafWriter(ResultWriter):
    """One ELAN annotation document (.eaf) per input, linked to its media."""

    format = "eaf"
    extension = ".eaf"
    per_file = True

    def format_file(self, result: FileResult) -> str:
        from pympi import Elan

        eaf = Elan.Eaf(author="emoannotate")
        eaf.remove_tier("default")
        media = result.job.path
        if result.job.arrays is None:
            mime = mimetypes.guess_type(media.name)[0] or "video/mp4"
            uri = result.job.url if result.job.url is not None else media.resolve().as_uri()
            eaf.add_linked_file(uri, relpath=media.name, mimetype=mime)
        for tier, start, end, text in tier_annotations(result, segments=self.segments):
            if tier not in eaf.tiers:
                eaf.add_tier(tier)
            eaf.add_annotation(tier, round(start * 1000), round(end * 1000), text)
        return str(Elan.to_string(eaf))


class TextGridWriter(ResultWriter):
    """One Praat TextGrid per input: an interval tier per person and reading."""

    format = "textgrid"
    extension = ".TextGrid"
    per_file = True

    def format_file(self, result: FileResult) -> str:
        from pympi import Praat

        grid = Praat.TextGrid(xmax=_duration(result))
        tiers: dict[str, Praat.Tier] = {}
        for tier, start, end, text in tier_annotations(result, segments=self.segments):
            if tier not in tiers:
                tiers[tier] = grid.add_tier(tier)
            tiers[tier].add_interval(start, end, text)
        with tempfile.TemporaryDirectory() as tmp:  # pympi writes TextGrids to a path only
            path = Path(tmp) / "out.TextGrid"
            grid.to_file(str(path), codec="utf-8")
            return path.read_text(encoding="utf-8")
