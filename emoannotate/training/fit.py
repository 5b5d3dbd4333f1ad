"""The fit loop: modality dropout, cross-recording pairing, early stopping, temperature on validation."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from ..constants import N_AUDIO_FRAMES
from ..device import resolve_device
from ..errors import DatasetError
from ..metrics import fit_temperature
from ..model.net import FER_BACKBONES, PATHS, EmotionNet, FerBackbone, ModelConfig
from .batch import TrainItem, collate, embed_items, logits_of, pair_items, predict_items

log = logging.getLogger("emoannotate")


@dataclass(frozen=True)
class TrainOptions:
    """Hyper-parameters; the defaults are the paper's (Adam, lr 3e-4, batch 32).

    p_drop_video / p_drop_audio: chance, per bimodal sample and epoch, to hide one modality.
    p_pair: chance that a face sample's voice is swapped for another recording's voice of
        the same label (another speaker), which gives the fusion many more bimodal pairs.
    p_conflict: chance that a face sample not so paired gets a voice of another label instead
        (another speaker), its target half each label: the fusion learns that a face and a voice
        that disagree leave either emotion open, instead of trusting whichever it learned to.
    video_repeat: times each face-bearing sample appears per epoch (0 = balance automatically
        against the audio-only samples).
    epoch_faces: with many face samples (photos), how many of them an epoch draws (0 = all);
        the draw is seeded per epoch, so over the epochs every photo is seen.
    face_prior: add the FER2013 backbone's own head to the logits (`model.net.FacePrior`).
    fused_distance: "fused" or "inputs": what the face+voice path's distance term reads
        (`model.net.ModelConfig.fused_distance`).
    class_balance: weight the loss of each label by the inverse of its share of the
        training samples, faces and voices apart (`_class_weights`), so that a corpus full of
        neutral faces does not teach "calm", nor the faces' rare labels the voice.
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
    p_conflict: float = 0.0
    video_repeat: int = 0
    patience: int = 12
    seed: int = 0
    device: str = "auto"
    fusion_layers: int = 1
    finetune_backbone: bool = False
    epoch_faces: int = 0
    class_balance: bool = False
    face_prior: bool = False
    fused_distance: str = "fused"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    model: EmotionNet
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    temperature: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])  # per PATHS


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(options: TrainOptions, labels: Sequence[str]) -> EmotionNet:
    """A fresh network with its backbone's pretrained weights loaded and frozen."""
    config = ModelConfig(backbone=options.backbone, labels=tuple(labels), fusion_layers=options.fusion_layers,
                         face_prior=options.face_prior, fused_distance=options.fused_distance)
    model = EmotionNet(config)
    if options.backbone in FER_BACKBONES:
        assert isinstance(model.backbone, FerBackbone)  # build_backbone makes one for these names
        model.backbone.load_pretrained(options.backbone_weights)
    elif options.backbone == "efficientface" and options.backbone_weights:
        from ..model.efficientface import EfficientFace, load_published_state_dict

        assert isinstance(model.backbone, EfficientFace)  # build_backbone("efficientface") makes one
        load_published_state_dict(model.backbone, options.backbone_weights)
    if not options.finetune_backbone:
        for p in model.backbone.parameters():
            p.requires_grad_(False)
        model.backbone.eval()
    return model


