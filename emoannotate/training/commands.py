"""The `train` and `evaluate` commands as library functions: configs in, a checkpoint or reports out."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..checkpoint import save_checkpoint
from ..constants import EMOTIONS, FRAMES_PER_WINDOW
from ..datasets import Sample, load_dataset, make_split, portable_spec
from ..device import resolve_device
from ..errors import DatasetError
from ..hooks import NULL_HOOK, ProgressHook
from ..model.net import EmotionNet
from ..registry import load_model
from ..writers import check_can_write
from .augment import cached_degraded_voices
from .batch import TrainItem, pair_items, to_items
from .cache import cached_inputs, default_cache_dir
from .evaluate import evaluate_items, format_reports, reports_to_json, write_report_dir
from .fit import TrainOptions, build_model, fit, seed_everything
from .stills import cached_still_features

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
    per_corpus: bool = False
    fold: tuple[int, int] | None = None  # (k, n): test fold k of n of each corpus's people (`make_split`)

    def make_split_args(self, seed: int) -> dict:
        """The keyword arguments of `make_split`, as recorded in a checkpoint (JSON types)."""
        args: dict = dict(protocol=self.protocol,
                          test_speakers=list(self.test_speakers) if self.test_speakers else None,
                          test_fraction=self.test_fraction,
                          val_speakers=list(self.val_speakers) if self.val_speakers else None,
                          val_fraction=self.val_fraction, holdout_within=list(self.holdout_within), seed=seed)
        if self.per_corpus:
            args["per_corpus"] = True
        if self.fold is not None:
            args["fold"] = list(self.fold)
        return args


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
    augment_voices: int = 0  # degraded copies of each training voice (`augment`), 0 for none


@dataclass(frozen=True)
class EvalConfig:
    """Everything `run_evaluation` needs. split "model": the checkpoint's test split; "validation": the people
    it chose its epoch and temperatures on (to compare models without looking at test people); "all": every sample.

    neutral: the label for neutral clips, "drop" to leave them out, None as the checkpoint was trained.
    """

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


def sample_items(model, backbone: str, groups: Sequence[Sequence[Sample]], cache_dir: Path | None, workers: int,
                 device: torch.device, hook: ProgressHook = NULL_HOOK, *, keep_crops: bool = False
                 ) -> list[list[TrainItem]]:
    """TrainItems of each group of samples, in order: media through the window cache, photos through the
    still-feature cache (`stills`); samples without a usable face or voice are left out."""
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    every = [s for g in groups for s in g]
    media = [s for s in every if s.image is None]
    photos = [s for s in every if s.image is not None]
    if photos and keep_crops:
        raise DatasetError("photo datasets (fer2013, london-faces, muxspace) cannot train the backbone "
                           "(--finetune-backbone): their windows are cached as backbone features")
    inputs = dict(zip(map(id, media), cached_inputs(media, cache, workers=workers, hook=hook)))
    feats = dict(zip(map(id, photos), cached_still_features(photos, model.backbone, backbone, cache,
                                                             workers=workers, hook=hook))) if photos else {}
    out = []
    for g in groups:
        items = []
        for s in g:
            if s.image is None:
                items += to_items(model, [s], [inputs[id(s)]], device, keep_crops=keep_crops)
            elif (found := feats[id(s)]) is not None:
                f, m = found
                items.append(TrainItem(torch.from_numpy(f), torch.from_numpy(m), None, s.label_index, s.speaker,
                                       s.dataset, s.id))
        out.append(items)
    return out


def baseline_items(model: EmotionNet, samples: Sequence[Sample], cache_dir: Path | None, workers: int,
                   device: torch.device, hook: ProgressHook = NULL_HOOK) -> list[TrainItem]:
    """The face samples as items of fer's FER2013 mini-Xception, whose own head is the baseline a face path must
    beat (`evaluate.BASELINE_ZERO_SHOT`); none when `model` has that backbone (its ZERO_SHOT row is the same)."""
    if model.config.backbone == "minixception":
        return []
    base = build_model(TrainOptions(backbone="minixception"), model.config.labels)
    faces = [s for s in samples if s.image is not None or s.video is not None or s.faces_dir is not None]
    items, = sample_items(base, "minixception", [faces], cache_dir, workers, device, hook)
    return items


def degraded_items(samples: Sequence[Sample], copies: int, cache_dir: Path | None, workers: int) -> list[TrainItem]:
    """`copies` degraded copies (`augment`) of every voice-only training sample, as extra voice-only items."""
    voices = [s for s in samples if s.image is None and s.faces_dir is None and s.video is None and s.audio]
    feats = cached_degraded_voices(voices, copies, Path(cache_dir) if cache_dir else default_cache_dir(),
                                   workers=workers)
    return [TrainItem(None, torch.zeros(FRAMES_PER_WINDOW, dtype=torch.bool), torch.from_numpy(a), s.label_index,
                      s.speaker, s.dataset, f"{s.id}#degraded{k}")
            for s, fs in zip(voices, feats) for k, a in enumerate(fs)]


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
    seed_everything(options.seed)
    model = build_model(options, EMOTIONS)
    dev = resolve_device(options.device)
    keep = options.finetune_backbone
    train_items, val_items, test_items = sample_items(model, options.backbone, [split.train, split.val, split.test],
                                                      config.cache_dir, config.workers, dev, hook, keep_crops=keep)
    if config.augment_voices:
        train_items += degraded_items(split.train, config.augment_voices, config.cache_dir, config.workers)
    val_items += pair_items(val_items, val_items)  # calibrates and selects the fused path too
    resume_state = torch.load(state_path, weights_only=True) if config.resume and state_path.is_file() else None
    result = fit(model, train_items, val_items, options, on_epoch=hook.epoch, resume_state=resume_state,
                 save_state=lambda st: torch.save(st, state_path))
    reports = evaluate_items(model, test_items, dev, baseline=baseline_items(
        model, split.test, config.cache_dir, config.workers, dev, hook)) if test_items else {}
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
        "augment_voices": config.augment_voices,
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
    neutral = meta.info.get("neutral") if config.neutral is None else config.neutral
    neutral = None if neutral == "drop" else neutral
    samples = load_samples(config.data, neutral)
    about: dict = {"model": str(config.model), "sha256": meta.sha256, "data": list(config.data), "split": config.split,
                   "neutral": neutral}
    if config.split == "model":
        args = meta.info.get("split_args")
        if not args:
            raise DatasetError(f"{config.model}: the checkpoint records no split; use --split all")
        recorded = set(meta.info.get("split", {}).get("test_speakers", []))
        rules = args.get("holdout_within") or []
        if rules:  # within-speaker test samples: only the split itself knows which they are
            chosen = make_split(samples, **args)
            # Speakers unknown to the checkpoint's split would be re-drawn: keep only its recorded test speakers.
            test = [s for s in chosen.test
                    if s.speaker in recorded or any(s.speaker == r.rsplit(":", 1)[0] for r in rules)]
        else:  # the recorded test people, whatever else the data holds
            test = [s for s in samples if s.speaker in recorded]
        about["protocol"] = meta.info.get("split", {})
    elif config.split == "validation":
        chosen_val = set(meta.info.get("split", {}).get("val_speakers", []))
        if not chosen_val:
            raise DatasetError(f"{config.model}: the checkpoint records no validation people; use --split all")
        test = [s for s in samples if s.speaker in chosen_val]
        about["protocol"] = {**meta.info.get("split", {}), "evaluated": "validation people"}
    else:
        test = samples
        about["protocol"] = {"protocol": "all samples given", "speaker_independent": None}
    if not test:
        raise DatasetError(f"no samples: the data given holds none of the checkpoint's "
                           f"{'validation' if config.split == 'validation' else 'test'} speakers; "
                           "use --split all")
    items, = sample_items(net, net.config.backbone, [test], config.cache_dir, config.workers, dev, hook)
    reports = evaluate_items(net, items, dev, baseline=baseline_items(net, test, config.cache_dir, config.workers, dev,
                                                                      hook), intervals=True)
    if config.out_dir is not None:
        write_report_dir(reports, config.out_dir, about, overwrite=config.overwrite)
    return format_reports(reports)
