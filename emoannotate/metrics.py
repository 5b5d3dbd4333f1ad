"""Evaluation metrics: the paper's Table 2 figures, per-class scores, calibration, temperature.

Everything here is plain numpy on (N, C) arrays: N samples, C classes, probabilities in the
order of `labels`. Rates are fractions in [0, 1]; the text tables print them in %.

The paper reports accuracy, top-3 accuracy, precision and recall, where precision and
recall are support-weighted averages over classes (so its recall equals its accuracy).
We add macro-F1, per-class scores, the confusion matrix, expected calibration error (ECE)
and negative log-likelihood (NLL), and temperature scaling to calibrate logits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from .constants import EMOTIONS

TOP_K = 3  # the paper's "Top 3 Accuracy"
N_BINS = 15  # equal-width confidence bins for ECE and reliability plots
SUM_TOLERANCE = 1e-3  # how far a row of probabilities may sum from 1 (float32 softmax is ~1e-7)
MIN_PROB = 1e-12  # probabilities are clipped to this before log: one zero gives NLL <= 27.6
TEMPERATURE_BOUNDS = (0.01, 100.0)  # search interval for fit_temperature
_LOG_T_TOLERANCE = 1e-7  # golden-section stops when the log-T bracket is this narrow
N_BOOTSTRAP = 1000  # resamples of bootstrap_intervals
INTERVAL_LEVEL = 0.95  # coverage of bootstrap_intervals

# Paper's Table 2 rows, in its order; other conditions follow in the order given.
CONDITION_NAMES = {"bimodal": "Bimodal", "video": "Video", "audio": "Audio"}


# --- Records ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ClassMetrics:
    """Scores of one class. support: true samples; precision 0 when never predicted,
    recall 0 when support is 0, f1 0 when precision + recall is 0."""

    label: str
    support: int
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class ReliabilityBin:
    """One confidence bin (lower, upper] (the first also holds 0) of a reliability plot.

    confidence: mean max-probability of its samples; accuracy: fraction whose argmax is
    right. An empty bin (count 0) has confidence = accuracy = 0.0: filter on count to plot.
    """

    lower: float
    upper: float
    confidence: float
    accuracy: float
    count: int


@dataclass(frozen=True)
class Report:
    """Metrics of one evaluation condition (e.g. "bimodal", "video", "audio").

    precision and recall are support-weighted over classes, as in the paper (recall then
    equals accuracy). macro_f1 averages F1 over classes with support > 0. confusion[i][j]
    counts samples of true class i predicted as j, in `labels` order. ece uses N_BINS
    equal-width bins on max-probability confidence; nll is the mean -log p(true class).
    """

    n: int
    accuracy: float
    top3_accuracy: float
    precision: float
    recall: float
    macro_f1: float
    per_class: tuple[ClassMetrics, ...]
    confusion: list[list[int]]
    labels: tuple[str, ...]
    ece: float
    nll: float
    intervals: Intervals | None = None  # bootstrap intervals, when asked for (`evaluate_probs(intervals=True)`)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict: floats, ints, strings and lists only (no "intervals" key without them)."""
        out = asdict(self)
        out["per_class"] = [asdict(c) for c in self.per_class]
        out["confusion"] = [list(row) for row in self.confusion]
        out["labels"] = list(self.labels)
        if self.intervals is None:
            del out["intervals"]
        else:  # asdict made it a dict already; its pairs become lists
            out["intervals"] = {k: list(v) if isinstance(v, tuple) else v for k, v in out["intervals"].items()}
        return out


@dataclass(frozen=True)
class Intervals:
    """Bootstrap intervals (INTERVAL_LEVEL, percentile method) of a report's accuracy and ECE.

    units: how many were resampled, unit: what ("people", or "windows" when no person is known).
    A person's windows stay together, so the interval says how far the figure would move with other
    people like these; with one person it says nothing of that (units == 1: a point).
    """

    accuracy: tuple[float, float]
    ece: tuple[float, float]
    units: int
    unit: str
    resamples: int
    level: float


