"""Real RAVDESS recordings through the whole pipeline (MTCNN included) with the tiny model.

Reads ../shared/data (never part of the project; see its README) and skips without it.
"""

from pathlib import Path

import pytest

from emoannotate.checkpoint import load_checkpoint
from emoannotate.constants import FRAMES_PER_WINDOW
from emoannotate.discover import make_jobs
from emoannotate.media import probe
from emoannotate.pipeline import Annotator, RunOptions
from emoannotate.records import MOD_AUDIO, MOD_BOTH, STATUS_NO_FACE, STATUS_OK, STATUS_TOO_SHORT
from emoannotate.windows import is_too_short, plan_windows

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CLIPS = sorted((DATA / "ravdess" / "Actor_05").glob("*.mp4"))[:3]  # 1280x720, 3.1 to 3.3 s
VOICES = sorted((DATA / "ravdess-audio").glob("Actor_*/*.flac"))[:3]  # 22,050 Hz mono FLAC
MIN_FACE_FRAMES = 13  # of 15: a frontal actor; MTCNN may miss a blink-blurred frame or two

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA.is_dir(), reason=f"{DATA} is absent (RAVDESS is never part of the project)"),
]


@pytest.fixture(scope="module")
def annotator(tiny_checkpoint) -> Annotator:
    return Annotator(load_checkpoint(tiny_checkpoint)[0], RunOptions(device="cpu", workers=0, batch_size=8))


def test_audio_video_clips(annotator):
    if len(CLIPS) < 3:
        pytest.skip("fewer than 3 RAVDESS clips in shared/data/ravdess/Actor_05")
    results = list(annotator.annotate(make_jobs(CLIPS)))
    assert [r.job.path for r in results] == CLIPS
    for result in results:
        assert result.ok, result.error
        assert result.info.has_video and result.info.has_audio
        windows = plan_windows(result.info.duration_s)
        assert len(result.windows) == len(windows) == 1  # 3.1-3.3 s: one partial window
        (row,) = result.windows
        assert row.partial and row.end_s == pytest.approx(probe(result.job.path).duration_s, abs=1e-3)
        assert row.status == STATUS_OK and row.modalities == MOD_BOTH, result.job.path.name
        assert MIN_FACE_FRAMES <= row.face_frames <= FRAMES_PER_WINDOW, (result.job.path.name, row.face_frames)
        assert row.max_faces == 1
        x1, y1, x2, y2 = row.face_box
        assert 0 <= x1 < x2 <= result.info.width and 0 <= y1 < y2 <= result.info.height
        assert x2 - x1 > 100  # a face of a few hundred pixels in a 1280x720 frame
        assert sum(row.probabilities) == pytest.approx(1.0, abs=1e-5)


def test_audio_only_recordings(annotator):
    if len(VOICES) < 3:
        pytest.skip("fewer than 3 recordings in shared/data/ravdess-audio")
    results = list(annotator.annotate(make_jobs(VOICES)))
    assert [r.job.path for r in results] == VOICES
    for result in results:
        assert result.ok, result.error
        assert result.info.has_audio and not result.info.has_video
        windows = plan_windows(result.info.duration_s)
        assert [(w.start_s, w.end_s) for w in result.windows] == [(w.start_s, w.end_s) for w in windows]
        for row, window in zip(result.windows, windows):
            if is_too_short(window):
                assert row.status == STATUS_TOO_SHORT and row.emotion is None
            else:
                assert row.status == STATUS_NO_FACE and row.modalities == MOD_AUDIO
                assert row.face_frames == 0 and row.face_box is None
                assert row.emotion is not None
        assert result.windows[0].status == STATUS_NO_FACE


