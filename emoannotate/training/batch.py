"""Training items and batches: cached window inputs + labels, collated for the network.

The shared core of `fit` and `evaluate`: a `TrainItem` is a `records.WindowInput` plus its
label, with the face crops replaced by the frozen backbone's per-frame features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..constants import FACE_SIZE, FRAMES_PER_WINDOW, N_AUDIO_FRAMES
from ..datasets import Sample
from ..model.net import PATHS, EmotionNet
from ..records import WindowInput


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
    paired: bool = False  # a face and another recording's voice (`pair_items`), not one recording

    @property
    def has_video(self) -> bool:
        return self.frames is not None and bool(self.mask.any())

    @property
    def has_audio(self) -> bool:
        return self.audio is not None


@torch.no_grad()
def to_items(model: EmotionNet, samples: Sequence[Sample], inputs: Sequence[WindowInput],
             device: torch.device, batch: int = 64, *, keep_crops: bool = False) -> list[TrainItem]:
    """Backbone features of every face crop (frozen backbone), paired with audio and label.

    With `keep_crops` (backbone fine-tuning) the items keep the uint8 crops instead.
    """
    model.backbone.to(device).eval()
    items = []
    for s, x in zip(samples, inputs):
        frames = None
        if keep_crops and x.faces is not None and x.face_mask.any():
            frames = torch.from_numpy(x.faces)
        elif x.faces is not None and x.face_mask.any():
            crops = torch.from_numpy(x.faces[x.face_mask]).to(device)
            feats = torch.cat([model.face_features(crops[i:i + batch]) for i in range(0, len(crops), batch)])
            frames = feats.new_zeros(FRAMES_PER_WINDOW, feats.shape[1])
            frames[torch.from_numpy(x.face_mask).to(device)] = feats
            frames = frames.cpu()
        audio = torch.from_numpy(x.audio) if x.audio is not None else None
        if frames is None and audio is None:
            continue
        items.append(TrainItem(frames, torch.from_numpy(x.face_mask), audio, s.label_index, s.speaker, s.dataset, s.id))
    return items


def pair_items(faces: Sequence[TrainItem], voices: Sequence[TrainItem]) -> list[TrainItem]:
    """Face+voice items made by pairing each face-only item with a voice-only item of its label.

    Deterministic: the k-th face of a label takes the (k mod n)-th voice of that label, in
    the given orders. For corpora that have faces and voices of different people (photos and
    RAVDESS voices): it calibrates and selects the fused path, and is never reported as the
    bimodal figure of real recordings.
    """
    by_label: dict[int, list[TrainItem]] = {}
    for v in voices:
        if v.has_audio and not v.has_video:
            by_label.setdefault(v.label, []).append(v)
    out, seen = [], dict.fromkeys(by_label, 0)
    for f in faces:
        pool = by_label.get(f.label)
        if not f.has_video or f.has_audio or not pool:
            continue
        v = pool[seen[f.label] % len(pool)]
        seen[f.label] += 1
        out.append(TrainItem(f.frames, f.mask, v.audio, f.label, f"{f.speaker}+{v.speaker}", f.dataset,
                             f"{f.id}+{v.id}", paired=True))
    return out


def collate(items: Sequence[TrainItem], feature_dim: int, n_audio: tuple[int, int],
            drop_video: Sequence[bool] | None = None, drop_audio: Sequence[bool] | None = None,
            audio_override: Sequence[torch.Tensor | None] | None = None):
    """Stack items into batch tensors; dropped or missing modalities are masked out, not used.

    Returns (frames, mask, audio, audio_mask, labels): frames is (B, 15, F) features, or,
    for items holding crops, (K, 224, 224, 3) uint8 with the crops where mask is True.
    """
    b = len(items)
    if any(it.frames is not None and it.frames.dtype == torch.uint8 for it in items):
        return collate_crops(items, n_audio, drop_video, drop_audio, audio_override)
    frames = torch.zeros(b, FRAMES_PER_WINDOW, feature_dim)
    mask = torch.zeros(b, FRAMES_PER_WINDOW, dtype=torch.bool)
    audio = torch.zeros(b, *n_audio)
    amask = torch.zeros(b, dtype=torch.bool)
    labels = torch.tensor([it.label for it in items])
    for k, it in enumerate(items):
        if it.frames is not None and it.has_video and not (drop_video and drop_video[k]):
            frames[k], mask[k] = it.frames, it.mask
        a = audio_override[k] if audio_override is not None and audio_override[k] is not None else it.audio
        if a is not None and not (drop_audio and drop_audio[k]):
            audio[k], amask[k] = a, True
    return frames, mask, audio, amask, labels


def collate_crops(items, n_audio, drop_video, drop_audio, audio_override):
    b = len(items)
    mask = torch.zeros(b, FRAMES_PER_WINDOW, dtype=torch.bool)
    crops = []
    _, _, audio, amask, labels = collate([TrainItem(None, it.mask, it.audio, it.label, it.speaker, it.dataset, it.id)
                                         for it in items], 1, n_audio, drop_video, drop_audio, audio_override)
    for k, it in enumerate(items):
        if it.has_video and not (drop_video and drop_video[k]):
            mask[k] = it.mask
            crops.append(it.frames[it.mask])
    faces = torch.cat(crops) if crops else torch.zeros(0, FACE_SIZE, FACE_SIZE, 3, dtype=torch.uint8)
    return faces, mask, audio, amask, labels


def embedding_of(model: EmotionNet, frames, mask, audio, amask, device) -> torch.Tensor:
    """The embedding (B, config.embed_dim) (`EmotionNet.embed`). Features (B, 15, F) go past the backbone; uint8 crops
    (K, 224, 224, 3) go through it."""
    if frames.dtype == torch.uint8:
        return model.embed(frames.to(device), mask.to(device), audio.to(device), amask.to(device))
    return model.embed_features(frames.to(device), mask.to(device), audio.to(device), amask.to(device))


def logits_of(model: EmotionNet, frames, mask, audio, amask, device) -> torch.Tensor:
    """Logits (B, n_labels) of a collated batch (see `embedding_of`)."""
    return model.head(embedding_of(model, frames, mask, audio, amask, device))


@torch.no_grad()
def embed_items(model: EmotionNet, items: Sequence[TrainItem], device: torch.device, *,
                use_video: bool = True, use_audio: bool = True, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, n_labels), embeddings (N, config.embed_dim)) with one modality hidden when asked."""
    model.eval()
    feature_dim = model.backbone.feature_dim
    n_audio = (model.config.n_audio_features, N_AUDIO_FRAMES)
    logits, embs = [], []
    for i in range(0, len(items), batch):
        chunk = items[i:i + batch]
        frames, mask, audio, amask, _ = collate(chunk, feature_dim, n_audio,
                                                drop_video=[not use_video] * len(chunk),
                                                drop_audio=[not use_audio] * len(chunk))
        emb = embedding_of(model, frames, mask, audio, amask, device)
        logits.append(model.head(emb).float().cpu())
        embs.append(emb.float().cpu())
    if not logits:
        return np.zeros((0, len(model.config.labels)), np.float32), np.zeros((0, model.config.embed_dim), np.float32)
    return torch.cat(logits).numpy(), torch.cat(embs).numpy()


