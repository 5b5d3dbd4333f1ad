"""Tests of the summary charts: the PNGs are read back and must show what they promise.

Pixels are classified by which of the 7 emotion colours (`emotion_color`) they show, at any
opacity on white (`emotion_map`), so that anti-aliased edges and the pale strip of less
confident windows still count for their emotion while text, axes, grid and gaps do not.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib import _pylab_helpers, colormaps
from matplotlib.colors import to_rgb
from PIL import Image

from emoannotate.charts import (
    CM_CELL,
    DISTRIBUTION_SIZE,
    DPI,
    EMOTION_COLORS,
    TIMELINE_SIZE,
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
ALPHA_MIN = 0.3  # the least opacity on white at which a pixel counts as an emotion's colour
RESIDUAL_MAX = 20.0  # RGB (0-255) distance a pixel may lie from that blend
GAP_RGB = np.array([230, 230, 230])  # GAP_COLOR "0.90" as saved in 8 bits
PALETTE = np.array([[round(c * 255) for c in to_rgb(emotion_color(e))] for e in EMOTIONS])  # (7, 3)


# --- Results to draw --------------------------------------------------------------------------

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


def uniform_result(emotion: str, p: float = 0.9, n_windows: int = 10, gaps: set[int] = frozenset(),
                   name: str = "uniform.mp4") -> FileResult:
    """Every window predicts `emotion` with probability `p` (the rest shared equally).

    Windows in `gaps` have no prediction (no_signal).
    """
    k = EMOTIONS.index(emotion)
    probs = tuple(p if i == k else (1 - p) / (len(EMOTIONS) - 1) for i in range(len(EMOTIONS)))
    job = MediaJob(index=0, path=Path(name), key=Path(name).stem)
    rows = []
    for w in range(n_windows):
        gap = w in gaps
        rows.append(WindowResult(
            file=name, window=w, start_s=w * WINDOW_SECONDS, end_s=(w + 1) * WINDOW_SECONDS,
            emotion=None if gap else emotion, confidence=None if gap else p,
            probabilities=None if gap else probs, modalities=MOD_NONE if gap else MOD_BOTH,
            face_frames=0 if gap else 15, face_box=None, max_faces=0 if gap else 1, partial=False,
            status=STATUS_NO_SIGNAL if gap else STATUS_OK))
    info = MediaInfo(path=job.path, duration_s=n_windows * WINDOW_SECONDS, has_video=True, has_audio=True)
    return FileResult(job=job, info=info, windows=rows)


def counted_result(counts: dict[str, int], name: str = "counted.mp4") -> FileResult:
    """Windows whose predicted emotions occur `counts` times, plus two without a prediction."""
    job = MediaJob(index=0, path=Path(name), key=Path(name).stem)
    emotions = [e for e, n in counts.items() for _ in range(n)] + [None, None]
    rows = []
    for w, emotion in enumerate(emotions):
        probs = None
        if emotion is not None:
            probs = tuple(0.7 if e == emotion else 0.05 for e in EMOTIONS)
        rows.append(WindowResult(
            file=name, window=w, start_s=w * WINDOW_SECONDS, end_s=(w + 1) * WINDOW_SECONDS,
            emotion=emotion, confidence=0.7 if emotion else None, probabilities=probs,
            modalities=MOD_BOTH if emotion else MOD_NONE, face_frames=15 if emotion else 0,
            face_box=None, max_faces=1, partial=False, status=STATUS_OK if emotion else STATUS_NO_SIGNAL))
    return FileResult(job=job, info=None, windows=rows)


# --- Reading the PNGs back --------------------------------------------------------------------

def read_png(path: Path, figsize: tuple[float, float]) -> np.ndarray:
    """(H, W, 3) uint8 RGB; checks the signature and that the PNG has the figure's size."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (round(figsize[0] * DPI), round(figsize[1] * DPI))
        return np.asarray(image.convert("RGB")).astype(int)


