"""Voices as real recordings make them: level, noise, band-limiting, reverberation and coarse coding.

RAVDESS is a quiet studio at full band; interviews are broadcast, web, meeting and phone audio,
often recorded at 16 kHz or less. Each augmented
copy of a training voice is its clip's window degraded by a seeded chain of these effects
and then given to the same feature function as `run` (`audio.window_audio_features`), so
only the degradation is new. No music beds: no music the project may ship was at hand.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from .. import audio as audio_features
from ..constants import SAMPLE_RATE
from ..datasets import Sample
from ..media import iter_audio, probe_source
from .cache import sample_key, save_npz


@dataclass(frozen=True)
class Degradation:
    """One copy's effects; see `degrade`."""

    gain_db: float  # level change before everything else (clipped at full scale)
    snr_db: float | None  # noise (pink) at this signal-to-noise ratio, or none
    phone: bool  # band-limit to 300-3400 Hz (telephone)
    lowpass_hz: float | None  # the top of a recording made at a lower rate (16 kHz meetings: 8 kHz), or none
    rt60_s: float | None  # reverberation time of a synthetic room, or none
    mu_law: bool  # 8-bit mu-law coding (telephone codecs)


def draw(seed_text: str) -> tuple[Degradation, np.random.Generator]:
    """The effects of one copy and the generator of its noise, fixed by `seed_text` (same on every machine)."""
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(seed_text.encode()).digest()[:8], "little"))
    return Degradation(
        gain_db=float(rng.uniform(-30.0, 12.0)),
        snr_db=float(rng.uniform(0.0, 30.0)) if rng.random() < 0.7 else None,
        phone=bool(rng.random() < 0.3),
        lowpass_hz=float(rng.choice([4000.0, 5500.0, 8000.0])) if rng.random() < 0.5 else None,
        rt60_s=float(rng.uniform(0.2, 0.9)) if rng.random() < 0.4 else None,
        mu_law=bool(rng.random() < 0.2),
    ), rng


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1.0))  # 1/f power
    noise = np.fft.irfft(spectrum, n)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def degrade(y: np.ndarray, d: Degradation, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Apply `d` to a mono signal (n,) float in [-1, 1]; returns (n,) float32."""
    x = np.asarray(y, dtype=np.float64)
    n = x.size
    if d.rt60_s is not None:
        t = np.arange(int(d.rt60_s * sr)) / sr
        rir = rng.standard_normal(t.size) * np.exp(-6.9 * t / d.rt60_s)  # -60 dB at rt60
        rir[0] = 1.0 / 0.3  # the direct sound, well above the tail
        wet = np.fft.irfft(np.fft.rfft(x, n + rir.size) * np.fft.rfft(rir, n + rir.size))[:n]
        x = wet * (np.sqrt(np.mean(x**2)) / (np.sqrt(np.mean(wet**2)) + 1e-12))
    if d.snr_db is not None:
        speech_rms = np.sqrt(np.mean(x**2)) + 1e-12
        x = x + _pink(n, rng) * speech_rms * 10 ** (-d.snr_db / 20)
    if d.phone or d.lowpass_hz is not None:
        spectrum = np.fft.rfft(x)
        freqs = np.fft.rfftfreq(n, 1 / sr)
        cut = freqs > (3400.0 if d.phone else float(d.lowpass_hz))  # type: ignore[arg-type]
        if d.phone:
            cut |= freqs < 300
        spectrum[cut] = 0
        x = np.fft.irfft(spectrum, n)
    x = np.clip(x * 10 ** (d.gain_db / 20), -1.0, 1.0)
    if d.mu_law:
        mu = 255.0
        q = np.round((np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu) + 1) / 2 * mu)
        z = q / mu * 2 - 1
        x = np.sign(z) * ((1 + mu) ** np.abs(z) - 1) / mu
    return x.astype(np.float32)


def degraded_voice(sample: Sample, copy: int) -> np.ndarray | None:
    """Features (181, 156) of copy `copy` of a voice sample's first window, degraded; None when silent."""
    from ..extract import first_window

    path = sample.audio or sample.video
    if path is None:
        return None
    info = probe_source(path)
    if not info.has_audio:
        return None
    window = first_window(info.duration_s)
    (_, samples), = iter_audio(path, [window])
    d, rng = draw(f"{sample.dataset}/{sample.id}/{copy}")
    return audio_features.window_audio_features(degrade(samples, d, rng))


AUGMENT_VERSION = 2  # bump when `draw` or `degrade` change (2: low-pass of lower-rate recordings)


def _voice_key(sample: Sample, copy: int) -> str:
    return hashlib.sha256(f"{AUGMENT_VERSION}|{sample_key(sample)}|{copy}".encode()).hexdigest()[:24]


def _compute(args: tuple[Sample, int, str]) -> None:
    sample, copy, path = args
    from pathlib import Path

    try:
        feats = degraded_voice(sample, copy)
    except Exception:  # noqa: BLE001 - an unreadable voice gets no copy
        feats = None
    if feats is None:
        save_npz(Path(path), none=np.array(True))
    else:
        save_npz(Path(path), audio=feats)


def cached_degraded_voices(samples: list[Sample], copies: int, cache_dir, *, workers: int = 2
                           ) -> list[list[np.ndarray]]:
    """For each voice sample, the features of its `copies` degraded copies (fewer where one was silent)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from pathlib import Path

    root = Path(cache_dir) / "voices"
    root.mkdir(parents=True, exist_ok=True)
    jobs = [(s, c, str(root / f"{_voice_key(s, c)}.npz")) for s in samples for c in range(copies)]
    todo = [j for j in jobs if not Path(j[2]).is_file()]
    if todo and workers > 0:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            list(pool.map(_compute, todo, chunksize=16))
    else:
        for j in todo:
            _compute(j)
    out: list[list[np.ndarray]] = []
    for k in range(len(samples)):
        feats = []
        for _, _, path in jobs[k * copies:(k + 1) * copies]:
            with np.load(path) as z:
                if "audio" in z:
                    feats.append(z["audio"])
        out.append(feats)
    return out
