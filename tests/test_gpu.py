"""CUDA: batching and mixed precision on the GPU (skipped without one; CI has none)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emoannotate.constants import FRAMES_PER_WINDOW, N_AUDIO_FEATURES, N_AUDIO_FRAMES
from emoannotate.model.net import EmotionNet, ModelConfig
from emoannotate.pipeline import Annotator, RunOptions
from emoannotate.records import Window, WindowInput

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def _inputs(n: int, seed: int = 0) -> list[WindowInput]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        mask = rng.random(FRAMES_PER_WINDOW) > 0.2 if i % 3 else np.zeros(FRAMES_PER_WINDOW, bool)
        faces = rng.integers(0, 255, (FRAMES_PER_WINDOW, 224, 224, 3), dtype=np.uint8) if mask.any() else None
        audio = rng.normal(size=(N_AUDIO_FEATURES, N_AUDIO_FRAMES)).astype(np.float32) if i % 4 else None
        if faces is None and audio is None:
            audio = rng.normal(size=(N_AUDIO_FEATURES, N_AUDIO_FRAMES)).astype(np.float32)
        out.append(WindowInput(0, Window(i, i * 3.6, (i + 1) * 3.6), faces, mask, None, int(mask.any()), audio))
    return out


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return EmotionNet(ModelConfig()).eval()


def test_cuda_matches_cpu_and_batch_size_does_not_matter(model):
    xs = _inputs(24)
    cpu = Annotator(model, RunOptions(device="cpu")).predict(xs)
    gpu32 = Annotator(model, RunOptions(device="cuda", amp=False)).predict(xs)
    np.testing.assert_allclose(gpu32, cpu, atol=1e-4)
    one_by_one = np.concatenate([Annotator(model, RunOptions(device="cuda", amp=False)).predict([x]) for x in xs])
    np.testing.assert_allclose(one_by_one, gpu32, atol=1e-5)


def test_mixed_precision_stays_close_to_float32(model):
    xs = _inputs(24, seed=1)
    fp32 = Annotator(model, RunOptions(device="cuda", amp=False)).predict(xs)
    amp = Annotator(model, RunOptions(device="cuda", amp=True)).predict(xs)
    assert np.abs(amp - fp32).max() < 2e-2
    assert (amp.argmax(1) == fp32.argmax(1)).mean() >= 0.9
