"""The two branches of the paper's Table 1: each turns one modality into (batch, 128, 15)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..constants import FRAMES_PER_WINDOW, N_AUDIO_FEATURES


def conv_block(cin: int, cout: int, kernel: int, padding: str) -> nn.Sequential:
    """Conv1d + BatchNorm1d + ReLU; `padding` is "same" or "valid" as in the paper."""
    return nn.Sequential(nn.Conv1d(cin, cout, kernel, padding=padding), nn.BatchNorm1d(cout), nn.ReLU(inplace=True))


class VideoBranch(nn.Module):
    """Per-frame face features (batch, in_dim, 15) -> (batch, channels[-1], 15).

    Four Conv1d blocks (64, 64, 128, 128 filters), kernel 3, "same" padding: the 15 frames
    keep their count and the convolutions see the face's change over time.
    """

    def __init__(self, in_dim: int, channels: Sequence[int] = (64, 64, 128, 128)) -> None:
        super().__init__()
        dims = [in_dim, *channels]
        self.blocks = nn.Sequential(*[conv_block(a, b, 3, "same") for a, b in zip(dims, dims[1:])])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class AudioBranch(nn.Module):
    """Audio features (batch, 181, 156) -> (batch, channels[-1], 15).

    Standardises each feature row with statistics of the training set (buffers saved in
    the checkpoint), then: Conv1d 64 k5 valid (152 frames) -> Conv1d 64 k5 valid (148) ->
    MaxPool1d(2, stride 1) (147) -> Conv1d 128 k5 valid (143) -> MaxPool1d(2, 1) (142) ->
    Dropout(0.4) -> AdaptiveAvgPool1d(15).
    """

    feature_mean: torch.Tensor  # buffers registered in __init__
    feature_std: torch.Tensor

    def __init__(self, n_features: int = N_AUDIO_FEATURES, channels: Sequence[int] = (64, 64, 128),
                 dropout: float = 0.4, out_steps: int = FRAMES_PER_WINDOW) -> None:
        super().__init__()
        c1, c2, c3 = channels
        self.register_buffer("feature_mean", torch.zeros(n_features))
        self.register_buffer("feature_std", torch.ones(n_features))
        self.layers = nn.Sequential(
            conv_block(n_features, c1, 5, "valid"),
            conv_block(c1, c2, 5, "valid"),
            nn.MaxPool1d(2, stride=1),
            conv_block(c2, c3, 5, "valid"),
            nn.MaxPool1d(2, stride=1),
            nn.Dropout(dropout),
            nn.AdaptiveAvgPool1d(out_steps),
        )

    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Per-feature statistics (n_features,) from the training windows."""
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std.clamp_min(1e-3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.feature_mean[:, None]) / self.feature_std[:, None]
        return self.layers(x)
