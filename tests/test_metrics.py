"""Tests of emoannotate.metrics: hand-computed cases, edge cases, calibration, temperature."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from emoannotate.constants import EMOTIONS
from emoannotate.metrics import (
    ClassMetrics,
    Report,
    apply_temperature,
    bootstrap_intervals,
    confusion_matrix,
    evaluate_probs,
    expected_calibration_error,
    fit_temperature,
    format_confusion,
    format_per_class,
    format_table,
    negative_log_likelihood,
    reliability_bins,
)

# --- A small case computed by hand -----------------------------------------------------
# 6 samples, 4 classes a, b, c, d (4 so that top-3 can miss).
#
#   sample  probs (a, b, c, d)      target  argmax  correct  target's rank  in top 3
#   0       .6  .2  .1  .1          a       a       yes      1              yes
#   1       .1  .2  .3  .4          a       d       no       4              no
#   2       .1  .7  .1  .1          b       b       yes      1              yes
#   3       .5  .3  .1  .1          b       a       no       2              yes
#   4       .2  .1  .4  .3          c       c       yes      1              yes
#   5       .1  .2  .3  .4          d       d       yes      1              yes
#
# accuracy 4/6, top-3 accuracy 5/6.
# confusion (rows true, cols predicted):   a  b  c  d
#                                       a  1  0  0  1
#                                       b  1  1  0  0
#                                       c  0  0  1  0
#                                       d  0  0  0  1
# support (row sums)      2, 2, 1, 1;   predicted (column sums) 2, 1, 1, 2
# precision per class     1/2, 1, 1, 1/2;   recall per class  1/2, 1/2, 1, 1
# f1 per class            1/2, 2/3, 1, 2/3  -> macro F1 = (1/2 + 2/3 + 1 + 2/3) / 4 = 17/24
# weighted precision      (2*1/2 + 2*1 + 1*1 + 1*1/2) / 6 = 4.5/6 = 0.75
# weighted recall         (2*1/2 + 2*1/2 + 1*1 + 1*1) / 6 = 4/6 = accuracy
# NLL                     -(ln .6 + ln .1 + ln .7 + ln .3 + ln .4 + ln .4) / 6
# ECE (15 bins of width 1/15): confidences .6 .4 .7 .5 .4 .4, each value in its own bin.
#   bin of .4: 3 samples (1, 4, 5), 2 correct: |2/3 - .4| * 3/6 = .8/6
#   bin of .5: sample 3, wrong:                |0 - .5|   * 1/6 = .5/6
#   bin of .6: sample 0, right:                |1 - .6|   * 1/6 = .4/6
#   bin of .7: sample 2, right:                |1 - .7|   * 1/6 = .3/6
#   ECE = 2.0 / 6 = 1/3
HAND_PROBS = np.array(
    [
        [0.6, 0.2, 0.1, 0.1],
        [0.1, 0.2, 0.3, 0.4],
        [0.1, 0.7, 0.1, 0.1],
        [0.5, 0.3, 0.1, 0.1],
        [0.2, 0.1, 0.4, 0.3],
        [0.1, 0.2, 0.3, 0.4],
    ]
)
HAND_TARGETS = np.array([0, 0, 1, 1, 2, 3])
HAND_LABELS = ("a", "b", "c", "d")


def _no_warnings(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(divide="raise", over="raise", invalid="raise"):
            return fn(*args, **kwargs)


def test_hand_computed_case():
    r = _no_warnings(evaluate_probs, HAND_PROBS, HAND_TARGETS, HAND_LABELS)
    assert r.n == 6
    assert r.labels == HAND_LABELS
    assert r.accuracy == pytest.approx(4 / 6)
    assert r.top3_accuracy == pytest.approx(5 / 6)
    assert r.precision == pytest.approx(0.75)
    assert r.recall == pytest.approx(4 / 6)
    assert r.recall == pytest.approx(r.accuracy)
    assert r.macro_f1 == pytest.approx(17 / 24)
    assert r.confusion == [[1, 0, 0, 1], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    assert [c.support for c in r.per_class] == [2, 2, 1, 1]
    assert [c.precision for c in r.per_class] == pytest.approx([0.5, 1, 1, 0.5])
    assert [c.recall for c in r.per_class] == pytest.approx([0.5, 0.5, 1, 1])
    assert [c.f1 for c in r.per_class] == pytest.approx([0.5, 2 / 3, 1, 2 / 3])
    assert [c.label for c in r.per_class] == list(HAND_LABELS)
    expected_nll = -np.mean(np.log([0.6, 0.1, 0.7, 0.3, 0.4, 0.4]))
    assert r.nll == pytest.approx(expected_nll)
    assert r.ece == pytest.approx(1 / 3)
    assert expected_calibration_error(HAND_PROBS, HAND_TARGETS) == pytest.approx(1 / 3)
    assert negative_log_likelihood(HAND_PROBS, HAND_TARGETS) == pytest.approx(expected_nll)


def test_report_is_frozen_and_to_dict_is_json():
    r = evaluate_probs(HAND_PROBS, HAND_TARGETS, HAND_LABELS)
    assert isinstance(r, Report)
    assert all(isinstance(c, ClassMetrics) for c in r.per_class)
    with pytest.raises(AttributeError):
        r.accuracy = 1.0  # type: ignore[misc]
    d = r.to_dict()
    back = json.loads(json.dumps(d, allow_nan=False))
    assert back["confusion"] == r.confusion
    assert back["labels"] == list(HAND_LABELS)
    assert back["per_class"][1] == {
        "label": "b", "support": 2, "precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3),
    }  # fmt: skip
    assert set(back) == {
        "n", "accuracy", "top3_accuracy", "precision", "recall", "macro_f1",
        "per_class", "confusion", "labels", "ece", "nll",
    }  # fmt: skip
    assert all(type(back[k]) is float for k in ("accuracy", "top3_accuracy", "precision", "recall", "ece", "nll"))


def test_zero_support_and_never_predicted_classes():
    # 3 classes; class 2 ("c") is never a target but is predicted once; class 1 ("b") is a
    # target twice but never predicted.
    #   targets   0 0 1 1
    #   predicted 0 0 0 2
    # confusion: a [2 0 0], b [1 0 1], c [0 0 0]
    # precision: a 2/3, b 0 (never predicted), c 0 (predicted once, wrong)
    # recall:    a 1, b 0, c 0 (no support)
    # weighted precision = (2 * 2/3 + 2 * 0) / 4 = 1/3; accuracy 2/4
    # macro F1 over supported classes a, b: (0.8 + 0) / 2 = 0.4   (F1 of a = 2*(2/3)/(5/3))
    probs = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.2, 0.3, 0.5]])
    targets = np.array([0, 0, 1, 1])
    r = _no_warnings(evaluate_probs, probs, targets, ("a", "b", "c"))
    assert r.confusion == [[2, 0, 0], [1, 0, 1], [0, 0, 0]]
    assert [c.support for c in r.per_class] == [2, 2, 0]
    assert [c.precision for c in r.per_class] == pytest.approx([2 / 3, 0, 0])
    assert [c.recall for c in r.per_class] == pytest.approx([1, 0, 0])
    assert [c.f1 for c in r.per_class] == pytest.approx([0.8, 0, 0])
    assert r.precision == pytest.approx(1 / 3)
    assert r.recall == pytest.approx(0.5) and r.accuracy == pytest.approx(0.5)
    assert r.macro_f1 == pytest.approx(0.4)
    values = [r.accuracy, r.top3_accuracy, r.precision, r.recall, r.macro_f1, r.ece, r.nll]
    values += [x for c in r.per_class for x in (c.precision, c.recall, c.f1)]
    assert all(math.isfinite(v) for v in values)


def test_perfect_predictions():
    targets = np.array([0, 1, 2, 3, 4, 5, 6, 0, 3])
    probs = np.eye(7)[targets]
    r = _no_warnings(evaluate_probs, probs, targets, EMOTIONS)
    assert r.accuracy == r.top3_accuracy == r.precision == r.recall == r.macro_f1 == 1.0
    assert r.ece == pytest.approx(0.0, abs=1e-12)
    assert r.nll == pytest.approx(0.0, abs=1e-12)
    assert np.array_equal(np.array(r.confusion), np.diag([2, 1, 1, 2, 1, 1, 1]))
    assert all(c.f1 == 1.0 for c in r.per_class)


def test_zero_probability_on_target_gives_finite_nll():
    probs = np.array([[1.0, 0.0], [0.0, 1.0]])
    r = _no_warnings(evaluate_probs, probs, [1, 1], ("x", "y"))
    assert math.isfinite(r.nll) and r.nll > 10


def test_top3_ties_break_toward_lower_index_like_argmax():
    # Uniform rows: argmax is class 0, so only classes 0, 1, 2 are in the "top 3".
    probs = np.full((7, 7), 1 / 7)
    r = evaluate_probs(probs, np.arange(7), EMOTIONS)
    assert r.accuracy == pytest.approx(1 / 7)
    assert r.top3_accuracy == pytest.approx(3 / 7)


def test_top3_with_fewer_than_three_classes_is_one():
    r = evaluate_probs(np.array([[0.9, 0.1], [0.9, 0.1]]), [0, 1], ("x", "y"))
    assert r.top3_accuracy == 1.0


def test_confusion_matrix_function():
    cm = confusion_matrix([0, 1, 1, 2], [0, 2, 1, 2], n_classes=4)
    assert cm.tolist() == [[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    with pytest.raises(ValueError, match="predicted has 2 entries"):
        confusion_matrix([0, 1, 1], [0, 1], n_classes=2)


# --- Input validation ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("probs", "targets", "labels", "message"),
    [
        (np.full(4, 0.25), [0], ("a", "b", "c", "d"), r"probs must be 2-D \(N, C\), got shape \(4,\)"),
        (np.zeros((0, 3)), [], ("a", "b", "c"), "at least one sample"),
        (np.full((2, 2), 0.5), [0, 1, 1], ("a", "b"), "targets has 3 entries, expected 2"),
        (np.full((2, 2), 0.5), [[0, 1]], ("a", "b"), r"targets must be 1-D"),
        (np.full((2, 2), 0.5), [0, 2], ("a", "b"), r"targets must lie in \[0, 2\); found 2 at index 1"),
        (np.full((2, 2), 0.5), [0, -1], ("a", "b"), "found -1 at index 1"),
        (np.full((2, 2), 0.5), [0.0, 0.5], ("a", "b"), "non-integer"),
        (np.full((2, 2), 0.5), ["a", "b"], ("a", "b"), "integer class indices"),
        (np.full((2, 2), 0.5), [0, 1], ("a", "b", "c"), "got 3 labels for 2 classes"),
        (np.full((2, 2), 0.5), [0, 1], ("a", "a"), "unique"),
        (np.array([[0.5, 0.5], [0.7, 0.7]]), [0, 1], ("a", "b"), "row 1 sums to 1.4"),
        (np.array([[2.0, -1.0], [0.5, 0.5]]), [0, 1], ("a", "b"), "were logits passed"),
        (np.array([[np.nan, 0.5], [0.5, 0.5]]), [0, 1], ("a", "b"), "NaN"),
    ],
)
def test_evaluate_probs_rejects_bad_input(probs, targets, labels, message):
    with pytest.raises(ValueError, match=message):
        evaluate_probs(probs, targets, labels)


def test_default_labels_are_the_seven_emotions():
    r = evaluate_probs(np.eye(7), np.arange(7))
    assert r.labels == EMOTIONS
    with pytest.raises(ValueError, match="got 7 labels for 3 classes"):
        evaluate_probs(np.eye(3), np.arange(3))


def test_float_integral_targets_are_accepted():
    r = evaluate_probs(HAND_PROBS, HAND_TARGETS.astype(np.float32), HAND_LABELS)
    assert r.accuracy == pytest.approx(4 / 6)


# --- Calibration -----------------------------------------------------------------------
def _constant_confidence_case(confidence: float, n: int, n_correct: int, n_classes: int = 7):
    """n rows whose max probability is `confidence` on class 0; n_correct have target 0."""
    rest = (1 - confidence) / (n_classes - 1)
    probs = np.full((n, n_classes), rest)
    probs[:, 0] = confidence
    targets = np.array([0] * n_correct + [1] * (n - n_correct))
    return probs, targets


def test_ece_zero_when_confidence_matches_accuracy():
    probs, targets = _constant_confidence_case(0.8, n=10, n_correct=8)  # 80% sure, 80% right
    assert expected_calibration_error(probs, targets) == pytest.approx(0.0, abs=1e-12)


def test_ece_of_overconfident_constant_case():
    probs, targets = _constant_confidence_case(0.9, n=10, n_correct=6)  # 90% sure, 60% right
    assert expected_calibration_error(probs, targets) == pytest.approx(0.3)
    assert expected_calibration_error(probs, targets, n_bins=1) == pytest.approx(0.3)


def test_ece_mixes_bins_by_weight():
    # Half the samples at 0.9 with 60% right (gap 0.3), half at 0.55 with 60% right (gap 0.05):
    # ECE = 0.5 * 0.3 + 0.5 * 0.05 = 0.175. With one bin: |0.6 - 0.725| = 0.125.
    p1, t1 = _constant_confidence_case(0.9, n=10, n_correct=6)
    p2, t2 = _constant_confidence_case(0.55, n=10, n_correct=6)
    probs, targets = np.vstack([p1, p2]), np.concatenate([t1, t2])
    assert expected_calibration_error(probs, targets) == pytest.approx(0.175)
    assert expected_calibration_error(probs, targets, n_bins=1) == pytest.approx(0.125)


def test_reliability_bins_agree_with_ece():
    rng = np.random.default_rng(0)
    probs = apply_temperature(rng.normal(size=(500, 7)) * 3, 1.0)
    targets = rng.integers(0, 7, size=500)
    bins = reliability_bins(probs, targets)
    assert len(bins) == 15
    assert sum(b.count for b in bins) == 500
    assert bins[0].lower == 0.0 and bins[-1].upper == 1.0
    assert all(b.upper - b.lower == pytest.approx(1 / 15) for b in bins)
    ece = sum(b.count / 500 * abs(b.accuracy - b.confidence) for b in bins)
    assert ece == pytest.approx(expected_calibration_error(probs, targets))
    for b in bins:
        if b.count:
            assert b.lower <= b.confidence <= b.upper
            assert 0.0 <= b.accuracy <= 1.0
        else:
            assert b.confidence == 0.0 and b.accuracy == 0.0
    # Max-probabilities of 7 classes are >= 1/7, so the first bin (0, 1/15] is empty.
    assert bins[0].count == 0


def test_reliability_and_ece_reject_bad_bins():
    with pytest.raises(ValueError, match="n_bins"):
        reliability_bins(HAND_PROBS, HAND_TARGETS, n_bins=0)
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(HAND_PROBS, HAND_TARGETS, n_bins=2.5)


# --- Temperature scaling ---------------------------------------------------------------
def _tempered_data(t_true: float, n: int, seed: int, n_classes: int = 7, scale: float = 3.0):
    """Logits z and labels drawn from softmax(z / t_true)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=scale, size=(n, n_classes))
    p = apply_temperature(z, t_true)
    u = rng.random((n, 1))
    targets = np.minimum((p.cumsum(axis=1) < u).sum(axis=1), n_classes - 1)
    return z, targets


