"""A window's model inputs from its media: the one code path of `run` and of training.

`extract_windows` decodes a source's frames at the window times, finds the faces (MTCNN)
and computes the voice's features (librosa); the pipeline's workers call it for every
window of every input, and the training cache calls it, through `extract_clip`, for the
first window of every training clip. What the model was trained on is therefore exactly
what it is given at run time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from . import audio as audio_features
from .constants import (
    FACE_MODES,
    FACE_SIZE,
    FACES_ALL,
    FACES_LARGEST,
    FACES_SPEAKER,
    FRAMES_PER_WINDOW,
    SAMPLE_RATE,
    WINDOW_SECONDS,
)
from .errors import MediaError
from .faces import FaceDetector, WindowFaces
from .heap import release_memory
from .media import iter_audio, iter_frames, probe_source
from .records import MediaArrays, PersonInput, Window, WindowInput
from .speaking import choose_speaker, voice_envelope
from .windows import frame_times, plan_windows

Featurise = Callable[[list[WindowInput]], list[WindowInput]]  # windows -> the same, e.g. crops -> features
_DETECTORS: dict[str, FaceDetector] = {}  # one MTCNN per process and device


def default_detector(device: str | torch.device = "cpu") -> FaceDetector:
    """This process's MTCNN on `device`, made on first use (its weights load in ~0.3 s)."""
    key = str(torch.device(device))
    if key not in _DETECTORS:
        _DETECTORS[key] = FaceDetector(device=key)
    return _DETECTORS[key]


def extract_windows(source: str | Path | MediaArrays, windows: Sequence[Window], *, has_video: bool,
                    has_audio: bool, detector: FaceDetector | None = None, job_index: int = 0,
                    faces: str = FACES_SPEAKER, featurise: Featurise | None = None) -> list[WindowInput]:
    """Faces and audio features of some windows of one source (a file, or arrays).

    has_video / has_audio: whether the source has those streams (from probing); a missing
    one gives windows without that modality. faces: whose face the window reads (FACE_MODES):
    "largest" the largest of each frame; "speaker" every face is followed through the window
    (`people`) and the one whose mouth moves with the voice is read (`speaking`); "all" the
    same, keeping every face's crops. featurise: applied to each window as soon as it is made
    (the pipeline's workers replace its crops with the face backbone's features, so a task holds
    one window's crops at a time). Returns one WindowInput per window, in order.
    """
    _check_faces(faces)
    # window -> its samples: the audio is read first (0.3 MB a window), so each window is made as its faces are found
    voices = {w.index: samples for w, samples in iter_audio(source, windows)} if has_audio else {}
    made: dict[int, WindowInput] = {}

    def make(window: Window, window_faces: Sequence[WindowFaces]) -> None:
        x = assemble(window, window_faces, voices.pop(window.index, None), faces=faces, job_index=job_index)
        made[window.index] = featurise([x])[0] if featurise is not None else x

    if has_video:
        detector = detector or default_detector()
        for window, frames in iter_frames(source, windows, n_frames=FRAMES_PER_WINDOW):
            make(window, find_faces(frames, detector, faces))
            del frames
            release_memory()  # each window's frames and temporaries go back now, not at the task's end
    for w in windows:
        if w.index not in made:
            make(w, [])
    return [made[w.index] for w in windows]


def _check_faces(faces: str) -> None:
    if faces not in FACE_MODES:
        raise ValueError(f"faces must be one of {', '.join(FACE_MODES)}, got {faces!r}")


def find_faces(frames: Sequence[np.ndarray | None], detector: FaceDetector, faces: str = FACES_SPEAKER
               ) -> list[WindowFaces]:
    """The faces of one window's frames (15 x (H, W, 3) uint8 RGB, or None past the end): with
    "largest" the largest face of each frame as one WindowFaces (none without a face), otherwise every
    face followed through the frames (`FaceDetector.track`), largest first."""
    if faces == FACES_LARGEST:
        wf = detector.detect(frames)
        return [wf] if wf.n_found else []
    return detector.track(frames)


