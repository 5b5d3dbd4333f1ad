"""Audio features of one window: MFCC 40 + Mel 128 (dB) + contrast 7 + Tonnetz 6 = 181 x 156.

Pure functions of a sample array; every feature uses hop 512 and centred frames at
22,050 Hz, so a 3.6 s window (79,380 samples) gives 156 frames. One STFT serves the Mel
spectrogram, MFCC and spectral contrast; Tonnetz runs its own constant-Q chroma.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from .constants import (
    HOP_LENGTH,
    N_AUDIO_FEATURES,
    N_AUDIO_FRAMES,
    N_CONTRAST,
    N_FFT,
    N_MELS,
    N_MFCC,
    N_TONNETZ,
    SAMPLE_RATE,
    SILENCE_RMS,
    TONNETZ_TUNING,
    WINDOW_SAMPLES,
)

TARGET_RMS = 0.05  # full scale 1.0: about -26 dBFS, a typical speech level
ACTIVE_DB = 30.0  # dB under the loudest frame that still counts as speech for the level
MAX_GAIN_DB = 30.0  # dB, the most a window is raised or lowered


@functools.cache
def use_librosa_cache() -> str | None:
    """Let librosa keep its constant-Q filter bank on disk (its own cache: joblib, `LIBROSA_CACHE_DIR`).

    librosa rebuilds the filters of Tonnetz's constant-Q transform on every call, about half of a
    window's feature time; its cache (level 10 by default: filters only, never a signal's result)
    keeps them in $XDG_CACHE_HOME/emoannotate/librosa (3.5 MB), and what comes out is the same to
    the bit. librosa reads the variable when it is imported, so this runs before that: here, and
    before the workers' forkserver starts (`executor`). A LIBROSA_CACHE_DIR of the user's own is
    kept; where the folder cannot be written, librosa builds the filters each time, as before.
    Returns the folder used, or None.
    """
    if "LIBROSA_CACHE_DIR" in os.environ:
        return os.environ["LIBROSA_CACHE_DIR"] or None
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "emoannotate" / "librosa"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(folder, os.W_OK | os.X_OK):
        return None
    os.environ["LIBROSA_CACHE_DIR"] = str(folder)
    return str(folder)


def fit_length(samples: np.ndarray, n: int = WINDOW_SAMPLES) -> np.ndarray:
    """Cut or zero-pad (at the end) a (m,) signal to (n,) float32."""
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    if samples.size >= n:
        return samples[:n]
    return np.pad(samples, (0, n - samples.size))


def is_silent(samples: np.ndarray, threshold: float = SILENCE_RMS) -> bool:
    """True when the signal's RMS (full scale 1.0) is under `threshold`, or it is empty."""
    samples = np.asarray(samples, dtype=np.float64)
    return samples.size == 0 or float(np.sqrt(np.mean(samples**2))) < threshold


def normalise_level(samples: np.ndarray) -> np.ndarray:
    """Scale a window so its speech has the RMS TARGET_RMS, whatever the recording's level.

    The level is the RMS of the window's active frames (those within ACTIVE_DB of its loudest
    2048-sample frame), so pauses do not count; the gain is capped at +-MAX_GAIN_DB. Studio
    takes, broadcasts and phone recordings differ in level by tens of dB, which the Mel
    spectrogram in absolute dB would otherwise read as emotion.
    """
    y = np.asarray(samples, dtype=np.float32).reshape(-1)
    n = y.size // N_FFT * N_FFT
    if n == 0:
        return y
    frame_rms = np.sqrt(np.mean(y[:n].reshape(-1, N_FFT).astype(np.float64) ** 2, axis=1))
    peak = float(frame_rms.max())
    if peak <= 0:
        return y
    active = frame_rms[frame_rms >= peak * 10 ** (-ACTIVE_DB / 20)]
    level = float(np.sqrt(np.mean(active**2)))
    gain = float(np.clip(TARGET_RMS / level, 10 ** (-MAX_GAIN_DB / 20), 10 ** (MAX_GAIN_DB / 20)))
    return (y * gain).astype(np.float32)


def window_features(samples: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Features of one window.

    samples: (m,) mono float at `sr` Hz; cut or zero-padded to 79,380 samples (3.6 s).
    The window is first brought to a fixed speech level (`normalise_level`).
    Returns: (181, 156) float32, rows = MFCC 0-39, Mel dB 40-167, contrast 168-174,
    Tonnetz 175-180; columns = frames every 512 samples (23.2 ms).
    """
    use_librosa_cache()  # before librosa's first import in this process
    import librosa  # heavy import, kept local

    if sr != SAMPLE_RATE:
        raise ValueError(f"expected {SAMPLE_RATE} Hz audio, got {sr} Hz; resample first")
    y = normalise_level(fit_length(samples))
    stft_mag = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP_LENGTH, center=True))  # (1025, 156)
    mel = librosa.feature.melspectrogram(S=stft_mag**2, sr=sr, n_mels=N_MELS)  # (128, 156) power
    mel_db = librosa.power_to_db(mel, ref=1.0)  # dB re 1.0, floor at max - 80 dB
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=N_MFCC)  # (40, 156)
    contrast = librosa.feature.spectral_contrast(S=stft_mag, sr=sr, n_bands=N_CONTRAST - 1)  # (7, 156)
    # A fixed tuning (A4 = 440 Hz) instead of librosa's per-call estimate: a 3.6 s window of speech has
    # no tuning to estimate, and the estimate (piptrack) is a third of this function's time and the
    # numba gufunc whose on-disk cache crashed a fresh install's second run (numba#10128).
    tonnetz = librosa.feature.tonnetz(y=y, sr=sr, hop_length=HOP_LENGTH, tuning=TONNETZ_TUNING)  # (6, 156)
    tonnetz = np.nan_to_num(tonnetz)  # silent stretches give 0/0 in the chroma normalisation
    feats = np.concatenate([mfcc, mel_db, contrast, tonnetz], axis=0).astype(np.float32)
    assert feats.shape == (N_AUDIO_FEATURES, N_AUDIO_FRAMES), feats.shape
    assert N_TONNETZ == tonnetz.shape[0]
    return feats


def window_audio_features(samples: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray | None:
    """`window_features` of a window's real samples, or None when they are silent."""
    if is_silent(samples):
        return None
    return window_features(samples, sr)