@pytest.mark.parametrize("t_true", [0.5, 2.0, 3.0])
def test_fit_temperature_recovers_known_temperature(t_true):
    z, targets = _tempered_data(t_true, n=4000, seed=int(t_true * 10))
    t_fit = fit_temperature(z, targets)
    assert t_fit == pytest.approx(t_true, rel=0.10)


def test_fit_temperature_is_deterministic_and_a_minimum():
    z, targets = _tempered_data(2.0, n=2000, seed=1)
    t_fit = fit_temperature(z, targets)
    assert fit_temperature(z, targets) == t_fit

    def nll(t):
        return negative_log_likelihood(apply_temperature(z, t), targets)

    assert nll(t_fit) <= nll(t_fit * 1.01) and nll(t_fit) <= nll(t_fit / 1.01)


def test_temperature_scaling_lowers_nll_and_ece_on_overconfident_model():
    # The model's logits are z but the labels follow softmax(z / 2.5): at T = 1 it is
    # overconfident. Fit on a validation half, judge on the other half.
    z, targets = _tempered_data(2.5, n=6000, seed=7)
    val, test = slice(0, 3000), slice(3000, None)
    t_fit = fit_temperature(z[val], targets[val])
    assert t_fit > 1.5
    before = apply_temperature(z[test], 1.0)
    after = apply_temperature(z[test], t_fit)
    assert negative_log_likelihood(after, targets[test]) < negative_log_likelihood(before, targets[test]) - 0.05
    ece_before = expected_calibration_error(before, targets[test])
    ece_after = expected_calibration_error(after, targets[test])
    assert ece_after < 0.5 * ece_before
    # Temperature never changes the argmax, so accuracy is unchanged.
    assert np.array_equal(before.argmax(axis=1), after.argmax(axis=1))


