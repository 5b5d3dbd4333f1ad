"""Typed records that travel between the pipeline's stages (no loose dicts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .constants import EMOTIONS, FRAMES_PER_WINDOW

# Window status values, in the order a reader checks them.
STATUS_OK = "ok"  # at least one modality present, prediction made
STATUS_NO_FACE = "no_face"  # voice only: no face in any of the 15 frames (or no video stream)
STATUS_NO_AUDIO = "no_audio"  # face only: silent window or no audio stream
STATUS_NO_SIGNAL = "no_signal"  # neither face nor voice: no prediction
STATUS_TOO_SHORT = "too_short"  # file (or its tail) shorter than MIN_WINDOW_SECONDS: no prediction
STATUS_ERROR = "error"  # the file could not be read: no prediction, see `error`
STATUSES = (STATUS_OK, STATUS_NO_FACE, STATUS_NO_AUDIO, STATUS_NO_SIGNAL, STATUS_TOO_SHORT, STATUS_ERROR)

# Modality values.
MOD_BOTH, MOD_VIDEO, MOD_AUDIO, MOD_NONE = "audio+video", "video", "audio", "none"


@dataclass(frozen=True, eq=False)
class MediaArrays:
    """Media already in memory (a notebook's arrays) instead of a file.

    frames:      (T, H, W, 3) uint8 RGB video frames, frame i shown from i / fps seconds;
                 None for audio only.
    fps:         frames per second of `frames`.
    audio:       (n,) mono or (n, channels) float samples in [-1, 1]; None for video only.
    sample_rate: Hz of `audio`; it is resampled to 22,050 Hz as files are.
    name:        what the rows' `file` column says.
    """

    frames: np.ndarray | None = None
    fps: float = 30.0
    audio: np.ndarray | None = None
    sample_rate: int = 22050
    name: str = "array"


@dataclass(frozen=True)
class MediaJob:
    """One input: a file, a URL (`storage`), or arrays in memory. `key` is a unique, filesystem-safe stem
    for per-input outputs.

    `path` is the file (for arrays, `Path(arrays.name)`, and for a URL its file name, which need not exist).
    """

    index: int
    path: Path
    key: str
    arrays: MediaArrays | None = field(default=None, compare=False, hash=False, repr=False)
    url: str | None = None

    @property
    def source(self) -> str | MediaArrays:
        """What the decoders read: the file's path or URL, or the arrays."""
        if self.arrays is not None:
            return self.arrays
        return self.url if self.url is not None else str(self.path)

    @property
    def name(self) -> str:
        """The input as rows and messages name it: its path, its URL, or the arrays' name."""
        return self.url if self.url is not None else str(self.path)


@dataclass(frozen=True)
class MediaInfo:
    """What probing a file found. Durations in seconds; fps in frames per second."""

    path: Path | str  # a local file, or a URL (`storage`)
    duration_s: float
    has_video: bool
    has_audio: bool
    fps: float | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Window:
    """One analysis window of a file: [start_s, end_s) in seconds, the span its row covers.

    `partial` marks the last window when it is shorter than WINDOW_SECONDS. In a file longer
    than one window its inputs are the file's last WINDOW_SECONDS (`reads_from_s`, overlapping
    the window before), so the model reads as much real sound and picture as in any other
    window; in a shorter file its frames are spread over the real span and its audio is
    zero-padded to the full length, as the training clips are.
    """

    index: int
    start_s: float
    end_s: float
    partial: bool = False
    reads_from_s: float | None = None  # where its inputs start, when not at start_s

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def input_start_s(self) -> float:
        """Where the window's frames and samples start: [input_start_s, end_s) is what it reads."""
        return self.start_s if self.reads_from_s is None else self.reads_from_s


@dataclass
class PersonInput:
    """One face (one person) of a window, followed through its frames (`--faces speaker|all`).

    face_mask:      (15,) bool, True where this face was found.
    boxes:          (15, 4) float32 (x1, y1, x2, y2) in source-frame pixels, NaN where not found.
    crops:          (15, 224, 224, 3) uint8, or None where they are not kept (the chosen face's
                    crops are the window's `faces`; the others' are kept only for `--faces all`).
    speaking_score: how much its mouth moves with the voice (`speaking`); NaN without voice.
    """

    face_mask: np.ndarray
    boxes: np.ndarray
    crops: np.ndarray | None
    speaking_score: float

    def representative_box(self) -> tuple[float, float, float, float] | None:
        return representative_box(self.face_mask, self.boxes)


def representative_box(mask: np.ndarray, boxes: np.ndarray) -> tuple[float, float, float, float] | None:
    """The box (x1, y1, x2, y2) of the frame closest to the window's middle where `mask` (n,) is True,
    from `boxes` (n, 4); None where no frame has the face."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return None
    mid = (mask.size - 1) / 2
    x1, y1, x2, y2 = (float(v) for v in boxes[idx[np.argmin(np.abs(idx - mid))]])
    return (x1, y1, x2, y2)


@dataclass
class WindowInput:
    """Model-ready inputs of one window, made by the decode/detect/feature workers.

    faces:      (15, 224, 224, 3) uint8 RGB crops, zeros where `face_mask` is False;
                None when no frame has a face.
    face_mask:  (15,) bool, True where a face was found in that frame.
    face_box:   (x1, y1, x2, y2) in source-frame pixels of the chosen (largest) face in
                the middle-most frame that has one; None without a face.
    max_faces:  the most faces seen in any one frame (>1 means the largest was chosen).
    audio:      (181, 156) float32 features (MFCC 40, Mel dB 128, contrast 7, Tonnetz 6);
                None when the window is silent or the file has no audio.
    people:     every face of the window, largest first (`--faces speaker|all`; empty for
                `--faces largest`, which takes the largest face of each frame).
    speaker:    index into `people` of the face in `faces` (the one speaking), or None.
    face_features: (15, F) float32, the face backbone's features of the crops (zeros where
                `face_mask` is False), once a worker (or the model process, as a task
                arrives) has computed them and let the crops go (`featuriser.Featuriser`);
                `faces` is then None.
    """

    job_index: int
    window: Window
    faces: np.ndarray | None
    face_mask: np.ndarray
    face_box: tuple[float, float, float, float] | None
    max_faces: int
    audio: np.ndarray | None
    people: tuple[PersonInput, ...] = ()
    speaker: int | None = None
    face_features: np.ndarray | None = None

    @classmethod
    def empty(cls, window: Window | None = None, job_index: int = 0) -> WindowInput:
        """A window with neither face nor voice."""
        return cls(job_index, window or Window(0, 0.0, 0.0), None, np.zeros(FRAMES_PER_WINDOW, bool), None, 0, None)

    @property
    def has_video(self) -> bool:
        return (self.faces is not None or self.face_features is not None) and bool(self.face_mask.any())

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    @property
    def modalities(self) -> str:
        if self.has_video and self.has_audio:
            return MOD_BOTH
        return MOD_VIDEO if self.has_video else MOD_AUDIO if self.has_audio else MOD_NONE


@dataclass(frozen=True)
class WindowResult:
    """One output row: the emotion of one window of one file.

    probabilities: one per label in `labels` order (sums to 1), or None without a prediction.
    person:        the face's person id in this file (1, 2, ... in order of appearance), None
                   without a face or with `--faces largest`.
    speaking:      whether that person is the one speaking (None without voice or face).
    speaking_score: how much the face's mouth moves with the voice (`speaking`).
    face_* / voice_*: what the face alone and the voice alone say (the model's single-modality
                   paths), None where the window lacks that modality.
    """

    file: str
    window: int
    start_s: float
    end_s: float
    emotion: str | None
    confidence: float | None
    probabilities: tuple[float, ...] | None
    modalities: str
    face_frames: int
    face_box: tuple[float, float, float, float] | None
    max_faces: int
    partial: bool
    status: str
    error: str = ""
    labels: tuple[str, ...] = EMOTIONS
    person: int | None = None
    speaking: bool | None = None
    speaking_score: float | None = None
    face_emotion: str | None = None
    face_confidence: float | None = None
    face_probabilities: tuple[float, ...] | None = None
    voice_emotion: str | None = None
    voice_confidence: float | None = None
    voice_probabilities: tuple[float, ...] | None = None

    @property
    def agreement(self) -> bool | None:
        """Whether face alone and voice alone name the same emotion; None unless the window has both."""
        if self.face_emotion is None or self.voice_emotion is None:
            return None
        return self.face_emotion == self.voice_emotion


@dataclass
class FileResult:
    """All rows of one input file, plus what was learned about the file itself."""

    job: MediaJob
    info: MediaInfo | None
    windows: list[WindowResult] = field(default_factory=list)
    error: str | None = None
    warnings: tuple[str, ...] = ()  # what went wrong but was recovered (e.g. a worker died and was replaced)

    @property
    def ok(self) -> bool:
        return self.error is None
