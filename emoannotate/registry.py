"""Model names -> checkpoints shipped as package data or in a user model folder; paths -> files.

Never touches a network: the shipped models live in `emoannotate/weights/`, listed in
`weights/models.json` with their SHA-256, which is checked before a model is used. A
user's own models are found by name in a model folder: `model_dir=` (`--model-dir`), else
`$EMOANNOTATE_MODELS`, else `$XDG_DATA_HOME/emoannotate/models` (~/.local/share/...),
as `<name>.safetensors`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch

from .checkpoint import CheckpointMeta, file_sha256, load_checkpoint
from .errors import ModelLoadError
from .model.net import EmotionNet

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
INDEX = WEIGHTS_DIR / "models.json"
DEFAULT_MODEL = "default"


MODELS_ENV = "EMOANNOTATE_MODELS"  # the user model folder, when set


@dataclass(frozen=True)
class ModelEntry:
    """One model found by name: shipped (with the index's SHA-256) or in the user model folder (sha256 "")."""

    name: str
    file: str
    sha256: str
    description: str
    card: dict
    folder: Path | None = None  # None: shipped, in WEIGHTS_DIR

    @property
    def path(self) -> Path:
        return (self.folder if self.folder is not None else WEIGHTS_DIR) / self.file

    @property
    def shipped(self) -> bool:
        return self.folder is None


def user_model_dir(model_dir: str | Path | None = None) -> Path:
    """The user model folder: `model_dir`, else $EMOANNOTATE_MODELS, else $XDG_DATA_HOME/emoannotate/models."""
    if model_dir is not None:
        return Path(model_dir).expanduser()
    if os.environ.get(MODELS_ENV):
        return Path(os.environ[MODELS_ENV]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "emoannotate" / "models"


def available_models(model_dir: str | Path | None = None) -> list[ModelEntry]:
    """The shipped models, in the index's order, then the user folder's `*.safetensors` by name."""
    shipped = []
    if INDEX.is_file():
        shipped = [ModelEntry(e["name"], e["file"], e["sha256"], e.get("description", ""), e.get("card", {}))
                   for e in json.loads(INDEX.read_text())["models"]]
    names = {e.name for e in shipped}
    folder = user_model_dir(model_dir)
    user = [ModelEntry(p.stem, p.name, "", "user model", {}, folder)
            for p in sorted(folder.glob("*.safetensors")) if p.stem not in names] if folder.is_dir() else []
    return shipped + user


def get_entry(name: str, model_dir: str | Path | None = None) -> ModelEntry:
    """The model called `name`: shipped first, then the user model folder."""
    entries = available_models(model_dir)
    for entry in entries:
        if entry.name == name:
            return entry
    shipped = ", ".join(e.name for e in entries if e.shipped) or "none"
    user = ", ".join(e.name for e in entries if not e.shipped) or "none"
    raise ModelLoadError(f"no model named {name!r}; shipped models: {shipped}; user models in "
                         f"{user_model_dir(model_dir)}: {user}; or give a path to a .safetensors file")


@cache
def _verified(path: Path, sha256: str) -> Path:
    actual = file_sha256(path)
    if actual != sha256:
        raise ModelLoadError(f"{path}: checksum {actual[:12]}... differs from the index's {sha256[:12]}...; "
                             f"the file is damaged: reinstall emoannotate")
    return path


def resolve(name_or_path: str | Path, *, model_dir: str | Path | None = None) -> Path:
    """A path to an existing checkpoint file, or the file of the model of that name (shipped ones verified)."""
    p = Path(name_or_path).expanduser()
    if p.suffix == ".safetensors" or p.is_file() or "/" in str(name_or_path):
        if not p.is_file():
            raise ModelLoadError(f"{p}: no such checkpoint file")
        return p
    entry = get_entry(str(name_or_path), model_dir)
    if not entry.shipped:
        return entry.path
    if not entry.path.is_file():
        raise ModelLoadError(f"{entry.path}: the shipped model file is missing; reinstall emoannotate")
    return _verified(entry.path, entry.sha256)


def load_model(name_or_path: str | Path = DEFAULT_MODEL, *, device: str | torch.device = "cpu",
               model_dir: str | Path | None = None) -> tuple[EmotionNet, CheckpointMeta]:
    """Load a model by name (shipped, or in the user model folder; default "default") or a checkpoint by path.

    Returns (the network in eval mode on `device`, its checkpoint description).
    """
    return load_checkpoint(resolve(name_or_path, model_dir=model_dir), device=device)