def test_fit_temperature_stops_at_the_bound_for_uninformative_logits():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(500, 7))
    targets = rng.integers(0, 7, size=500)  # independent of z: the best T is "infinite"
    assert fit_temperature(z, targets, bounds=(0.1, 10.0)) == pytest.approx(10.0, rel=1e-4)


def test_apply_temperature_is_a_stable_softmax():
    logits = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]])
    p = _no_warnings(apply_temperature, logits, 1.0)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert p[0, 0] == pytest.approx(1.0)
    e = np.exp([1.0, 2.0, 3.0])
    assert p[1] == pytest.approx(e / e.sum())
    assert apply_temperature(logits[1], 2.0) == pytest.approx(np.exp([0.5, 1, 1.5]) / np.exp([0.5, 1, 1.5]).sum())
    assert np.allclose(apply_temperature(logits, 1e6), 1 / 3, atol=1e-3)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_apply_temperature_rejects_bad_temperature(bad):
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        apply_temperature(np.zeros((2, 3)), bad)


def test_fit_temperature_rejects_bad_input():
    with pytest.raises(ValueError, match="logits must be 2-D"):
        fit_temperature(np.zeros(3), [0, 1, 2])
    with pytest.raises(ValueError, match="targets has 2 entries, expected 3"):
        fit_temperature(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ValueError, match="low < high"):
        fit_temperature(np.zeros((3, 2)), [0, 1, 1], bounds=(2.0, 1.0))


