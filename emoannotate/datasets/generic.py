"""The user's own recordings: a path,label[,speaker] CSV, or <emotion>/ or <speaker>/<emotion>/ folders."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from ..constants import AUDIO_EXTENSIONS, EMOTIONS, VIDEO_EXTENSIONS
from ..errors import DatasetError
from ._common import (
    GENERIC,
    LABEL_ALIASES,
    NEUTRAL,
    UNKNOWN_SPEAKER,
    Sample,
    _check_neutral,
    _Clip,
    _finish,
    _folders,
    _load_folder,
    _media_kind,
    _preview,
    _read_clips,
    _Reading,
    _window_audio,
)


def load_generic(path: str | Path, *, neutral: str | None = None) -> list[Sample]:
    """The user's own recordings: a CSV file, or a folder with one sub-folder per emotion.

    CSV: UTF-8, comma-separated, a header row with `path` and `label` and optionally
    `speaker` (other columns are ignored). Paths are relative to the CSV's folder (absolute
    ones are kept) and must exist. A path is a video or an audio file by its extension, or
    a window folder (with `faces/` and/or `audio.wav`, as in ravdess-windows). Labels are
    EMOTIONS or an alias (happy, sad, angry, fearful, disgusted, surprised, joy, afraid;
    any case); `neutral` rows are dropped unless `neutral` names a label. An unknown label
    or a missing file raises DatasetError with the CSV's name and line. An empty speaker
    cell is "unknown". ids are the paths as written.

    Folder: `<emotion>/**/<media>` (speaker "generic:unknown"), or, when no top-level
    folder is an emotion, `<speaker>/<emotion>/**/<media>`. Folder names follow the CSV's
    label rules; an unknown one raises DatasetError. Video and audio files with one name
    in one folder form one sample. Speakers are "generic:<name>"; with every speaker
    "unknown" only `random_split` can split the samples.
    """
    neutral = _check_neutral(neutral)
    path = Path(path).expanduser()
    if path.is_file():
        samples = _generic_csv(path, neutral)
        return _finish(samples, path)
    return _load_folder(_generic_folder, path, neutral)


def _generic_folder(root: Path, files: list[Path], neutral: str | None) -> list[Sample]:
    media = [(p, _folders(root, p)[1:]) for p in files if _media_kind(p)]
    media = [(p, folders) for p, folders in media if folders]  # files in root are ignored
    top = sorted({folders[0] for _, folders in media})
    by_speaker = not any(name.lower() in LABEL_ALIASES for name in top)
    level = 1 if by_speaker else 0
    unknown = sorted({
        folders[level] for _, folders in media
        if len(folders) > level and folders[level].lower() not in LABEL_ALIASES
    })
    if unknown:
        raise DatasetError(
            f"{root}: folders {_preview(unknown)} are not emotions; expected "
            f"{'<speaker>/' if by_speaker else ''}<emotion>/ folders named "
            f"{', '.join(LABEL_ALIASES)}"
        )

    def parse(path: Path, kind: str, match: re.Match[str] | None, reading: _Reading) -> _Clip | None:
        folders = _folders(root, path)[1:]
        if len(folders) <= level:
            return None  # a file in root, or directly in a speaker folder
        label: str | None = LABEL_ALIASES[folders[level].lower()]
        if label == NEUTRAL:
            label = neutral
        if label is None:
            return None
        speaker = folders[0] if by_speaker else UNKNOWN_SPEAKER
        return _Clip({"label": label, "speaker": f"generic:{speaker}"})

    return _read_clips(
        GENERIC, root, files, neutral, parse=parse, what="labelled media",
        expected="<emotion>/<file> or <speaker>/<emotion>/<file> with emotion folders named "
        f"{', '.join(LABEL_ALIASES)}",
    )


def _generic_csv(path: Path, neutral: str | None) -> list[Sample]:
    if path.suffix.lower() != ".csv":
        raise DatasetError(f"{path} is a file but not a .csv: give a CSV or a folder")
    base = path.parent
    samples: list[Sample] = []
    seen: dict[str, int] = {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {(c or "").strip().lower(): c for c in reader.fieldnames or []}
        missing = [c for c in ("path", "label") if c not in columns]
        if missing:
            raise DatasetError(
                f"{path}: the header row lacks {', '.join(missing)}; expected columns "
                f"path,label[,speaker], found {', '.join(columns) or 'nothing'}"
            )
        for row in reader:
            line = reader.line_num
            raw_path, raw_label, speaker = (
                (row.get(columns[c]) or "").strip() if c in columns else ""
                for c in ("path", "label", "speaker")
            )
            if not raw_path and not raw_label:
                continue  # blank line
            label = LABEL_ALIASES.get(raw_label.lower())
            if label is None:
                raise DatasetError(
                    f"{path}, line {line}: unknown label {raw_label!r}; expected one of "
                    f"{', '.join(EMOTIONS)} or an alias: "
                    f"{', '.join(a for a in LABEL_ALIASES if a not in EMOTIONS)}"
                )
            if label == NEUTRAL:
                if neutral is None:
                    continue
                label = neutral
            if not raw_path:
                raise DatasetError(f"{path}, line {line}: empty path")
            media = Path(raw_path).expanduser()
            media = media if media.is_absolute() else base / media
            if raw_path in seen:
                raise DatasetError(
                    f"{path}, line {line}: {raw_path} is already on line {seen[raw_path]}"
                )
            seen[raw_path] = line
            fields = _generic_media(media)
            if fields is None:
                raise DatasetError(
                    f"{path}, line {line}: {media} is not a video or audio file "
                    f"({', '.join(VIDEO_EXTENSIONS + AUDIO_EXTENSIONS)}) or a window folder"
                    if media.exists() else f"{path}, line {line}: file not found: {media}"
                )
            samples.append(Sample(
                id=Path(raw_path).as_posix(), dataset=GENERIC, label=label,
                speaker=f"generic:{speaker or UNKNOWN_SPEAKER}", video=fields.get("video"),
                audio=fields.get("audio"), faces_dir=fields.get("faces_dir"),
            ))
    if not samples:
        raise DatasetError(f"{path} lists no usable rows: expected path,label[,speaker] rows")
    return samples


def _generic_media(path: Path) -> dict[str, Path | None] | None:
    """The Sample fields for one CSV path, or None when it is not media."""
    if path.is_dir():
        faces = path / "faces" if (path / "faces").is_dir() else None
        audio = _window_audio(path)
        return {"faces_dir": faces, "audio": audio} if faces or audio else None
    kind = _media_kind(path) if path.is_file() else None
    return {kind: path} if kind else None