def assemble(window: Window, window_faces: Sequence[WindowFaces], samples: np.ndarray | None, *,
             faces: str = FACES_SPEAKER, job_index: int = 0) -> WindowInput:
    """A window's model inputs from its faces (`find_faces`) and its samples (mono, SAMPLE_RATE Hz, from where
    it reads, `Window.input_start_s`; None without audio): the voice's features, who speaks, and the face to read.
    `extract_windows` and `live` both make every window this way."""
    n = FRAMES_PER_WINDOW
    samples, window_faces = _own_span(window, samples, window_faces)
    feats = audio_features.window_audio_features(samples) if samples is not None else None  # (181, 156) or None
    people: tuple[PersonInput, ...] = ()
    chosen = 0 if window_faces else None
    if faces != FACES_LARGEST and window_faces:
        loudness = voice_envelope(samples if feats is not None else None, window)
        chosen, scores = choose_speaker(window_faces, loudness)
        people = tuple(PersonInput(f.mask, f.boxes, f.crops if faces == FACES_ALL and k != chosen else None,
                                   score) for k, (f, score) in enumerate(zip(window_faces, scores)))
    face = window_faces[chosen] if chosen is not None else None
    return WindowInput(
        job_index=job_index,
        window=window,
        faces=face.crops if face is not None else None,
        face_mask=face.mask if face is not None else np.zeros(n, bool),
        face_box=face.representative_box() if face is not None else None,
        max_faces=max((f.max_faces for f in window_faces), default=0),
        audio=feats,
        people=people,
        speaker=chosen if people else None,
    )


def _own_span(window: Window, samples: np.ndarray | None, window_faces: Sequence[WindowFaces]
              ) -> tuple[np.ndarray | None, Sequence[WindowFaces]]:
    """A last window that reads the file's last 3.6 s (`Window.reads_from_s`) has a voice only if its own
    span [start_s, end_s) is not silent, and a face only if one is found at a frame time within it: the
    part before is the window before's, and a row must not claim what its own span lacks (audio that ends
    early, a face that leaves)."""
    lead_s = window.start_s - window.input_start_s
    if lead_s <= 0:
        return samples, window_faces
    if samples is not None and audio_features.is_silent(samples[round(lead_s * SAMPLE_RATE):]):
        samples = None
    own = frame_times(window) >= window.start_s
    return samples, [f for f in window_faces if f.mask[own].any()]


def first_window(duration_s: float) -> Window:
    """A training clip's window: its first 3.6 s, or all of it when shorter (as `run` cuts it)."""
    windows = plan_windows(duration_s)
    if not windows:
        raise MediaError(f"a clip of {duration_s:.2f} s has no window to train on")
    return windows[0]


def load_face_crops(folder: str | Path) -> tuple[np.ndarray | None, np.ndarray]:
    """Pre-cropped faces `NN.jpg` (frames 00-14) of a window folder.

    Returns (crops (15, 224, 224, 3) uint8 or None without any face, mask (15,) bool).
    """
    from PIL import Image

    folder = Path(folder)
    crops = np.zeros((FRAMES_PER_WINDOW, FACE_SIZE, FACE_SIZE, 3), np.uint8)
    mask = np.zeros(FRAMES_PER_WINDOW, bool)
    for i in range(FRAMES_PER_WINDOW):
        f = folder / f"{i:02d}.jpg"
        if f.is_file():
            with Image.open(f) as im:
                crops[i] = np.asarray(im.convert("RGB").resize((FACE_SIZE, FACE_SIZE)))
            mask[i] = True
    return (crops if mask.any() else None), mask


STILL_DRIFT = 0.04  # a still's window: the box drifts by up to 4% of its size (shift and scale) over 15 frames


