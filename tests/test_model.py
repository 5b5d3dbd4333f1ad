"""The network: EfficientFace, TFusion, fill_missing_frames and EmotionNet's batch behaviour."""

import pytest
import torch
from synth import TINY_CONFIG, tiny_model

from emoannotate.constants import FACE_SIZE, FRAMES_PER_WINDOW, N_AUDIO_FEATURES, N_AUDIO_FRAMES, N_EMOTIONS
from emoannotate.errors import ModelLoadError
from emoannotate.model.efficientface import EfficientFace, load_published_state_dict
from emoannotate.model.net import AUDIO, VIDEO, EmotionNet, ModelConfig, build_backbone, fill_missing_frames
from emoannotate.model.tfusion import TFusion

T = FRAMES_PER_WINDOW
ATOL = 1e-5
SMALL = 64  # px: both backbones take any multiple of 32; small inputs keep these tests fast


# --- EfficientFace ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def faces_01() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.rand(2, 3, SMALL, SMALL)  # RGB in [0, 1]


def test_efficientface_shapes():
    torch.manual_seed(0)
    net = EfficientFace().eval()
    faces = torch.rand(1, 3, FACE_SIZE, FACE_SIZE)
    with torch.inference_mode():
        feats = net.forward_features(faces)
        logits = net.fc(feats)
    assert feats.shape == (1, 1024) == (1, EfficientFace.feature_dim)
    assert logits.shape == (1, 7)
    assert torch.isfinite(feats).all() and torch.isfinite(logits).all()


def _published_file(tmp_path, net: torch.nn.Module, num_classes: int = 7):
    """Save like the authors did: DataParallel keys ("module." prefix) in {"state_dict": ...}."""
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    path = tmp_path / "EfficientFace_Trained_on_RAFDB.pth.tar"
    torch.save({"epoch": 10, "state_dict": state, "best_acc": 0.88}, path)
    return path


def test_published_checkpoint_with_module_prefix_loads(tmp_path, faces_01):
    torch.manual_seed(1)
    source = EfficientFace().eval()
    path = _published_file(tmp_path, source)
    torch.manual_seed(2)
    target = EfficientFace().eval()
    with torch.inference_mode():
        assert not torch.allclose(target(faces_01), source(faces_01))
        load_published_state_dict(target, str(path))
        torch.testing.assert_close(target(faces_01), source(faces_01))


def test_published_checkpoint_with_another_classifier_keeps_the_backbone(tmp_path, faces_01):
    torch.manual_seed(3)
    source = EfficientFace(num_classes=8).eval()  # e.g. AffectNet-8
    path = _published_file(tmp_path, source)
    target = EfficientFace().eval()
    load_published_state_dict(target, str(path))
    with torch.inference_mode():
        torch.testing.assert_close(target.forward_features(faces_01), source.forward_features(faces_01))
    assert target.fc.weight.shape == (7, 1024)


def test_unrelated_checkpoint_is_a_model_load_error(tmp_path):
    path = tmp_path / "other.pth.tar"
    torch.save({"state_dict": {"module.layer.weight": torch.zeros(3)}}, path)
    with pytest.raises(ModelLoadError, match="not an EfficientFace"):
        load_published_state_dict(EfficientFace(), str(path))


# --- TFusion ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fusion() -> TFusion:
    torch.manual_seed(0)
    return TFusion(16, 2, T, heads=4, ff=32).eval()


def test_one_modality_passes_through_exactly(fusion):
    torch.manual_seed(1)
    maps = torch.randn(2, 2, 16, T)
    present = torch.tensor([[True, False], [False, True]])
    with torch.inference_mode():
        fused, weights = fusion(maps, present)
    assert fused.shape == (2, 16, T)
    assert torch.equal(fused[0], maps[0, VIDEO])
    assert torch.equal(fused[1], maps[1, AUDIO])
    assert weights.tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_two_modalities_weights_sum_to_one(fusion):
    torch.manual_seed(2)
    maps = torch.randn(3, 2, 16, T)
    with torch.inference_mode():
        fused, weights = fusion(maps, torch.ones(3, 2, dtype=torch.bool))
    assert weights.shape == (3, 2)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(3))
    assert ((weights > 0) & (weights < 1)).all()
    # the fused map lies between the two maps, element by element
    lo, hi = maps.min(dim=1).values, maps.max(dim=1).values
    assert (fused >= lo - 1e-6).all() and (fused <= hi + 1e-6).all()


@pytest.mark.parametrize("junk", [float("nan"), 1e6, float("inf")])
def test_absent_slot_content_does_not_matter(fusion, junk):
    torch.manual_seed(3)
    maps = torch.randn(3, 2, 16, T)
    present = torch.tensor([[True, False], [False, True], [True, True]])
    dirty = maps.clone()
    dirty[0, AUDIO] = junk
    dirty[1, VIDEO] = junk
    with torch.inference_mode():
        clean_out, clean_w = fusion(maps, present)
        dirty_out, dirty_w = fusion(dirty, present)
    assert torch.isfinite(dirty_out).all()
    torch.testing.assert_close(dirty_out, clean_out, rtol=0, atol=0)
    torch.testing.assert_close(dirty_w, clean_w, rtol=0, atol=0)


