"""RML (Ryerson Multimedia Lab): sN/[<language>/]<code><n>.avi."""

from __future__ import annotations

import re
from pathlib import Path

from ._common import (
    EMOTION_CODES,
    LABEL_ALIASES,
    RML,
    Sample,
    _Clip,
    _clip_reader,
    _load_folder,
    _Reading,
    _subject_folder,
)

_RML_FILE_RE = re.compile(  # longest words first so "sad1" is not read as "sa" + "d1"
    r"^(happiness|surprise|sadness|disgust|anger|angry|happy|fear|sad|an|di|fe|ha|sa|su)"
    r"(?![a-z])",
    re.IGNORECASE,
)


def load_rml(root: str | Path, *, neutral: str | None = None) -> list[Sample]:
    """RML (Ryerson Multimedia Lab) clips below `root`: `sN/.../<code><n>.avi`.

    Assumed layout, from the copies in circulation: 720 .avi clips of 8 subjects in folders
    `s1`..`s8` (sometimes under `rml-1/` holding s1-s5 and `rml-2/` holding s6-s8), with
    per-language sub-folders for subjects who spoke more than one language; the clip's file
    name starts with its emotion code, e.g. `an1.avi`, `su12.avi` (full words such as
    `anger3.avi` or `sad_2.avi` are accepted too). The emotion is read only from the file
    name, never from folders; files that do not start with a code are skipped. Speaker =
    subject folder ("rml:01"); ids are paths below `root` (language folders repeat names).
    A .wav beside an .avi of the same name is used as its audio. The corpus has no neutral.
    """
    return _load_folder(_rml, root, neutral)


def _parse_rml(path: Path, kind: str, match: re.Match[str], reading: _Reading) -> _Clip | None:
    subject = _subject_folder(reading.folders(path))
    if subject is None:
        return None
    word = match.group(1).lower()
    label = EMOTION_CODES.get(word) or LABEL_ALIASES[word]
    return _Clip({"label": label, "speaker": f"rml:{int(subject[1]):02d}"})


_rml = _clip_reader(
    RML, _parse_rml, pattern=_RML_FILE_RE, what="RML clips",
    expected="subject folders s1..s8 holding clips named by emotion code, e.g. s1/an1.avi (codes an di fe ha sa su)",
)
