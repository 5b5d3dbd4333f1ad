"""Face crops replaced by the backbone's features early (what workers send, what batches hold): same rows."""

import pickle

import numpy as np
import pytest
import torch
from synth import tiny_model

from emoannotate.constants import FACE_SIZE, FRAMES_PER_WINDOW
from emoannotate.featuriser import Featuriser
from emoannotate.pipeline import Annotator, RunOptions
from emoannotate.records import Window, WindowInput

T = FRAMES_PER_WINDOW


def window(i: int, mask: np.ndarray, *, audio: bool, rng: np.random.Generator) -> WindowInput:
    faces = rng.integers(0, 256, (T, FACE_SIZE, FACE_SIZE, 3), dtype=np.uint8) * mask[:, None, None, None]
    feats = rng.normal(-20, 40, (181, 156)).astype(np.float32) if audio else None
    has_face = bool(mask.any())
    return WindowInput(0, Window(i, 3.6 * i, 3.6 * (i + 1)), faces.astype(np.uint8) if has_face else None, mask,
                       (0.0, 0.0, 10.0, 10.0) if has_face else None, int(has_face), feats)


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(0)
    masks = [np.ones(T, bool), np.arange(T) % 3 == 0, np.zeros(T, bool), np.arange(T) < 4]
    return [window(i, m, audio=i != 3, rng=rng) for i, m in enumerate(masks)]


@pytest.fixture(scope="module")
def annotator():
    return Annotator(tiny_model(), RunOptions(device="cpu"))


def test_features_are_the_backbones_of_the_found_crops(annotator, inputs):
    done = annotator.featurise(inputs)
    model = annotator.model
    for x, y in zip(inputs, done):
        assert y.window == x.window and y.has_video == x.has_video and y.modalities == x.modalities
        if not x.has_video:
            assert y is x  # nothing to do
            continue
        assert y.faces is None and y.face_features.shape == (T, model.backbone.feature_dim)
        assert y.face_features.dtype == np.float32
        with torch.inference_mode():
            want = model.face_features(torch.from_numpy(x.faces[x.face_mask])).numpy()
        np.testing.assert_allclose(y.face_features[x.face_mask], want, rtol=0, atol=1e-5)
        assert not y.face_features[~x.face_mask].any()  # zeros where no face


def test_rows_are_the_same_from_features_as_from_crops(annotator, inputs):
    from_crops = annotator.predict_modalities(inputs)
    done = annotator.featurise(inputs)
    mixed = [done[0], inputs[1], done[2], inputs[3]]  # some featurised, some not, in one batch
    for got in (annotator.predict_modalities(done), annotator.predict_modalities(mixed)):
        for a, b in zip(from_crops, got):
            np.testing.assert_allclose(b, a, rtol=0, atol=1e-6)


def test_it_travels_to_workers(annotator, inputs):
    """The pool pickles it to each worker once: the copy gives the same features."""
    copy = pickle.loads(pickle.dumps(Featuriser(annotator.model, annotator.device)))
    for a, b in zip(annotator.featurise(inputs), copy(inputs)):
        if a.face_features is not None:
            np.testing.assert_array_equal(a.face_features, b.face_features)
