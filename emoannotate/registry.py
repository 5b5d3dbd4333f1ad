"""Model names -> checkpoints shipped as package data; paths -> a user's own files.

Never touches a network: the shipped models live in `emoannotate/weights/`, listed in
`weights/models.json` with their SHA-256, which is checked before a model is used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from .checkpoint import CheckpointMeta, file_sha256, load_checkpoint
from .errors import ModelLoadError
from .model.net import EmotionNet

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
INDEX = WEIGHTS_DIR / "models.json"
DEFAULT_MODEL = "default"


@dataclass(frozen=True)
class ModelEntry:
    """One shipped model as the index describes it."""

    name: str
    file: str
    sha256: str
    description: str
    card: dict

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.file


def available_models() -> list[ModelEntry]:
    """The shipped models, in the index's order."""
    if not INDEX.is_file():
        return []
    entries = json.loads(INDEX.read_text())["models"]
    return [ModelEntry(e["name"], e["file"], e["sha256"], e.get("description", ""), e.get("card", {}))
            for e in entries]


def get_entry(name: str) -> ModelEntry:
    for entry in available_models():
        if entry.name == name:
            return entry
    names = ", ".join(e.name for e in available_models()) or "(none shipped)"
    raise ModelLoadError(f"no model named {name!r}; shipped models: {names}; or give a path to a .safetensors file")


@lru_cache(maxsize=None)
def _verified(path: Path, sha256: str) -> Path:
    actual = file_sha256(path)
    if actual != sha256:
        raise ModelLoadError(f"{path}: checksum {actual[:12]}... differs from the index's {sha256[:12]}...; "
                             f"the file is damaged: reinstall emoannotate")
    return path


def resolve(name_or_path: str | Path) -> Path:
    """A path to an existing checkpoint file, or a shipped model's verified file."""
    p = Path(name_or_path).expanduser()
    if p.suffix == ".safetensors" or p.is_file() or "/" in str(name_or_path):
        if not p.is_file():
            raise ModelLoadError(f"{p}: no such checkpoint file")
        return p
    entry = get_entry(str(name_or_path))
    if not entry.path.is_file():
        raise ModelLoadError(f"{entry.path}: the shipped model file is missing; reinstall emoannotate")
    return _verified(entry.path, entry.sha256)


def load_model(name_or_path: str | Path = DEFAULT_MODEL, *, device: str | torch.device = "cpu"
               ) -> tuple[EmotionNet, CheckpointMeta]:
    """Load a shipped model by name (default: "default") or a checkpoint by path."""
    return load_checkpoint(resolve(name_or_path), device=device)
