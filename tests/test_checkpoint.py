"""Checkpoints: safetensors + JSON config, round trips, and clear errors for foreign files."""

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from synth import TINY_CONFIG, tiny_model

from emoannotate import __version__
from emoannotate.checkpoint import (
    META_KEY,
    current_preprocessing,
    file_sha256,
    load_checkpoint,
    read_meta,
    save_checkpoint,
)
from emoannotate.constants import EMOTIONS, N_AUDIO_FEATURES, N_AUDIO_FRAMES
from emoannotate.errors import ModelLoadError
from emoannotate.model.net import ModelConfig

T = 15


def inputs(seed: int = 0):
    """Two windows: both modalities, and face only. Crops are small: the tiny backbone pools."""
    g = torch.Generator().manual_seed(seed)
    faces = torch.randint(0, 256, (2, T, 32, 32, 3), generator=g, dtype=torch.uint8)
    face_mask = torch.ones(2, T, dtype=torch.bool)
    audio = torch.randn(2, N_AUDIO_FEATURES, N_AUDIO_FRAMES, generator=g)
    return faces, face_mask, audio, torch.tensor([True, False])


def tensors_and_meta(path):
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, json.loads(f.metadata()[META_KEY])


def rewrite(src, dst, edit):
    """Copy checkpoint `src` to `dst` with its JSON config changed by `edit(meta)`."""
    state, meta = tensors_and_meta(src)
    edit(meta)
    save_file(state, str(dst), metadata={META_KEY: json.dumps(meta)})
    return dst


def test_round_trip_gives_identical_outputs(tmp_path):
    model = tiny_model(seed=5)
    model.temperature.copy_(torch.tensor([1.7, 2.5, 0.8]))  # buffers travel too: one per modality path
    path = save_checkpoint(model, tmp_path / "sub" / "m.safetensors")
    assert path.is_file() and not path.with_suffix(".safetensors.tmp").exists()
    loaded, meta = load_checkpoint(path)
    assert not loaded.training
    assert loaded.temperature.tolist() == pytest.approx([1.7, 2.5, 0.8])
    with torch.inference_mode():
        expected = model.predict_proba(*inputs())
        got = loaded.predict_proba(*inputs())
    assert torch.equal(got, expected)
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k


def test_metadata_is_readable_without_loading(tiny_checkpoint):
    meta = read_meta(tiny_checkpoint)
    assert meta.config == ModelConfig(**TINY_CONFIG)
    assert meta.labels == EMOTIONS
    assert meta.preprocessing == current_preprocessing()
    assert meta.preprocessing["sample_rate"] == 22050 and meta.preprocessing["frames_per_window"] == 15
    assert meta.version == __version__
    assert meta.info == {"summary": "random tiny model for tests"}
    assert meta.path == tiny_checkpoint
    assert meta.sha256 == file_sha256(tiny_checkpoint) and len(meta.sha256) == 64


def test_wrong_preprocessing_is_refused(tiny_checkpoint, tmp_path):
    def other_rate(meta):
        meta["preprocessing"]["sample_rate"] = 16000

    path = rewrite(tiny_checkpoint, tmp_path / "16k.safetensors", other_rate)
    read_meta(path)  # its description is still readable
    with pytest.raises(ModelLoadError, match="sample_rate") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


def test_foreign_safetensors_is_refused(tmp_path):
    plain = tmp_path / "plain.safetensors"
    save_file({"weight": torch.zeros(3)}, str(plain))
    with pytest.raises(ModelLoadError, match="saved by emoannotate"):
        load_checkpoint(plain)
    tagged = tmp_path / "tagged.safetensors"
    save_file({"weight": torch.zeros(3)}, str(tagged), metadata={"format": "pt"})
    with pytest.raises(ModelLoadError):
        read_meta(tagged)


def test_other_format_in_our_metadata_key_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(1)}, str(path), metadata={META_KEY: json.dumps({"format": "something-else"})})
    with pytest.raises(ModelLoadError, match="not an emoannotate checkpoint"):
        read_meta(path)


def test_newer_format_version_asks_for_an_upgrade(tiny_checkpoint, tmp_path):
    def newer(meta):
        meta["format_version"] = 99

    with pytest.raises(ModelLoadError, match="upgrade"):
        read_meta(rewrite(tiny_checkpoint, tmp_path / "new.safetensors", newer))


def test_unknown_config_key_is_a_model_load_error(tiny_checkpoint, tmp_path):
    def extra(meta):
        meta["model"]["future_option"] = 3

    with pytest.raises(ModelLoadError, match="future_option"):
        load_checkpoint(rewrite(tiny_checkpoint, tmp_path / "extra.safetensors", extra))


def test_broken_json_is_a_model_load_error(tmp_path):
    path = tmp_path / "broken.safetensors"
    save_file({"w": torch.zeros(1)}, str(path), metadata={META_KEY: "{not json"})
    with pytest.raises(ModelLoadError, match="JSON"):
        read_meta(path)


def test_weights_that_do_not_fit_the_config(tiny_checkpoint, tmp_path):
    def wider(meta):
        meta["model"]["hidden"] = 32

    with pytest.raises(ModelLoadError, match="do not match"):
        load_checkpoint(rewrite(tiny_checkpoint, tmp_path / "wider.safetensors", wider))


def test_not_safetensors_and_missing_files(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00\x01 definitely not safetensors" * 10)
    with pytest.raises(ModelLoadError, match="safetensors"):
        load_checkpoint(junk)
    with pytest.raises(ModelLoadError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.safetensors")
