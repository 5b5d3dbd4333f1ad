"""Labelled samples from emotion corpora laid out as their authors distribute them.

Each loader walks a folder, reads labels from file and folder names, and returns a sorted
list of `Sample` records; nothing is decoded here. Splits are deterministic and, except
`random_split`, speaker-independent.

Layouts (see each loader's docstring for the details a user may trip over):

    ravdess          Actor_NN/MM-VV-EE-II-SS-RR-AA.mp4|wav|flac
    ravdess-windows  Actor_NN/<trial id>/{faces/NN.jpg, audio.wav}
    crema-d          AudioWAV/AAAA_SSS_EEE_LL.wav, VideoFlash/AAAA_SSS_EEE_LL.flv
    enterface        subject N/<emotion>/sentence M/sN_xx_M.avi
    rml              sN/[<language>/]<xx><n>.avi      (xx: an di fe ha sa su)
    generic          a CSV of path,label[,speaker], or <emotion>/ or <speaker>/<emotion>/

Neutral clips: the paper excluded them, and so does every loader by default. Pass
`neutral="calm"` (or any label of EMOTIONS) to keep them under that label.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .constants import AUDIO_EXTENSIONS, EMOTIONS, VIDEO_EXTENSIONS
from .errors import DatasetError

logger = logging.getLogger(__name__)

# --- Names -------------------------------------------------------------------------------
RAVDESS, RAVDESS_WINDOWS, CREMA_D, ENTERFACE, RML, GENERIC = (
    "ravdess", "ravdess-windows", "crema-d", "enterface", "rml", "generic",
)
DATASET_NAMES = (RAVDESS, RAVDESS_WINDOWS, CREMA_D, ENTERFACE, RML, GENERIC)
_NAME_ALIASES = {"cremad": CREMA_D, "crema": CREMA_D, "enterface05": ENTERFACE}
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
CREMA_D_SPEAKERS = range(1001, 1092)  # actor ids 1001..1091
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

# --- File names --------------------------------------------------------------------------
_RAVDESS_RE = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
_CREMA_D_RE = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2})$", re.IGNORECASE)
_SUBJECT_DIR_RE = re.compile(r"^s(?:ubject)?[\s_-]*(\d+)$", re.IGNORECASE)
_SENTENCE_DIR_RE = re.compile(r"^sentence[\s_-]*(\d+)$", re.IGNORECASE)
_ENTERFACE_FILE_RE = re.compile(r"^s[\s_-]*(\d+)[\s_-]+([a-z]{2})[\s_-]*(\d+)", re.IGNORECASE)
_RML_FILE_RE = re.compile(  # longest words first so "sad1" is not read as "sa" + "d1"
    r"^(happiness|surprise|sadness|disgust|anger|angry|happy|fear|sad|an|di|fe|ha|sa|su)"
    r"(?![a-z])",
    re.IGNORECASE,
)
_SKIPPED_DIRS = ("__MACOSX",)  # macOS zip metadata: holds "._<name>" copies of every file
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
    intensity, statement, repetition: the corpus's own codes where it has them, else None.
    """

    id: str
    dataset: str
    label: str
    speaker: str
    video: Path | None = None
    audio: Path | None = None
    faces_dir: Path | None = None
    intensity: str | None = None
    statement: str | None = None
    repetition: str | None = None

    def __post_init__(self) -> None:
        if self.label not in EMOTIONS:
            raise DatasetError(
                f"sample {self.id!r} of {self.dataset}: label {self.label!r} is not one of "
                f"{', '.join(EMOTIONS)}"
            )
        if self.video is None and self.audio is None and self.faces_dir is None:
            raise DatasetError(f"sample {self.id!r} of {self.dataset} has no media")

    @property
    def label_index(self) -> int:
        """Index of `label` in EMOTIONS (the model's output order)."""
        return EMOTIONS.index(self.label)


# ========================================================================================
# Loaders
# ========================================================================================


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
    return _load_folder(RAVDESS, root, neutral)


