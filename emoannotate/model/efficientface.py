"""EfficientFace (Zhao, Liu & Zhou, AAAI 2021): the face backbone of the paper.

Written from the paper's description so that the authors' published checkpoints
(`EfficientFace_Trained_on_RAFDB.pth.tar` etc., a DataParallel `state_dict` whose keys
start with `module.`) load by name: the attribute names below match theirs.

Layout for a (N, 3, 224, 224) face: conv1 3x3/2 -> 29 ch (112 px) -> max-pool (56 px) ->
stage2 (116 ch, 28 px), modulated, plus the local feature extractor on the four 28 px
quadrants of the max-pooled map -> stage3 (232 ch, 14 px) -> stage4 (464 ch, 7 px) ->
conv5 1x1 -> 1024 ch -> global average pool -> (N, 1024) -> fc -> (N, 7).
"""

from __future__ import annotations

import torch
from torch import nn

from .backbone import FaceBackbone

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STAGE_REPEATS = (4, 8, 4)
STAGE_CHANNELS = (29, 116, 232, 464, 1024)  # conv1, stage2, stage3, stage4, conv5


def _dw(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    """3x3 depthwise convolution (groups = input channels), no bias."""
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False, groups=cin)


def _pw(cin: int, cout: int) -> nn.Conv2d:
    """1x1 pointwise convolution, no bias."""
    return nn.Conv2d(cin, cout, 1, 1, 0, bias=False)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(N, C, H, W) -> same shape, channels interleaved across `groups`."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class InvertedResidual(nn.Module):
    """ShuffleNet-V2 unit. stride 1: split channels, transform one half; stride 2: both."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        half = cout // 2
        if stride == 1 and cin != cout:
            raise ValueError(f"a stride-1 unit keeps its width, got {cin} -> {cout}")
        if stride > 1:
            self.branch1 = nn.Sequential(
                _dw(cin, cin, stride), nn.BatchNorm2d(cin),
                _pw(cin, half), nn.BatchNorm2d(half), nn.ReLU(inplace=True),
            )
        self.branch2 = nn.Sequential(
            _pw(cin if stride > 1 else half, half), nn.BatchNorm2d(half), nn.ReLU(inplace=True),
            _dw(half, half, stride), nn.BatchNorm2d(half),
            _pw(half, half), nn.BatchNorm2d(half), nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            keep, change = x.chunk(2, dim=1)
            out = torch.cat((keep, self.branch2(change)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class LocalFeatureExtractor(nn.Module):
    """Two depthwise 3x3 convs (the first of stride 2) on each quadrant of a 56 px map.

    (N, 29, 56, 56) -> four (N, 116, 14, 14) patches -> stitched to (N, 116, 28, 28).
    Attribute i of convI_J / bnI_J is the quadrant: 1 top-left, 2 bottom-left,
    3 top-right, 4 bottom-right.
    """

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        for q in range(1, 5):
            setattr(self, f"conv{q}_1", nn.Conv2d(cin, cout, 3, 2, 1, bias=False, groups=cin))
            setattr(self, f"bn{q}_1", nn.BatchNorm2d(cout))
            setattr(self, f"conv{q}_2", nn.Conv2d(cout, cout, 3, 1, 1, bias=False, groups=cout))
            setattr(self, f"bn{q}_2", nn.BatchNorm2d(cout))

    def _quadrant(self, q: int, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(getattr(self, f"bn{q}_1")(getattr(self, f"conv{q}_1")(x)))
        return self.relu(getattr(self, f"bn{q}_2")(getattr(self, f"conv{q}_2")(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2] // 2, x.shape[3] // 2
        tl, bl = self._quadrant(1, x[:, :, :h, :w]), self._quadrant(2, x[:, :, h:, :w])
        tr, br = self._quadrant(3, x[:, :, :h, w:]), self._quadrant(4, x[:, :, h:, w:])
        return torch.cat([torch.cat([tl, bl], dim=2), torch.cat([tr, br], dim=2)], dim=3)


class _Flatten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


class _ChannelGate(nn.Module):
    """Channel attention: global average -> MLP (C -> C/16 -> C), broadcast to the map."""

    def __init__(self, c: int, reduction: int = 16) -> None:
        super().__init__()
        mid = c // reduction
        self.gate_c = nn.Sequential()
        self.gate_c.add_module("flatten", _Flatten())
        self.gate_c.add_module("gate_c_fc_0", nn.Linear(c, mid))
        self.gate_c.add_module("gate_c_bn_1", nn.BatchNorm1d(mid))
        self.gate_c.add_module("gate_c_relu_1", nn.ReLU())
        self.gate_c.add_module("gate_c_fc_final", nn.Linear(mid, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3), keepdim=True)  # (N, C, 1, 1)
        return self.gate_c(pooled)[:, :, None, None].expand_as(x)


class _SpatialGate(nn.Module):
    """Spatial attention: 1x1 reduce, two dilated 3x3 convs, 1x1 to one map, broadcast."""

    def __init__(self, c: int, reduction: int = 16, dilation: int = 4) -> None:
        super().__init__()
        mid = c // reduction
        g = nn.Sequential()
        g.add_module("gate_s_conv_reduce0", nn.Conv2d(c, mid, 1))
        g.add_module("gate_s_bn_reduce0", nn.BatchNorm2d(mid))
        g.add_module("gate_s_relu_reduce0", nn.ReLU())
        for i in range(2):
            g.add_module(f"gate_s_conv_di_{i}", nn.Conv2d(mid, mid, 3, padding=dilation, dilation=dilation))
            g.add_module(f"gate_s_bn_di_{i}", nn.BatchNorm2d(mid))
            g.add_module(f"gate_s_relu_di_{i}", nn.ReLU())
        g.add_module("gate_s_conv_final", nn.Conv2d(mid, 1, 1))
        self.gate_s = g

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate_s(x).expand_as(x)


class Modulator(nn.Module):
    """Channel-spatial modulator: x * sigmoid(channel_gate(x) * spatial_gate(x))."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.channel_att = _ChannelGate(c)
        self.spatial_att = _SpatialGate(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.channel_att(x) * self.spatial_att(x))


