"""Probe and decode with PyAV: streams, durations, frames at window times, audio at 22,050 Hz."""

from pathlib import Path

import av
import numpy as np
import pytest
from synth import (
    FACE_SIDE,
    MEDIA_SECONDS,
    PLAIN_FPS,
    PLAIN_SIZE,
    TONE_AMPLITUDE,
    TONE_HZ,
    WAV_TONE_HZ,
    flat_frame,
    gray_level,
    sine,
    write_media,
)

from emoannotate import media
from emoannotate.constants import FRAMES_PER_WINDOW, SAMPLE_RATE, WINDOW_SAMPLES, WINDOW_SECONDS
from emoannotate.errors import MediaError
from emoannotate.media import iter_window_audio, iter_window_frames, probe, read_audio
from emoannotate.records import Window
from emoannotate.windows import frame_times, plan_windows

DURATION_TOL = 0.1  # s
CHIRP_SECONDS = 10.0
CHIRP_HZ = (200.0, 2000.0)  # start and end frequency of the linear chirp


def chirp_hz(t: float) -> float:
    f0, f1 = CHIRP_HZ
    return f0 + (f1 - f0) * t / CHIRP_SECONDS


@pytest.fixture(scope="module")
def chirp_m4a(tmp_path_factory) -> Path:
    """10 s of a linear 200 -> 2000 Hz chirp, AAC at 44.1 kHz: every instant is recognisable."""
    f0, f1 = CHIRP_HZ

    def chirp(t):
        return 0.5 * np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * CHIRP_SECONDS)))

    return write_media(tmp_path_factory.mktemp("chirp") / "chirp.m4a", duration_s=CHIRP_SECONDS, audio_fn=chirp)


