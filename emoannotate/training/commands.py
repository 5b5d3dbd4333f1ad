"""The `train` and `evaluate` commands as library functions: configs in, a checkpoint or reports out."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..checkpoint import save_checkpoint
from ..constants import EMOTIONS
from ..datasets import Sample, load_dataset, make_split, portable_spec
from ..device import resolve_device
from ..errors import DatasetError
from ..hooks import NULL_HOOK, ProgressHook
from ..registry import load_model
from ..writers import check_can_write
from .batch import to_items
from .cache import cached_inputs
from .evaluate import evaluate_items, format_reports, reports_to_json, write_report_dir
from .fit import TrainOptions, build_model, fit, seed_everything

log = logging.getLogger("emoannotate")


@dataclass(frozen=True)
class SplitOptions:
    """Who is trained on, validated on and tested on (see `datasets.make_split`)."""

    protocol: str = "speaker"
    test_speakers: tuple[str, ...] | None = None
    test_fraction: float = 0.3
    val_speakers: tuple[str, ...] | None = None
    val_fraction: float = 0.15
    holdout_within: tuple[str, ...] = ()

    def make_split_args(self, seed: int) -> dict:
        """The keyword arguments of `make_split`, as recorded in a checkpoint (JSON types)."""
        return dict(protocol=self.protocol, test_speakers=list(self.test_speakers) if self.test_speakers else None,
                    test_fraction=self.test_fraction,
                    val_speakers=list(self.val_speakers) if self.val_speakers else None,
                    val_fraction=self.val_fraction, holdout_within=list(self.holdout_within), seed=seed)


@dataclass(frozen=True)
class TrainConfig:
    """Everything `run_training` needs. `data` holds dataset specs "name:path" (see `datasets.load_dataset`)."""

    data: tuple[str, ...]
    out: Path
    options: TrainOptions = field(default_factory=TrainOptions)
    split: SplitOptions = field(default_factory=SplitOptions)
    neutral: str | None = None
    cache_dir: Path | None = None
    workers: int = 2
    resume: bool = False
    report_dir: Path | None = None
    overwrite: bool = False


@dataclass(frozen=True)
class EvalConfig:
    """Everything `run_evaluation` needs. split "model": the checkpoint's test split; "all": every sample."""

    data: tuple[str, ...]
    model: str = "default"
    split: str = "model"
    neutral: str | None = None
    out_dir: Path | None = None
    cache_dir: Path | None = None
    workers: int = 2
    device: str = "auto"
    overwrite: bool = False


@dataclass
class TrainOutcome:
    path: Path
    table: str
    info: dict


def load_samples(data: Sequence[str], neutral: str | None = None) -> list[Sample]:
    """Samples of every dataset spec, the same recording kept once (`deduplicate`)."""
    samples: list[Sample] = []
    for spec in data:
        samples.extend(load_dataset(spec, neutral=neutral))
    if not samples:
        raise DatasetError(f"no labelled samples found in {', '.join(data)}")
    return deduplicate(samples)


def deduplicate(samples: Sequence[Sample]) -> list[Sample]:
    """One sample per (speaker, trial id) when two datasets hold the same recording.

    RAVDESS as distributed and its preprocessed windows share speakers and trial ids; the
    copy with a face (video or face crops) is kept, so a trial is never trained on in one
    copy and tested on in the other.
    """
    best: dict[tuple[str, str], Sample] = {}
    for s in samples:
        key = (s.speaker, s.id)
        old = best.get(key)
        has_face = s.video is not None or s.faces_dir is not None
        if old is None or (has_face and old.video is None and old.faces_dir is None):
            best[key] = s
    if len(best) < len(samples):
        log.info("%d samples were the same recordings in two datasets; kept one of each", len(samples) - len(best))
    kept = {id(s) for s in best.values()}
    return [s for s in samples if id(s) in kept]