class EfficientFace(FaceBackbone):
    """The backbone. `forward_features` gives (N, 1024); `forward` gives 7 logits."""

    feature_dim = STAGE_CHANNELS[-1]
    # Created in __init__ via setattr / register_buffer; declared here for the type checker.
    stage2: nn.Sequential
    stage3: nn.Sequential
    stage4: nn.Sequential
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, num_classes: int = 7) -> None:
        super().__init__()
        c = STAGE_CHANNELS
        self.conv1 = nn.Sequential(nn.Conv2d(3, c[0], 3, 2, 1, bias=False), nn.BatchNorm2d(c[0]), nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        cin = c[0]
        for name, repeats, cout in zip(("stage2", "stage3", "stage4"), STAGE_REPEATS, c[1:4]):
            units = [InvertedResidual(cin, cout, 2)] + [InvertedResidual(cout, cout, 1) for _ in range(repeats - 1)]
            setattr(self, name, nn.Sequential(*units))
            cin = cout
        self.local = LocalFeatureExtractor(c[0], c[1])
        self.modulator = Modulator(c[1])
        self.conv5 = nn.Sequential(nn.Conv2d(cin, c[4], 1, 1, 0, bias=False), nn.BatchNorm2d(c[4]),
                                   nn.ReLU(inplace=True))
        self.fc = nn.Linear(c[4], num_classes)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 224, 224) RGB in [0, 1] -> ImageNet-normalised, as the authors trained."""
        return (x - self.mean) / self.std

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 224, 224) RGB in [0, 1] -> (N, 1024) pooled features."""
        x = self.maxpool(self.conv1(self.preprocess(x)))  # (N, 29, 56, 56)
        x = self.modulator(self.stage2(x)) + self.local(x)  # (N, 116, 28, 28)
        x = self.conv5(self.stage4(self.stage3(x)))  # (N, 1024, 7, 7)
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))


def load_published_state_dict(model: EfficientFace, path: str) -> None:
    """Load the authors' `.pth.tar` checkpoint (with or without `module.` prefixes).

    The file is read with `weights_only=True`: tensors and plain containers only, no code.
    The classifier (`fc`) is loaded too when its shape matches; the backbone ignores it.
    """
    blob = torch.load(path, map_location="cpu", weights_only=True)
    state = blob.get("state_dict", blob) if isinstance(blob, dict) else blob
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if state.get("fc.weight") is not None and state["fc.weight"].shape != model.fc.weight.shape:
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing or unexpected:
        from ..errors import ModelLoadError

        raise ModelLoadError(
            f"{path}: not an EfficientFace checkpoint (missing {missing[:3]}..., unexpected {unexpected[:3]}...)"
        )