# --- Input checks -----------------------------------------------------------------------
def _check_targets(targets, n: int | None, n_classes: int, name: str = "targets") -> np.ndarray:
    """(N,) integer class indices in [0, n_classes) -> int64 array, or ValueError.

    n: the expected N (rows of the scores), or None to accept any length.
    """
    t = np.asarray(targets)
    if t.ndim != 1:
        raise ValueError(f"{name} must be 1-D (N,), got shape {t.shape}")
    if n is not None and t.shape[0] != n:
        raise ValueError(f"{name} has {t.shape[0]} entries, expected {n} (one per sample)")
    if t.dtype == bool or not (np.issubdtype(t.dtype, np.integer) or np.issubdtype(t.dtype, np.floating)):
        raise ValueError(f"{name} must be integer class indices, got dtype {t.dtype}")
    if np.issubdtype(t.dtype, np.floating):
        if not np.all(np.isfinite(t)) or np.any(t != np.round(t)):
            raise ValueError(f"{name} must be integer class indices, got non-integer values")
    t = t.astype(np.int64)
    bad = (t < 0) | (t >= n_classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must lie in [0, {n_classes}); found {t[i]} at index {i}")
    return t


def _check_scores(scores, name: str) -> np.ndarray:
    """(N, C) finite scores with N >= 1 and C >= 1 -> float64 array, or ValueError."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N, C), got shape {s.shape}")
    if s.shape[0] == 0 or s.shape[1] == 0:
        raise ValueError(f"{name} must have at least one sample and one class, got shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return s


def _check_probs(probs) -> np.ndarray:
    p = _check_scores(probs, "probs")
    if np.any(p < 0) or np.any(p > 1 + SUM_TOLERANCE):
        raise ValueError("probs must lie in [0, 1]; were logits passed? use apply_temperature(logits, 1.0)")
    sums = p.sum(axis=1)
    off = np.abs(sums - 1.0) > SUM_TOLERANCE
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"each row of probs must sum to 1; row {i} sums to {sums[i]:.6g} "
            "(were logits passed? use apply_temperature(logits, 1.0))"
        )
    return p


def _check_labels(labels: Sequence[str], n_classes: int) -> tuple[str, ...]:
    labels = tuple(str(x) for x in labels)
    if len(labels) != n_classes:
        raise ValueError(f"got {len(labels)} labels for {n_classes} classes (columns of probs)")
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels must be unique, got {labels}")
    return labels


def _check_count(value: int, name: str = "n_bins") -> int:
    """A positive integer (n_bins, resamples) -> int, or ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


# --- Basic pieces -----------------------------------------------------------------------
def _softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, stable for large values."""
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _nll(p: np.ndarray, t: np.ndarray) -> float:
    picked = p[np.arange(t.shape[0]), t]  # (N,)
    return float(-np.mean(np.log(np.maximum(picked, MIN_PROB))))


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den elementwise, 0 where den is 0 (no warnings)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _top_k_hits(p: np.ndarray, t: np.ndarray, k: int) -> np.ndarray:
    """(N,) bool: true class among the k highest scores.

    Ties are broken toward the lower class index, as np.argmax does, so k=1 matches the
    accuracy exactly: the true class ranks after every class scoring higher and every
    lower-indexed class scoring the same.
    """
    n, c = p.shape
    true_score = p[np.arange(n), t][:, None]  # (N, 1)
    cols = np.arange(c)[None, :]  # (1, C)
    ahead = (p > true_score) | ((p == true_score) & (cols < t[:, None]))  # (N, C)
    return ahead.sum(axis=1) < k


def confusion_matrix(targets, predicted, *, n_classes: int) -> np.ndarray:
    """(C, C) int64 counts from (N,) true and (N,) predicted class indices (true first, as
    scikit-learn): rows are true classes, columns predicted ones."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    t = _check_targets(targets, None, n_classes)
    pred = _check_targets(predicted, t.shape[0], n_classes, "predicted")
    return np.bincount(t * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


# --- Calibration ------------------------------------------------------------------------
def _binned(p: np.ndarray, t: np.ndarray, n_bins: int) -> tuple[np.ndarray, ...]:
    """Bin edges (B+1,), and per sample its bin (N,), confidence (N,) and correctness (N,) 0/1."""
    conf = p.max(axis=1)  # (N,)
    correct = (p.argmax(axis=1) == t).astype(np.float64)  # (N,)
    edges = np.linspace(0.0, 1.0, n_bins + 1)  # (B+1,)
    # Bin b holds (edges[b], edges[b+1]]; confidence 0 falls into the first bin.
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)  # (N,)
    return edges, idx, conf, correct


def _reliability(p: np.ndarray, t: np.ndarray, n_bins: int) -> tuple[np.ndarray, ...]:
    """Per-bin edges (B+1,), summed confidence, summed correctness and counts (B,)."""
    edges, idx, conf, correct = _binned(p, t, n_bins)
    counts = np.bincount(idx, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=correct, minlength=n_bins)
    return edges, conf_sum, acc_sum, counts


def reliability_bins(probs, targets, *, n_bins: int = N_BINS) -> tuple[ReliabilityBin, ...]:
    """Per-bin mean confidence, accuracy and count for a reliability diagram.

    probs: (N, C) probabilities; targets: (N,) class indices. Confidence is the max
    probability of each row, correctness whether its argmax is the target. Returns n_bins
    records over equal-width bins of [0, 1], empty ones included (count 0).
    """
    n_bins = _check_count(n_bins)
    p = _check_probs(probs)
    t = _check_targets(targets, p.shape[0], p.shape[1])
    edges, conf_sum, acc_sum, counts = _reliability(p, t, n_bins)
    conf_mean = _safe_ratio(conf_sum, counts)
    acc_mean = _safe_ratio(acc_sum, counts)
    return tuple(
        ReliabilityBin(float(edges[b]), float(edges[b + 1]), float(conf_mean[b]), float(acc_mean[b]), int(counts[b]))
        for b in range(n_bins)
    )


def expected_calibration_error(probs, targets, n_bins: int = N_BINS) -> float:
    """ECE: sum over bins of (bin count / N) * |bin accuracy - bin mean confidence|.

    probs: (N, C) probabilities; targets: (N,) class indices; n_bins equal-width bins of
    the max-probability confidence. 0 is perfectly calibrated; at most 1.
    """
    n_bins = _check_count(n_bins)
    p = _check_probs(probs)
    t = _check_targets(targets, p.shape[0], p.shape[1])
    return _ece(p, t, n_bins)


def _ece(p: np.ndarray, t: np.ndarray, n_bins: int) -> float:
    _, conf_sum, acc_sum, _ = _reliability(p, t, n_bins)
    # sum_b (n_b / N) |acc_b - conf_b| = sum_b |acc_sum_b - conf_sum_b| / N
    return float(np.abs(acc_sum - conf_sum).sum() / p.shape[0])


def negative_log_likelihood(probs, targets) -> float:
    """Mean -log p(true class) over (N, C) probs; probabilities clipped at MIN_PROB."""
    p = _check_probs(probs)
    t = _check_targets(targets, p.shape[0], p.shape[1])
    return _nll(p, t)


def bootstrap_intervals(probs, targets, groups: Sequence | None = None, *, n_bins: int = N_BINS,
                        resamples: int = N_BOOTSTRAP, level: float = INTERVAL_LEVEL, seed: int = 0) -> Intervals:
    """Bootstrap intervals of accuracy and ECE, resampling whole groups (people) with replacement.

    probs: (N, C) probabilities; targets: (N,) class indices; groups: (N,) hashable unit of each
    sample (its person), or None to resample samples one by one. Each resample draws as many
    units as there are, keeps every sample of a drawn unit, and recomputes both figures; the
    interval is the central `level` of the resampled figures. Seeded: the same inputs give the
    same interval. Raises ValueError naming what is wrong with the inputs.
    """
    n_bins = _check_count(n_bins)
    p = _check_probs(probs)
    n = p.shape[0]
    t = _check_targets(targets, n, p.shape[1])
    resamples = _check_count(resamples, "resamples")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if groups is not None and len(groups) != n:
        raise ValueError(f"groups must have one entry per sample ({n}), got {len(groups)}")
    unit = "windows" if groups is None else "people"
    unit_of = np.arange(n) if groups is None else np.unique([str(g) for g in groups], return_inverse=True)[1]
    n_units = int(unit_of.max()) + 1
    _, idx, conf, correct = _binned(p, t, n_bins)
    gap = np.zeros((n_units, n_bins))  # per unit and bin: summed confidence less summed correctness
    np.add.at(gap, (unit_of, idx), conf - correct)
    hits = np.bincount(unit_of, weights=correct, minlength=n_units)
    sizes = np.bincount(unit_of, minlength=n_units).astype(np.float64)
    rng = np.random.default_rng(seed)
    acc, ece = np.empty(resamples), np.empty(resamples)
    for start in range(0, resamples, 100):  # (chunk, G) draw counts; a chunk at a time keeps memory small
        k = min(100, resamples - start)
        w = rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=k).astype(np.float64)
        total = w @ sizes  # (k,) samples in each resample, never 0
        acc[start:start + k] = (w @ hits) / total
        ece[start:start + k] = np.abs(w @ gap).sum(axis=1) / total
    tail = 100.0 * (1.0 - level) / 2.0
    (a_lo, e_lo), (a_hi, e_hi) = np.percentile(np.stack([acc, ece], axis=1), [tail, 100.0 - tail], axis=0)
    return Intervals((float(a_lo), float(a_hi)), (float(e_lo), float(e_hi)), n_units, unit, resamples, float(level))


