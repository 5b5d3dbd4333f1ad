"""Deterministic train/test splits, speaker-independent unless said otherwise, and training's Split."""

from __future__ import annotations

import fnmatch
import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import DatasetError
from ._common import Sample, _natural_key, _preview


def split_by_speaker(
    samples: Sequence[Sample],
    test_speakers: Iterable[str] | None = None,
    *,
    test_fraction: float = 0.3,
    seed: int = 0,
) -> tuple[list[Sample], list[Sample]]:
    """Speaker-independent (train, test): no speaker has samples on both sides.

    With `test_speakers` (full speaker strings such as "ravdess:05") those go to test.
    Without, whole speakers are taken in a seeded pseudo-random order (a SHA-256 of seed
    and speaker, so the choice is the same on every machine and in every input order),
    each added while it brings the test share closer to `test_fraction` of the samples.
    Both lists keep the input order.
    """
    counts = _speaker_counts(samples)
    if test_speakers is not None:
        chosen = set(test_speakers)
        unknown = sorted(chosen - counts.keys())
        if unknown:
            raise DatasetError(
                f"test speakers {', '.join(unknown)} have no samples; speakers are: "
                f"{_preview(sorted(counts, key=_natural_key))}"
            )
        if not chosen or chosen == counts.keys():
            raise DatasetError("test_speakers must name some but not all speakers")
    else:
        _check_fraction(test_fraction, "test_fraction")
        if len(counts) < 2:
            raise DatasetError(
                f"a speaker-independent split needs at least 2 speakers, found "
                f"{_preview(list(counts))}; use random_split instead"
            )
        order = sorted(counts, key=lambda s: _hash_key(seed, s))
        target = test_fraction * len(samples)
        picked: list[str] = []
        n_test = 0
        for speaker in order:
            if abs(n_test + counts[speaker] - target) < abs(n_test - target):
                picked.append(speaker)
                n_test += counts[speaker]
        if not picked:  # every speaker alone overshoots: take the first
            picked.append(order[0])
        if len(picked) == len(order):  # keep someone to train on
            picked.pop()
        chosen = set(picked)
    train = [s for s in samples if s.speaker not in chosen]
    test = [s for s in samples if s.speaker in chosen]
    return train, test


def kfold_by_speaker(
    samples: Sequence[Sample], k: int = 5, *, seed: int = 0
) -> list[tuple[list[Sample], list[Sample]]]:
    """`k` speaker-independent (train, test) folds; every speaker is in exactly one test.

    Speakers are dealt, largest first (ties in seeded SHA-256 order), to the fold with the
    fewest samples so far, so folds hold about len(samples)/k samples each.
    """
    counts = _speaker_counts(samples)
    if not 2 <= k <= len(counts):
        raise DatasetError(
            f"k must be between 2 and the number of speakers ({len(counts)}), got {k}"
        )
    order = sorted(counts, key=lambda s: (-counts[s], _hash_key(seed, s)))
    fold_of: dict[str, int] = {}
    sizes = [0] * k
    for speaker in order:
        fold = min(range(k), key=lambda i: (sizes[i], i))
        fold_of[speaker] = fold
        sizes[fold] += counts[speaker]
    return [
        (
            [s for s in samples if fold_of[s.speaker] != fold],
            [s for s in samples if fold_of[s.speaker] == fold],
        )
        for fold in range(k)
    ]


def random_split(
    samples: Sequence[Sample], *, fraction: float = 0.3, seed: int = 0
) -> tuple[list[Sample], list[Sample]]:
    """The paper's split: (train, test) with `fraction` of the samples drawn at random.

    NOT speaker-independent: the same speaker is normally on both sides, so its accuracy
    is optimistic next to `split_by_speaker`. Use it only to compare with the paper.
    Samples are ordered by a SHA-256 of seed, dataset and id (the same on every machine
    and for every input order) and the first round(fraction * n) go to test, at least one
    and at most n - 1. Both lists keep the input order.
    """
    _check_fraction(fraction, "fraction")
    if len(samples) < 2:
        raise DatasetError(f"need at least 2 samples to split, got {len(samples)}")
    n_test = min(max(round(fraction * len(samples)), 1), len(samples) - 1)
    order = sorted(range(len(samples)), key=lambda i: _hash_key(seed, _sample_key(samples[i])))
    test_idx = set(order[:n_test])
    train = [s for i, s in enumerate(samples) if i not in test_idx]
    test = [s for i, s in enumerate(samples) if i in test_idx]
    return train, test


# --- Protocol: who is trained on and who is tested on -------------------------------------

@dataclass
class Split:
    """train / val / test samples and a description of how they were chosen (for reports)."""

    train: list[Sample]
    val: list[Sample]
    test: list[Sample]
    description: dict


