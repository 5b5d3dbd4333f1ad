"""A VGG-style facial-expression network trained by this project on FER2013 (`emoannotate train-backbone`).

Four stages of two 3x3 conv-BN-ReLU layers and a 2x2 max-pool (32, 64, 128, 256 channels) on a
48x48 grayscale face, global average pooling, and a 1x1 class conv over FER2013's 7
expressions (the labels of `minixception.FER_LABELS`). 1.2 M parameters, 0.12 GMAC a face:
about 1.3 ms a face on two CPU cores, against the mini-Xception's 0.6 ms.

It has the interface `net.FerBackbone` expects of a FER2013 network: `preprocess` (RGB crops
in [0, 1] -> its input), `feature_map`, `classifier` (so that the class conv of the pooled map
is its logits) and `labels`. The weights ship as `weights/fer_vgg.safetensors`, made by
`scripts/train_default_model.sh` (see `training/backbone.py` for the data and the recipe).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..errors import ModelLoadError
from .minixception import FER_LABELS, gray_input

INPUT_SIZE = 48  # px: FER2013's own size; the 224 px crops of the pipeline are shrunk to it
STAGE_CHANNELS = (32, 64, 128, 256)  # each stage halves the side: 48 -> 24 -> 12 -> 6 -> 3
FEATURE_DIM = STAGE_CHANNELS[-1]
DROPOUT = 0.3  # on the pooled features before the class conv, in training only
META_KEY = "emoannotate"  # the safetensors metadata key holding the JSON of what made the weights
WEIGHTS_FILE = Path(__file__).resolve().parent.parent / "weights" / "fer_vgg.safetensors"


class ExpressionVGG(nn.Module):
    """(N, 3, H, W) RGB faces in [0, 1] -> logits (N, 7) in FER_LABELS order."""

    labels: tuple[str, ...] = FER_LABELS
    input_size: int = INPUT_SIZE
    feature_dim: int = FEATURE_DIM

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 1
        for out in STAGE_CHANNELS:
            for _ in range(2):
                layers += [nn.Conv2d(c, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
                c = out
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(DROPOUT)
        self.classifier = nn.Conv2d(FEATURE_DIM, len(FER_LABELS), 1)

    @staticmethod
    def preprocess(x: torch.Tensor) -> torch.Tensor:
        """RGB faces (N, 3, H, W) in [0, 1] -> network input (N, 1, 48, 48) in [-1, 1].

        `minixception.gray_input`: grayscale with ITU-R BT.601 weights (FER2013 is grayscale),
        an antialiased bilinear resize to 48x48, then (x - 0.5) * 2. Training images go through
        this same function (after the pipeline's `crop_face`), so training and `run` see faces
        made one way.
        """
        return gray_input(x, INPUT_SIZE)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Network input (N, 1, 48, 48) -> last feature map (N, 256, 3, 3)."""
        return self.features(x)

    def forward_preprocessed(self, x: torch.Tensor) -> torch.Tensor:
        """Network input (N, 1, 48, 48) -> logits (N, 7) (dropout applies in training mode)."""
        pooled = self.feature_map(x).mean(dim=(2, 3), keepdim=True)  # (N, 256, 1, 1)
        return self.classifier(self.dropout(pooled)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_preprocessed(self.preprocess(x))


def save_vgg(model: ExpressionVGG, path: str | Path, info: dict) -> None:
    """Write the weights and what made them (`info`: data, recipe, accuracies) as safetensors."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    # One metadata key: safetensors writes several in no fixed order, and the file must be the same bytes.
    meta = {"labels": list(FER_LABELS), "architecture": "ExpressionVGG", "info": info}
    save_file(state, str(path), metadata={META_KEY: json.dumps(meta)})


def load_vgg(path: str | Path | None = None) -> ExpressionVGG:
    """An ExpressionVGG in eval mode from safetensors (by default the packaged file).

    Raises ModelLoadError when the file is missing, unreadable, or does not fit the architecture.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path) if path is not None else WEIGHTS_FILE
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such weights file; `emoannotate train-backbone` makes it "
                             "(scripts/train_default_model.sh)")
    try:
        with safe_open(str(path), framework="pt") as f:
            state = {k: f.get_tensor(k) for k in f.keys()}
            meta = json.loads((f.metadata() or {}).get(META_KEY, "{}"))
    except (OSError, SafetensorError, ValueError) as e:
        raise ModelLoadError(f"{path}: cannot read safetensors weights ({e})") from e
    if tuple(meta.get("labels", ())) != FER_LABELS:
        raise ModelLoadError(f"{path}: labels {meta.get('labels')} differ from {FER_LABELS}")
    model = ExpressionVGG()
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ModelLoadError(f"{path}: weights do not fit ExpressionVGG ({e})") from e
    return model.eval()