def emotion_map(pixels: np.ndarray) -> np.ndarray:
    """(H, W) index into EMOTIONS of the pixel's colour; -1 for pixels of no emotion's colour.

    A pixel has emotion e's colour when it lies near the segment from white to e's colour
    (e painted at some opacity on white, or an anti-aliased edge), at least ALPHA_MIN of the
    way: the pale strip of a less confident window still counts, grey and black text do not.
    """
    keys, inverse = np.unique(pixels[..., 0] * 65536 + pixels[..., 1] * 256 + pixels[..., 2], return_inverse=True)
    colours = np.stack([keys // 65536, keys // 256 % 256, keys % 256], axis=1)  # (C, 3): a few thousand
    v = colours[:, None, :] - 255.0  # (C, 1, 3) from white
    d = (PALETTE - 255.0)[None]  # (1, 7, 3) from white to each emotion colour
    alpha = np.clip((v * d).sum(axis=2) / (d * d).sum(axis=2), 0.0, 1.0)  # (C, 7)
    residual = np.linalg.norm(v - alpha[..., None] * d, axis=2)  # (C, 7)
    best = residual.argmin(axis=1)
    ok = (residual.min(axis=1) < RESIDUAL_MAX) & (alpha[np.arange(len(colours)), best] >= ALPHA_MIN)
    return np.where(ok, best, -1)[inverse.reshape(-1)].reshape(pixels.shape[:2])


def emotion_shares(pixels: np.ndarray) -> dict[str, float]:
    """Share of the coloured pixels that is each emotion's colour."""
    classes = emotion_map(pixels)
    coloured = classes >= 0
    assert coloured.sum() > 0, "no coloured pixel at all"
    return {e: float((classes == k).sum() / coloured.sum()) for k, e in enumerate(EMOTIONS)}


def row_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs [first, last] of consecutive True entries of a 1-d mask."""
    runs, start = [], None
    for i, value in enumerate(list(mask) + [False]):
        if value and start is None:
            start = i
        elif not value and start is not None:
            runs.append((start, i - 1))
            start = None
    return runs


def strip_and_line_rows(pixels: np.ndarray, emotion: str) -> tuple[tuple[int, int], float]:
    """The rows of the dominant-emotion strip and the centre row of the emotion's line.

    Rows in which the emotion's colour spans over 30% of the width: the strip is the one
    tall run of them, the probability line (about 3 px thick) the one short run. Single rows
    are ignored: where other lines cross the black x axis, their blend can pass for olive.
    """
    classes = emotion_map(pixels)
    wide = (classes == EMOTIONS.index(emotion)).sum(axis=1) > 0.3 * pixels.shape[1]
    runs = row_runs(wide)
    strips = [r for r in runs if r[1] - r[0] >= 15]
    lines = [r for r in runs if 1 <= r[1] - r[0] < 10]
    assert len(strips) == 1 and len(lines) == 1, runs
    return strips[0], (lines[0][0] + lines[0][1]) / 2


# --- Timeline ---------------------------------------------------------------------------------

def test_timeline_png(tmp_path):
    out = plot_timeline(make_file_result(), tmp_path / "t.png")
    assert out == tmp_path / "t.png"
    pixels = read_png(out, TIMELINE_SIZE)
    shares = emotion_shares(pixels)
    assert sum(s > 0.01 for s in shares.values()) >= 4  # several emotions' lines are drawn
    # The two no-signal windows and the too-short tail are grey gaps behind the lines.
    assert (np.abs(pixels - GAP_RGB).max(axis=2) <= 2).sum() > 0.02 * pixels[:, :, 0].size


@pytest.mark.parametrize("emotion", EMOTIONS)
def test_timeline_of_one_emotion_is_dominated_by_its_colour(tmp_path, emotion):
    pixels = read_png(plot_timeline(uniform_result(emotion), tmp_path / "u.png"), TIMELINE_SIZE)
    shares = emotion_shares(pixels)
    assert shares[emotion] > 0.6, shares
    assert all(s < 0.15 for e, s in shares.items() if e != emotion), shares
    (strip_top, strip_bottom), line_row = strip_and_line_rows(pixels, emotion)
    assert strip_bottom < line_row  # the strip sits above the probability panel
    # The strip spans the whole time axis: about as wide as the line that crosses every window.
    classes = emotion_map(pixels) == EMOTIONS.index(emotion)
    strip_width = classes[(strip_top + strip_bottom) // 2].sum()
    assert strip_width > 0.6 * pixels.shape[1]


def test_timeline_line_height_follows_the_probability(tmp_path):
    """The emotion's line is higher for a higher probability, on a linear axis."""
    rows = {}
    for p in (0.9, 0.6, 0.3):
        pixels = read_png(plot_timeline(uniform_result("sadness", p), tmp_path / f"p{p}.png"), TIMELINE_SIZE)
        rows[p] = strip_and_line_rows(pixels, "sadness")[1]
    assert rows[0.9] < rows[0.6] < rows[0.3]  # image rows grow downwards
    assert rows[0.3] - rows[0.6] == pytest.approx(rows[0.6] - rows[0.9], abs=3)
    assert rows[0.3] - rows[0.9] > 100  # 0.6 of a ~400 px tall panel


def test_timeline_gaps_are_grey_and_leave_the_strip_uncoloured(tmp_path):
    full = read_png(plot_timeline(uniform_result("fear"), tmp_path / "full.png"), TIMELINE_SIZE)
    half = read_png(plot_timeline(uniform_result("fear", gaps={5, 6, 7, 8, 9}), tmp_path / "half.png"),
                    TIMELINE_SIZE)

    def grey(pixels: np.ndarray) -> int:
        return int((np.abs(pixels - GAP_RGB).max(axis=2) <= 2).sum())

    assert grey(full) < 0.005 * full[:, :, 0].size
    assert grey(half) > 0.15 * half[:, :, 0].size  # half of the probability panel
    k = EMOTIONS.index("fear")
    (top, bottom), _ = strip_and_line_rows(full, "fear")
    middle = (top + bottom) // 2
    full_strip = (emotion_map(full)[middle] == k).sum()
    half_strip = (emotion_map(half)[middle] == k).sum()
    assert half_strip == pytest.approx(full_strip / 2, rel=0.1)


def test_different_results_give_different_timelines(tmp_path):
    images = [
        read_png(plot_timeline(result, tmp_path / f"{i}.png"), TIMELINE_SIZE)
        for i, result in enumerate([uniform_result("calm"), uniform_result("happiness"),
                                    make_file_result(seed=0), make_file_result(seed=1)])
    ]
    for i in range(len(images)):
        for j in range(i + 1, len(images)):
            assert (images[i] != images[j]).any(axis=2).mean() > 0.01, (i, j)
    calm, happy = emotion_shares(images[0]), emotion_shares(images[1])
    assert calm["calm"] > 0.6 and happy["happiness"] > 0.6


def test_timeline_of_file_without_windows(tmp_path):
    empty = FileResult(job=MediaJob(0, Path("bad.mp4"), "bad"), info=None, windows=[],
                       error="cannot open")
    pixels = read_png(plot_timeline(empty, tmp_path / "empty.png"), TIMELINE_SIZE)
    assert (emotion_map(pixels) < 0).all()  # nothing is coloured: no line, no strip
    assert (pixels < 200).any()  # but the title and the message are written


# --- Distribution -----------------------------------------------------------------------------

def test_distribution_bars_follow_the_counts(tmp_path):
    counts = {"calm": 6, "sadness": 3, "anger": 1}
    pixels = read_png(plot_distribution(counted_result(counts), tmp_path / "one.png"), DISTRIBUTION_SIZE)
    shares = emotion_shares(pixels)
    total = sum(counts.values())
    for emotion in EMOTIONS:
        assert shares[emotion] == pytest.approx(counts.get(emotion, 0) / total, abs=0.01), shares


def test_distribution_of_many_files_sums_their_counts(tmp_path):
    a = counted_result({"happiness": 2, "fear": 4}, "a.mp4")
    b = counted_result({"happiness": 4, "disgust": 2}, "b.mp4")
    pixels = read_png(plot_distribution([a, b], tmp_path / "all.png"), DISTRIBUTION_SIZE)
    shares = emotion_shares(pixels)
    expected = {"happiness": 0.5, "fear": 1 / 3, "disgust": 1 / 6}
    for emotion in EMOTIONS:
        assert shares[emotion] == pytest.approx(expected.get(emotion, 0.0), abs=0.01), shares
    other = read_png(plot_distribution(a, tmp_path / "a.png"), DISTRIBUTION_SIZE)
    assert (other != pixels).any(axis=2).mean() > 0.01
    assert emotion_shares(other)["fear"] == pytest.approx(2 / 3, abs=0.01)


def test_distribution_without_predictions_has_no_bars(tmp_path):
    pixels = read_png(plot_distribution(counted_result({}), tmp_path / "none.png"), DISTRIBUTION_SIZE)
    assert (emotion_map(pixels) < 0).all()


# --- Confusion matrix -------------------------------------------------------------------------

def dark_cells(pixels: np.ndarray) -> int:
    """Pixels of the darkest "Blues" colour (a full cell; the colour bar's top adds a little)."""
    dark = np.array([round(c * 255) for c in colormaps["Blues"](1.0)[:3]])
    return int((np.linalg.norm(pixels - dark, axis=2) < 12).sum())


def test_confusion_matrix_cells_follow_the_values(tmp_path):
    n = len(EMOTIONS)
    size = (1.6 + CM_CELL * n + 1.2, 1.6 + CM_CELL * n)
    diagonal = np.diag(np.arange(1, n + 1))  # every label always right, 1 to 7 samples
    normalised = read_png(plot_confusion_matrix(diagonal, EMOTIONS, tmp_path / "cm.png", "Test"), size)
    raw = read_png(plot_confusion_matrix(diagonal, EMOTIONS, tmp_path / "raw.png", normalize=False), size)
    cell = (CM_CELL * DPI) ** 2 * 0.25  # pixels: a quarter of a nominal cell, a loose floor
    # Normalised, all 7 diagonal cells are 100% and fully dark; raw, only the 7-sample one.
    assert dark_cells(normalised) > 7 * cell
    assert dark_cells(raw) < dark_cells(normalised) / 3
    three = diagonal.copy()
    three[3:] = 0  # 4 labels without samples: their rows stay blank
    partial = read_png(plot_confusion_matrix(three, EMOTIONS, tmp_path / "three.png"), size)
    assert dark_cells(partial) == pytest.approx(dark_cells(normalised) * 3 / 7, rel=0.1)
    with pytest.raises(ValueError, match="shape"):
        plot_confusion_matrix(diagonal[:3], EMOTIONS, tmp_path / "bad.png")


# --- Overwrite, colours, pyplot ---------------------------------------------------------------

def test_charts_never_overwrite(tmp_path):
    out = tmp_path / "t.png"
    out.write_bytes(b"keep")
    with pytest.raises(InputError, match="--overwrite"):
        plot_timeline(make_file_result(), out)
    assert out.read_bytes() == b"keep"
    plot_timeline(make_file_result(), out, overwrite=True)
    read_png(out, TIMELINE_SIZE)


def test_colors_consistent():
    assert set(EMOTION_COLORS) == set(EMOTIONS)
    assert len(set(EMOTION_COLORS.values())) == len(EMOTIONS)
    assert all(emotion_color(e) == EMOTION_COLORS[e] for e in EMOTIONS)
    assert emotion_color("other", ("other",)).startswith("#")
    # Distinct enough for the nearest-colour classification above.
    distances = np.linalg.norm(PALETTE[:, None] - PALETTE[None], axis=2)
    assert distances[~np.eye(len(EMOTIONS), dtype=bool)].min() > 40


def test_charts_leave_no_figures_in_this_process(tmp_path):
    plot_timeline(make_file_result(), tmp_path / "t.png")
    plot_distribution(make_file_result(), tmp_path / "d.png")
    plot_confusion_matrix(np.eye(len(EMOTIONS), dtype=int), EMOTIONS, tmp_path / "cm.png")
    assert _pylab_helpers.Gcf.get_all_fig_managers() == []


def test_charts_never_import_pyplot(tmp_path):
    """In a fresh interpreter, drawing every chart neither imports pyplot nor leaves a figure."""
    script = f"""
import json, sys
from pathlib import Path
import numpy as np
from emoannotate.charts import plot_confusion_matrix, plot_distribution, plot_timeline
from emoannotate.constants import EMOTIONS
from emoannotate.records import FileResult, MediaJob, WindowResult
probs = tuple(1 / len(EMOTIONS) + (0.01 if i == 0 else -0.01 / (len(EMOTIONS) - 1)) for i in range(len(EMOTIONS)))
rows = [WindowResult(file="a.mp4", window=w, start_s=3.6 * w, end_s=3.6 * (w + 1), emotion=EMOTIONS[0],
                     confidence=probs[0], probabilities=probs, modalities="audio+video", face_frames=15,
                     face_box=None, max_faces=1, partial=False, status="ok") for w in range(3)]
result = FileResult(job=MediaJob(0, Path("a.mp4"), "a"), info=None, windows=rows)
out = Path({str(tmp_path)!r})
plot_timeline(result, out / "t.png")
plot_distribution(result, out / "d.png")
plot_confusion_matrix(np.eye(len(EMOTIONS), dtype=int), EMOTIONS, out / "cm.png")
from matplotlib import _pylab_helpers
print(json.dumps({{"pyplot": "matplotlib.pyplot" in sys.modules,
                  "figures": len(_pylab_helpers.Gcf.get_all_fig_managers())}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout.strip().splitlines()[-1])
    assert state["figures"] == 0
    assert not state["pyplot"], "drawing a chart imported matplotlib.pyplot"
    assert all((tmp_path / name).is_file() for name in ("t.png", "d.png", "cm.png"))


def test_timeline_has_a_strip_per_person(tmp_path):
    from dataclasses import replace

    angry, calm = uniform_result("anger"), uniform_result("calm")
    rows = [replace(r, person=1, speaking=True) for r in angry.windows] + [replace(r, person=2, speaking=False)
                                                                           for r in calm.windows]
    result = FileResult(angry.job, angry.info, rows)
    pixels = read_png(plot_timeline(result, tmp_path / "two.png"), (TIMELINE_SIZE[0], TIMELINE_SIZE[1] + 0.35))
    classes = emotion_map(pixels)
    for emotion in ("anger", "calm"):  # each person's strip: one tall, wide run of its colour
        wide = (classes == EMOTIONS.index(emotion)).sum(axis=1) > 0.3 * pixels.shape[1]
        assert any(b - a >= 10 for a, b in row_runs(wide)), emotion
    # the lines are the speaker's: anger's line is high, calm's is low
    (_, _), anger_line = strip_and_line_rows(pixels, "anger")
    assert anger_line < pixels.shape[0] * 0.5
