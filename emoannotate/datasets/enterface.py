"""eNTERFACE'05: subject N/<emotion>/sentence M/sN_xx_M.avi, at uneven depths."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ._common import (
    EMOTION_CODES,
    ENTERFACE,
    LABEL_ALIASES,
    NEUTRAL,
    Sample,
    _Clip,
    _clip_reader,
    _load_folder,
    _Reading,
    _subject_folder,
)

logger = logging.getLogger(__name__)

_SENTENCE_DIR_RE = re.compile(r"^sentence[\s_-]*(\d+)$", re.IGNORECASE)
_ENTERFACE_FILE_RE = re.compile(r"^s[\s_-]*(\d+)[\s_-]+([a-z]{2})[\s_-]*(\d+)", re.IGNORECASE)


def load_enterface(root: str | Path, *, neutral: str | None = None) -> list[Sample]:
    """eNTERFACE'05 clips below `root`: `subject N/<emotion>/sentence M/sN_xx_M.avi`.

    Subject folders may be named "subject 1", "s1", "Subject_1"; the subject folder, not
    the file name, gives the speaker ("enterface:01"), because the distribution has
    mislabelled names (subject 11's files are named s12_..., subject 3's s_3_...). The
    emotion comes from the nearest emotion folder (anger, disgust, fear, happiness,
    sadness, surprise) and, without one, from the file code (an di fe ha sa su); when both
    exist and disagree the folder wins. Folder depth varies in the distribution (some
    emotions lack sentence folders or have an extra level), so media files are found at
    any depth below the subject. Without a subject folder, the file code's subject number
    is used. statement = the sentence number. ids are paths below `root`. `neutral` is
    accepted for symmetry; the corpus has no neutral clips.
    """
    return _load_folder(_enterface, root, neutral)


def _parse_enterface(path: Path, kind: str, match: re.Match[str] | None, reading: _Reading) -> _Clip | None:
    folders = reading.folders(path)
    code = _ENTERFACE_FILE_RE.match(path.stem)
    subject_folder = _subject_folder(folders)
    if subject_folder is None:
        if not code:
            reading.skipped["no subject folder or sN_xx_M name"] += 1
            return None
        subject_folder = (-1, code.group(1))
    subject_at, subject = subject_folder
    below = folders[subject_at + 1:]
    folder_label = next(
        (LABEL_ALIASES[f.lower()] for f in reversed(below) if f.lower() in LABEL_ALIASES), None
    )
    code_label = EMOTION_CODES.get(code.group(2).lower()) if code else None
    label = folder_label or code_label
    if folder_label and code_label and folder_label != code_label:
        logger.warning("%s: folder says %s, file name says %s; using %s",
                       path, folder_label, code_label, folder_label)
    if label == NEUTRAL:
        label = reading.neutral
    if label is None:
        reading.skipped["no emotion folder or code"] += 1
        return None
    sentence = next((m.group(1) for f in below if (m := _SENTENCE_DIR_RE.match(f))), None)
    if sentence is None and code:
        sentence = code.group(3)
    return _Clip({"label": label, "speaker": f"enterface:{int(subject):02d}", "statement": sentence})


_enterface = _clip_reader(
    ENTERFACE, _parse_enterface, what="eNTERFACE'05 clips",
    expected="'subject N/<emotion>/sentence M/sN_xx_M.avi' (emotion folders anger, disgust, "
    "fear, happiness, sadness, surprise; codes an di fe ha sa su)",
)