def load_ravdess_windows(root: str | Path, *, neutral: str | None = None) -> list[Sample]:
    """RAVDESS trials preprocessed into one 3.6 s window each, as Chumachenko et al. left them.

    Layout: `<trial id>/faces/NN.jpg` and `<trial id>/audio.wav` anywhere below `root`
    (normally `Actor_NN/01-01-EE-II-SS-RR-AA/`). Labels, speaker and id come from the trial
    folder's name exactly as in `load_ravdess`, so the two loaders give the same ids and
    speakers; a `labels.csv` beside the folders is allowed and not needed. A trial without
    `faces/` has `faces_dir` None, one without `audio.wav` has `audio` None.
    """
    return _load_folder(RAVDESS_WINDOWS, root, neutral)


def load_crema_d(root: str | Path, *, neutral: str | None = None) -> list[Sample]:
    """CREMA-D clips below `root`, one Sample per clip id `AAAA_SSS_EEE_LL`.

    The distribution keeps each format in its own folder (`AudioWAV/*.wav`,
    `AudioMP3/*.mp3`, `VideoFlash/*.flv`, some copies `VideoMP4/*.mp4`); files of one
    clip id are grouped wherever they are. Preferred: .mp4 over .flv for video, .wav over
    .mp3 for audio (the maintainers report blank MP3/FLV files; the WAVs are the
    recordings). Speakers 1001-1091 ("crema-d:1001"); other ids are skipped.
    Labels: ANG anger, DIS disgust, FEA fear, HAP happiness, SAD sadness; NEU is dropped
    unless `neutral` names a label. intensity = LL (LO, MD, HI, XX; an old copy's
    `1040_ITH_SAD_X.wav` is read as XX), statement = SSS. A clone of the GitHub repository
    made without Git LFS holds pointer files instead of media: that raises DatasetError.
    """
    return _load_folder(CREMA_D, root, neutral)


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
    return _load_folder(ENTERFACE, root, neutral)


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
    return _load_folder(RML, root, neutral)


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
    return _load_folder(GENERIC, path, neutral)


def load_dataset(spec: str | Path, *, neutral: str | None = None) -> list[Sample]:
    """Samples of one dataset named by `"name:path"`, or by a path whose layout is detected.

    Names: ravdess, ravdess-windows, crema-d (or cremad), enterface, rml, generic, e.g.
    `ravdess:/data/RAVDESS`, `generic:my.csv`. A bare path is a CSV (generic) or a folder
    whose file names are tried against every corpus above, the generic emotion-folder
    layout last. A folder that fits two corpora (say RAVDESS clips beside their
    preprocessed windows) raises DatasetError asking for a name.
    """
    name, path = _parse_spec(spec)
    if name is None:
        name = detect_layout(path)
        logger.info("%s looks like %s", path, name)
    if name == GENERIC:
        return load_generic(path, neutral=neutral)
    return _load_folder(name, path, neutral)


def detect_layout(path: str | Path) -> str:
    """The dataset name whose layout `path` follows; DatasetError when none or several do."""
    path = Path(path).expanduser()
    if path.is_file():
        if path.suffix.lower() == ".csv":
            return GENERIC
        raise DatasetError(f"{path} is a file but not a CSV: give a folder or a path,label CSV")
    root = _check_dir(path)
    files = _walk(root)
    found = []
    for name in (RAVDESS, RAVDESS_WINDOWS, CREMA_D, ENTERFACE, RML):
        try:
            if _BUILDERS[name](root, files, "calm"):  # count neutral clips too
                found.append(name)
        except DatasetError:
            pass
    if len(found) > 1:
        raise DatasetError(
            f"{root} fits several layouts ({', '.join(found)}); say which, e.g. "
            f"'{found[0]}:{root}'"
        )
    if found:
        return found[0]
    try:
        _BUILDERS[GENERIC](root, files, "calm")
    except DatasetError as exc:
        raise DatasetError(
            f"could not recognise the layout of {root}: it fits none of "
            f"{', '.join(DATASET_NAMES)} ({exc}). Name the dataset as 'name:path', or list "
            "the files in a CSV with columns path,label,speaker"
        ) from None
    return GENERIC


