"""RAVDESS, as distributed (`ravdess`) and preprocessed into one window per trial (`ravdess-windows`)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from ._common import (
    NEUTRAL,
    RAVDESS,
    RAVDESS_EMOTIONS,
    RAVDESS_WINDOWS,
    Sample,
    _Clip,
    _clip_reader,
    _load_folder,
    _media_kind,
    _none_found,
    _Reading,
    _window_audio,
)

_RAVDESS_RE = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


def load_ravdess(root: str | Path, *, neutral: str | None = None) -> list[Sample]:
    """Speech trials of RAVDESS below `root`, one Sample per trial.

    Files named `MM-VV-EE-II-SS-RR-AA.<ext>` are found anywhere below `root` (the usual
    `Actor_NN/` folders, the Zenodo zips' `Video_Speech_Actor_NN/Actor_NN/`, Kaggle's
    `Audio_Speech_Actors_01-24/Actor_NN/`); the name alone carries the labels, so folder
    names are not checked. Song (VV=02) is skipped. The modality variants of one trial
    (MM 01 audio-video, 02 video-only, 03 audio-only) become one Sample: `video` is the 01
    file (else the 02 file), `audio` the 03 file; without a 03 file `audio` is None and
    the audio comes from the 01 video (a 02 video has none). Audio in several formats:
    .wav, then .flac, is preferred. The same trial twice in one role and format (two
    copies of the corpus below `root`) raises DatasetError.

    Labels: 02 calm, 03 happiness, 04 sadness, 05 anger, 06 fear, 07 disgust, 08 surprise.
    01 neutral is dropped (as in the paper) unless `neutral` names a label to give it.
    intensity/statement/repetition keep the II/SS/RR codes ("01", "02").
    """
    return _load_folder(_ravdess, root, neutral)


def load_ravdess_windows(root: str | Path, *, neutral: str | None = None) -> list[Sample]:
    """RAVDESS trials preprocessed into one 3.6 s window each, as Chumachenko et al. left them.

    Layout: `<trial id>/faces/NN.jpg` and `<trial id>/audio.wav` anywhere below `root`
    (normally `Actor_NN/01-01-EE-II-SS-RR-AA/`). Labels, speaker and id come from the trial
    folder's name exactly as in `load_ravdess`, so the two loaders give the same ids and
    speakers; a `labels.csv` beside the folders is allowed and not needed. A trial without
    `faces/` has `faces_dir` None, one without `audio.wav` has `audio` None.
    """
    return _load_folder(_ravdess_windows, root, neutral)


def _parse_ravdess(path: Path, kind: str, match: re.Match[str], reading: _Reading) -> _Clip | None:
    trial = _trial(match, reading.neutral, reading.skipped)
    if trial is None:
        return None
    trial_id, fields = trial
    modality = match.group(1)
    if kind == "video":
        order = {"01": 0, "02": 1}.get(modality, 2)
    else:
        order = 0 if modality == "03" else 1
    return _Clip(fields, trial_id, order)


_ravdess = _clip_reader(
    RAVDESS, _parse_ravdess, pattern=_RAVDESS_RE, what="RAVDESS speech files",
    expected="Actor_NN/MM-VV-EE-II-SS-RR-AA.mp4|wav|flac with VV=01 (speech), e.g. "
    "Actor_01/03-01-05-01-01-01-01.wav",
)


def _ravdess_windows(root: Path, files: list[Path], neutral: str | None) -> list[Sample]:
    trial_dirs = set()
    for path in files:
        if path.parent.name == "faces" and _RAVDESS_RE.match(path.parent.parent.name):
            trial_dirs.add(path.parent.parent)
        elif path.stem == "audio" and _media_kind(path) == "audio":
            if _RAVDESS_RE.match(path.parent.name):
                trial_dirs.add(path.parent)
    samples: list[Sample] = []
    seen: dict[str, Path] = {}
    skipped: Counter[str] = Counter()
    for folder in sorted(trial_dirs):
        if folder != root and root not in folder.parents:
            continue  # `root` is a trial's faces/ folder: not a dataset
        match = _RAVDESS_RE.match(folder.name)
        trial = _trial(match, neutral, skipped) if match else None
        if trial is None:
            continue
        trial_id, fields = trial
        if trial_id in seen:
            raise DatasetError(f"trial {trial_id} appears twice: {seen[trial_id]} and {folder}")
        seen[trial_id] = folder
        faces = folder / "faces"
        samples.append(Sample(
            id=trial_id, dataset=RAVDESS_WINDOWS, faces_dir=faces if faces.is_dir() else None,
            audio=_window_audio(folder), **fields,
        ))
    if not samples:
        raise _none_found(
            "RAVDESS windows", root, "Actor_NN/<trial id MM-VV-EE-II-SS-RR-AA>/faces/NN.jpg and "
            ".../audio.wav with VV=01 (speech)", skipped,
        )
    return samples


def _trial(match: re.Match[str], neutral: str | None, skipped: Counter[str]) -> tuple[str, dict[str, Any]] | None:
    """(trial id VV-EE-II-SS-RR-AA, Sample fields) of a RAVDESS name, or None (and a count
    in `skipped`) when it is not used."""
    _, channel, emotion, intensity, statement, repetition, actor = match.groups()
    if channel != "01":
        skipped["song"] += 1
        return None
    label = RAVDESS_EMOTIONS.get(emotion)
    if label is None:
        skipped["unknown emotion code"] += 1
        return None
    if label == NEUTRAL:
        if neutral is None:
            skipped["neutral"] += 1
            return None
        label = neutral
    fields = {"label": label, "speaker": f"ravdess:{actor}", "intensity": intensity,
              "statement": statement, "repetition": repetition}
    return "-".join(match.groups()[1:]), fields