def run_training(config: TrainConfig, hook: ProgressHook = NULL_HOOK) -> TrainOutcome:
    """Load datasets, split, cache features, train, calibrate, evaluate on test, save."""
    out = Path(config.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    state_path = out.with_suffix(".state.pt")
    if not (config.resume and state_path.is_file()):
        check_can_write(out, config.overwrite)
    options = config.options
    split_args = config.split.make_split_args(options.seed)
    samples = load_samples(config.data, config.neutral)
    split = make_split(samples, **split_args)
    log.info("%d samples: train %d, validation %d, test %d (%s)", len(samples), len(split.train), len(split.val),
                len(split.test), "speaker-independent" if split.description.get("speaker_independent")
                else "NOT speaker-independent")
    inputs = cached_inputs(split.train + split.val + split.test, config.cache_dir, workers=config.workers, hook=hook)
    seed_everything(options.seed)
    model = build_model(options, EMOTIONS)
    dev = resolve_device(options.device)
    n_tr, n_va = len(split.train), len(split.val)
    keep = options.finetune_backbone
    train_items = to_items(model, split.train, inputs[:n_tr], dev, keep_crops=keep)
    val_items = to_items(model, split.val, inputs[n_tr:n_tr + n_va], dev, keep_crops=keep)
    test_items = to_items(model, split.test, inputs[n_tr + n_va:], dev, keep_crops=keep)
    resume_state = torch.load(state_path, weights_only=True) if config.resume and state_path.is_file() else None
    result = fit(model, train_items, val_items, options, on_epoch=hook.epoch, resume_state=resume_state,
                 save_state=lambda st: torch.save(st, state_path))
    reports = evaluate_items(model, test_items, dev) if test_items else {}
    table = format_reports(reports)
    info = {
        "summary": f"{len(split.train)} train / {len(split.val)} val / {len(split.test)} test samples from "
                   f"{', '.join(sorted({s.dataset for s in samples}))}",
        "data": [portable_spec(spec) for spec in config.data],
        "neutral": config.neutral,
        "split": split.description,
        "split_args": split_args,
        "counts": {"train": len(train_items), "val": len(val_items), "test": len(test_items),
                   "train_with_face": sum(it.has_video for it in train_items),
                   "test_with_face": sum(it.has_video for it in test_items)},
        "options": options.to_dict(),
        "best_epoch": result.best_epoch,
        "temperature": result.temperature,
        "history": result.history,
        "test_reports": reports_to_json(reports),
        "table": table,
    }
    save_checkpoint(model, out, info=info)
    if state_path.is_file():
        state_path.unlink()
    if config.report_dir is not None and reports:
        write_report_dir(reports, config.report_dir, info, overwrite=config.overwrite)
    return TrainOutcome(out, table, info)


def run_evaluation(config: EvalConfig, hook: ProgressHook = NULL_HOOK) -> str:
    """The `evaluate` command: load, pick the test samples, compute every report, write them; returns the tables."""
    dev = resolve_device(config.device)
    net, meta = load_model(config.model, device=dev)
    samples = load_samples(config.data, config.neutral)
    about: dict = {"model": str(config.model), "sha256": meta.sha256, "data": list(config.data), "split": config.split}
    if config.split == "model":
        args = meta.info.get("split_args")
        if not args:
            raise DatasetError(f"{config.model}: the checkpoint records no split; use --split all")
        chosen = make_split(samples, **args)
        # Speakers unknown to the checkpoint's split would be re-drawn: keep only its recorded test speakers.
        recorded = set(meta.info.get("split", {}).get("test_speakers", []))
        rules = args.get("holdout_within") or []
        test = [s for s in chosen.test if s.speaker in recorded or any(s.speaker == r.rsplit(":", 1)[0] for r in rules)]
        about["protocol"] = meta.info.get("split", {})
    else:
        test = samples
        about["protocol"] = {"protocol": "all samples given", "speaker_independent": None}
    if not test:
        raise DatasetError("no test samples: the data given holds none of the checkpoint's test speakers; "
                           "use --split all")
    inputs = cached_inputs(test, config.cache_dir, workers=config.workers, hook=hook)
    items = to_items(net, test, inputs, dev)
    reports = evaluate_items(net, items, dev)
    if config.out_dir is not None:
        write_report_dir(reports, config.out_dir, about, overwrite=config.overwrite)
    return format_reports(reports)
