"""Training: window inputs cached once per sample, modality dropout, speaker-held-out validation.

A sample (see `datasets.Sample`) becomes one window: up to 15 face crops and the 181 x 156
audio features of its first 3.6 s, computed exactly as `emoannotate run` computes them
and cached on disk, so epochs and reruns cost only the network. With a frozen backbone
(the default) the backbone's per-frame features are computed once too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import audio as audio_features
from .checkpoint import current_preprocessing, load_checkpoint, save_checkpoint
from .constants import FACE_SIZE, FRAMES_PER_WINDOW, WINDOW_SECONDS
from .datasets import Sample
from .errors import DatasetError
from .model.net import EmotionNet, ModelConfig
from .records import Window

log = logging.getLogger("emoannotate")

CACHE_VERSION = 1  # bump when what is cached per sample changes


# --- Per-sample window inputs, cached -------------------------------------------------------

@dataclass
class SampleInputs:
    """One sample's window, model-ready.

    crops: (15, 224, 224, 3) uint8 (zeros where mask is False) or None without any face.
    mask:  (15,) bool.
    audio: (181, 156) float32 or None (silent, or no audio).
    """

    crops: np.ndarray | None
    mask: np.ndarray
    audio: np.ndarray | None


def _sample_key(sample: Sample) -> str:
    parts = [str(CACHE_VERSION), json.dumps(current_preprocessing(), sort_keys=True)]
    for p in (sample.video, sample.audio, sample.faces_dir):
        if p is None:
            parts.append("-")
            continue
        st = p.stat()
        parts.append(f"{p.resolve()}|{st.st_size}|{int(st.st_mtime)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _first_window(duration_s: float) -> Window:
    """The training window of a clip: its first 3.6 s (the whole clip when shorter)."""
    return Window(0, 0.0, min(duration_s, WINDOW_SECONDS), partial=duration_s < WINDOW_SECONDS)


def _load_faces_dir(folder: Path) -> tuple[np.ndarray | None, np.ndarray]:
    from PIL import Image

    crops = np.zeros((FRAMES_PER_WINDOW, FACE_SIZE, FACE_SIZE, 3), np.uint8)
    mask = np.zeros(FRAMES_PER_WINDOW, bool)
    for i in range(FRAMES_PER_WINDOW):
        f = folder / f"{i:02d}.jpg"
        if f.is_file():
            with Image.open(f) as im:
                crops[i] = np.asarray(im.convert("RGB").resize((FACE_SIZE, FACE_SIZE)))
            mask[i] = True
    return (crops if mask.any() else None), mask


def compute_sample_inputs(sample: Sample, detector=None) -> SampleInputs:
    """Faces and audio features of a sample's first window, as the pipeline computes them."""
    from .media import iter_window_frames, probe, read_audio

    crops, mask = None, np.zeros(FRAMES_PER_WINDOW, bool)
    if sample.faces_dir is not None:
        crops, mask = _load_faces_dir(sample.faces_dir)
    elif sample.video is not None:
        info = probe(sample.video)
        if info.has_video:
            if detector is None:
                from .faces import FaceDetector

                detector = FaceDetector()
            window = _first_window(info.duration_s)
            _, frames = next(iter_window_frames(sample.video, [window], n_frames=FRAMES_PER_WINDOW))
            faces = detector.detect(frames)
            crops, mask = (faces.crops if faces.n_found else None), faces.mask
    audio = None
    audio_path = sample.audio
    if audio_path is None and sample.faces_dir is not None and (sample.faces_dir.parent / "audio.wav").is_file():
        audio_path = sample.faces_dir.parent / "audio.wav"
    if audio_path is None and sample.video is not None and probe(sample.video).has_audio:
        audio_path = sample.video
    if audio_path is not None:
        samples = read_audio(audio_path)
        audio = audio_features.window_audio_features(samples[: audio_features.WINDOW_SAMPLES])
    return SampleInputs(crops, mask, audio)


def _compute_audio_only(sample: Sample) -> SampleInputs:
    return compute_sample_inputs(sample)


