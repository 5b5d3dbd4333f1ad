"""What each person of a file showed: share of each emotion, speaking time, face-voice disagreement."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from .records import WindowResult
from .segments import people


@dataclass(frozen=True)
class PersonSummary:
    """One person's windows in one file. Times in seconds; shares in [0, 1], most frequent first."""

    person: int | None  # None: windows without a face
    windows: int  # windows with a prediction
    speaking_s: float  # duration of the windows in which the person speaks
    shares: dict[str, float]  # emotion -> share of the person's windows
    compared: int  # windows with both a face and a voice reading
    disagreement: float  # share of those in which face and voice name different emotions (0 without any)


def person_summaries(rows: Sequence[WindowResult]) -> list[PersonSummary]:
    """A PersonSummary per person of one file's rows (None, for rows without a face, first)."""
    out = []
    for person in people(rows):
        own = [r for r in rows if r.person == person and r.emotion is not None]
        counts = Counter(r.emotion for r in own)
        agree = [r.agreement for r in own if r.agreement is not None]
        out.append(PersonSummary(
            person=person, windows=len(own),
            speaking_s=sum(r.end_s - r.start_s for r in own if r.speaking),
            shares={str(e): n / len(own) for e, n in counts.most_common()},
            compared=len(agree), disagreement=(sum(not a for a in agree) / len(agree)) if agree else 0.0))
    return out
