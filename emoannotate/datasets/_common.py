"""What every corpus reader shares: Sample, label tables, file grouping, checks and the folder loader."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ..constants import AUDIO_EXTENSIONS, EMOTIONS, VIDEO_EXTENSIONS
from ..discover import walk
from ..errors import DatasetError

# --- Names -------------------------------------------------------------------------------
RAVDESS, RAVDESS_WINDOWS, CREMA_D, EMODB, ENTERFACE, RML, GENERIC = (
    "ravdess", "ravdess-windows", "crema-d", "emodb", "enterface", "rml", "generic",
)
FER2013, LONDON_FACES, MUXSPACE = "fer2013", "london-faces", "muxspace"  # still photographs of faces
DATASET_NAMES = (
    RAVDESS, RAVDESS_WINDOWS, CREMA_D, EMODB, ENTERFACE, RML, GENERIC, FER2013, LONDON_FACES, MUXSPACE,
)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
UNKNOWN_SPEAKER = "unknown"

# --- Labels ------------------------------------------------------------------------------
NEUTRAL = "neutral"  # not a model label: dropped, or renamed by the `neutral` option

RAVDESS_EMOTIONS = {  # EE field of a RAVDESS file name
    "01": NEUTRAL, "02": "calm", "03": "happiness", "04": "sadness",
    "05": "anger", "06": "fear", "07": "disgust", "08": "surprise",
}
CREMA_D_EMOTIONS = {  # EEE field of a CREMA-D file name
    "ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happiness",
    "NEU": NEUTRAL, "SAD": "sadness",
}
EMODB_EMOTIONS = {  # 6th letter of an EmoDB file name (German words); L, Langeweile (boredom), has no label
    "W": "anger", "F": "happiness", "T": "sadness", "A": "fear", "E": "disgust", "N": NEUTRAL,
}
EMOTION_CODES = {  # two-letter codes of eNTERFACE'05 and RML file names
    "an": "anger", "di": "disgust", "fe": "fear", "ha": "happiness", "sa": "sadness",
    "su": "surprise",
}
# Words accepted for a label in generic CSVs and folder names (case-insensitive).
LABEL_ALIASES = {
    **{e: e for e in EMOTIONS},
    "happy": "happiness", "joy": "happiness",
    "sad": "sadness",
    "angry": "anger",
    "fearful": "fear", "afraid": "fear",
    "disgusted": "disgust",
    "surprised": "surprise",
    NEUTRAL: NEUTRAL,
}

# --- Files -------------------------------------------------------------------------------
_SUBJECT_DIR_RE = re.compile(r"^s(?:ubject)?[\s_-]*(\d+)$", re.IGNORECASE)  # eNTERFACE, RML
_LFS_HEADER = b"version https://git-lfs"  # a Git LFS pointer left by a clone without LFS
_LFS_MAX_BYTES = 1024  # pointers are ~130 bytes; media files are far larger

# Preferred file when one clip comes in several formats: earlier wins.
_VIDEO_PREFERENCE = (".mp4",) + tuple(e for e in VIDEO_EXTENSIONS if e != ".mp4")
_AUDIO_PREFERENCE = (".wav", ".flac") + tuple(
    e for e in AUDIO_EXTENSIONS if e not in (".wav", ".flac")
)


@dataclass(frozen=True)
class Sample:
    """One labelled clip of a dataset: where its face and voice are, and who speaks.

    id:        unique within `dataset` (for RAVDESS the trial id without the modality
               field, VV-EE-II-SS-RR-AA; for folder-based corpora the path below the root).
    dataset:   one of DATASET_NAMES.
    label:     one of EMOTIONS.
    speaker:   "<dataset family>:<speaker>", e.g. "ravdess:05", "crema-d:1001"; RAVDESS and
               its preprocessed windows share "ravdess:NN" because they are the same people.
    video:     an audio-video or video-only file, or None.
    audio:     an audio file, or None: then take the audio from `video` if it has any.
    faces_dir: a folder of pre-cropped 224x224 faces NN.jpg (NN = frame 00..14 of the
               window; a missing NN.jpg is a frame without a face), or None.
    image:     a still photograph of a face (FER2013, the London set, muxspace), or None;
               `extract.extract_still` makes it a window (see there how that differs from video).
    cropped:   True when `image` is already a face crop (FER2013's 48x48 faces): used whole,
               not searched by the face detector.
    intensity, statement, repetition: the corpus's own codes where it has them, else None.
    subset:    the corpus's own split where it has one (FER2013: Training, PublicTest,
               PrivateTest), else None.
    """

    id: str
    dataset: str
    label: str
    speaker: str
    video: Path | None = None
    audio: Path | None = None
    faces_dir: Path | None = None
    image: Path | None = None
    cropped: bool = False
    intensity: str | None = None
    statement: str | None = None
    repetition: str | None = None
    subset: str | None = None

    def __post_init__(self) -> None:
        if self.label not in EMOTIONS:
            raise DatasetError(
                f"sample {self.id!r} of {self.dataset}: label {self.label!r} is not one of "
                f"{', '.join(EMOTIONS)}"
            )
        if self.video is None and self.audio is None and self.faces_dir is None and self.image is None:
            raise DatasetError(f"sample {self.id!r} of {self.dataset} has no media")

    @property
    def label_index(self) -> int:
        """Index of `label` in EMOTIONS (the model's output order)."""
        return EMOTIONS.index(self.label)


# A corpus reader: (root, every file below it, neutral) -> samples, DatasetError when none.
Builder = Callable[[Path, list[Path], str | None], list[Sample]]


class _Group:
    """Candidate files of one clip per role ("video", "audio"), best one picked at the end."""

    def __init__(self) -> None:
        self.files: dict[str, list[tuple[tuple[int, int], Path]]] = defaultdict(list)

    def add(self, role: str, rank: tuple[int, tuple[str, ...]], path: Path) -> None:
        order, preference = rank
        suffix = path.suffix.lower()
        position = preference.index(suffix) if suffix in preference else len(preference)
        self.files[role].append(((order, position), path))

    def pick(self, role: str, clip: str) -> Path | None:
        candidates = sorted(self.files.get(role, []))
        if not candidates:
            return None
        if len(candidates) > 1 and candidates[0][0] == candidates[1][0]:
            raise DatasetError(
                f"clip {clip} has two {role} files of the same kind: {candidates[0][1]} and "
                f"{candidates[1][1]}; is the corpus below the folder twice? Point at one copy"
            )
        return candidates[0][1]


@dataclass(frozen=True)
class _Clip:
    """What a reader makes of one media file's name: its clip and that clip's labels.

    id:     the Sample id; files with one id form one Sample. None: the file's path below
            the root without its extension (folder-based corpora, whose names repeat).
    fields: the other Sample fields (label, speaker, intensity, ...), not video/audio.
    order:  within the file's role, lower wins before the format preference (RAVDESS's
            audio-video over video-only); files of one order and format clash.
    """

    fields: dict[str, Any]
    id: str | None = None
    order: int = 0


@dataclass
class _Reading:
    """One reader's run over a root: what a name parser needs besides the file."""

    root: Path
    neutral: str | None  # the label for neutral clips, None to drop them
    skipped: Counter[str] = field(default_factory=Counter)  # why files were not used, for errors

    def folders(self, path: Path) -> tuple[str, ...]:
        """Folder names from the root itself down to `path`'s parent (see `_folders`)."""
        return _folders(self.root, path)


def _coded_label(table: dict[str, str], code: str, reading: _Reading, unknown: str) -> str | None:
    """The label a corpus's emotion code names (neutral as `reading.neutral`), or None, the skip counted."""
    label = table.get(code)
    if label == NEUTRAL:
        label = reading.neutral
        reading.skipped["neutral"] += reading.neutral is None
    elif label is None:
        reading.skipped[unknown] += 1
    return label


# (media file, "video" or "audio", its stem's re.Match of the reader's pattern (None for a
# reader without one), the run) -> the file's clip, or None to skip the file.
_ClipParser = Callable[[Path, str, Any, _Reading], _Clip | None]


def _clip_reader(
    dataset: str, parse: _ClipParser, *, what: str, expected: str, pattern: re.Pattern[str] | None = None
) -> Builder:
    """A corpus reader (a Builder) for corpora whose file names say everything: see `_read_clips`."""
    return partial(_read_clips, dataset, parse=parse, pattern=pattern, what=what, expected=expected)


def _read_clips(
    dataset: str, root: Path, files: list[Path], neutral: str | None, *, parse: _ClipParser,
    pattern: re.Pattern[str] | None = None, what: str, expected: str,
) -> list[Sample]:
    """One Sample per clip of the media files that `parse` accepts, best file per role.

    With `pattern`, only files whose stem matches it reach `parse`. Raises DatasetError
    "no <what> found under <root>: expected <expected>" (with the skip counts) when no
    file is accepted.
    """
    reading = _Reading(root, neutral)
    groups: dict[str, _Group] = defaultdict(_Group)
    fields: dict[str, dict[str, Any]] = {}
    for path in files:
        kind = _media_kind(path)
        match = pattern.match(path.stem) if kind and pattern else None
        if kind is None or (pattern and not match):
            continue
        clip = parse(path, kind, match, reading)
        if clip is None:
            continue
        clip_id = clip.id if clip.id is not None else _relative_id(root, path)
        fields[clip_id] = clip.fields
        preference = _VIDEO_PREFERENCE if kind == "video" else _AUDIO_PREFERENCE
        groups[clip_id].add(kind, (clip.order, preference), path)
    samples = [
        Sample(id=clip_id, dataset=dataset, video=group.pick("video", clip_id),
               audio=group.pick("audio", clip_id), **fields[clip_id])
        for clip_id, group in groups.items()
    ]
    if not samples:
        raise _none_found(what, root, expected, reading.skipped)
    return samples


def _none_found(what: str, root: Path, expected: str, skipped: Counter[str]) -> DatasetError:
    return DatasetError(f"no {what} found under {root}: expected {expected}{_skipped_note(skipped)}")


def _load_folder(builder: Builder, root: str | Path, neutral: str | None) -> list[Sample]:
    """Check the options, run `builder` on every file below `root`, and finish its samples."""
    neutral = _check_neutral(neutral)
    root = _check_dir(Path(root).expanduser())
    samples = builder(root, walk(root), neutral)
    return _finish(samples, root)


def _finish(samples: list[Sample], where: Path) -> list[Sample]:
    """Check ids are unique and media are real files, and sort."""
    ids = Counter(s.id for s in samples)
    repeated = [i for i, n in ids.items() if n > 1]
    if repeated:
        raise DatasetError(f"{where}: sample ids occur twice: {_preview(sorted(repeated))}")
    media = (p for s in samples for p in (s.video, s.audio, s.image) if p is not None)
    pointers = [p for p in media if _is_lfs_pointer(p)]
    if pointers:
        raise DatasetError(
            f"{len(pointers)} media files under {where} are Git LFS pointers, not media "
            f"(e.g. {pointers[0]}); fetch them with `git lfs pull` in that clone"
        )
    return sorted(samples, key=lambda s: (s.dataset, _natural_key(s.speaker), _natural_key(s.id)))


def _check_dir(root: Path) -> Path:
    if not root.exists():
        raise DatasetError(f"dataset folder {root} does not exist")
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder")
    return root


def _check_neutral(neutral: str | None) -> str | None:
    if neutral is not None and neutral not in EMOTIONS:
        raise DatasetError(
            f"neutral={neutral!r}: give None to drop neutral clips, or one of {', '.join(EMOTIONS)}"
        )
    return neutral


def _media_kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    return "audio" if suffix in AUDIO_EXTENSIONS else None


def _window_audio(folder: Path) -> Path | None:
    """The `audio.<ext>` of a preprocessed window folder, wav first, or None."""
    candidates = (folder / f"audio{suffix}" for suffix in _AUDIO_PREFERENCE)
    return next((path for path in candidates if path.is_file()), None)


def _folders(root: Path, path: Path) -> tuple[str, ...]:
    """Folder names from `root` itself down to `path`'s parent (root's own name first)."""
    return (root.name, *path.relative_to(root).parts[:-1])


def _relative_id(root: Path, path: Path) -> str:
    """`path` below `root`, without its extension: the id of a folder-based corpus's clip."""
    return (path.parent / path.stem).relative_to(root).as_posix()


def _subject_folder(folders: Sequence[str]) -> tuple[int, str] | None:
    """(index, number) of the first subject folder ("subject 1", "s1", ...) in `folders`."""
    return next(((i, m.group(1)) for i, f in enumerate(folders) if (m := _SUBJECT_DIR_RE.match(f))), None)


def _is_lfs_pointer(path: Path) -> bool:
    try:
        if not 0 < path.stat().st_size < _LFS_MAX_BYTES:
            return False
        with open(path, "rb") as handle:
            return handle.read(len(_LFS_HEADER)) == _LFS_HEADER
    except OSError:
        return False


def _natural_key(text: str) -> tuple:
    """Sort "s2" before "s10"."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text))


def _preview(items: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" (and {len(items) - limit} more)" if len(items) > limit else "")


def _skipped_note(skipped: Counter[str]) -> str:
    if not skipped:
        return ""
    parts = ", ".join(f"{n} {why}" for why, n in sorted(skipped.items()) if n)
    hint = "; pass neutral='calm' to keep neutral clips" if skipped.get("neutral") else ""
    return f" (skipped: {parts}{hint})" if parts else ""
