"""Who is speaking: each face's mouth movement against the loudness of the voice, over a window's frames.

A window has 15 frames, 0.24 s apart (4.2 per second, about the rate of syllables), so
the mouth of a person who speaks looks different in every frame, and a listener's barely.
For each face, `face_motion` measures how much its mouth region changes from one frame to
the next, less how much its eyes and brows change (the head moving, nodding, the light:
what is not speech), and `speaking_score` contrasts that motion while the voice is loud with
the motion while it is quiet (`voice_envelope`, the loudness in each frame gap): a speaker's
mouth moves with the voice and rests between phrases, a listener's moves, if at all, as much
either way. The face with the highest score is the window's speaker; `speaking` says whether
its mouth moves with the voice at all (SPEAKING_MIN_SCORE), which an off-screen voice's does not.

Measured (bench/bench_speaker.py, docs/BENCHMARKS.md) on two RAVDESS Actor 05 clips side by
side: the contrast chose the speaker in 78 of 80 windows against 70 for the loudness-weighted
mean of the motion alone. When both people move their lips and only one is heard (lip-synced
video, crosstalk), 15 frames a window cannot tell them apart: about chance.

Regions are fixed fractions of MTCNN's face box (the crop), where the mouth and the eyes
of a frontal face sit; no landmark model is needed. Units: mean absolute difference of
contrast-normalised grey levels (a z-score per region), so a score is independent of
brightness and of the face's size in pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .constants import FRAMES_PER_WINDOW, SAMPLE_RATE
from .faces import WindowFaces
from .records import Window
from .windows import frame_times

BLOCK = 4  # px: crops (224 x 224) are averaged in 4 x 4 blocks (56 x 56) before comparing
MOUTH = (slice(38, 54), slice(14, 42))  # rows, columns of the 56 x 56 grid: the mouth in an MTCNN box
UPPER = (slice(10, 28), slice(7, 49))  # eyes and brows: motion of the face that is not speech
SPEAKING_MIN_SCORE = 0.05  # a speaker's score at least (about 9 in 10 speakers, 1 in 10 listeners reach it)


def _regions(crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 224, 224, 3) uint8 crops -> mouth and upper-face regions, each (n, h, w) z-scored grey."""
    n, size = crops.shape[0], crops.shape[1]
    grey = crops.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)  # (n, 224, 224)
    g = size // BLOCK
    small = grey[:, :g * BLOCK, :g * BLOCK].reshape(n, g, BLOCK, g, BLOCK).mean(axis=(2, 4))  # (n, 56, 56)

    def z(region: np.ndarray) -> np.ndarray:
        mean = region.mean(axis=(1, 2), keepdims=True)
        std = region.std(axis=(1, 2), keepdims=True)
        return (region - mean) / np.maximum(std, 1.0)

    return z(small[:, MOUTH[0], MOUTH[1]]), z(small[:, UPPER[0], UPPER[1]])


def face_motion(face: WindowFaces) -> np.ndarray:
    """(n_frames - 1,) float32: change of the mouth from frame i to i + 1 less that of the eyes and
    brows; NaN where either frame lacks the face."""
    mouth, upper = _regions(face.crops)
    d_mouth = np.abs(np.diff(mouth, axis=0)).mean(axis=(1, 2))
    d_upper = np.abs(np.diff(upper, axis=0)).mean(axis=(1, 2))
    both = face.mask[1:] & face.mask[:-1]
    return np.where(both, d_mouth - d_upper, np.nan).astype(np.float32)


def voice_envelope(samples: np.ndarray | None, window: Window, *, n_frames: int = FRAMES_PER_WINDOW,
                   sr: int = SAMPLE_RATE) -> np.ndarray:
    """(n_frames - 1,) float32 RMS of the window's samples between consecutive frame times (0 without
    audio). `samples` start where the window's inputs do (`Window.input_start_s`), at `sr` Hz."""
    out = np.zeros(n_frames - 1, np.float32)
    if samples is None or samples.size == 0:
        return out
    y = np.asarray(samples, np.float32).reshape(-1)
    edges = np.round((frame_times(window, n_frames) - window.input_start_s) * sr).astype(int)
    for i, (a, b) in enumerate(zip(edges, edges[1:])):
        part = y[max(0, a):max(0, b)]
        out[i] = float(np.sqrt(np.mean(part.astype(np.float64) ** 2))) if part.size else 0.0
    return out


def speaking_score(motion: np.ndarray, envelope: np.ndarray) -> float:
    """Mouth motion (`face_motion`) while the voice is loud less mouth motion while it is quiet: the means
    over the frame gaps weighted by loudness relative to the window's loudest gap, and by its complement.
    NaN without voice or without two consecutive frames of the face."""
    ok = np.isfinite(motion)
    loud = envelope[ok].astype(np.float64)
    if not ok.any() or loud.max(initial=0.0) <= 0:
        return float("nan")
    loud = loud / loud.max()
    quiet = 1.0 - loud
    x = motion[ok].astype(np.float64)
    during = np.sum(loud * x) / loud.sum()
    between = np.sum(quiet * x) / quiet.sum() if quiet.sum() > 1e-9 else 0.0
    return float(during - between)


def choose_speaker(faces: Sequence[WindowFaces], envelope: np.ndarray) -> tuple[int | None, list[float]]:
    """The index of the face that speaks in a window (highest `speaking_score`), and every face's score.

    Without faces: (None, []). Without voice (every score NaN): the largest face (faces come
    largest first), so a silent window keeps today's choice.
    """
    if not faces:
        return None, []
    scores = [speaking_score(face_motion(f), envelope) for f in faces]
    finite = [s if np.isfinite(s) else -np.inf for s in scores]
    best = int(np.argmax(finite)) if any(np.isfinite(s) for s in scores) else 0
    return best, scores


def is_speaking(score: float | None) -> bool | None:
    """Whether a speaker's score says it speaks (None without a score)."""
    if score is None or not np.isfinite(score):
        return None
    return bool(score >= SPEAKING_MIN_SCORE)