def _parse_rule(rule: str) -> tuple[str, str, str]:
    """"ravdess:05:repetition=02" -> ("ravdess:05", "repetition", "02")."""
    try:
        speaker, cond = rule.rsplit(":", 1)
        key, value = cond.split("=", 1)
    except ValueError:
        raise DatasetError(f"--holdout-within {rule!r}: expected SPEAKER:FIELD=VALUE, "
                           f"e.g. ravdess:05:repetition=02") from None
    if key not in ("repetition", "statement", "intensity"):
        raise DatasetError(f"--holdout-within {rule!r}: FIELD must be repetition, statement or intensity")
    return speaker, key, value


def resolve_speakers(patterns: Sequence[str] | None, samples: Sequence[Sample]) -> list[str] | None:
    """Speaker names and shell patterns ("fer2013:PrivateTest-*") -> the speakers of `samples` they name.

    A name without wildcards is kept as given (so an unknown one is reported by the split).
    """
    if patterns is None:
        return None
    speakers = sorted({s.speaker for s in samples}, key=_natural_key)
    out: list[str] = []
    for p in patterns:
        if any(c in p for c in "*?["):
            out += [sp for sp in speakers if fnmatch.fnmatchcase(sp, p) and sp not in out]
        elif p not in out:
            out.append(p)
    return out


def summarise_speakers(speakers: Sequence[str], limit: int = 24) -> str:
    """Speakers for people to read: names of corpora with at most `limit` of them, else a count.

    ["ravdess:04", "ravdess:05", 3,589 x "fer2013:..."] -> "ravdess:04, ravdess:05; fer2013: 3589 speakers"
    (FER2013 has one per image).
    """
    counts = Counter(family(s) for s in speakers)
    named = [s for s in speakers if counts[family(s)] <= limit]
    many = [f"{c}: {n} speakers" for c, n in sorted(counts.items()) if n > limit]
    return "; ".join(x for x in (", ".join(named), "; ".join(many)) if x)


def family(speaker: str) -> str:
    """The corpus part of a speaker ("ravdess:05" -> "ravdess"): RAVDESS and its windows are one family."""
    return speaker.split(":", 1)[0]


def make_split(samples: Sequence[Sample], *, protocol: str = "speaker", test_speakers: Sequence[str] | None = None,
               test_fraction: float = 0.3, val_speakers: Sequence[str] | None = None, val_fraction: float = 0.15,
               holdout_within: Sequence[str] = (), seed: int = 0, per_corpus: bool = False,
               fold: tuple[int, int] | None = None) -> Split:
    """Split samples for training.

    Speakers may be named by shell patterns ("fer2013:PrivateTest-*", "muxspace:*").
    With `per_corpus`, each speaker family (`family`) is split on its own: the named test /
    validation speakers of that family when there are any, else `test_fraction` /
    `val_fraction` of its samples, so every corpus has people in test and validation (a
    fraction of the whole would be filled by the largest corpus alone). A family whose every
    speaker is named for test ("london-faces:*") is held out whole: tested across corpora.

    fold (k, n), 1 <= k <= n: instead of `test_fraction`, the people (of each corpus with
    `per_corpus`) are dealt into n folds (`kfold_by_speaker`, seeded) and fold k is the test;
    named test speakers still decide for their corpus. Trained once per fold, k = 1..n, a recipe
    tests every person exactly once, never having trained on or chosen anything with them
    (leave-one-group-out cross-validation). Validation comes from the other folds, as usual.

    protocol "speaker" (default): no speaker in two of train/val/test, except speakers named
    in `holdout_within` rules (SPEAKER:FIELD=VALUE): that speaker's matching samples go to
    test and the rest to train, which is NOT speaker-independent and is reported as such
    (for corpora where one speaker is all there is of a modality).
    protocol "random": the paper's random split (not speaker-independent).
    """
    samples = list(samples)
    test_speakers = resolve_speakers(test_speakers, samples)
    val_speakers = resolve_speakers(val_speakers, samples)
    if fold is not None:
        _check_fold(fold, protocol)
    if per_corpus and protocol == "speaker":
        return _split_per_corpus(samples, test_speakers, test_fraction, val_speakers, val_fraction,
                                 holdout_within, seed, fold)
    desc: dict = {"protocol": protocol, "seed": seed}
    if protocol == "random":
        rest, test = random_split(samples, fraction=test_fraction, seed=seed)
        train, val = random_split(rest, fraction=val_fraction, seed=seed + 1)
        desc.update(test_fraction=test_fraction, val_fraction=val_fraction, speaker_independent=False)
        return Split(train, val, test, desc)
    if protocol != "speaker":
        raise DatasetError(f"unknown protocol {protocol!r}: use speaker or random")
    rules = [_parse_rule(r) for r in holdout_within]
    pinned_speakers = {r[0] for r in rules}
    within_test = [s for s in samples if any(s.speaker == sp and getattr(s, k) == v for sp, k, v in rules)]
    within_ids = {id(s) for s in within_test}
    within_train = [s for s in samples if s.speaker in pinned_speakers and id(s) not in within_ids]
    free = [s for s in samples if s.speaker not in pinned_speakers]
    if not free:  # every speaker is held out within itself: no speaker-level split to make
        rest, test = [], []
    elif test_speakers:
        known = {s.speaker for s in free}
        rest, test = split_by_speaker(free, [t for t in test_speakers if t in known] or list(test_speakers))
    elif fold is not None:
        rest, test = _fold_split(free, fold, seed)
    else:
        rest, test = split_by_speaker(free, test_fraction=test_fraction, seed=seed)
    if not rest:
        train, val = [], []
    elif val_speakers:
        train, val = split_by_speaker(rest, list(val_speakers))
    elif val_fraction > 0:
        train, val = split_by_speaker(rest, test_fraction=val_fraction, seed=seed + 1)
    else:
        train, val = rest, []
    desc.update(
        speaker_independent=not rules,
        test_speakers=sorted({s.speaker for s in test}),
        val_speakers=sorted({s.speaker for s in val}),
        train_speakers=sorted({s.speaker for s in train} | pinned_speakers),
        holdout_within=list(holdout_within),
    )
    if fold is not None:
        desc["fold"] = list(fold)
    return Split(train + within_train, val, test + within_test, desc)


