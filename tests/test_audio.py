"""Audio features of one window: 181 x 156, padding, silence and the sample rate."""

import os
import subprocess
import sys

import numpy as np
import pytest

from emoannotate.audio import fit_length, is_silent, window_audio_features, window_features
from emoannotate.constants import (
    N_AUDIO_FEATURES,
    N_AUDIO_FRAMES,
    N_MELS,
    N_MFCC,
    SAMPLE_RATE,
    SILENCE_RMS,
    WINDOW_SAMPLES,
)

MEL_ROWS = slice(N_MFCC, N_MFCC + N_MELS)


def tone(seconds: float, hz: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.fixture(scope="module")
def full_features() -> np.ndarray:
    return window_features(tone(3.6))


def test_shape_dtype_and_finite(full_features):
    assert full_features.shape == (N_AUDIO_FEATURES, N_AUDIO_FRAMES) == (181, 156)
    assert full_features.dtype == np.float32
    assert np.isfinite(full_features).all()


def test_a_tone_peaks_in_the_right_mel_band(full_features):
    import librosa

    mel_db = full_features[MEL_ROWS]  # (128, 156)
    centres = librosa.mel_frequencies(n_mels=N_MELS + 2, fmax=SAMPLE_RATE / 2)[1:-1]
    loudest = centres[int(np.argmax(mel_db[:, N_AUDIO_FRAMES // 2]))]
    assert loudest == pytest.approx(440.0, rel=0.1)


def test_short_input_is_zero_padded(full_features):
    half = tone(1.8)
    padded = window_features(half)
    assert padded.shape == (181, 156)
    assert np.isfinite(padded).all()
    # the first frames (far from the cut) match the full tone's, up to the level normalisation's
    # gain (the frame cut by the end of the tone counts in the level: 0.14 dB); the padded tail is at the floor
    np.testing.assert_allclose(padded[MEL_ROWS, 5:60], full_features[MEL_ROWS, 5:60], atol=0.2)
    tail_db = padded[MEL_ROWS, -20:]
    assert tail_db.max() < full_features[MEL_ROWS, -20:].max() - 60.0
    # padding explicitly gives the same features as padding inside
    np.testing.assert_array_equal(window_features(fit_length(half)), padded)


def test_long_input_is_cut():
    long = tone(5.0)
    np.testing.assert_array_equal(window_features(long), window_features(long[:WINDOW_SAMPLES]))


def test_fit_length():
    assert fit_length(np.ones(10), 4).tolist() == [1, 1, 1, 1]
    out = fit_length(np.ones((2, 3)), 8)  # flattened, then padded
    assert out.dtype == np.float32 and out.tolist() == [1] * 6 + [0, 0]


def test_silence_gives_none():
    assert window_audio_features(np.zeros(WINDOW_SAMPLES, np.float32)) is None
    assert window_audio_features(np.zeros(0, np.float32)) is None
    quiet = tone(3.6, amplitude=SILENCE_RMS)  # RMS = amplitude / sqrt(2) < threshold
    assert window_audio_features(quiet) is None


def test_is_silent_threshold():
    assert is_silent(np.zeros(100))
    assert is_silent(np.array([]))
    assert not is_silent(tone(0.1, amplitude=0.01))


def test_audible_window_gives_features(full_features):
    feats = window_audio_features(tone(3.6))
    np.testing.assert_array_equal(feats, full_features)


def test_rows_are_finite_for_mostly_silent_input():
    y = np.zeros(WINDOW_SAMPLES, np.float32)
    y[1000:1500] = tone(500 / SAMPLE_RATE, amplitude=0.3)  # a click of tone in silence
    feats = window_features(y)
    assert np.isfinite(feats).all()


def test_wrong_sample_rate_is_rejected():
    with pytest.raises(ValueError, match="22050 Hz"):
        window_features(tone(3.6), sr=16000)
    with pytest.raises(ValueError):
        window_audio_features(tone(3.6), sr=44100)


def test_tonnetz_uses_a_fixed_tuning_not_an_estimate(monkeypatch, full_features):
    """A window's Tonnetz is tuned to A4 = 440 Hz: librosa's tuning estimate (piptrack, whose numba
    gufunc cache crashed fresh installs, numba#10128) is never called, and a tone between two
    semitones is not pulled onto the grid (an estimate would make it look in tune)."""
    import importlib

    pitch = importlib.import_module("librosa.core.pitch")

    def refuse(*args, **kwargs):
        raise AssertionError("the features estimated a tuning")

    monkeypatch.setattr(pitch, "piptrack", refuse)  # what every estimate_tuning calls
    again = window_features(tone(3.6))
    np.testing.assert_array_equal(again, full_features)  # the same with the estimate out of reach
    quarter_sharp = window_features(tone(3.6, 440.0 * 2 ** (0.5 / 12)))[-6:]  # half a semitone up
    assert np.abs(quarter_sharp - full_features[-6:]).max() > 0.05


_FEATURES_IN_A_FRESH_PROCESS = """
import sys, numpy as np
from emoannotate.audio import window_features
t = np.arange(79380) / 22050
y = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.random.default_rng(0).standard_normal(t.size)).astype(np.float32)
np.save(sys.argv[1], window_features(y))
"""


def test_librosa_filter_cache_changes_nothing_but_time(tmp_path):
    """librosa's own disk cache of the constant-Q filters (`use_librosa_cache`): the features computed
    while filling it and when reading it are those without it, to the bit."""

    def features(name: str, **env: str) -> np.ndarray:
        base = {k: v for k, v in os.environ.items() if not k.startswith("LIBROSA_CACHE")}
        subprocess.run([sys.executable, "-c", _FEATURES_IN_A_FRESH_PROCESS, str(tmp_path / name)],
                       env={**base, "XDG_CACHE_HOME": str(tmp_path / "cache"), **env}, check=True)
        return np.load(tmp_path / f"{name}.npy")

    without = features("without", LIBROSA_CACHE_LEVEL="0")  # level 0: librosa caches nothing
    kept = tmp_path / "cache" / "emoannotate" / "librosa"
    assert not any(kept.rglob("output.pkl"))
    filling = features("filling")
    assert any(kept.rglob("output.pkl"))  # the filters, kept
    reading = features("reading")
    np.testing.assert_array_equal(filling, without)
    np.testing.assert_array_equal(reading, without)


def test_an_unwritable_cache_folder_is_not_used(tmp_path, monkeypatch):
    from emoannotate import audio

    blocker = tmp_path / "file"
    blocker.write_text("")  # the cache folder would have to be made inside a file
    monkeypatch.delenv("LIBROSA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    audio.use_librosa_cache.cache_clear()
    try:
        assert audio.use_librosa_cache() is None
        assert "LIBROSA_CACHE_DIR" not in os.environ
    finally:
        audio.use_librosa_cache.cache_clear()