class FeatureCache:
    """Per-sample `SampleInputs` on disk under `root` (one .npz per sample)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, sample: Sample) -> Path:
        return self.root / f"{_sample_key(sample)}.npz"

    def load(self, sample: Sample) -> SampleInputs | None:
        p = self._path(sample)
        if not p.is_file():
            return None
        with np.load(p) as z:
            return SampleInputs(z["crops"] if "crops" in z else None, z["mask"], z["audio"] if "audio" in z else None)

    def save(self, sample: Sample, x: SampleInputs) -> None:
        arrays = {"mask": x.mask}
        if x.crops is not None:
            arrays["crops"] = x.crops
        if x.audio is not None:
            arrays["audio"] = x.audio
        tmp = self._path(sample).with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(self._path(sample))

    def get_all(self, samples: Sequence[Sample], *, workers: int = 0,
                progress: Callable[[int, int], None] | None = None) -> list[SampleInputs]:
        """Inputs of every sample, computing (in `workers` processes) what is not cached.

        A sample whose media cannot be read is logged and gets no modality (it is dropped
        by the caller), so one bad file does not stop training.
        """
        out: list[SampleInputs | None] = [self.load(s) for s in samples]
        todo = [i for i, x in enumerate(out) if x is None]
        done = len(samples) - len(todo)
        if progress:
            progress(done, len(samples))
        # Video samples need MTCNN (kept in this process); audio-only ones parallelise well.
        video_todo = [i for i in todo if samples[i].video is not None and samples[i].faces_dir is None]
        other_todo = [i for i in todo if i not in set(video_todo)]
        detector = None
        if video_todo:
            from .faces import FaceDetector

            detector = FaceDetector()

        def finish(i: int, x: SampleInputs | Exception) -> None:
            nonlocal done
            if isinstance(x, Exception):
                log.error("%s: skipped (%s)", samples[i].video or samples[i].audio or samples[i].faces_dir, x)
                x = SampleInputs(None, np.zeros(FRAMES_PER_WINDOW, bool), None)
            else:
                self.save(samples[i], x)
            out[i] = x
            done += 1
            if progress:
                progress(done, len(samples))

        for i in video_todo:
            try:
                finish(i, compute_sample_inputs(samples[i], detector))
            except Exception as err:  # noqa: BLE001 - reported and skipped
                finish(i, err)
        if workers > 0 and len(other_todo) > 1:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
                futures = {pool.submit(_compute_audio_only, samples[i]): i for i in other_todo}
                for fut in futures:
                    try:
                        finish(futures[fut], fut.result())
                    except Exception as err:  # noqa: BLE001
                        finish(futures[fut], err)
        else:
            for i in other_todo:
                try:
                    finish(i, compute_sample_inputs(samples[i]))
                except Exception as err:  # noqa: BLE001
                    finish(i, err)
        return out  # type: ignore[return-value]


# --- Training -------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainOptions:
    """Hyper-parameters; the defaults are the paper's (Adam, lr 3e-4, batch 32).

    p_drop_video / p_drop_audio: chance, per bimodal sample and epoch, to hide one modality.
    p_pair: chance that a face sample's voice is swapped for another recording's voice of
        the same label (another speaker), which gives the fusion many more bimodal pairs.
    video_repeat: times each face-bearing sample appears per epoch (0 = balance automatically
        against the audio-only samples).
    """

    backbone: str = "minixception"
    backbone_weights: str | None = None
    epochs: int = 40
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 1e-4
    p_drop_video: float = 0.2
    p_drop_audio: float = 0.3
    p_pair: float = 0.5
    video_repeat: int = 0
    patience: int = 12
    seed: int = 0
    device: str = "auto"
    fusion_layers: int = 1
    finetune_backbone: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainItem:
    """A cached sample ready for the network: backbone features instead of crops."""

    frames: torch.Tensor | None  # (15, F) float32 backbone features, or (15, 224, 224, 3) uint8 crops when fine-tuning
    mask: torch.Tensor  # (15,) bool
    audio: torch.Tensor | None  # (181, 156) float32
    label: int
    speaker: str
    dataset: str
    id: str

    @property
    def has_video(self) -> bool:
        return self.frames is not None and bool(self.mask.any())

    @property
    def has_audio(self) -> bool:
        return self.audio is not None


@dataclass
class TrainResult:
    model: EmotionNet
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    temperature: float = 1.0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(options: TrainOptions, labels: Sequence[str]) -> EmotionNet:
    """A fresh network with its backbone's pretrained weights loaded and frozen."""
    config = ModelConfig(backbone=options.backbone, labels=tuple(labels), fusion_layers=options.fusion_layers)
    model = EmotionNet(config)
    if options.backbone == "minixception":
        model.backbone.load_pretrained()
    elif options.backbone == "efficientface" and options.backbone_weights:
        from .model.efficientface import load_published_state_dict

        load_published_state_dict(model.backbone, options.backbone_weights)
    if not options.finetune_backbone:
        for p in model.backbone.parameters():
            p.requires_grad_(False)
        model.backbone.eval()
    return model


