"""Tests of the summary charts: each makes a real, non-trivial PNG and never overwrites."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emoannotate.charts import (
    EMOTION_COLORS,
    emotion_color,
    plot_confusion_matrix,
    plot_distribution,
    plot_timeline,
)
from emoannotate.constants import EMOTIONS, WINDOW_SECONDS
from emoannotate.errors import InputError
from emoannotate.records import (
    MOD_AUDIO,
    MOD_BOTH,
    MOD_NONE,
    MOD_VIDEO,
    STATUS_NO_FACE,
    STATUS_NO_SIGNAL,
    STATUS_OK,
    STATUS_TOO_SHORT,
    FileResult,
    MediaInfo,
    MediaJob,
    WindowResult,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make_file_result(n_windows: int = 12, seed: int = 0) -> FileResult:
    """A file with smoothly drifting probabilities, a no-signal gap and a too-short tail."""
    rng = np.random.default_rng(seed)
    job = MediaJob(index=0, path=Path("videos/interview.mp4"), key="interview")
    logits = np.cumsum(rng.normal(0, 0.8, size=(n_windows, len(EMOTIONS))), axis=0)
    rows = []
    for w in range(n_windows):
        start = w * WINDOW_SECONDS
        if w == n_windows - 1:
            status, modalities, end = STATUS_TOO_SHORT, MOD_NONE, start + 0.6
        elif w in (4, 5):
            status, modalities, end = STATUS_NO_SIGNAL, MOD_NONE, start + WINDOW_SECONDS
        else:
            status, end = STATUS_OK, start + WINDOW_SECONDS
            modalities = MOD_AUDIO if w == 7 else MOD_VIDEO if w == 8 else MOD_BOTH
            if modalities == MOD_AUDIO:
                status = STATUS_NO_FACE
        probs = None
        if status in (STATUS_OK, STATUS_NO_FACE):
            p = np.exp(logits[w]) / np.exp(logits[w]).sum()
            probs = tuple(float(v) for v in p)
        top = int(np.argmax(probs)) if probs else None
        rows.append(WindowResult(
            file=str(job.path), window=w, start_s=start, end_s=end,
            emotion=EMOTIONS[top] if top is not None else None,
            confidence=probs[top] if probs else None, probabilities=probs,
            modalities=modalities, face_frames=15 if modalities in (MOD_BOTH, MOD_VIDEO) else 0,
            face_box=None, max_faces=1, partial=status == STATUS_TOO_SHORT, status=status))
    info = MediaInfo(path=job.path, duration_s=rows[-1].end_s, has_video=True, has_audio=True)
    return FileResult(job=job, info=info, windows=rows)


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 5_000


def test_timeline_png(tmp_path):
    out = plot_timeline(make_file_result(), tmp_path / "t.png")
    assert out == tmp_path / "t.png"
    assert_png(out)


def test_timeline_of_file_without_windows(tmp_path):
    empty = FileResult(job=MediaJob(0, Path("bad.mp4"), "bad"), info=None, windows=[],
                       error="cannot open")
    assert plot_timeline(empty, tmp_path / "empty.png").read_bytes()[:8] == PNG_SIGNATURE


def test_distribution_png(tmp_path):
    one = make_file_result()
    assert_png(plot_distribution(one, tmp_path / "one.png"))
    assert_png(plot_distribution([one, make_file_result(30, seed=1)], tmp_path / "all.png"))


def test_confusion_matrix_png(tmp_path):
    rng = np.random.default_rng(0)
    matrix = rng.integers(0, 5, size=(7, 7)) + np.diag(rng.integers(10, 30, size=7))
    matrix[6] = 0  # a label without samples
    assert_png(plot_confusion_matrix(matrix, EMOTIONS, tmp_path / "cm.png", "Test"))
    assert_png(plot_confusion_matrix(matrix, EMOTIONS, tmp_path / "raw.png", normalize=False))
    with pytest.raises(ValueError, match="shape"):
        plot_confusion_matrix(matrix[:3], EMOTIONS, tmp_path / "bad.png")


def test_charts_never_overwrite(tmp_path):
    out = tmp_path / "t.png"
    out.write_bytes(b"keep")
    with pytest.raises(InputError, match="--overwrite"):
        plot_timeline(make_file_result(), out)
    assert out.read_bytes() == b"keep"
    plot_timeline(make_file_result(), out, overwrite=True)
    assert_png(out)


def test_colors_consistent_and_no_pyplot_state():
    assert set(EMOTION_COLORS) == set(EMOTIONS)
    assert len(set(EMOTION_COLORS.values())) == len(EMOTIONS)
    assert emotion_color("other", ("other",)).startswith("#")
    import matplotlib.pyplot as plt  # only to check that the charts left no figures behind

    assert plt.get_fignums() == []