def extract_still(image: str | Path, *, cropped: bool = False, detector: FaceDetector | None = None
                  ) -> WindowInput:
    """A window made of one still photograph of a face (FER2013, the London set, muxspace).

    The face is found once (MTCNN, as in `run`; with `cropped` the whole image is the face,
    as FER2013's 48x48 crops are), and the 15 frames are 224x224 crops of that box drifting
    smoothly by up to STILL_DRIFT of its size in position and scale, as the interpolated
    boxes of the tracker move between key frames in `run`. The drift is fixed by the file
    name, so the crops are the same on every machine.

    How this differs from video: one moment, the same expression in all 15 frames, and no
    motion of the face but this drift: no onset, no speech, no blink. A video branch trained
    on stills learns expressions, not their dynamics.
    """
    from PIL import Image

    from .faces import crop_face

    with Image.open(image) as im:
        frame = np.asarray(im.convert("RGB"))
    h, w = frame.shape[:2]
    n = FRAMES_PER_WINDOW
    window = Window(0, 0.0, WINDOW_SECONDS, False)
    if cropped:
        box, max_faces = np.array([0, 0, w, h], np.float32), 1
    else:
        found = (detector or default_detector()).detect([frame])
        if not found.mask[0]:
            return WindowInput(0, window, None, np.zeros(n, bool), None, found.max_faces, None)
        box, max_faces = found.boxes[0], found.max_faces
    seed = int.from_bytes(hashlib.sha256(Path(image).name.encode()).digest()[:4], "little")
    dx, dy, ds = (np.random.default_rng(seed).uniform(-STILL_DRIFT, STILL_DRIFT, 3)).tolist()
    side = np.array([box[2] - box[0], box[3] - box[1]], np.float32)
    centre = (box[:2] + box[2:]) / 2
    crops = np.zeros((n, FACE_SIZE, FACE_SIZE, 3), np.uint8)
    mask = np.zeros(n, bool)
    boxes = []
    for i in range(n):
        t = i / (n - 1) - 0.5  # -0.5 .. 0.5 over the window
        c = centre + t * side * np.array([dx, dy], np.float32)
        half = side * (1 + t * ds) / 2
        boxes.append(np.concatenate([c - half, c + half]))
        crop = crop_face(frame, boxes[-1])
        if crop is None:  # the drifted box left a tiny image: the detected box itself
            crop = crop_face(frame, box)
        if crop is not None:
            crops[i], mask[i] = crop, True
    if not mask.any():
        return WindowInput(0, window, None, mask, None, max_faces, None)
    mid = boxes[n // 2]
    return WindowInput(0, window, crops, mask, tuple(float(v) for v in mid),  # type: ignore[arg-type]
                       max_faces, None)


def extract_clip(*, video: str | Path | None = None, audio: str | Path | None = None,
                 faces_dir: str | Path | None = None, detector: FaceDetector | None = None) -> WindowInput:
    """The first window of a training clip, through `extract_windows`.

    video:     an audio-video or video-only file: faces, and the voice when `audio` is None.
    audio:     a separate audio file for the voice (RAVDESS's audio-only copy), or None.
    faces_dir: pre-cropped faces (`load_face_crops`) used instead of detecting them.
    """
    empty = WindowInput.empty()
    result = empty
    if video is not None and faces_dir is None:
        info = probe_source(video)
        result = extract_windows(video, [first_window(info.duration_s)], has_video=info.has_video,
                                 has_audio=info.has_audio and audio is None, detector=detector)[0]
    elif video is not None and audio is None:  # faces from crops, the voice from the video
        info = probe_source(video)
        if info.has_audio:
            result = extract_windows(video, [first_window(info.duration_s)], has_video=False, has_audio=True)[0]
    if audio is not None:
        info = probe_source(audio)
        voice = extract_windows(audio, [first_window(info.duration_s)], has_video=False, has_audio=info.has_audio)[0]
        result = WindowInput(0, result.window if result is not empty else voice.window, result.faces,
                             result.face_mask, result.face_box, result.max_faces, voice.audio)
    if faces_dir is not None:
        crops, mask = load_face_crops(faces_dir)
        result = WindowInput(0, result.window, crops, mask, None, int(mask.any()), result.audio)
    return result