# ========================================================================================
# Splits
# ========================================================================================


def split_by_speaker(
    samples: Sequence[Sample],
    test_speakers: Iterable[str] | None = None,
    *,
    test_fraction: float = 0.3,
    seed: int = 0,
) -> tuple[list[Sample], list[Sample]]:
    """Speaker-independent (train, test): no speaker has samples on both sides.

    With `test_speakers` (full speaker strings such as "ravdess:05") those go to test.
    Without, whole speakers are taken in a seeded pseudo-random order (a SHA-256 of seed
    and speaker, so the choice is the same on every machine and in every input order),
    each added while it brings the test share closer to `test_fraction` of the samples.
    Both lists keep the input order.
    """
    counts = _speaker_counts(samples)
    if test_speakers is not None:
        chosen = set(test_speakers)
        unknown = sorted(chosen - counts.keys())
        if unknown:
            raise DatasetError(
                f"test speakers {', '.join(unknown)} have no samples; speakers are: "
                f"{_preview(sorted(counts, key=_natural_key))}"
            )
        if not chosen or chosen == counts.keys():
            raise DatasetError("test_speakers must name some but not all speakers")
    else:
        _check_fraction(test_fraction, "test_fraction")
        if len(counts) < 2:
            raise DatasetError(
                f"a speaker-independent split needs at least 2 speakers, found "
                f"{_preview(list(counts))}; use random_split instead"
            )
        order = sorted(counts, key=lambda s: _hash_key(seed, s))
        target = test_fraction * len(samples)
        chosen, n_test = [], 0
        for speaker in order:
            if abs(n_test + counts[speaker] - target) < abs(n_test - target):
                chosen.append(speaker)
                n_test += counts[speaker]
        if not chosen:  # every speaker alone overshoots: take the first
            chosen.append(order[0])
        if len(chosen) == len(order):  # keep someone to train on
            chosen.pop()
        chosen = set(chosen)
    train = [s for s in samples if s.speaker not in chosen]
    test = [s for s in samples if s.speaker in chosen]
    return train, test


def kfold_by_speaker(
    samples: Sequence[Sample], k: int = 5, *, seed: int = 0
) -> list[tuple[list[Sample], list[Sample]]]:
    """`k` speaker-independent (train, test) folds; every speaker is in exactly one test.

    Speakers are dealt, largest first (ties in seeded SHA-256 order), to the fold with the
    fewest samples so far, so folds hold about len(samples)/k samples each.
    """
    counts = _speaker_counts(samples)
    if not 2 <= k <= len(counts):
        raise DatasetError(
            f"k must be between 2 and the number of speakers ({len(counts)}), got {k}"
        )
    order = sorted(counts, key=lambda s: (-counts[s], _hash_key(seed, s)))
    fold_of: dict[str, int] = {}
    sizes = [0] * k
    for speaker in order:
        fold = min(range(k), key=lambda i: (sizes[i], i))
        fold_of[speaker] = fold
        sizes[fold] += counts[speaker]
    return [
        (
            [s for s in samples if fold_of[s.speaker] != fold],
            [s for s in samples if fold_of[s.speaker] == fold],
        )
        for fold in range(k)
    ]