@torch.no_grad()
def to_items(model: EmotionNet, samples: Sequence[Sample], inputs: Sequence[SampleInputs],
             device: torch.device, batch: int = 64, *, keep_crops: bool = False) -> list[TrainItem]:
    """Backbone features of every face crop (frozen backbone), paired with audio and label.

    With `keep_crops` (backbone fine-tuning) the items keep the uint8 crops instead.
    """
    model.backbone.to(device).eval()
    items = []
    for s, x in zip(samples, inputs):
        frames = None
        if keep_crops and x.crops is not None and x.mask.any():
            frames = torch.from_numpy(x.crops)
        elif x.crops is not None and x.mask.any():
            crops = torch.from_numpy(x.crops[x.mask]).to(device)
            feats = torch.cat([model.face_features(crops[i:i + batch]) for i in range(0, len(crops), batch)])
            frames = feats.new_zeros(FRAMES_PER_WINDOW, feats.shape[1])
            frames[torch.from_numpy(x.mask).to(device)] = feats
            frames = frames.cpu()
        audio = torch.from_numpy(x.audio) if x.audio is not None else None
        if frames is None and audio is None:
            continue
        items.append(TrainItem(frames, torch.from_numpy(x.mask), audio, s.label_index, s.speaker, s.dataset, s.id))
    return items


def collate(items: Sequence[TrainItem], feature_dim: int, n_audio: tuple[int, int],
            drop_video: Sequence[bool] | None = None, drop_audio: Sequence[bool] | None = None,
            audio_override: Sequence[torch.Tensor | None] | None = None):
    """Stack items into batch tensors; dropped or missing modalities are masked out, not used.

    Returns (frames, mask, audio, audio_mask, labels): frames is (B, 15, F) features, or,
    for items holding crops, (K, 224, 224, 3) uint8 with the crops where mask is True.
    """
    b = len(items)
    if any(it.frames is not None and it.frames.dtype == torch.uint8 for it in items):
        return _collate_crops(items, n_audio, drop_video, drop_audio, audio_override)
    frames = torch.zeros(b, FRAMES_PER_WINDOW, feature_dim)
    mask = torch.zeros(b, FRAMES_PER_WINDOW, dtype=torch.bool)
    audio = torch.zeros(b, *n_audio)
    amask = torch.zeros(b, dtype=torch.bool)
    labels = torch.tensor([it.label for it in items])
    for k, it in enumerate(items):
        if it.has_video and not (drop_video and drop_video[k]):
            frames[k], mask[k] = it.frames, it.mask
        a = audio_override[k] if audio_override is not None and audio_override[k] is not None else it.audio
        if a is not None and not (drop_audio and drop_audio[k]):
            audio[k], amask[k] = a, True
    return frames, mask, audio, amask, labels