def fit(model: EmotionNet, train: Sequence[TrainItem], val: Sequence[TrainItem], options: TrainOptions, *,
        on_epoch: Callable[[dict], None] | None = None, resume_state: dict | None = None,
        save_state: Callable[[dict], None] | None = None) -> TrainResult:
    """Train the branches, TFusion and classifier (the backbone stays frozen).

    Model selection on the validation items' loss; the temperature is fitted on them too.
    `save_state(state)` is called after each epoch with what `resume_state` takes back.
    """
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
    n_labels = len(model.config.labels)
    class_weights = _class_weights(train, n_labels) if options.class_balance else None
    loss_fn = nn.CrossEntropyLoss(reduction="none")
    val_loss_fn = nn.CrossEntropyLoss()
    video_items = [it for it in train if it.has_video]
    other_items = [it for it in train if not it.has_video]
    audio_by_label: dict[int, list[TrainItem]] = {}
    for it in train:
        if it.has_audio:
            audio_by_label.setdefault(it.label, []).append(it)
    repeat = options.video_repeat or max(1, min(20, (len(train) - len(video_items)) // max(1, 2 * len(video_items))))
    feature_dim = model.backbone.feature_dim
    n_audio = (model.config.n_audio_features, N_AUDIO_FRAMES)
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
        if options.epoch_faces and len(video_items) > options.epoch_faces:
            epoch_items = other_items + rng.sample(video_items, options.epoch_faces)
        else:
            epoch_items = list(train) + [it for it in video_items for _ in range(repeat - 1)]
        rng.shuffle(epoch_items)
        total, n = 0.0, 0
        for i in range(0, len(epoch_items), options.batch_size):
            chunk = epoch_items[i:i + options.batch_size]
            drop_v, drop_a, override, voice_labels = [], [], [], []
            for it in chunk:
                dv = da = False
                pair, voice_label = None, it.label
                if it.has_video and it.has_audio:
                    r = rng.random()
                    pv, pa = options.p_drop_video, options.p_drop_audio
                    dv, da = r < pv, pv <= r < pv + pa
                if it.has_video and not da and rng.random() < options.p_pair:
                    pair = _other_voice(rng, audio_by_label, it, same_label=True)
                elif it.has_video and not da and options.p_conflict and rng.random() < options.p_conflict:
                    pair = _other_voice(rng, audio_by_label, it, same_label=False)
                if pair is not None:
                    dv, voice_label = False, pair.label
                drop_v.append(dv)
                drop_a.append(da and pair is None)
                override.append(None if pair is None else pair.audio)
                voice_labels.append(voice_label)
            frames, mask, audio, amask, labels = collate(chunk, feature_dim, n_audio, drop_v, drop_a, override)
            logits = logits_of(model, frames, mask, audio, amask, device)
            losses = loss_fn(logits, labels.to(device))
            voice_targets = torch.tensor(voice_labels)
            if bool((voice_targets != labels).any()):  # conflicting pairs: half each label
                losses = 0.5 * (losses + loss_fn(logits, voice_targets.to(device)))
            if class_weights is not None:
                w = torch.tensor([class_weights[it.has_video][it.label] for it in chunk], device=device)
                loss = (losses * w).sum() / w.sum()
            else:
                loss = losses.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(chunk)
            n += len(chunk)
        record = {"epoch": epoch, "train_loss": total / max(n, 1)}
        if val:
            logits = torch.from_numpy(predict_items(model, val, device))
            targets = torch.tensor([it.label for it in val])
            record["val_loss"] = float(val_loss_fn(logits, targets))
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
        result.temperature = fit_calibration(model, train, val, device)
        model.temperature.copy_(torch.tensor(result.temperature))
    model.eval()
    return result


def _other_voice(rng: random.Random, audio_by_label: dict[int, list[TrainItem]], face: TrainItem, *,
                 same_label: bool) -> TrainItem | None:
    """Another speaker's voice for a face: of the face's label, or of a label drawn among the others."""
    if same_label:
        label = face.label
    else:
        labels = sorted(k for k in audio_by_label if k != face.label)
        if not labels:
            return None
        label = rng.choice(labels)
    others = [o for o in audio_by_label.get(label, []) if o.speaker != face.speaker]
    return rng.choice(others) if others else None


def _class_weights(train: Sequence[TrainItem], n_labels: int) -> dict[bool, np.ndarray]:
    """{has_video: (n_labels,) weights}: inverse label frequency among the face-bearing and among the
    voice-only training items apart, mean 1 over each group's items."""
    out = {}
    for has_video in (True, False):
        counts = np.bincount([it.label for it in train if it.has_video == has_video], minlength=n_labels)
        present = counts > 0
        w = np.zeros(n_labels)
        w[present] = counts.sum() / (present.sum() * counts[present])
        out[has_video] = w
    return out


DISTANCE_QUANTILE = 90  # %: validation windows nearer than this percentile keep the path's temperature
COVARIANCE_RIDGE = 1e-3  # added to the diagonal of the embeddings' covariance before inverting it


def _path_items(items: Sequence[TrainItem], path: str) -> list[TrainItem]:
    """The items of one modality path: face+voice ones (paired ones included) for "bimodal"; for "video"
    and "audio", every item with that modality that is one recording (pairs would repeat it)."""
    if path == "bimodal":
        return [it for it in items if it.has_video and it.has_audio]
    need_video = path == "video"
    return [it for it in items if not it.paired and (it.has_video if need_video else it.has_audio)]


def fit_calibration(model: EmotionNet, train: Sequence[TrainItem], val: Sequence[TrainItem],
                    device: torch.device) -> list[float]:
    """Set each modality path's calibration (see `EmotionNet`); returns the temperatures (per PATHS).

    Per path: the mean and precision of the training windows' fused embeddings (face+voice:
    the training faces paired with training voices of their label, as in training); the
    DISTANCE_QUANTILE-th percentile of the validation windows' distances as the reference;
    then the temperature that minimises the validation NLL with the distance term applied.
    With `fused_distance` "inputs" the face+voice temperature is still fitted with the fused term alone:
    the inputs' terms, applied at prediction, only make windows whose face or voice is unlike training
    less sure.
    A path without training or validation windows keeps temperature 1 and no distance term.
    """
    temperatures = []
    pairs = pair_items(list(train), list(train))
    for k, path in enumerate(PATHS):
        use_v, use_a = path != "audio", path != "video"
        fit_on = _path_items(list(train) + (pairs if path == "bimodal" else []), path)
        check_on = _path_items(val, path)
        if len(fit_on) < 2 or not check_on:
            temperatures.append(1.0)
            continue
        _, emb = embed_items(model, fit_on, device, use_video=use_v, use_audio=use_a)
        mean = emb.mean(axis=0)
        cov = np.cov((emb - mean).T) + COVARIANCE_RIDGE * np.eye(emb.shape[1])
        model.embed_mean[k] = torch.from_numpy(mean).float()
        model.embed_precision[k] = torch.from_numpy(np.linalg.inv(cov)).float()
        logits, val_emb = embed_items(model, check_on, device, use_video=use_v, use_audio=use_a)
        index = torch.full((len(check_on),), k, dtype=torch.long, device=model.embed_ref.device)
        dist = model.distance(torch.from_numpy(val_emb).to(index.device), index).cpu().numpy()
        ref = float(np.percentile(dist, DISTANCE_QUANTILE))
        model.embed_ref[k] = ref
        far = np.maximum(1.0, (dist / max(ref, 1e-6)) ** 2)
        temperatures.append(fit_temperature(logits / far[:, None], np.array([it.label for it in check_on])))
    return temperatures