def predict_items(model: EmotionNet, items: Sequence[TrainItem], device: torch.device, *,
                  use_video: bool = True, use_audio: bool = True, batch: int = 256) -> np.ndarray:
    """Logits (N, n_labels) with one modality hidden when asked (items must keep one)."""
    return embed_items(model, items, device, use_video=use_video, use_audio=use_audio, batch=batch)[0]


@torch.no_grad()
def calibrated_probs(model: EmotionNet, items: Sequence[TrainItem], device: torch.device, path: str) -> np.ndarray:
    """The probabilities `predict_proba` gives (N, n_labels) on one modality path ("bimodal", "video", "audio")."""
    logits, emb = embed_items(model, items, device, use_video=path != "audio", use_audio=path != "video")
    at = model.temperature.device
    index = torch.full((len(items),), PATHS.index(path), dtype=torch.long, device=at)
    floor = inputs_term(model, items, device) if path == "bimodal" and model.config.fused_distance == "inputs" else None
    probs = model.calibrated(torch.from_numpy(logits).to(at), torch.from_numpy(emb).to(at), index,
                             None if floor is None else torch.from_numpy(floor).to(at))
    return probs.double().cpu().numpy()


@torch.no_grad()
def inputs_term(model: EmotionNet, items: Sequence[TrainItem], device: torch.device) -> np.ndarray:
    """The larger of the distance terms (N,) of each face+voice item's face alone and voice alone, each on its
    own path (`EmotionNet.distance_term`): the floor of its fused term with `fused_distance` "inputs"."""
    at = model.temperature.device
    terms = []
    for path, use_video in (("video", True), ("audio", False)):
        _, emb = embed_items(model, items, device, use_video=use_video, use_audio=not use_video)
        index = torch.full((len(items),), PATHS.index(path), dtype=torch.long, device=at)
        terms.append(model.distance_term(torch.from_numpy(emb).to(at), index).cpu().numpy())
    return np.maximum(*terms)