def _collate_crops(items, n_audio, drop_video, drop_audio, audio_override):
    b = len(items)
    mask = torch.zeros(b, FRAMES_PER_WINDOW, dtype=torch.bool)
    crops = []
    _, _, audio, amask, labels = collate([TrainItem(None, it.mask, it.audio, it.label, it.speaker, it.dataset, it.id)
                                         for it in items], 1, n_audio, drop_video, drop_audio, audio_override)
    for k, it in enumerate(items):
        if it.has_video and not (drop_video and drop_video[k]):
            mask[k] = it.mask
            crops.append(it.frames[it.mask])
    faces = torch.cat(crops) if crops else torch.zeros(0, 224, 224, 3, dtype=torch.uint8)
    return faces, mask, audio, amask, labels


def _logits(model: EmotionNet, frames, mask, audio, amask, device) -> torch.Tensor:
    """Features (B, 15, F) go past the backbone; uint8 crops (K, 224, 224, 3) go through it."""
    if frames.dtype == torch.uint8:
        return model(frames.to(device), mask.to(device), audio.to(device), amask.to(device))
    return model.forward_features(frames.to(device), mask.to(device), audio.to(device), amask.to(device))


@torch.no_grad()
def predict_items(model: EmotionNet, items: Sequence[TrainItem], device: torch.device, *,
                  use_video: bool = True, use_audio: bool = True, batch: int = 256) -> np.ndarray:
    """Logits (N, n_labels) with one modality hidden when asked (items must keep one)."""
    model.eval()
    feature_dim = model.backbone.feature_dim
    n_audio = (model.config.n_audio_features, 156)
    out = []
    for i in range(0, len(items), batch):
        chunk = items[i:i + batch]
        frames, mask, audio, amask, _ = collate(chunk, feature_dim, n_audio,
                                                drop_video=[not use_video] * len(chunk),
                                                drop_audio=[not use_audio] * len(chunk))
        out.append(_logits(model, frames, mask, audio, amask, device).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, len(model.config.labels)), np.float32)