# --- Text tables -----------------------------------------------------------------------
def _report_with(accuracy: float, top3: float, precision: float) -> Report:
    return Report(
        n=100, accuracy=accuracy, top3_accuracy=top3, precision=precision, recall=accuracy,
        macro_f1=0.5, per_class=(), confusion=[], labels=(), ece=0.1, nll=1.0,
    )  # fmt: skip


def test_format_table_in_paper_order_and_percent():
    reports = {
        "audio": _report_with(0.3701, 0.70, 0.38),
        "extra": _report_with(0.5, 0.6, 0.7),
        "bimodal": _report_with(0.7756, 0.95, 0.78),
        "video": _report_with(0.6774, 0.90, 0.68),
    }
    text = format_table(reports)
    lines = text.splitlines()
    assert lines[0].split("  ")[0].strip() == "Modality"
    for column in ("Accuracy (%)", "Top 3 Accuracy (%)", "Precision (%)", "Recall (%)"):
        assert column in lines[0]
    assert [line.split()[0] for line in lines[2:]] == ["Bimodal", "Video", "Audio", "extra"]
    assert lines[2].split()[1:] == ["77.56", "95.00", "78.00", "77.56"]
    assert lines[4].split()[1:] == ["37.01", "70.00", "38.00", "37.01"]
    assert len({len(line) for line in lines[:2]}) == 1  # header and rule line up
    with pytest.raises(ValueError):
        format_table({})


