"""One path from a window to the model: training's cache and `run` compute identical inputs."""

from __future__ import annotations

import numpy as np
import pytest

from emoannotate.constants import FRAMES_PER_WINDOW, SAMPLE_RATE, WINDOW_SAMPLES
from emoannotate.datasets import Sample
from emoannotate.discover import make_jobs
from emoannotate.executor import run_task
from emoannotate.extract import assemble, extract_clip, extract_windows, first_window
from emoannotate.faces import WindowFaces
from emoannotate.media import iter_audio, iter_frames, probe
from emoannotate.pipeline import RunOptions, plan
from emoannotate.records import MediaArrays, Window
from emoannotate.training.cache import FeatureCache
from emoannotate.windows import frame_times, plan_windows


def _assert_same(a, b):
    assert (a.faces is None) == (b.faces is None)
    if a.faces is not None:
        np.testing.assert_array_equal(a.faces, b.faces)
    np.testing.assert_array_equal(a.face_mask, b.face_mask)
    assert (a.audio is None) == (b.audio is None)
    if a.audio is not None:
        np.testing.assert_array_equal(a.audio, b.audio)
    assert a.face_box == b.face_box and a.max_faces == b.max_faces


@pytest.mark.slow
def test_a_training_clip_gives_the_tensors_run_gives_its_first_window(face_video, tmp_path):
    # What `run` feeds the model: the pipeline's plan and a worker task, as the executor runs them.
    (job,) = make_jobs([face_video])
    tasks = plan([job], RunOptions(workers=0)).tasks(workers=1)
    run_inputs = run_task(tasks[0]).inputs[0]
    assert run_inputs.window.index == 0 and run_inputs.has_video and run_inputs.has_audio
    # What training trains on: the same clip as a dataset sample, through the on-disk cache.
    sample = Sample(id="clip", dataset="generic", label="anger", speaker="generic:a", video=face_video)
    cache = FeatureCache(tmp_path / "cache")
    (computed,) = cache.get_all([sample])
    (reloaded,) = FeatureCache(tmp_path / "cache").get_all([sample])  # from disk this time
    _assert_same(run_inputs, computed)
    _assert_same(run_inputs, reloaded)


def test_a_separate_audio_file_gives_the_voice_of_its_own_first_window(audio_wav):
    voice = extract_clip(audio=audio_wav)
    (window_inputs,) = extract_windows(audio_wav, [first_window(probe(audio_wav).duration_s)], has_video=False,
                                       has_audio=True)
    np.testing.assert_array_equal(voice.audio, window_inputs.audio)
    assert voice.faces is None and not voice.face_mask.any()


def test_first_window_is_the_first_window_run_cuts():
    assert first_window(8.0) == Window(0, 0.0, 3.6)
    assert first_window(3.2) == Window(0, 0.0, 3.2, partial=True)


def test_arrays_in_memory_read_like_a_file(face_video):
    """Frames and audio decoded from a file, given back as arrays, give the same window inputs."""
    import av

    with av.open(str(face_video)) as c:
        fps = float(c.streams.video[0].average_rate)
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    info = probe(face_video)
    windows = [Window(0, 0.0, 3.6)]
    (_, file_audio), = iter_audio(face_video, windows)
    arrays = MediaArrays(frames=frames, fps=fps, audio=file_audio, sample_rate=22050, name="clip")
    (_, array_frames), = iter_frames(arrays, windows, n_frames=15)
    (_, video_frames), = iter_frames(str(face_video), windows, n_frames=15)
    for a, b in zip(array_frames, video_frames):
        np.testing.assert_array_equal(a, b)
    (_, array_audio), = iter_audio(arrays, windows)
    np.testing.assert_array_equal(array_audio, file_audio)
    assert info.has_video and info.has_audio


def test_a_last_window_reading_back_claims_only_what_its_own_span_has():
    tail = plan_windows(5.0)[-1]  # its row [3.6, 5.0); it reads [1.4, 5.0)
    own = frame_times(tail) >= tail.start_s
    n = FRAMES_PER_WINDOW
    rng = np.random.default_rng(0)
    voice = (0.1 * rng.standard_normal(WINDOW_SAMPLES)).astype(np.float32)

    def face(mask):
        return WindowFaces(np.zeros((n, 224, 224, 3), np.uint8), mask, np.full((n, 4), 10.0, np.float32), 1)

    x = assemble(tail, [face(np.ones(n, bool))], voice, faces="largest")
    assert x.audio is not None and x.face_mask.all()  # face and voice in its own span: all 15 frames read
    ended = voice.copy()
    ended[round((tail.start_s - tail.input_start_s) * SAMPLE_RATE):] = 0  # the audio stops before its span
    gone = ~own  # the face only in frames before its span
    x = assemble(tail, [face(gone)], ended, faces="largest")
    assert x.audio is None and x.faces is None and not x.face_mask.any()
