"""The pipeline end to end on synthetic files with the tiny model: rows, statuses, order, batching."""

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from synth import flat_frame, write_media

from emoannotate.checkpoint import load_checkpoint
from emoannotate.device import resolve_device
from emoannotate.discover import make_jobs
from emoannotate.errors import InputError
from emoannotate.hooks import ProgressHook
from emoannotate.pipeline import Annotator, RunOptions
from emoannotate.records import (
    MOD_AUDIO,
    MOD_BOTH,
    MOD_NONE,
    MOD_VIDEO,
    STATUS_ERROR,
    STATUS_NO_AUDIO,
    STATUS_NO_FACE,
    STATUS_NO_SIGNAL,
    STATUS_OK,
    STATUS_TOO_SHORT,
)

pytestmark = pytest.mark.slow  # MTCNN on about 50 small frames per run

ATOL = 1e-5

# name of the file -> status of its first window (the second is the 0.4 s too-short tail)
EXPECTED_FIRST = {
    "face_tone.mp4": (STATUS_OK, MOD_BOTH),
    "face_silent.mp4": (STATUS_NO_AUDIO, MOD_VIDEO),
    "face_no_audio.mp4": (STATUS_NO_AUDIO, MOD_VIDEO),
    "tone.mp4": (STATUS_NO_FACE, MOD_AUDIO),
    "tone.wav": (STATUS_NO_FACE, MOD_AUDIO),
    "flat_no_audio.mp4": (STATUS_NO_SIGNAL, MOD_NONE),
}
BROKEN = {"empty.mp4": "empty", "corrupt.mp4": "cannot decode"}


@pytest.fixture(scope="module")
def flat_no_audio(media_dir) -> Path:
    """No face and no audio stream: a window without any signal."""
    return write_media(media_dir / "flat_no_audio.mp4", frame_fn=flat_frame)


@pytest.fixture(scope="module")
def jobs(all_media, flat_no_audio):
    return make_jobs([*all_media.values(), flat_no_audio])


@pytest.fixture(scope="module")
def model(tiny_checkpoint):
    return load_checkpoint(tiny_checkpoint)[0]


class RecordingHook(ProgressHook):
    def __init__(self):
        self.planned_windows, self.advanced = None, 0

    def planned(self, jobs, n_windows):
        self.planned_windows = n_windows

    def advance(self, job, n_windows):
        self.advanced += n_windows


def run(model, jobs, **options):
    hook = RecordingHook()
    results = list(Annotator(model, RunOptions(device="cpu", **options)).annotate(jobs, hook))
    return results, hook


@pytest.fixture(scope="module")
def inline(model, jobs):
    """workers=0, batches of 7 windows (they span files)."""
    return run(model, jobs, workers=0, batch_size=7)


@pytest.fixture(scope="module")
def by_name(inline):
    results, _ = inline
    return {r.job.path.name: r for r in results}


def probabilities(results) -> dict:
    return {(r.job.path.name, w.window): w.probabilities for r in results for w in r.windows}


def test_every_file_has_a_row_per_window(by_name):
    assert set(by_name) == set(EXPECTED_FIRST) | set(BROKEN)
    for name in EXPECTED_FIRST:
        result = by_name[name]
        assert result.ok and result.info is not None
        assert [w.window for w in result.windows] == [0, 1], name
        assert [(w.start_s, w.end_s) for w in result.windows] == [(0.0, 3.6), (3.6, 4.0)]


@pytest.mark.parametrize("name", sorted(EXPECTED_FIRST))
def test_status_and_modalities_of_each_file(by_name, name):
    status, modalities = EXPECTED_FIRST[name]
    first, tail = by_name[name].windows
    assert (first.status, first.modalities) == (status, modalities)
    assert not first.partial and not first.error
    if status == STATUS_NO_SIGNAL:
        assert first.emotion is None and first.probabilities is None
    else:
        assert first.emotion in first.labels
        assert len(first.probabilities) == 7
        assert sum(first.probabilities) == pytest.approx(1.0, abs=1e-5)
        assert first.confidence == pytest.approx(max(first.probabilities))
        assert first.emotion == first.labels[int(np.argmax(first.probabilities))]
    # the 0.4 s tail is too short: a row, but no prediction
    assert (tail.status, tail.partial, tail.emotion, tail.probabilities) == (STATUS_TOO_SHORT, True, None, None)


def test_face_rows_carry_frames_and_box(by_name):
    for name in ("face_tone.mp4", "face_silent.mp4", "face_no_audio.mp4"):
        row = by_name[name].windows[0]
        assert row.face_frames == 15 and row.max_faces == 1
        x1, y1, x2, y2 = row.face_box
        assert 0 <= x1 < x2 <= 160 and 0 <= y1 < y2 <= 160
    for name in ("tone.mp4", "tone.wav", "flat_no_audio.mp4"):
        row = by_name[name].windows[0]
        assert row.face_frames == 0 and row.face_box is None


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_unreadable_files_give_an_error_row_naming_them(by_name, name):
    result = by_name[name]
    assert not result.ok
    assert str(result.job.path) in result.error and BROKEN[name] in result.error
    (row,) = result.windows
    assert row.status == STATUS_ERROR and row.emotion is None
    assert str(result.job.path) in row.error


