"""Summary charts as PNG: per-file timelines, emotion distributions, confusion matrices.

Figures are made with `matplotlib.figure.Figure` on the Agg canvas, never through pyplot,
so nothing is left in pyplot's global state and no display is needed. Every chart is saved
through `writers.check_can_write`, so an existing file is replaced only with `overwrite`.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, MultipleLocator, PercentFormatter

from .constants import EMOTIONS
from .records import MOD_AUDIO, MOD_BOTH, MOD_NONE, MOD_VIDEO, FileResult, WindowResult
from .segments import people
from .sinks import write_atomically
from .writers import check_can_write

DPI = 120  # dots per inch of the saved PNGs
TIMELINE_SIZE = (11.0, 4.6)  # inches, width x height
DISTRIBUTION_SIZE = (8.0, 4.6)  # inches
CM_CELL = 0.85  # inches per confusion-matrix cell
MARKERS_UP_TO = 60  # windows; longer timelines draw lines without point markers
MMSS_FROM = 120.0  # s; longer timelines label the time axis as m:ss
CLOCK_STEPS = (15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)  # s between m:ss ticks
STRIP_LABEL_MIN = 0.07  # share of the x range a run needs before the strip names it

# One colour per emotion, the same in every chart (distinct hues, readable on white).
EMOTION_COLORS = {
    "calm": "#4DAF9E",  # teal
    "happiness": "#EDC531",  # yellow
    "sadness": "#3B6FB6",  # blue
    "anger": "#D7263D",  # red
    "fear": "#7D3C98",  # purple
    "disgust": "#8C6D31",  # olive brown
    "surprise": "#F28E2B",  # orange
}
GAP_COLOR = "0.90"  # light grey behind windows without a prediction
MODALITY_NAMES = {
    MOD_BOTH: "face+voice",
    MOD_AUDIO: "voice only",
    MOD_VIDEO: "face only",
    MOD_NONE: "neither",
}

__all__ = [
    "EMOTION_COLORS",
    "emotion_color",
    "plot_confusion_matrix",
    "plot_distribution",
    "plot_timeline",
]


def emotion_color(label: str, labels: Sequence[str] = EMOTIONS) -> str:
    """The colour of `label`: fixed for the 7 emotions, from tab10 for other labels."""
    if label in EMOTION_COLORS:
        return EMOTION_COLORS[label]
    index = list(labels).index(label) if label in labels else len(labels)
    rgba = colormaps["tab10"](index % 10)
    return "#{:02x}{:02x}{:02x}".format(*(round(c * 255) for c in rgba[:3]))


def _text_color_on(background: str) -> str:
    """Black or white, whichever reads better on `background` (relative luminance)."""
    r, g, b = to_rgb(background)
    return "0.1" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else "white"


def _labels_of(rows: Sequence[WindowResult]) -> tuple[str, ...]:
    """The labels of the first row with a prediction (EMOTIONS when none has one)."""
    for row in rows:
        if row.probabilities is not None:
            return tuple(row.labels)
    return EMOTIONS


def _display_name(result: FileResult) -> str:
    name = result.windows[0].file if result.windows else result.job.name
    return Path(name).name or name


def _new_figure(size: tuple[float, float]) -> Figure:
    figure = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | Path, overwrite: bool) -> Path:
    path = Path(path)
    check_can_write(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    write_atomically(path, buffer.getvalue())  # never half a PNG, whatever stops the run
    return path


def _format_time_axis(ax, end_s: float) -> None:
    """Seconds for short files; m:ss (h:mm:ss) ticks at whole-minute-friendly steps else."""
    if end_s < MMSS_FROM:
        ax.set_xlabel("time (s)")
        return
    step = next((s for s in CLOCK_STEPS if end_s / s <= 10), CLOCK_STEPS[-1])  # s

    def clock(x: float, _: object) -> str:
        hours, rest = divmod(int(round(x)), 3600)
        minutes, seconds = divmod(rest, 60)
        return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"

    ax.xaxis.set_major_locator(MultipleLocator(step))
    ax.xaxis.set_major_formatter(FuncFormatter(clock))
    ax.set_xlabel("time (h:mm:ss)" if end_s >= 3600 else "time (m:ss)")


# --- Timeline ---------------------------------------------------------------------------


def plot_timeline(result: FileResult, path: str | Path, *, overwrite: bool = False) -> Path:
    """The probabilities of every emotion over one file's windows; returns the PNG path.

    x is the window centre (s); one line per emotion. Windows without a prediction are
    grey gaps (the lines break there). The strip on top colours each window's span by its
    dominant emotion, paler when less confident.
    """
    every = sorted(result.windows, key=lambda r: (r.start_s, r.person or 0))
    persons = people(every)
    by_person = {p: [r for r in every if r.person == p or (r.emotion is None and r.person is None)] for p in persons}
    rows = _one_per_window(every)  # the lines: the speaker's row of each window
    labels = _labels_of(rows)
    n_strips = len(persons) if len(persons) > 1 else 1
    figure = _new_figure((TIMELINE_SIZE[0], TIMELINE_SIZE[1] + 0.35 * (n_strips - 1)))
    *strips, ax = figure.subplots(
        n_strips + 1, 1, sharex=True, gridspec_kw={"height_ratios": [1] * n_strips + [9], "hspace": 0.02}
    )
    strip = strips[0]
    figure.suptitle(_display_name(result), fontsize=13, fontweight="bold")

    if not rows:
        ax.text(0.5, 0.5, f"no windows\n{result.error or ''}".strip(), ha="center",
                va="center", transform=ax.transAxes, color="0.4", wrap=True)
        strip.set_axis_off()
        ax.set_yticks([])
        ax.set_xticks([])
        return _save(figure, path, overwrite)

    end_s = max(r.end_s for r in rows)
    centres = np.array([(r.start_s + r.end_s) / 2 for r in rows])  # (n_windows,) s
    probs = np.full((len(rows), len(labels)), np.nan)  # (n_windows, n_labels), NaN = gap
    for i, row in enumerate(rows):
        if row.probabilities is not None:
            probs[i] = row.probabilities
    predicted = ~np.isnan(probs[:, 0])

    # Gaps: shade the span of every window without a prediction, in both panels.
    gap_reasons = Counter(r.status for r, p in zip(rows, predicted) if not p)
    for row, has_prediction in zip(rows, predicted):
        if not has_prediction:
            ax.axvspan(row.start_s, row.end_s, color=GAP_COLOR, lw=0, zorder=0)

    marker = "o" if len(rows) <= MARKERS_UP_TO else None
    for k, label in enumerate(labels):
        ax.plot(centres, probs[:, k], color=emotion_color(label, labels), lw=2,
                marker=marker, ms=4, label=label, zorder=2)

    if len(persons) > 1:  # a strip per person: who felt what, when
        for st, person in zip(strips, persons):
            name = f"person {person}" if person is not None else "no face"
            _draw_strip(st, by_person[person], labels, end_s, name)
    else:
        _draw_strip(strip, rows, labels, end_s, "top")

    ax.set_xlim(0, end_s)
    ax.set_ylim(0, 1.02)
    _format_time_axis(ax, end_s)
    ax.set_ylabel("probability")
    ax.grid(axis="y", color="0.85", lw=0.6)
    ax.spines[["top", "right"]].set_visible(False)

    handles, names = ax.get_legend_handles_labels()
    if gap_reasons:
        handles.append(Patch(color=GAP_COLOR))
        names.append("no prediction")
    ax.legend(handles, names, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)

    subtitle = f"{len(rows)} windows, {int(predicted.sum())} with a prediction"
    if gap_reasons:
        reasons = ", ".join(f"{s.replace('_', ' ')} {n}" for s, n in sorted(gap_reasons.items()))
        subtitle += f"; without: {reasons}"
    strip.set_title(subtitle, fontsize=9, color="0.35", loc="left")
    return _save(figure, path, overwrite)


def _one_per_window(rows: Sequence[WindowResult]) -> list[WindowResult]:
    """One row per window (rows in window order): the speaking person's, else the first."""
    chosen: dict[int, WindowResult] = {}
    for r in rows:
        if r.window not in chosen or (r.speaking and not chosen[r.window].speaking):
            chosen[r.window] = r
    return [chosen[w] for w in sorted(chosen)]