def test_format_per_class_and_confusion():
    r = evaluate_probs(HAND_PROBS, HAND_TARGETS, HAND_LABELS)
    text = format_per_class(r)
    lines = text.splitlines()
    assert lines[2].split() == ["a", "2", "50.00", "50.00", "50.00"]
    assert lines[3].split() == ["b", "2", "100.00", "50.00", "66.67"]
    assert lines[-2].split() == ["weighted", "6", "75.00", "66.67"]
    assert lines[-1].split() == ["macro", "F1", "70.83"]
    conf = format_confusion(r).splitlines()
    assert conf[0].split()[-4:] == ["a", "b", "c", "d"]
    assert conf[3].split() == ["b", "1", "1", "0", "0"]


# --- Cross-check with scikit-learn (only when it is installed) -------------------------
def test_matches_scikit_learn_on_random_data():
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(42)
    n, c = 300, 7
    probs = apply_temperature(rng.normal(scale=2.0, size=(n, c)), 1.0)
    targets = rng.integers(0, c - 1, size=n)  # the last class has no support
    r = evaluate_probs(probs, targets, EMOTIONS)
    pred = probs.argmax(axis=1)
    labels = list(range(c))
    assert r.accuracy == pytest.approx(skm.accuracy_score(targets, pred))
    assert r.top3_accuracy == pytest.approx(skm.top_k_accuracy_score(targets, probs, k=3, labels=labels))
    assert r.precision == pytest.approx(
        skm.precision_score(targets, pred, labels=labels, average="weighted", zero_division=0)
    )
    assert r.recall == pytest.approx(
        skm.recall_score(targets, pred, labels=labels, average="weighted", zero_division=0)
    )
    present = sorted(set(targets.tolist()))
    assert r.macro_f1 == pytest.approx(skm.f1_score(targets, pred, labels=present, average="macro", zero_division=0))
    per_p, per_r, per_f, per_s = skm.precision_recall_fscore_support(
        targets, pred, labels=labels, zero_division=0
    )
    assert [m.precision for m in r.per_class] == pytest.approx(per_p)
    assert [m.recall for m in r.per_class] == pytest.approx(per_r)
    assert [m.f1 for m in r.per_class] == pytest.approx(per_f)
    assert [m.support for m in r.per_class] == per_s.tolist()
    assert r.confusion == skm.confusion_matrix(targets, pred, labels=labels).tolist()
    assert r.nll == pytest.approx(skm.log_loss(targets, probs, labels=labels))


# --- Bootstrap intervals -----------------------------------------------------------------
def _people_case(n_people: int = 40, per_person: int = 10, seed: int = 3):
    """Each person's windows are all right or all wrong (confidence 0.7), half the people each:
    windows of one person are not independent, so only resampling people shows the spread."""
    rng = np.random.default_rng(seed)
    right = rng.permutation(np.repeat([True, False], n_people // 2))
    probs, targets, groups = [], [], []
    for person, ok in enumerate(right):
        for _ in range(per_person):
            t = int(rng.integers(7))
            p = np.full(7, 0.05)
            p[t if ok else (t + 1) % 7] = 0.7
            probs.append(p)
            targets.append(t)
            groups.append(f"person{person}")
    return np.array(probs), np.array(targets), groups


def test_bootstrap_intervals_resample_people_not_their_windows():
    probs, targets, groups = _people_case()
    point = evaluate_probs(probs, targets)
    by_people = bootstrap_intervals(probs, targets, groups)
    by_windows = bootstrap_intervals(probs, targets)
    assert (by_people.unit, by_people.units, by_windows.unit, by_windows.units) == ("people", 40, "windows", 400)
    for iv in (by_people, by_windows):
        assert iv.accuracy[0] <= point.accuracy <= iv.accuracy[1]
        assert iv.ece[0] <= point.ece <= iv.ece[1]
    # 40 independent people give about +-0.16 on a 0.5 accuracy; 400 windows would claim +-0.05
    width_people = by_people.accuracy[1] - by_people.accuracy[0]
    width_windows = by_windows.accuracy[1] - by_windows.accuracy[0]
    assert 0.25 < width_people < 0.4
    assert width_windows < 0.13
    assert width_people > 2.5 * width_windows


def test_bootstrap_intervals_are_seeded_and_checked():
    rng = np.random.default_rng(0)
    noisy = rng.dirichlet(np.full(7, 0.5), size=300)  # confidences all different: percentiles differ by seed
    labels = rng.integers(0, 7, 300)
    assert bootstrap_intervals(noisy, labels) == bootstrap_intervals(noisy, labels)
    assert bootstrap_intervals(noisy, labels, seed=1) != bootstrap_intervals(noisy, labels)
    probs, targets, groups = _people_case()
    one = bootstrap_intervals(probs, targets, ["one"] * len(targets))  # one person: nothing to resample
    acc = evaluate_probs(probs, targets).accuracy
    assert one.units == 1 and one.accuracy == pytest.approx((acc, acc))
    with pytest.raises(ValueError, match="groups must have one entry per sample"):
        bootstrap_intervals(probs, targets, groups[:-1])
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_intervals(probs, targets, resamples=0)
    with pytest.raises(ValueError, match="level"):
        bootstrap_intervals(probs, targets, level=1.0)


def test_reports_carry_intervals_only_when_asked():
    probs, targets, groups = _people_case()
    plain = evaluate_probs(probs, targets, groups=groups)
    assert plain.intervals is None and "intervals" not in plain.to_dict()  # a checkpoint's reports stay as they were
    full = evaluate_probs(probs, targets, groups=groups, intervals=True)
    doc = json.loads(json.dumps(full.to_dict()))
    assert doc["intervals"]["unit"] == "people" and doc["intervals"]["units"] == 40
    assert doc["intervals"]["accuracy"] == list(full.intervals.accuracy)
    assert {k: v for k, v in doc.items() if k != "intervals"} == plain.to_dict()