def peak_hz(samples: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    """The frequency (Hz) of the strongest bin of a Hann-windowed spectrum."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / sr)[np.argmax(spectrum)])


class SeekSpy:
    """Wraps a PyAV container and records its seek calls."""

    def __init__(self, container, calls):
        self._container, self._calls = container, calls

    def __getattr__(self, name):
        return getattr(self._container, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._container.close()

    def seek(self, *args, **kwargs):
        self._calls.append((args, kwargs))
        return self._container.seek(*args, **kwargs)


@pytest.fixture
def seeks(monkeypatch) -> list:
    calls: list = []
    real_open = av.open
    monkeypatch.setattr(media.av, "open", lambda *a, **k: SeekSpy(real_open(*a, **k), calls))
    return calls


# --- probe ----------------------------------------------------------------------------------

def test_probe_video_with_audio(tone_video):
    info = probe(tone_video)
    assert info.has_video and info.has_audio
    assert info.duration_s == pytest.approx(MEDIA_SECONDS, abs=DURATION_TOL)
    assert info.fps == pytest.approx(PLAIN_FPS)
    assert (info.width, info.height) == PLAIN_SIZE
    assert info.path == Path(tone_video)


def test_probe_video_without_audio(video_without_audio):
    info = probe(video_without_audio)
    assert info.has_video and not info.has_audio
    assert (info.width, info.height) == (FACE_SIDE, FACE_SIDE)
    assert info.duration_s == pytest.approx(MEDIA_SECONDS, abs=DURATION_TOL)


def test_probe_audio_only(audio_wav):
    info = probe(audio_wav)
    assert info.has_audio and not info.has_video
    assert info.fps is None and info.width is None
    assert info.duration_s == pytest.approx(MEDIA_SECONDS, abs=DURATION_TOL)


def test_probe_missing_file(tmp_path):
    missing = tmp_path / "missing.mp4"
    with pytest.raises(MediaError, match="no such file") as err:
        probe(missing)
    assert str(missing) in str(err.value)


def test_probe_empty_file(empty_file):
    with pytest.raises(MediaError, match="empty") as err:
        probe(empty_file)
    assert str(empty_file) in str(err.value)


def test_probe_corrupt_file(corrupt_file):
    with pytest.raises(MediaError) as err:
        probe(corrupt_file)
    assert str(corrupt_file) in str(err.value)
    assert len(str(err.value).splitlines()) == 1


# --- frames ---------------------------------------------------------------------------------

def on_screen(t: float, fps: int = PLAIN_FPS) -> int:
    """Index of the frame shown at time t (s) of a constant-rate video starting at 0."""
    return int(np.floor(t * fps + 1e-9))


def gray(frame: np.ndarray) -> float:
    return float(frame.mean())


def assert_frames_at(frames, window: Window):
    """Each decoded frame is the one on screen at its target time (gray levels 6 apart)."""
    for t, frame in zip(frame_times(window), frames):
        assert frame is not None, t
        assert gray(frame) == pytest.approx(gray_level(on_screen(t)), abs=2.0), t


def test_frames_with_b_frames_are_the_same_when_unneeded_ones_are_skipped(tmp_path):
    import av

    from tests.synth import write_media

    path = write_media(tmp_path / "b.mp4", duration_s=8.0, fps=30, preset="veryfast",
                       frame_fn=lambda i: np.full((64, 96, 3), (7 * i) % 256, np.uint8))
    with av.open(str(path)) as c:  # the file has frames nothing refers to, for the decoder to skip
        c.streams.video[0].codec_context.skip_frame = "NONREF"
        kept = sum(1 for _ in c.decode(video=0))
    assert kept < 0.8 * 240
    windows = plan_windows(8.0, hop_s=1.3)  # overlapping windows: targets out of step with the frames
    skipped = list(iter_window_frames(path, windows, n_frames=FRAMES_PER_WINDOW))
    every = list(iter_window_frames(path, windows, n_frames=FRAMES_PER_WINDOW, skip_unneeded=False))
    assert [w for w, _ in skipped] == [w for w, _ in every] == windows
    for (w, a), (_, b) in zip(skipped, every):
        for t, x, y in zip(frame_times(w), a, b):
            assert x is not None and np.array_equal(x, y), t
            assert gray(x) == pytest.approx((7 * on_screen(t, 30)) % 256, abs=2.0), t


def test_frames_per_window_shape_and_timing(tone_video):
    windows = plan_windows(MEDIA_SECONDS)  # [0, 3.6) and the partial [3.6, 4.0)
    got = list(iter_window_frames(tone_video, windows, n_frames=FRAMES_PER_WINDOW))
    assert [w for w, _ in got] == windows
    for window, frames in got:
        assert len(frames) == FRAMES_PER_WINDOW
        for frame in frames:
            assert frame.shape == (PLAIN_SIZE[1], PLAIN_SIZE[0], 3) and frame.dtype == np.uint8
        assert_frames_at(frames, window)


def test_frames_past_the_end_are_none(tone_video):
    straddling = Window(0, 3.0, 6.6)  # the video ends at 4.0 s
    beyond = Window(1, 4.5, 8.1)
    got = dict((w.index, f) for w, f in iter_window_frames(tone_video, [straddling, beyond], n_frames=15))
    times = frame_times(straddling)
    inside = times < MEDIA_SECONDS
    assert all(f is not None for f, keep in zip(got[0], inside) if keep)
    assert all(f is None for f, t in zip(got[0], times) if t > MEDIA_SECONDS + 0.1)
    assert got[1] == [None] * 15


def test_frames_of_a_late_window_seek(tone_video, seeks):
    late = Window(0, 2.4, 3.6)  # first target 2.44 s: past the 2 s seek threshold
    (window, frames), = iter_window_frames(tone_video, [late], n_frames=FRAMES_PER_WINDOW)
    assert len(seeks) == 1
    assert_frames_at(frames, late)


def test_frames_of_an_early_window_do_not_seek(tone_video, seeks):
    list(iter_window_frames(tone_video, [Window(0, 0.0, 3.6)], n_frames=3))
    assert seeks == []


def test_frames_need_a_video_stream(audio_wav):
    with pytest.raises(MediaError, match="no video stream"):
        list(iter_window_frames(audio_wav, plan_windows(MEDIA_SECONDS), n_frames=15))


def test_frames_of_a_corrupt_file_raise_media_error(corrupt_file):
    with pytest.raises(MediaError) as err:
        list(iter_window_frames(corrupt_file, [Window(0, 0.0, 3.6)], n_frames=15))
    assert str(corrupt_file) in str(err.value)


def test_no_windows_no_frames(tone_video):
    assert list(iter_window_frames(tone_video, [], n_frames=15)) == []


# --- audio ----------------------------------------------------------------------------------

def test_audio_of_a_video_is_22050_hz_mono_of_the_window_length(tone_video):
    windows = plan_windows(MEDIA_SECONDS)
    got = list(iter_window_audio(tone_video, windows))
    assert [w for w, _ in got] == windows
    full, tail = got[0][1], got[1][1]
    assert full.dtype == np.float32 and full.ndim == 1
    assert full.shape == (WINDOW_SAMPLES,)
    # the 0.4 s tail reads the file's last 3.6 s: whole, overlapping the window before
    assert windows[1].partial and windows[1].input_start_s == pytest.approx(MEDIA_SECONDS - WINDOW_SECONDS)
    assert tail.size == pytest.approx(WINDOW_SAMPLES, abs=0.01 * SAMPLE_RATE)
    # the 44.1 kHz AAC tone comes back at 22,050 Hz: its peak stays at 440 Hz
    assert peak_hz(full) == pytest.approx(TONE_HZ, abs=1.0)
    rms = float(np.sqrt(np.mean(full[SAMPLE_RATE // 10:] ** 2)))
    assert rms == pytest.approx(TONE_AMPLITUDE / np.sqrt(2), rel=0.05)


def test_audio_of_a_48_khz_wav_is_resampled(audio_wav):
    (window, samples), = iter_window_audio(audio_wav, [Window(0, 0.0, 3.6)])
    assert samples.shape == (WINDOW_SAMPLES,)
    assert peak_hz(samples) == pytest.approx(WAV_TONE_HZ, abs=1.0)
    assert np.abs(samples).max() == pytest.approx(TONE_AMPLITUDE, abs=0.02)


def test_read_audio_whole_file(audio_wav):
    samples = read_audio(audio_wav)
    assert samples.dtype == np.float32
    assert samples.size == pytest.approx(MEDIA_SECONDS * SAMPLE_RATE, abs=0.01 * SAMPLE_RATE)


def test_overlapping_windows_stream_the_same_samples_as_one_read(chirp_m4a, seeks):
    whole = read_audio(chirp_m4a)
    seeks.clear()  # probing (inside read_audio) seeks to check the file's end; the decoding below must not
    windows = plan_windows(CHIRP_SECONDS, hop_s=1.8)
    assert len(windows) == 5 and windows[-1].partial
    got = list(iter_window_audio(chirp_m4a, windows))
    assert [w for w, _ in got] == windows
    for window, samples in got:
        lo, hi = round(window.input_start_s * SAMPLE_RATE), round(window.end_s * SAMPLE_RATE)
        assert samples.size == hi - lo == WINDOW_SAMPLES  # the partial last one too: the file's last 3.6 s
        np.testing.assert_allclose(samples, whole[lo:hi], atol=1e-6)
    assert seeks == []  # the first window starts at 0: no seek


def test_late_window_seeks_and_lands_on_the_right_samples(chirp_m4a, seeks):
    whole = read_audio(chirp_m4a)
    seeks.clear()  # probing (inside read_audio) seeks to check the file's end
    late = Window(0, 6.0, 9.6)
    (window, samples), = iter_window_audio(chirp_m4a, [late])
    assert len(seeks) == 1
    lo = round(late.start_s * SAMPLE_RATE)
    assert samples.shape == (WINDOW_SAMPLES,)
    np.testing.assert_allclose(samples, whole[lo:lo + WINDOW_SAMPLES], atol=1e-3)
    # and that is the chirp at 6.0 s, not at some other time
    tenth = SAMPLE_RATE // 10
    assert peak_hz(samples[:tenth]) == pytest.approx(chirp_hz(late.start_s + 0.05), abs=25.0)


def test_audio_past_the_end_is_short_or_empty(audio_wav):
    got = list(iter_window_audio(audio_wav, [Window(0, 3.0, 6.6), Window(1, 5.0, 8.6)]))
    assert got[0][1].size == pytest.approx(1.0 * SAMPLE_RATE, abs=0.01 * SAMPLE_RATE)
    assert got[1][1].size == 0


def test_audio_needs_an_audio_stream(video_without_audio):
    with pytest.raises(MediaError, match="no audio stream") as err:
        list(iter_window_audio(video_without_audio, [Window(0, 0.0, 3.6)]))
    assert str(video_without_audio) in str(err.value)


def test_mpeg_ts_with_wrapped_audio_priming(tmp_path):
    """PyAV's AAC encoder primes before 0; MPEG-TS writes that as a 33-bit timestamp just under 2^33 (26.5
    hours). The file is what it is: 4 s, its audio where it belongs."""
    path = write_media(tmp_path / "clip.ts", duration_s=12.0, frame_fn=lambda i: flat_frame(i % 40),
                       audio_fn=sine(TONE_HZ))
    with av.open(str(path)) as c:
        assert c.duration / av.time_base > 90000  # the header does claim 26.5 hours
    info = probe(path)
    assert info.duration_s == pytest.approx(12.0, abs=0.1)
    windows = plan_windows(info.duration_s)
    assert len(windows) == 4
    for _, samples in iter_window_audio(path, windows[:3]):
        assert samples.size == WINDOW_SAMPLES and np.sqrt(np.mean(samples**2)) > 0.1  # the tone, not silence