def test_fusion_needs_a_modality_per_sample(fusion):
    with pytest.raises(ValueError, match="at least one"):
        fusion(torch.zeros(2, 2, 16, T), torch.tensor([[True, False], [False, False]]))


# --- fill_missing_frames ------------------------------------------------------------------------

def test_fill_missing_frames_nearest_and_earlier_on_ties():
    feats = torch.arange(6, dtype=torch.float32).view(1, 6, 1).repeat(2, 1, 2)  # frame i has value i
    mask = torch.tensor([[False, True, False, False, True, False],
                         [True, False, True, False, False, False]])
    out = fill_missing_frames(feats, mask)
    assert out[0, :, 0].tolist() == [1, 1, 1, 4, 4, 4]  # frame 2: 1 nearer than 4; frame 3: 4 nearer
    assert out[1, :, 0].tolist() == [0, 0, 2, 2, 2, 2]  # frame 1: tie between 0 and 2 -> earlier
    assert out.shape == feats.shape


def test_fill_missing_frames_leaves_rows_without_faces_alone():
    feats = torch.randn(1, T, 3)
    out = fill_missing_frames(feats, torch.zeros(1, T, dtype=torch.bool))
    assert torch.equal(out, feats)


def test_fill_missing_frames_keeps_found_frames():
    feats = torch.randn(1, T, 4)
    mask = torch.rand(1, T) > 0.5
    mask[0, 0] = True
    out = fill_missing_frames(feats, mask)
    assert torch.equal(out[mask], feats[mask])


# --- ModelConfig and backbones --------------------------------------------------------------------

def test_model_config_round_trip_and_checks():
    config = ModelConfig(**TINY_CONFIG)
    assert ModelConfig.from_dict(config.to_dict()) == config
    assert config.d_model == 16
    with pytest.raises(ValueError, match="same width"):
        ModelConfig(video_channels=(8, 16), audio_channels=(8, 8, 32))
    with pytest.raises(ValueError, match="unknown model config keys"):
        ModelConfig.from_dict({**config.to_dict(), "surprise": 1})
    with pytest.raises(ValueError, match="unknown backbone"):
        build_backbone("resnet")


# --- EmotionNet -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def net() -> EmotionNet:
    return tiny_model()


def make_windows(seed: int = 0, side: int = SMALL):
    """Four windows: both modalities, face only, voice only, both with a patchy face mask.

    Returns faces (B, T, side, side, 3) uint8, face_mask (B, T), audio (B, 181, 156), audio_mask (B,).
    """
    g = torch.Generator().manual_seed(seed)
    b = 4
    faces = torch.randint(0, 256, (b, T, side, side, 3), generator=g, dtype=torch.uint8)
    face_mask = torch.ones(b, T, dtype=torch.bool)
    face_mask[2] = False  # voice only
    face_mask[3, ::2] = False  # faces in odd frames only
    audio = torch.randn(b, N_AUDIO_FEATURES, N_AUDIO_FRAMES, generator=g) * 30 - 20
    audio_mask = torch.tensor([True, False, True, True])  # window 1: face only
    return faces, face_mask, audio, audio_mask


def test_emotionnet_output_shape_and_probabilities(net):
    faces, face_mask, audio, audio_mask = make_windows(side=FACE_SIZE)
    with torch.inference_mode():
        logits = net(faces, face_mask, audio, audio_mask)
        probs = net.predict_proba(faces, face_mask, audio, audio_mask)
    assert logits.shape == (4, N_EMOTIONS)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(4))
    torch.testing.assert_close(probs, torch.softmax(logits, dim=1))


def test_emotionnet_accepts_only_the_found_crops(net):
    faces, face_mask, audio, audio_mask = make_windows()
    with torch.inference_mode():
        full = net(faces, face_mask, audio, audio_mask)
        compact = net(faces[face_mask], face_mask, audio, audio_mask)  # (K, 224, 224, 3)
    torch.testing.assert_close(compact, full, rtol=0, atol=ATOL)


@pytest.mark.parametrize("which", ["net", "prior_net"])
def test_emotionnet_is_independent_of_batch_composition(which, request):
    net = request.getfixturevalue(which)  # the tiny net, and a full one with the FER2013 head's prior
    faces, face_mask, audio, audio_mask = make_windows()
    with torch.inference_mode():
        together = net.predict_proba(faces, face_mask, audio, audio_mask)
        for i in range(4):
            alone = net.predict_proba(faces[i:i + 1], face_mask[i:i + 1], audio[i:i + 1], audio_mask[i:i + 1])
            torch.testing.assert_close(alone[0], together[i], rtol=0, atol=ATOL)
        # and in another order, with other company
        order = torch.tensor([3, 1, 0, 2])
        shuffled = net.predict_proba(faces[order], face_mask[order], audio[order], audio_mask[order])
        torch.testing.assert_close(shuffled, together[order], rtol=0, atol=ATOL)


