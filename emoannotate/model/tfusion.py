"""TFusion (Liu, Wei & Li 2022): N-to-one fusion of whichever modalities are present.

Each present modality's map (batch, d, T) becomes T tokens of width d; the tokens of all
present modalities, with position and modality embeddings, go through a transformer
encoder (self-attention across modalities). Its output is split back per modality and a
softmax across modalities, element by element, gives modal attention weights that sum to
1 over the present ones. The fused map is the weighted sum of the modalities' own maps.

Absent modalities are never synthesised: their token slots are excluded from attention by
the key-padding mask, and their weight is exactly 0 (logit -inf before the softmax), so a
window with one modality passes that modality's map through unchanged.
"""

from __future__ import annotations

import torch
from torch import nn


class TFusion(nn.Module):
    """Fuse M modality maps, each (batch, d_model, T), into one (batch, d_model, T)."""

    def __init__(self, d_model: int = 128, n_modalities: int = 2, n_tokens: int = 15, *,
                 layers: int = 1, heads: int = 4, ff: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.n_modalities, self.n_tokens = n_modalities, n_tokens
        self.position = nn.Parameter(torch.zeros(1, 1, n_tokens, d_model))
        self.modality = nn.Parameter(torch.zeros(1, n_modalities, 1, d_model))
        nn.init.trunc_normal_(self.position, std=0.02)
        nn.init.trunc_normal_(self.modality, std=0.02)
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, maps: torch.Tensor, present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fuse.

        maps:    (batch, M, d_model, T); slots of absent modalities may hold anything.
        present: (batch, M) bool; every row needs at least one True.
        Returns: fused (batch, d_model, T) and modal weights (batch, M) averaged over
                 tokens and channels (0 for absent modalities).
        """
        b, m, d, t = maps.shape
        if not bool(present.any(dim=1).all()):
            raise ValueError("TFusion needs at least one present modality per sample")
        feats = maps.transpose(2, 3)  # (b, M, T, d)
        # Absent slots may hold anything, NaN included: zero them before attention, since a
        # masked key still multiplies its value by 0 and 0 * NaN would reach present tokens.
        feats = feats.masked_fill(~present[:, :, None, None], 0.0)
        tokens = (feats + self.position + self.modality).reshape(b, m * t, d)
        pad = (~present).repeat_interleave(t, dim=1)  # (b, M*T), True = ignore
        out = self.norm(self.encoder(tokens, src_key_padding_mask=pad)).reshape(b, m, t, d)
        logits = out.masked_fill(~present[:, :, None, None], float("-inf"))
        weights = torch.softmax(logits, dim=1)  # (b, M, T, d), sums to 1 over present modalities
        fused = (weights * feats).sum(dim=1)  # (b, T, d)
        return fused.transpose(1, 2), weights.mean(dim=(2, 3))