def fit(model: EmotionNet, train: Sequence[TrainItem], val: Sequence[TrainItem], options: TrainOptions, *,
        on_epoch: Callable[[dict], None] | None = None, resume_state: dict | None = None,
        save_state: Callable[[dict], None] | None = None) -> TrainResult:
    """Train the branches, TFusion and classifier (the backbone stays frozen).

    Model selection on the validation items' loss; the temperature is fitted on them too.
    `save_state(state)` is called after each epoch with what `resume_state` takes back.
    """
    from .metrics import fit_temperature
    from .pipeline import resolve_device

    if not train:
        raise DatasetError("no training samples with a usable face or voice")
    device = resolve_device(options.device)
    seed_everything(options.seed)
    model.to(device)
    # Audio normalisation from the training windows (per feature row, over time and samples).
    with_audio = [it.audio for it in train if it.audio is not None]
    if with_audio:
        audio_stack = torch.stack(with_audio)  # (N, 181, 156)
        model.audio.set_normalisation(audio_stack.mean(dim=(0, 2)), audio_stack.std(dim=(0, 2)))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=options.lr, weight_decay=options.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    video_items = [it for it in train if it.has_video]
    audio_by_label: dict[int, list[TrainItem]] = {}
    for it in train:
        if it.has_audio:
            audio_by_label.setdefault(it.label, []).append(it)
    repeat = options.video_repeat or max(1, min(20, (len(train) - len(video_items)) // max(1, 2 * len(video_items))))
    feature_dim = model.backbone.feature_dim
    n_audio = (model.config.n_audio_features, 156)
    result = TrainResult(model)
    best = (float("inf"), -1)
    best_state = None
    start_epoch = 0
    if resume_state is not None:
        model.load_state_dict(resume_state["model"])
        opt.load_state_dict(resume_state["optimizer"])
        start_epoch = resume_state["epoch"] + 1
        result.history = resume_state["history"]
        best = tuple(resume_state["best"])
        best_state = resume_state["best_state"]
        random.setstate(resume_state["py_random"])
        torch.set_rng_state(resume_state["torch_random"])
    rng = random.Random(options.seed)
    for epoch in range(start_epoch, options.epochs):
        rng.seed(options.seed * 1000 + epoch)
        model.train()
        if not options.finetune_backbone:
            model.backbone.eval()
        epoch_items = list(train) + [it for it in video_items for _ in range(repeat - 1)]
        rng.shuffle(epoch_items)
        total, n = 0.0, 0
        for i in range(0, len(epoch_items), options.batch_size):
            chunk = epoch_items[i:i + options.batch_size]
            drop_v, drop_a, override = [], [], []
            for it in chunk:
                dv = da = False
                pair = None
                if it.has_video and it.has_audio:
                    r = rng.random()
                    dv, da = r < options.p_drop_video, options.p_drop_video <= r < options.p_drop_video + options.p_drop_audio
                if it.has_video and not da and rng.random() < options.p_pair:
                    others = [o for o in audio_by_label.get(it.label, []) if o.speaker != it.speaker]
                    if others:
                        pair = rng.choice(others).audio
                        dv = False
                drop_v.append(dv)
                drop_a.append(da and pair is None)
                override.append(pair)
            frames, mask, audio, amask, labels = collate(chunk, feature_dim, n_audio, drop_v, drop_a, override)
            logits = _logits(model, frames, mask, audio, amask, device)
            loss = loss_fn(logits, labels.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(chunk)
            n += len(chunk)
        record = {"epoch": epoch, "train_loss": total / max(n, 1)}
        if val:
            logits = torch.from_numpy(predict_items(model, val, device))
            targets = torch.tensor([it.label for it in val])
            record["val_loss"] = float(loss_fn(logits, targets))
            record["val_accuracy"] = float((logits.argmax(1) == targets).float().mean())
            score = record["val_loss"]
        else:
            score = record["train_loss"]
        if score < best[0]:
            best = (score, epoch)
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        result.history.append(record)
        if on_epoch:
            on_epoch(record)
        if save_state:
            save_state({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch,
                        "history": result.history, "best": list(best), "best_state": best_state,
                        "py_random": random.getstate(), "torch_random": torch.get_rng_state()})
        if epoch - best[1] >= options.patience:
            log.info("no validation improvement for %d epochs: stopping at epoch %d", options.patience, epoch)
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    result.best_epoch = best[1]
    if val:
        logits = predict_items(model, val, device)
        result.temperature = fit_temperature(logits, np.array([it.label for it in val]))
        model.temperature.fill_(result.temperature)
    model.eval()
    return result


def save_trained(model: EmotionNet, path: str | Path, info: dict) -> Path:
    """Save a trained model with its training description (datasets, split, options, figures)."""
    return save_checkpoint(model, path, info=info)


def load_for_finetune(path: str | Path) -> EmotionNet:
    model, _ = load_checkpoint(path)
    return model


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


def make_split(samples: Sequence[Sample], *, protocol: str = "speaker", test_speakers: Sequence[str] | None = None,
               test_fraction: float = 0.3, val_speakers: Sequence[str] | None = None, val_fraction: float = 0.15,
               holdout_within: Sequence[str] = (), seed: int = 0) -> Split:
    """Split samples for training.

    protocol "speaker" (default): no speaker in two of train/val/test, except speakers named
    in `holdout_within` rules (SPEAKER:FIELD=VALUE): that speaker's matching samples go to
    test and the rest to train, which is NOT speaker-independent and is reported as such
    (for corpora where one speaker is all there is of a modality).
    protocol "random": the paper's random split (not speaker-independent).
    """
    from .datasets import random_split, split_by_speaker

    samples = list(samples)
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
    return Split(train + within_train, val, test + within_test, desc)


# --- The `train` command's library function ---------------------------------------------------

def default_cache_dir() -> Path:
    import os

    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "emoannotate" / "features"


def load_samples(data: Sequence[str], neutral: str | None = None) -> list[Sample]:
    from .datasets import load_dataset

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


def cached_inputs(samples: Sequence[Sample], cache_dir, workers: int, console=None) -> list[SampleInputs]:
    """Every sample's inputs through the on-disk cache, with a progress bar when a console is given."""
    cache = FeatureCache(cache_dir or default_cache_dir())
    if console is None:
        return cache.get_all(samples, workers=workers)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("faces + audio features"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("features", total=len(samples))
        return cache.get_all(samples, workers=workers,
                             progress=lambda done, total: progress.update(task, completed=done))


def run_training(*, data: Sequence[str], out: Path, backbone: str = "minixception", backbone_weights: str | None = None,
                 protocol: str = "speaker", test_speakers=None, test_fraction: float = 0.3, val_speakers=None,
                 val_fraction: float = 0.15, holdout_within: Sequence[str] = (), neutral: str | None = None,
                 epochs: int = 40, batch_size: int = 32, lr: float = 3e-4, p_pair: float = 0.5, seed: int = 0,
                 device: str = "auto", cache_dir=None, workers: int = 2, resume: bool = False,
                 report_dir: Path | None = None, overwrite: bool = False, finetune_backbone: bool = False,
                 console=None) -> Path:
    """Load datasets, split, cache features, train, calibrate, evaluate on test, save."""
    from .evaluate import evaluate_items, format_reports, reports_to_json, write_report_dir
    from .pipeline import resolve_device
    from .writers import check_can_write

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    state_path = out.with_suffix(".state.pt")
    if not (resume and state_path.is_file()):
        check_can_write(out, overwrite)
    split_args = dict(protocol=protocol, test_speakers=test_speakers, test_fraction=test_fraction,
                      val_speakers=val_speakers, val_fraction=val_fraction, holdout_within=list(holdout_within),
                      seed=seed)
    samples = load_samples(data, neutral)
    split = make_split(samples, **split_args)
    say = console.print if console is not None else (lambda *a, **k: None)
    say(f"{len(samples)} samples: train {len(split.train)}, validation {len(split.val)}, test {len(split.test)} "
        f"({'speaker-independent' if split.description.get('speaker_independent') else 'NOT speaker-independent'})")
    everything = split.train + split.val + split.test
    inputs = cached_inputs(everything, cache_dir, workers, console)
    options = TrainOptions(backbone=backbone, backbone_weights=backbone_weights, epochs=epochs,
                           batch_size=batch_size, lr=lr, p_pair=p_pair, seed=seed, device=device,
                           finetune_backbone=finetune_backbone)
    seed_everything(seed)
    model = build_model(options, EMOTIONS_DEFAULT)
    dev = resolve_device(device)
    n_tr, n_va = len(split.train), len(split.val)
    keep = options.finetune_backbone
    train_items = to_items(model, split.train, inputs[:n_tr], dev, keep_crops=keep)
    val_items = to_items(model, split.val, inputs[n_tr:n_tr + n_va], dev, keep_crops=keep)
    test_items = to_items(model, split.test, inputs[n_tr + n_va:], dev, keep_crops=keep)
    resume_state = torch.load(state_path, weights_only=True) if resume and state_path.is_file() else None

    def on_epoch(rec: dict) -> None:
        say(f"epoch {rec['epoch']:3d}  train loss {rec['train_loss']:.3f}"
            + (f"  val loss {rec['val_loss']:.3f}  val acc {rec['val_accuracy']:.1%}" if "val_loss" in rec else ""))

    result = fit(model, train_items, val_items, options, on_epoch=on_epoch, resume_state=resume_state,
                 save_state=lambda st: torch.save(st, state_path))
    reports = evaluate_items(model, test_items, dev) if test_items else {}
    table = format_reports(reports)
    info = {
        "summary": f"{len(split.train)} train / {len(split.val)} val / {len(split.test)} test samples from "
                   f"{', '.join(sorted({s.dataset for s in samples}))}",
        "data": list(data),
        "neutral": neutral,
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
    save_trained(model, out, info)
    if state_path.is_file():
        state_path.unlink()
    say(table)
    say(f"saved {out}")
    if report_dir is not None and reports:
        write_report_dir(reports, report_dir, info, overwrite=overwrite)
    return out


from .constants import EMOTIONS as EMOTIONS_DEFAULT  # noqa: E402