def _draw_strip(strip, rows: Sequence[WindowResult], labels: Sequence[str], end_s: float, name: str) -> None:
    """The dominant-emotion strip of `rows`: a rectangle per window over its own span, paler when less
    confident, hatched without a prediction, the emotion named on runs wide enough to hold it."""
    rows = list(rows)
    for row in rows:
        width = row.end_s - row.start_s
        if row.emotion is not None:
            confidence = row.confidence if row.confidence is not None else 1.0
            strip.add_patch(Rectangle((row.start_s, 0), width, 1, lw=0,
                                      color=emotion_color(row.emotion, labels),
                                      alpha=0.35 + 0.65 * float(np.clip(confidence, 0, 1))))
        else:
            strip.add_patch(Rectangle((row.start_s, 0), width, 1, facecolor="white",
                                      edgecolor="0.6", hatch="////", lw=0))
    run_start = 0
    for i in range(1, len(rows) + 1):
        if i < len(rows) and rows[i].emotion == rows[run_start].emotion and rows[i].emotion is not None \
                and rows[i].window == rows[i - 1].window + 1:
            continue
        first, last = rows[run_start], rows[i - 1]
        if first.emotion is not None and (last.end_s - first.start_s) >= STRIP_LABEL_MIN * end_s:
            strip.text((first.start_s + last.end_s) / 2, 0.5, first.emotion, ha="center",
                       va="center", fontsize=8, fontweight="bold",
                       color=_text_color_on(emotion_color(first.emotion, labels)))
        run_start = i
    strip.set_ylim(0, 1)
    strip.set_yticks([])
    strip.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    strip.tick_params(axis="x", length=0)
    for side in ("top", "right", "left"):
        strip.spines[side].set_visible(False)