def random_split(
    samples: Sequence[Sample], *, fraction: float = 0.3, seed: int = 0
) -> tuple[list[Sample], list[Sample]]:
    """The paper's split: (train, test) with `fraction` of the samples drawn at random.

    NOT speaker-independent: the same speaker is normally on both sides, so its accuracy
    is optimistic next to `split_by_speaker`. Use it only to compare with the paper.
    Samples are ordered by a SHA-256 of seed, dataset and id (the same on every machine
    and for every input order) and the first round(fraction * n) go to test, at least one
    and at most n - 1. Both lists keep the input order.
    """
    _check_fraction(fraction, "fraction")
    if len(samples) < 2:
        raise DatasetError(f"need at least 2 samples to split, got {len(samples)}")
    n_test = min(max(round(fraction * len(samples)), 1), len(samples) - 1)
    order = sorted(range(len(samples)), key=lambda i: _hash_key(seed, _sample_key(samples[i])))
    test_idx = set(order[:n_test])
    train = [s for i, s in enumerate(samples) if i not in test_idx]
    test = [s for i, s in enumerate(samples) if i in test_idx]
    return train, test


# ========================================================================================
# Corpus readers: (root, every file below it, neutral) -> samples, DatasetError when none
# ========================================================================================


def _ravdess(root: Path, files: list[Path], neutral: str | None) -> list[Sample]:
    trials: dict[str, _Group] = defaultdict(_Group)
    meta: dict[str, tuple[str, ...]] = {}
    skipped: Counter[str] = Counter()
    for path in files:
        kind = _media_kind(path)
        match = _RAVDESS_RE.match(path.stem) if kind else None
        if not match:
            continue
        modality = match.group(1)
        label = _ravdess_label(match, neutral, skipped)
        if label is None:
            continue
        trial = "-".join(match.groups()[1:])  # VV-EE-II-SS-RR-AA
        meta[trial] = (label, *match.groups()[1:])
        if kind == "video":
            rank = {"01": 0, "02": 1}.get(modality, 2)
            trials[trial].add("video", (rank, _VIDEO_PREFERENCE), path)
        else:
            rank = 0 if modality == "03" else 1
            trials[trial].add("audio", (rank, _AUDIO_PREFERENCE), path)
    samples = []
    for trial, group in trials.items():
        label, _, _, intensity, statement, repetition, actor = meta[trial]
        samples.append(Sample(
            id=trial, dataset=RAVDESS, label=label, speaker=f"ravdess:{actor}",
            video=group.pick("video", trial), audio=group.pick("audio", trial),
            intensity=intensity, statement=statement, repetition=repetition,
        ))
    if not samples:
        raise DatasetError(
            f"no RAVDESS speech files found under {root}: expected "
            "Actor_NN/MM-VV-EE-II-SS-RR-AA.mp4|wav|flac with VV=01 (speech), e.g. "
            f"Actor_01/03-01-05-01-01-01-01.wav{_skipped_note(skipped)}"
        )
    return samples


def _ravdess_windows(root: Path, files: list[Path], neutral: str | None) -> list[Sample]:
    trial_dirs = set()
    for path in files:
        if path.parent.name == "faces" and _RAVDESS_RE.match(path.parent.parent.name):
            trial_dirs.add(path.parent.parent)
        elif path.stem == "audio" and _media_kind(path) == "audio":
            if _RAVDESS_RE.match(path.parent.name):
                trial_dirs.add(path.parent)
    samples, seen = [], {}
    skipped: Counter[str] = Counter()
    for folder in sorted(trial_dirs):
        if folder != root and root not in folder.parents:
            continue  # `root` is a trial's faces/ folder: not a dataset
        match = _RAVDESS_RE.match(folder.name)
        label = _ravdess_label(match, neutral, skipped)
        if label is None:
            continue
        _, _, _, intensity, statement, repetition, actor = match.groups()
        trial = "-".join(match.groups()[1:])
        if trial in seen:
            raise DatasetError(f"trial {trial} appears twice: {seen[trial]} and {folder}")
        seen[trial] = folder
        faces = folder / "faces"
        samples.append(Sample(
            id=trial, dataset=RAVDESS_WINDOWS, label=label, speaker=f"ravdess:{actor}",
            faces_dir=faces if faces.is_dir() else None, audio=_window_audio(folder),
            intensity=intensity, statement=statement, repetition=repetition,
        ))
    if not samples:
        raise DatasetError(
            f"no RAVDESS windows found under {root}: expected "
            "Actor_NN/<trial id MM-VV-EE-II-SS-RR-AA>/faces/NN.jpg and .../audio.wav with "
            f"VV=01 (speech){_skipped_note(skipped)}"
        )
    return samples