def test_the_speaker_is_chosen_between_two_real_faces(tmp_path, tiny_checkpoint):
    """bench/bench_speaker.py's `listening` media, 8 windows: the speaker's side is chosen in at least 7
    (the benchmark: 78 of 80, docs/BENCHMARKS.md). Its rows are then written as ELAN and TextGrid."""
    import importlib.util
    import sys

    import emoannotate

    clips = sorted((DATA / "ravdess" / "Actor_05").glob("*.mp4"))
    if len(clips) < 2:
        pytest.skip("fewer than 2 RAVDESS clips in shared/data/ravdess/Actor_05")
    spec = importlib.util.spec_from_file_location("bench_speaker", Path(__file__).parents[1] / "bench" /
                                                  "bench_speaker.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_speaker"] = bench
    spec.loader.exec_module(bench)
    media = tmp_path / "two.mp4"
    sides = bench.make_media([bench.load_clip(c) for c in clips[:6]], 8, "listening", media, seed=0)
    results = emoannotate.annotate(media, model=tiny_checkpoint, faces="all", workers=0, device="cpu",
                                   output_dir=tmp_path / "out", formats="eaf,textgrid")
    figures = bench.score(results.records(), sides)
    assert figures["two_faces_found"] == 8
    assert figures["speaker_chosen"] >= 7, figures
    assert (tmp_path / "out" / "two.eaf").is_file() and (tmp_path / "out" / "two.TextGrid").is_file()


def test_live_on_real_clips_at_real_time(tmp_path, tiny_checkpoint):
    """Three RAVDESS Actor 05 clips in a row, then 4 s without a face while another clip's voice goes on,
    as MPEG-TS fed to `live --source -` at real-time speed: a row per second, each soon after its window
    ends; the face-less end read from the voice alone."""
    import importlib.util
    import json
    import subprocess
    import sys
    import threading
    import time

    import numpy as np
    from synth import write_media

    clips = sorted((DATA / "ravdess" / "Actor_05").glob("*.mp4"))
    if len(clips) < 4:
        pytest.skip("fewer than 4 RAVDESS clips in shared/data/ravdess/Actor_05")
    bench_dir = Path(__file__).parents[1] / "bench"
    modules = {}
    for name in ("bench_speaker", "bench_live"):
        spec = importlib.util.spec_from_file_location(name, bench_dir / f"{name}.py")
        modules[name] = importlib.util.module_from_spec(spec)
        sys.modules[name] = modules[name]
        spec.loader.exec_module(modules[name])
    loaded = [modules["bench_speaker"].load_clip(c) for c in clips[:4]]
    frames = np.concatenate([c.frames for c in loaded[:3]])
    faces_until = len(frames) / modules["bench_speaker"].FPS
    grey = np.full_like(frames[:1], 110)
    frames = np.concatenate([frames, np.repeat(grey, round(4.0 * modules["bench_speaker"].FPS), axis=0)])
    audio = np.concatenate([*(c.audio for c in loaded[:3]), loaded[3].audio, loaded[3].audio])
    rate = modules["bench_speaker"].RATE
    seconds = len(frames) / modules["bench_speaker"].FPS
    stream = write_media(tmp_path / "real.ts", duration_s=seconds, frame_fn=lambda i: frames[min(i, len(frames) - 1)],
                         size=(frames.shape[2], frames.shape[1]), fps=modules["bench_speaker"].FPS,
                         audio_fn=lambda t: audio[np.minimum((t * rate).astype(int), audio.size - 1)],
                         audio_rate=rate)
    cmd = [sys.executable, "-m", "emoannotate", "live", "--source", "-", "--model", str(tiny_checkpoint),
           "--device", "cpu"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert "live: reading" in proc.stderr.readline().decode()
    start = time.monotonic()
    threading.Thread(target=modules["bench_live"].feed, args=(proc, stream.read_bytes(), seconds), daemon=True).start()
    lines = [(time.monotonic() - start, json.loads(line)) for line in proc.stdout]
    assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()[-2000:]
    rows = [r for _, r in lines]
    assert len(rows) + sum(r["dropped"] for r in rows) == int(seconds - 3.6) + 1
    assert all(arrived >= r["end_s"] - 0.5 for arrived, r in lines)
    assert np.median([r["latency_s"] for r in rows]) < 2.0
    with_face = [r for r in rows if r["end_s"] <= faces_until]
    assert with_face and all(r["modalities"] == "audio+video" for r in with_face)
    no_face = [r for r in rows if r["start_s"] >= faces_until]
    assert no_face and all(r["modalities"] == "audio" and r["status"] == "no_face" for r in no_face)