def _split_per_corpus(samples: list[Sample], test_speakers: list[str] | None, test_fraction: float,
                      val_speakers: list[str] | None, val_fraction: float, holdout_within: Sequence[str],
                      seed: int, fold: tuple[int, int] | None = None) -> Split:
    families = sorted({family(s.speaker) for s in samples})
    parts = []
    for name in families:
        mine = [s for s in samples if family(s.speaker) == name]
        speakers = {s.speaker for s in mine}
        tests = [t for t in test_speakers or [] if t in speakers] or None
        vals = [v for v in val_speakers or [] if v in speakers] or None
        rules = [r for r in holdout_within if family(r) == name]
        if tests and set(tests) == speakers and not rules:  # the whole corpus held out: across corpora
            parts.append(Split([], [], mine, {"speaker_independent": True, "test_speakers": sorted(speakers),
                                              "val_speakers": [], "train_speakers": []}))
            continue
        parts.append(make_split(mine, test_speakers=tests, test_fraction=test_fraction, val_speakers=vals,
                                val_fraction=val_fraction, holdout_within=rules, seed=seed,
                                fold=fold if tests is None else None))
    desc: dict = {"protocol": "speaker", "seed": seed, "per_corpus": True,
                  "speaker_independent": all(p.description["speaker_independent"] for p in parts),
                  "holdout_within": list(holdout_within)}
    if fold is not None:
        desc["fold"] = list(fold)
    for key in ("test_speakers", "val_speakers", "train_speakers"):
        desc[key] = sorted({sp for p in parts for sp in p.description[key]}, key=_natural_key)
    return Split([s for p in parts for s in p.train], [s for p in parts for s in p.val],
                 [s for p in parts for s in p.test], desc)


def _check_fold(fold: tuple[int, int], protocol: str) -> None:
    k, n = fold
    if protocol != "speaker":
        raise DatasetError("folds are of people: use protocol speaker with fold")
    if not 1 <= k <= n or n < 2:
        raise DatasetError(f"fold {k}/{n}: expected K/N with N >= 2 and K from 1 to N")


def _fold_split(samples: Sequence[Sample], fold: tuple[int, int], seed: int) -> tuple[list[Sample], list[Sample]]:
    """(train, test) of fold k of n (1-based); a corpus with fewer than n people cannot be dealt into n folds."""
    k, n = fold
    people = len({s.speaker for s in samples})
    if people < n:
        corpus = family(samples[0].speaker) if samples else "?"
        raise DatasetError(f"fold {k}/{n}: {corpus} has {people} people, fewer than {n} folds; use fewer folds "
                           f"or name its test people")
    return kfold_by_speaker(samples, n, seed=seed)[k - 1]


def _speaker_counts(samples: Sequence[Sample]) -> Counter[str]:
    if not samples:
        raise DatasetError("no samples to split")
    return Counter(s.speaker for s in samples)


def _sample_key(sample: Sample) -> str:
    return f"{sample.dataset}\0{sample.id}"


def _hash_key(seed: int, text: str) -> bytes:
    """A seeded pseudo-random sort key, identical on every platform and Python version."""
    return hashlib.sha256(f"{seed}\0{text}".encode()).digest()


def _check_fraction(value: float, name: str) -> None:
    if not 0.0 < value < 1.0:
        raise DatasetError(f"{name} must be between 0 and 1 (exclusive), got {value}")