def _ravdess_label(match: re.Match, neutral: str | None, skipped: Counter[str]) -> str | None:
    """The label of a RAVDESS name, or None (and a count in `skipped`) when it is not used."""
    _, channel, emotion, *_ = match.groups()
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
        return neutral
    return label


def _crema_d(root: Path, files: list[Path], neutral: str | None) -> list[Sample]:
    clips: dict[str, _Group] = defaultdict(_Group)
    meta: dict[str, tuple[str, ...]] = {}
    skipped: Counter[str] = Counter()
    for path in files:
        kind = _media_kind(path)
        match = _CREMA_D_RE.match(path.stem) if kind else None
        if not match:
            continue
        actor, sentence, emotion, level = (g.upper() for g in match.groups())
        if level == "X":
            level = "XX"
        if int(actor) not in CREMA_D_SPEAKERS:
            skipped["actor id outside 1001-1091"] += 1
            continue
        label = CREMA_D_EMOTIONS.get(emotion)
        if label == NEUTRAL:
            label = neutral
            skipped["neutral"] += neutral is None
        elif label is None:
            skipped["unknown emotion code"] += 1
        if label is None:
            continue
        clip = f"{actor}_{sentence}_{emotion}_{level}"
        meta[clip] = (label, actor, sentence, level)
        preference = _VIDEO_PREFERENCE if kind == "video" else _AUDIO_PREFERENCE
        clips[clip].add(kind, (0, preference), path)
    samples = []
    for clip, group in clips.items():
        label, actor, sentence, level = meta[clip]
        samples.append(Sample(
            id=clip, dataset=CREMA_D, label=label, speaker=f"crema-d:{actor}",
            video=group.pick("video", clip), audio=group.pick("audio", clip),
            intensity=level, statement=sentence,
        ))
    if not samples:
        raise DatasetError(
            f"no CREMA-D clips found under {root}: expected AAAA_SSS_EEE_LL.flv|mp4|wav "
            f"(e.g. AudioWAV/1001_DFA_ANG_XX.wav, VideoFlash/1001_DFA_ANG_XX.flv)"
            f"{_skipped_note(skipped)}"
        )
    return samples


def _enterface(root: Path, files: list[Path], neutral: str | None) -> list[Sample]:
    clips: dict[tuple[Path, str], _Group] = defaultdict(_Group)
    meta: dict[tuple[Path, str], tuple[str, ...]] = {}
    skipped: Counter[str] = Counter()
    for path in files:
        kind = _media_kind(path)
        if not kind:
            continue
        folders = _folders(root, path)
        code = _ENTERFACE_FILE_RE.match(path.stem)
        subject_at = next((i for i, f in enumerate(folders) if _SUBJECT_DIR_RE.match(f)), None)
        if subject_at is not None:
            subject = _SUBJECT_DIR_RE.match(folders[subject_at]).group(1)
        elif code:
            subject, subject_at = code.group(1), -1
        else:
            skipped["no subject folder or sN_xx_M name"] += 1
            continue
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
            label = neutral
        if label is None:
            skipped["no emotion folder or code"] += 1
            continue
        sentence = next((m.group(1) for f in below if (m := _SENTENCE_DIR_RE.match(f))), None)
        if sentence is None and code:
            sentence = code.group(3)
        key = (path.parent, path.stem)
        meta[key] = (label, f"{int(subject):02d}", sentence)
        preference = _VIDEO_PREFERENCE if kind == "video" else _AUDIO_PREFERENCE
        clips[key].add(kind, (0, preference), path)
    samples = []
    for key, group in clips.items():
        label, subject, sentence = meta[key]
        clip_id = _relative_id(root, key)
        samples.append(Sample(
            id=clip_id, dataset=ENTERFACE, label=label, speaker=f"enterface:{subject}",
            video=group.pick("video", clip_id), audio=group.pick("audio", clip_id),
            statement=sentence,
        ))
    if not samples:
        raise DatasetError(
            f"no eNTERFACE'05 clips found under {root}: expected "
            "'subject N/<emotion>/sentence M/sN_xx_M.avi' (emotion folders anger, disgust, "
            f"fear, happiness, sadness, surprise; codes an di fe ha sa su){_skipped_note(skipped)}"
        )
    return samples


