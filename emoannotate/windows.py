"""Window maths: where each 3.6 s window starts and ends, and when its frames are taken."""

from __future__ import annotations

import math

import numpy as np

from .constants import FRAMES_PER_WINDOW, MIN_WINDOW_SECONDS, WINDOW_SECONDS
from .errors import InputError
from .records import Window

_EPS = 1e-6  # s, tolerance for float durations that are "exactly" a multiple of the hop


def plan_windows(
    duration_s: float,
    *,
    hop_s: float = WINDOW_SECONDS,
    window_s: float = WINDOW_SECONDS,
) -> list[Window]:
    """Cut [0, duration_s) into windows of `window_s` every `hop_s` seconds.

    Full windows come first; after them, one last partial window [start, duration_s)
    covers any tail that no full window reaches (flagged `partial`). When a full window came
    before it, it reads [duration_s - window_s, duration_s) (`Window.reads_from_s`): real
    picture and sound, not padding; otherwise (a file shorter than one window) it is padded.
    Nothing is dropped: a short partial window is still returned, and `is_too_short`
    tells the caller to write a "too_short" row for it instead of a prediction (a file
    shorter than the minimum is one such window). Indices count from 0.
    """
    if hop_s <= 0 or window_s <= 0:
        raise InputError(f"hop ({hop_s}) and window ({window_s}) must be positive seconds")
    if duration_s < 0 or not math.isfinite(duration_s):
        raise InputError(f"duration must be a finite number of seconds, got {duration_s}")
    windows: list[Window] = []
    n_full = int(math.floor((duration_s - window_s) / hop_s + _EPS)) + 1 if duration_s + _EPS >= window_s else 0
    for i in range(n_full):
        start = i * hop_s
        windows.append(Window(i, round(start, 6), round(start + window_s, 6)))
    covered = windows[-1].end_s if windows else 0.0
    next_start = n_full * hop_s
    if duration_s - covered > _EPS and duration_s - next_start > _EPS:
        reads_from = round(duration_s - window_s, 6) if n_full else None
        windows.append(Window(n_full, round(next_start, 6), round(duration_s, 6), partial=True,
                              reads_from_s=reads_from))
    return windows


def is_too_short(window: Window, min_s: float = MIN_WINDOW_SECONDS) -> bool:
    """True for a window too short to annotate (under `min_s` seconds)."""
    return window.duration_s < min_s - _EPS


def frame_times(window: Window, n_frames: int = FRAMES_PER_WINDOW) -> np.ndarray:
    """Times (s) of the window's frames: the centres of `n_frames` equal slices of it.

    For a full 3.6 s window they are start + 0.12, 0.36, ..., 3.48; over what it reads
    (`Window.input_start_s` to its end) for a last window that reads the file's last 3.6 s.
    A partial window of a short file spreads its frames over its real span, as the training
    clips were.
    Returns: (n_frames,) float64 seconds.
    """
    start = window.input_start_s
    step = (window.end_s - start) / n_frames
    return start + step * (np.arange(n_frames) + 0.5)