# --- Distribution -----------------------------------------------------------------------


def plot_distribution(
    results: FileResult | Sequence[FileResult],
    path: str | Path,
    *,
    title: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Bar chart: share of predicted windows per emotion, over one file or many.

    Bars are annotated with the window count; the subtitle counts windows per modality.
    """
    results = [results] if isinstance(results, FileResult) else list(results)
    rows = [row for result in results for row in result.windows]
    labels = _labels_of(rows)
    counts = Counter(row.emotion for row in rows if row.emotion is not None)
    n_predicted = sum(counts.values())
    shares = np.array([counts[label] / n_predicted if n_predicted else 0.0 for label in labels])

    figure = _new_figure(DISTRIBUTION_SIZE)
    ax = figure.subplots()
    x = np.arange(len(labels))
    bars = ax.bar(x, shares, color=[emotion_color(label, labels) for label in labels], width=0.7)
    for bar, label, share in zip(bars, labels, shares):
        n = counts[label]
        ax.annotate(f"{n}\n{share:.0%}" if n else "0", (bar.get_x() + bar.get_width() / 2,
                    bar.get_height()), xytext=(0, 3), textcoords="offset points",
                    ha="center", va="bottom", fontsize=9)
    ax.set_xticks(x, labels)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylim(0, max(0.1, float(shares.max()) * 1.2))
    ax.set_ylabel("share of predicted windows")
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="0.88", lw=0.6)
    ax.set_axisbelow(True)

    if title is None:
        title = _display_name(results[0]) if len(results) == 1 else f"{len(results)} files"
    figure.suptitle(title, fontsize=13, fontweight="bold")
    modalities = Counter(row.modalities for row in rows if row.emotion is not None)
    parts = [f"{MODALITY_NAMES.get(m, m)} {modalities[m]}" for m in MODALITY_NAMES
             if modalities[m]]
    subtitle = f"{n_predicted} of {len(rows)} windows predicted"
    if parts:
        subtitle += " · " + ", ".join(parts)
    ax.set_title(subtitle, fontsize=9, color="0.35")
    if not n_predicted:
        ax.text(0.5, 0.5, "no window has a prediction", ha="center", va="center",
                transform=ax.transAxes, color="0.4")
    return _save(figure, path, overwrite)


# --- Confusion matrix -------------------------------------------------------------------


def plot_confusion_matrix(
    matrix: np.ndarray,
    labels: Sequence[str],
    path: str | Path,
    title: str = "Confusion matrix",
    normalize: bool = True,
    *,
    overwrite: bool = False,
) -> Path:
    """A confusion matrix as a heat map; returns the PNG path.

    matrix: (n_labels, n_labels) counts, rows = true label, columns = predicted label.
    With `normalize`, cells are coloured and labelled by row percentage, with the count
    in parentheses; otherwise by count. The subtitle gives accuracy and sample count.
    """
    counts = np.asarray(matrix)
    n = len(labels)
    if counts.shape != (n, n):
        raise ValueError(f"matrix has shape {counts.shape}; expected ({n}, {n}) for {n} labels")
    row_totals = counts.sum(axis=1)  # (n_labels,) samples per true label
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = counts / row_totals[:, None]  # (n_labels, n_labels), NaN for empty rows
    values = np.nan_to_num(shares) if normalize else counts

    side = 1.6 + CM_CELL * n
    figure = _new_figure((side + 1.2, side))
    ax = figure.subplots()
    vmax = 1.0 if normalize else max(1, int(counts.max()))
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=vmax)
    for i in range(n):
        for j in range(n):
            if row_totals[i] == 0:
                text = "–"
            elif counts[i, j] == 0:
                text = "·"
            elif normalize:
                text = f"{shares[i, j]:.0%}\n({int(counts[i, j])})"
            else:
                text = str(int(counts[i, j]))
            dark = values[i, j] > 0.55 * vmax
            ax.text(j, i, text, ha="center", va="center", fontsize=8.5,
                    color="white" if dark else "0.15",
                    fontweight="bold" if i == j else "normal")
    ax.set_xticks(range(n), labels, rotation=40, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(n), [f"{label} ({int(t)})" for label, t in zip(labels, row_totals)])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (samples)")
    ax.set_xticks(np.arange(n + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(n + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", lw=1.5)
    ax.tick_params(which="minor", length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    colorbar = figure.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    if normalize:
        colorbar.ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        colorbar.set_label("share of the true label's samples")
    else:
        colorbar.set_label("samples")

    total = int(counts.sum())
    accuracy = np.trace(counts) / total if total else float("nan")
    figure.suptitle(title, fontsize=13, fontweight="bold")
    ax.set_title(f"accuracy {accuracy:.1%} over {total} samples" if total else "no samples",
                 fontsize=9, color="0.35")
    return _save(figure, path, overwrite)