def _rml(root: Path, files: list[Path], neutral: str | None) -> list[Sample]:
    clips: dict[tuple[Path, str], _Group] = defaultdict(_Group)
    meta: dict[tuple[Path, str], tuple[str, str]] = {}
    for path in files:
        kind = _media_kind(path)
        match = _RML_FILE_RE.match(path.stem) if kind else None
        if not match:
            continue
        subject = next(
            (m.group(1) for f in _folders(root, path) if (m := _SUBJECT_DIR_RE.match(f))), None
        )
        if subject is None:
            continue
        word = match.group(1).lower()
        label = EMOTION_CODES.get(word) or LABEL_ALIASES[word]
        key = (path.parent, path.stem)
        meta[key] = (label, f"{int(subject):02d}")
        preference = _VIDEO_PREFERENCE if kind == "video" else _AUDIO_PREFERENCE
        clips[key].add(kind, (0, preference), path)
    samples = []
    for key, group in clips.items():
        label, subject = meta[key]
        clip_id = _relative_id(root, key)
        samples.append(Sample(
            id=clip_id, dataset=RML, label=label, speaker=f"rml:{subject}",
            video=group.pick("video", clip_id), audio=group.pick("audio", clip_id),
        ))
    if not samples:
        raise DatasetError(
            f"no RML clips found under {root}: expected subject folders s1..s8 holding "
            "clips named by emotion code, e.g. s1/an1.avi (codes an di fe ha sa su)"
        )
    return samples


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
    clips: dict[tuple[Path, str], _Group] = defaultdict(_Group)
    meta: dict[tuple[Path, str], tuple[str, str]] = {}
    for path, folders in media:
        if len(folders) <= level:
            continue  # a file directly in a speaker folder
        label = LABEL_ALIASES[folders[level].lower()]
        if label == NEUTRAL:
            label = neutral
        if label is None:
            continue
        speaker = folders[0] if by_speaker else UNKNOWN_SPEAKER
        key = (path.parent, path.stem)
        meta[key] = (label, speaker)
        kind = _media_kind(path)
        preference = _VIDEO_PREFERENCE if kind == "video" else _AUDIO_PREFERENCE
        clips[key].add(kind, (0, preference), path)
    samples = []
    for key, group in clips.items():
        label, speaker = meta[key]
        clip_id = _relative_id(root, key)
        samples.append(Sample(
            id=clip_id, dataset=GENERIC, label=label, speaker=f"generic:{speaker}",
            video=group.pick("video", clip_id), audio=group.pick("audio", clip_id),
        ))
    if not samples:
        raise DatasetError(
            f"no labelled media found under {root}: expected <emotion>/<file> or "
            f"<speaker>/<emotion>/<file> with emotion folders named {', '.join(LABEL_ALIASES)}"
        )
    return samples


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
                speaker=f"generic:{speaker or UNKNOWN_SPEAKER}", **fields,
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


_BUILDERS: dict[str, Callable[[Path, list[Path], str | None], list[Sample]]] = {
    RAVDESS: _ravdess,
    RAVDESS_WINDOWS: _ravdess_windows,
    CREMA_D: _crema_d,
    ENTERFACE: _enterface,
    RML: _rml,
    GENERIC: _generic_folder,
}