def test_emotionnet_ignores_absent_modality_content(net):
    faces, face_mask, audio, audio_mask = make_windows()
    dirty_faces, dirty_audio = faces.clone(), audio.clone()
    dirty_faces[~face_mask] = 255 - dirty_faces[~face_mask]  # other pixels where no face was found
    dirty_audio[~audio_mask] = float("nan")
    with torch.inference_mode():
        clean = net(faces, face_mask, audio, audio_mask)
        dirty = net(dirty_faces, face_mask, dirty_audio, audio_mask)
    torch.testing.assert_close(dirty, clean, rtol=0, atol=0)


def test_emotionnet_single_modality_batches(net):
    faces, face_mask, audio, audio_mask = make_windows()
    with torch.inference_mode():
        face_only = net(faces[:2], face_mask[:2], None, torch.zeros(2, dtype=torch.bool))
        voice_only = net(None, torch.zeros(2, T, dtype=torch.bool), audio[:2], torch.ones(2, dtype=torch.bool))
        # a window that has only one modality gets the same answer when the other is offered but masked
        masked = net(faces[:2], face_mask[:2], audio[:2], torch.zeros(2, dtype=torch.bool))
    assert face_only.shape == voice_only.shape == (2, N_EMOTIONS)
    torch.testing.assert_close(masked, face_only, rtol=0, atol=ATOL)


def test_temperature_divides_logits(net):
    faces, face_mask, audio, audio_mask = make_windows()
    with torch.inference_mode():
        logits = net(faces, face_mask, audio, audio_mask)
        net.temperature.fill_(2.0)
        try:
            probs = net.predict_proba(faces, face_mask, audio, audio_mask)
        finally:
            net.temperature.fill_(1.0)
    torch.testing.assert_close(probs, torch.softmax(logits / 2.0, dim=1))


def test_window_without_any_modality_is_refused(net):
    faces, face_mask, audio, audio_mask = make_windows()
    face_mask[2] = False
    audio_mask[2] = False
    with torch.inference_mode(), pytest.raises(ValueError, match="at least one"):
        net(faces, face_mask, audio, audio_mask)


def test_all_backbones_build_with_feature_dims():
    dims = {name: build_backbone(name).feature_dim for name in ("tiny", "minixception", "efficientface")}
    assert dims["efficientface"] == 1024
    assert dims["tiny"] == 16
    assert dims["minixception"] == 128 + 7
    # each fits the video branch of a full-size net (shapes only, no weights loaded)
    config = ModelConfig(backbone="minixception")
    assert EmotionNet(config).video.blocks[0][0].in_channels == dims["minixception"]
    assert EmotionNet(config).temperature.tolist() == [1.0, 1.0, 1.0]  # one per modality path


# --- FacePrior: the FER2013 backbone's own head added to the logits ---------------------------------

@pytest.fixture(scope="module")
def prior_net() -> EmotionNet:
    torch.manual_seed(0)
    return EmotionNet(ModelConfig(backbone="minixception", face_prior=True)).eval()


def test_face_prior_needs_a_fer2013_backbone():
    with pytest.raises(ValueError, match="face_prior needs a FER2013 backbone"):
        ModelConfig(backbone="tiny", face_prior=True)
    assert ModelConfig(backbone="fer-vgg", face_prior=True).embed_dim == 128 + 7
    assert ModelConfig(backbone="fer-vgg").embed_dim == 128


def test_face_prior_starts_as_the_backbones_own_answer(prior_net):
    """With the classifier's output zeroed, a face window's logits are the log of the mean softmax of
    the backbone's 7 logits over the frames with a face, each put on its label (neutral as calm)."""
    from emoannotate.constants import EMOTIONS
    from emoannotate.model.minixception import FER_AS_EMOTIONS

    g = torch.Generator().manual_seed(1)
    feats = torch.randn(3, T, prior_net.backbone.feature_dim, generator=g) * 3
    mask = torch.ones(3, T, dtype=torch.bool)
    mask[1, 4:] = False  # only the first 4 frames have a face
    mask[2] = False  # voice only
    audio = torch.randn(3, N_AUDIO_FEATURES, N_AUDIO_FRAMES, generator=g)
    amask = torch.tensor([True, False, True])
    last = prior_net.classifier[2]
    saved = last.weight.detach().clone(), last.bias.detach().clone()
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
        try:
            emb = prior_net.embed_features(feats, mask, audio, amask)
            logits = prior_net.head(emb)
        finally:
            last.weight.copy_(saved[0])
            last.bias.copy_(saved[1])
    assert emb.shape == (3, 128 + 7)
    for row, frames in ((0, slice(None)), (1, slice(0, 4))):
        want = torch.softmax(feats[row, frames, -7:], dim=1).mean(dim=0).log()
        for j, name in enumerate(FER_AS_EMOTIONS):
            torch.testing.assert_close(logits[row, EMOTIONS.index(name)], want[j], rtol=0, atol=1e-5)
    assert emb[2, 128:].abs().sum() == 0  # no face: no prior
    torch.testing.assert_close(logits[2], torch.zeros(N_EMOTIONS))
