"""Segments: a person's consecutive windows with one emotion merged, the unit annotation tools use.

    >>> merge(result.windows)                  # the fused emotion, per person
    >>> merge(result.windows, reading="face")  # what the face alone says

A segment runs from its first window's start to its last window's end; windows are
consecutive when their indices are (a window without that reading, e.g. no face, ends the
segment). Its confidence is the mean of its windows' confidences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .records import WindowResult

READINGS = ("emotion", "face", "voice")  # the fused emotion, the face alone, the voice alone


@dataclass(frozen=True)
class Segment:
    """Consecutive windows of one person with one emotion. Times in seconds."""

    file: str
    person: int | None
    start_s: float
    end_s: float
    emotion: str
    confidence: float  # mean over the windows
    windows: int  # how many
    first_window: int
    speaking: bool | None  # whether the person speaks in any of them (None: never known)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def reading_of(row: WindowResult, reading: str) -> tuple[str | None, float | None]:
    """(emotion, confidence) of a row for `reading` (READINGS)."""
    if reading == "emotion":
        return row.emotion, row.confidence
    if reading == "face":
        return row.face_emotion, row.face_confidence
    if reading == "voice":
        return row.voice_emotion, row.voice_confidence
    raise ValueError(f"reading must be one of {', '.join(READINGS)}, got {reading!r}")


def merge(rows: Sequence[WindowResult], reading: str = "emotion") -> list[Segment]:
    """The segments of one file's rows for `reading`, ordered by start, then person (None first)."""
    out: list[Segment] = []
    open_: dict[int | None, tuple[list[WindowResult], str]] = {}  # person -> (its open segment's rows, emotion)

    def close(person: int | None) -> None:
        if person not in open_:
            return
        seg_rows, emotion = open_.pop(person)
        confs = [reading_of(r, reading)[1] or 0.0 for r in seg_rows]
        talk = [r.speaking for r in seg_rows if r.speaking is not None]
        out.append(Segment(seg_rows[0].file, person, seg_rows[0].start_s, seg_rows[-1].end_s, emotion,
                           sum(confs) / len(confs), len(seg_rows), seg_rows[0].window, any(talk) if talk else None))

    for row in sorted(rows, key=lambda r: (r.window, r.person or 0)):
        emotion, _ = reading_of(row, reading)
        current = open_.get(row.person)
        if current is not None and (emotion != current[1] or row.window != current[0][-1].window + 1):
            close(row.person)
            current = None
        if emotion is None:
            continue
        if current is None:
            open_[row.person] = ([row], emotion)
        else:
            current[0].append(row)
    for person in list(open_):
        close(person)
    return sorted(out, key=lambda s: (s.start_s, -1 if s.person is None else s.person))


def people(rows: Sequence[WindowResult]) -> list[int | None]:
    """The persons of a file's rows, in order (None, for rows without a face, first)."""
    found = {r.person for r in rows if r.emotion is not None}
    return sorted(found, key=lambda p: -1 if p is None else p)
