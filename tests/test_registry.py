"""The registry: model names -> shipped files (checksum-verified), paths -> user files."""

import json
import shutil
from pathlib import Path

import pytest
from synth import TINY_CONFIG

from emoannotate import registry
from emoannotate.checkpoint import file_sha256
from emoannotate.errors import ModelLoadError


@pytest.fixture
def index_dir(tmp_path, monkeypatch, tiny_checkpoint) -> Path:
    """A weights folder with two entries for the tiny checkpoint: one right, one with a wrong hash."""
    folder = tmp_path / "weights"
    folder.mkdir()
    shutil.copy(tiny_checkpoint, folder / "tiny.safetensors")
    shutil.copy(tiny_checkpoint, folder / "damaged.safetensors")
    good = file_sha256(folder / "tiny.safetensors")
    index = {"models": [
        {"name": "tiny", "file": "tiny.safetensors", "sha256": good, "description": "a tiny model",
         "card": {"backbone": "tiny"}},
        {"name": "damaged", "file": "damaged.safetensors", "sha256": "0" * 64, "description": "wrong hash"},
        {"name": "gone", "file": "gone.safetensors", "sha256": good, "description": "file missing"},
    ]}
    (folder / "models.json").write_text(json.dumps(index))
    monkeypatch.setattr(registry, "WEIGHTS_DIR", folder)
    monkeypatch.setattr(registry, "INDEX", folder / "models.json")
    return folder


def test_available_models_in_index_order(index_dir):
    entries = registry.available_models()
    assert [e.name for e in entries] == ["tiny", "damaged", "gone"]
    assert entries[0].path == index_dir / "tiny.safetensors"
    assert entries[0].card == {"backbone": "tiny"} and entries[1].card == {}


def test_resolve_by_name_verifies_the_file(index_dir):
    assert registry.resolve("tiny") == index_dir / "tiny.safetensors"
    model, meta = registry.load_model("tiny")
    assert meta.config.backbone == TINY_CONFIG["backbone"]
    assert not model.training


def test_checksum_mismatch_is_detected(index_dir):
    with pytest.raises(ModelLoadError, match="checksum") as err:
        registry.resolve("damaged")
    assert "reinstall" in str(err.value)


def test_missing_shipped_file(index_dir):
    with pytest.raises(ModelLoadError, match="missing"):
        registry.resolve("gone")


def test_unknown_name_lists_the_shipped_names(index_dir):
    with pytest.raises(ModelLoadError) as err:
        registry.resolve("bigger")
    message = str(err.value)
    assert "'bigger'" in message
    for name in ("tiny", "damaged", "gone"):
        assert name in message
    assert ".safetensors" in message  # says a path works too


def test_without_an_index_nothing_is_shipped(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "INDEX", tmp_path / "models.json")
    monkeypatch.setenv("EMOANNOTATE_MODELS", str(tmp_path / "no-user-models"))
    assert registry.available_models() == []
    with pytest.raises(ModelLoadError, match="shipped models: none; user models in .*no-user-models: none"):
        registry.resolve("default")


def test_resolve_by_path(tiny_checkpoint, monkeypatch):
    assert registry.resolve(tiny_checkpoint) == tiny_checkpoint
    assert registry.resolve(str(tiny_checkpoint)) == tiny_checkpoint
    monkeypatch.chdir(tiny_checkpoint.parent)
    assert registry.resolve(tiny_checkpoint.name) == Path(tiny_checkpoint.name)  # relative, no slash
    model, meta = registry.load_model(str(tiny_checkpoint))
    assert meta.path == tiny_checkpoint


def test_a_path_that_does_not_exist_is_not_looked_up_as_a_name(tmp_path):
    for missing in (tmp_path / "nope.safetensors", f"{tmp_path}/nope"):
        with pytest.raises(ModelLoadError, match="no such checkpoint file"):
            registry.resolve(missing)


def test_shipped_index_is_consistent():
    """The real index names files that exist, with their checksums (package data: never optional)."""
    entries = [e for e in registry.available_models() if e.shipped]
    assert registry.INDEX.is_file() and entries
    assert registry.DEFAULT_MODEL in {e.name for e in entries}
    for entry in entries:
        assert entry.path.is_file(), entry.path
        assert len(entry.sha256) == 64
        assert registry.resolve(entry.name) == entry.path  # checksum verified


def test_user_model_folder(tiny_checkpoint, tmp_path, monkeypatch):
    import shutil

    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(tiny_checkpoint, folder / "mine.safetensors")
    monkeypatch.delenv("EMOANNOTATE_MODELS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert registry.user_model_dir() == tmp_path / "xdg" / "emoannotate" / "models"
    assert "mine" not in [e.name for e in registry.available_models()]
    entry = registry.get_entry("mine", model_dir=folder)
    assert not entry.shipped and entry.path == folder / "mine.safetensors"
    assert registry.resolve("mine", model_dir=folder) == folder / "mine.safetensors"
    monkeypatch.setenv("EMOANNOTATE_MODELS", str(folder))
    assert registry.load_model("mine")[1].path == folder / "mine.safetensors"