# ========================================================================================
# Helpers
# ========================================================================================


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


def _load_folder(name: str, root: str | Path, neutral: str | None) -> list[Sample]:
    neutral = _check_neutral(neutral)
    root = _check_dir(Path(root).expanduser())
    samples = _BUILDERS[name](root, _walk(root), neutral)
    return _finish(samples, root)


def _finish(samples: list[Sample], where: Path) -> list[Sample]:
    """Check ids are unique and media are real files, and sort."""
    ids = Counter(s.id for s in samples)
    repeated = [i for i, n in ids.items() if n > 1]
    if repeated:
        raise DatasetError(f"{where}: sample ids occur twice: {_preview(sorted(repeated))}")
    media = (p for s in samples for p in (s.video, s.audio) if p is not None)
    pointers = [p for p in media if _is_lfs_pointer(p)]
    if pointers:
        raise DatasetError(
            f"{len(pointers)} media files under {where} are Git LFS pointers, not media "
            f"(e.g. {pointers[0]}); fetch them with `git lfs pull` in that clone"
        )
    return sorted(samples, key=lambda s: (s.dataset, _natural_key(s.speaker), _natural_key(s.id)))


def _walk(root: Path) -> list[Path]:
    """Every file below `root`, sorted; follows folder links once; skips hidden entries
    and macOS `__MACOSX` folders (whose `._name` files would look like clips)."""
    seen, found = set(), []
    for folder, dirs, names in os.walk(root, followlinks=True, onerror=_walk_error):
        real = os.path.realpath(folder)
        if real in seen:  # a link loop or a second link to one folder
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS)
        found.extend(Path(folder, n) for n in names if not n.startswith("."))
    return sorted(found)


def _walk_error(error: OSError) -> None:
    logger.warning("skipping %s: %s", error.filename, error.strerror)


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


def _check_fraction(value: float, name: str) -> None:
    if not 0.0 < value < 1.0:
        raise DatasetError(f"{name} must be between 0 and 1 (exclusive), got {value}")


def _parse_spec(spec: str | Path) -> tuple[str | None, Path]:
    """("name" or None for autodetect, path) of a dataset spec."""
    if isinstance(spec, Path):
        return None, spec.expanduser()
    name, sep, rest = spec.partition(":")
    key = _NAME_ALIASES.get(name.strip().lower(), name.strip().lower())
    if sep and key in DATASET_NAMES:
        if not rest:
            raise DatasetError(f"dataset spec {spec!r} has no path after '{name}:'")
        return key, Path(rest).expanduser()
    # Not a known name. A one-letter prefix is a Windows drive; a path may contain ':'.
    if sep and len(name) > 1 and re.fullmatch(r"[A-Za-z][\w-]*", name) and not Path(spec).exists():
        raise DatasetError(
            f"unknown dataset name {name!r} in {spec!r}; known names: {', '.join(DATASET_NAMES)}"
            " (as 'name:path'), or give a bare path to detect the layout"
        )
    return None, Path(spec).expanduser()


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


def _relative_id(root: Path, key: tuple[Path, str]) -> str:
    folder, stem = key
    return (folder / stem).relative_to(root).as_posix()


def _is_lfs_pointer(path: Path) -> bool:
    try:
        if not 0 < path.stat().st_size < _LFS_MAX_BYTES:
            return False
        with open(path, "rb") as handle:
            return handle.read(len(_LFS_HEADER)) == _LFS_HEADER
    except OSError:
        return False


def _speaker_counts(samples: Sequence[Sample]) -> Counter[str]:
    if not samples:
        raise DatasetError("no samples to split")
    return Counter(s.speaker for s in samples)


def _sample_key(sample: Sample) -> str:
    return f"{sample.dataset}\0{sample.id}"


def _hash_key(seed: int, text: str) -> bytes:
    """A seeded pseudo-random sort key, identical on every platform and Python version."""
    return hashlib.sha256(f"{seed}\0{text}".encode()).digest()


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