# --- Temperature scaling ----------------------------------------------------------------
def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not math.isfinite(t) or t <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return t


def apply_temperature(logits, temperature: float) -> np.ndarray:
    """softmax(logits / temperature) over the last axis -> float64 probabilities.

    logits: (..., C), usually (N, C). temperature > 1 softens, < 1 sharpens, 1 is plain
    softmax.
    """
    temperature = _check_temperature(temperature)
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim < 1 or z.shape[-1] == 0:
        raise ValueError(f"logits must have a class axis last, got shape {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("logits contains NaN or infinite values")
    return _softmax(z / temperature)


def _nll_at_log_temperature(z: np.ndarray, t: np.ndarray, log_temp: float) -> float:
    """Mean NLL of softmax(z / exp(log_temp)), computed from log-softmax (no clipping)."""
    s = z / math.exp(log_temp)  # (N, C)
    m = s.max(axis=1)  # (N,)
    log_norm = m + np.log(np.exp(s - m[:, None]).sum(axis=1))  # (N,) logsumexp
    return float(np.mean(log_norm - s[np.arange(t.shape[0]), t]))


def fit_temperature(logits, targets, *, bounds: tuple[float, float] = TEMPERATURE_BOUNDS) -> float:
    """The temperature T minimising the mean NLL of softmax(logits / T) on (logits, targets).

    logits: (N, C) raw scores of held-out (validation) data; targets: (N,) class indices.
    Golden-section search over log T within `bounds` (deterministic). The NLL is convex in
    1 / T, hence unimodal in log T, so the search finds the global optimum in the interval;
    an optimum at a bound means the data asks for a more extreme T (e.g. uninformative
    logits push T up). Apply it with apply_temperature(test_logits, T).
    """
    z = _check_scores(logits, "logits")
    t = _check_targets(targets, z.shape[0], z.shape[1])
    lo_t, hi_t = (_check_temperature(b) for b in bounds)
    if not lo_t < hi_t:
        raise ValueError(f"bounds must be (low, high) with low < high, got {bounds!r}")

    def f(u: float) -> float:
        return _nll_at_log_temperature(z, t, u)

    inv_phi = (math.sqrt(5.0) - 1.0) / 2.0  # 0.618...
    a, b = math.log(lo_t), math.log(hi_t)
    c, d = b - inv_phi * (b - a), a + inv_phi * (b - a)
    fc, fd = f(c), f(d)
    while b - a > _LOG_T_TOLERANCE:
        if fc <= fd:  # minimum in [a, d]
            b, d, fd = d, c, fc
            c = b - inv_phi * (b - a)
            fc = f(c)
        else:  # minimum in [c, b]
            a, c, fc = c, d, fd
            d = a + inv_phi * (b - a)
            fd = f(d)
    # The bracket may have shrunk onto a bound: keep whichever candidate is best.
    candidates = [(fc, c), (fd, d), (f(a), a), (f(b), b)]
    best = min(candidates, key=lambda x: (x[0], x[1]))[1]
    return float(math.exp(best))


# --- Evaluation -------------------------------------------------------------------------
def evaluate_probs(
    probs, targets, labels: Sequence[str] = EMOTIONS, *, n_bins: int = N_BINS, groups: Sequence | None = None,
    intervals: bool = False,
) -> Report:
    """All metrics of one condition from predicted probabilities.

    probs: (N, C) probabilities, rows summing to 1 (columns in `labels` order);
    targets: (N,) true class indices in [0, C); labels: C class names. intervals: add bootstrap
    intervals of accuracy and ECE (`bootstrap_intervals`), resampling `groups` (each sample's
    person; None: samples one by one).
    The prediction is the argmax (ties go to the lower index). Classes with no support or
    no predictions score 0 where a ratio is undefined; no NaN, no warnings.
    Raises ValueError naming what is wrong with the inputs.
    """
    n_bins = _check_count(n_bins)
    p = _check_probs(probs)
    n, c = p.shape
    t = _check_targets(targets, n, c)
    labels = _check_labels(labels, c)

    pred = p.argmax(axis=1)  # (N,)
    cm = confusion_matrix(t, pred, n_classes=c)  # (C true, C predicted)
    tp = np.diag(cm)  # (C,)
    support = cm.sum(axis=1)  # (C,) true samples per class
    predicted = cm.sum(axis=0)  # (C,) predictions per class
    precision_c = _safe_ratio(tp, predicted)
    recall_c = _safe_ratio(tp, support)
    f1_c = _safe_ratio(2.0 * precision_c * recall_c, precision_c + recall_c)

    weights = support / n  # (C,) support weights, sum to 1
    present = support > 0
    per_class = tuple(
        ClassMetrics(labels[i], int(support[i]), float(precision_c[i]), float(recall_c[i]), float(f1_c[i]))
        for i in range(c)
    )
    return Report(
        n=int(n),
        accuracy=float(tp.sum() / n),
        top3_accuracy=float(_top_k_hits(p, t, TOP_K).mean()),
        precision=float(np.dot(weights, precision_c)),
        recall=float(np.dot(weights, recall_c)),
        macro_f1=float(f1_c[present].mean()),
        per_class=per_class,
        confusion=cm.astype(int).tolist(),
        labels=labels,
        ece=_ece(p, t, n_bins),
        nll=_nll(p, t),
        intervals=bootstrap_intervals(p, t, groups, n_bins=n_bins) if intervals else None,
    )


# --- Text tables ------------------------------------------------------------------------
def _render(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned first column, right-aligned others, a rule under the header."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(w) for cell, w in zip(cells[1:], widths[1:])]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def _pct(x: float) -> str:
    return f"{100.0 * x:.2f}"


def format_table(reports: Mapping[str, Report]) -> str:
    """The paper's Table 2: one row per condition, Accuracy, Top 3 Accuracy, Precision,
    Recall in %. Bimodal, Video, Audio come first in that order; other keys follow as given."""
    if not reports:
        raise ValueError("format_table needs at least one report")
    known = [k for k in CONDITION_NAMES if k in reports]
    order = known + [k for k in reports if k not in CONDITION_NAMES]
    header = ("Modality", "Accuracy (%)", "Top 3 Accuracy (%)", "Precision (%)", "Recall (%)")
    rows = [
        (CONDITION_NAMES.get(k, k), _pct(r.accuracy), _pct(r.top3_accuracy), _pct(r.precision), _pct(r.recall))
        for k in order
        for r in [reports[k]]
    ]
    return _render(header, rows)


def format_per_class(report: Report) -> str:
    """Per-class support, precision, recall and F1 (in %), then the weighted and macro lines."""
    header = ("Emotion", "Support", "Precision (%)", "Recall (%)", "F1 (%)")
    rows = [(c.label, str(c.support), _pct(c.precision), _pct(c.recall), _pct(c.f1)) for c in report.per_class]
    rows.append(("weighted", str(report.n), _pct(report.precision), _pct(report.recall), ""))
    rows.append(("macro F1", "", "", "", _pct(report.macro_f1)))
    return _render(header, rows)


def format_confusion(report: Report) -> str:
    """The confusion matrix as counts: rows are true labels, columns predicted ones."""
    header = ("true \\ predicted", *report.labels)
    rows = [(label, *(str(v) for v in row)) for label, row in zip(report.labels, report.confusion)]
    return _render(header, rows)