def test_results_come_in_job_order_and_the_hook_sees_every_window(inline, jobs):
    results, hook = inline
    assert [r.job for r in results] == list(jobs)
    n_rows = sum(len(r.windows) for r in results)
    assert hook.planned_windows == n_rows == hook.advanced


def test_same_face_video_same_answer(by_name):
    # face_silent and face_no_audio show the same frames and have no audio: same prediction
    a = by_name["face_silent.mp4"].windows[0].probabilities
    b = by_name["face_no_audio.mp4"].windows[0].probabilities
    np.testing.assert_allclose(a, b, atol=ATOL)


def test_batch_size_does_not_change_the_results(inline, model, jobs):
    one, _ = run(model, jobs, workers=0, batch_size=1)
    expected = probabilities(inline[0])
    got = probabilities(one)
    assert got.keys() == expected.keys()
    for key, p in expected.items():
        if p is None:
            assert got[key] is None, key
        else:
            np.testing.assert_allclose(got[key], p, rtol=0, atol=ATOL, err_msg=str(key))


def test_worker_process_gives_the_same_results(inline, model, jobs):
    pooled, hook = run(model, jobs, workers=1, batch_size=7)
    assert [r.job for r in pooled] == list(jobs)
    for a, b in zip(inline[0], pooled):
        assert [(w.window, w.status, w.modalities, w.face_frames, w.emotion, w.error) for w in a.windows] == \
               [(w.window, w.status, w.modalities, w.face_frames, w.emotion, w.error) for w in b.windows]
        for wa, wb in zip(a.windows, b.windows):
            if wa.probabilities is not None:
                np.testing.assert_allclose(wb.probabilities, wa.probabilities, rtol=0, atol=ATOL)
    assert hook.advanced == hook.planned_windows


def test_a_forkserver_started_early_serves_the_workers(inline, model, jobs):
    """forkserver.start(), as the command line calls it before importing torch: one server, started once, that the
    pool's workers then fork from; the rows are the same as in-process."""
    from multiprocessing import forkserver as mp_forkserver

    from emoannotate import forkserver

    if not Path("/proc/self/stat").exists():
        pytest.skip("reads process parents from /proc")
    forkserver.start()
    server = mp_forkserver._forkserver._forkserver_pid  # no public way to name it
    forkserver.start()
    assert server is not None and mp_forkserver._forkserver._forkserver_pid == server

    def server_children() -> set[int]:
        found = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])  # after "pid (name)": state, ppid
            except OSError:
                continue
            if parent == server:
                found.add(int(stat.parent.name))
        return found

    before, children = server_children(), set()

    class Children(ProgressHook):  # rows come per window (batch_size 1), while the workers run
        def advance(self, job, n_windows):
            children.update(server_children())

    pooled = list(Annotator(model, RunOptions(workers=1, batch_size=1)).annotate(jobs, Children()))
    assert children - before  # this run's workers forked from that server
    for a, b in zip(inline[0], pooled):
        assert [(w.window, w.status, w.emotion) for w in a.windows] == [(w.window, w.status, w.emotion)
                                                                       for w in b.windows]


def test_overlapping_hop_and_small_chunks(model, all_media):
    jobs = make_jobs([all_media["wav"]])
    results, _ = run(model, jobs, workers=0, hop_s=0.3, chunk_windows=1, batch_size=2)
    (result,) = results
    # 4.0 s with hop 0.3: full windows at 0 and 0.3 s, then the partial tail [0.6, 4.0)
    assert [(w.window, w.start_s, w.end_s, w.partial, w.status) for w in result.windows] == [
        (0, 0.0, 3.6, False, STATUS_NO_FACE), (1, 0.3, 3.9, False, STATUS_NO_FACE),
        (2, 0.6, 4.0, True, STATUS_NO_FACE)]
    # overlapping windows of a steady tone sound alike
    np.testing.assert_allclose(result.windows[0].probabilities, result.windows[1].probabilities, atol=0.05)


def test_no_jobs_no_results(model):
    assert list(Annotator(model, RunOptions(device="cpu", workers=0)).annotate([])) == []


@pytest.mark.parametrize("kwargs,option", [
    ({"batch_size": 0}, "batch_size"), ({"hop_s": 0.0}, "hop"), ({"hop_s": float("nan")}, "hop"),
    ({"hop_s": float("inf")}, "hop"), ({"workers": -1}, "workers"), ({"threads": 0}, "threads"),
    ({"min_window_s": 99.0}, "min_window"), ({"min_window_s": float("nan")}, "min_window"),
])
def test_bad_options_name_the_option(kwargs, option):
    with pytest.raises(InputError, match=f"^{option} must be"):
        RunOptions(**kwargs)


def test_a_hop_longer_than_the_window_warns_that_time_is_skipped(caplog):
    with caplog.at_level(logging.WARNING, logger="emoannotate"):  # whatever a CLI test in this process set
        RunOptions(hop_s=10.0)
    assert "not annotated" in caplog.text


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(InputError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        for name in ("cuda", "cuda:1"):
            with pytest.raises(InputError, match="no CUDA GPU"):
                resolve_device(name)
