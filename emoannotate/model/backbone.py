"""The interface every face backbone implements (EfficientFace, mini-Xception, the tiny test one)."""

from __future__ import annotations

import torch
from torch import nn


class FaceBackbone(nn.Module):
    """A face network: `forward_features((N, 3, 224, 224) RGB in [0, 1])` -> (N, feature_dim)."""

    feature_dim: int

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError
