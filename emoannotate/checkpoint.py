"""Checkpoints that describe themselves: safetensors weights + a JSON config in its header.

The JSON (metadata key "emoannotate") holds the model config, the labels, the
preprocessing the model expects (window, frames, sample rate, features), the package
version and free-form training information. Loading never unpickles anything.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from . import constants as C
from .errors import ModelLoadError
from .model.net import EmotionNet, ModelConfig

FORMAT = "emoannotate-checkpoint"
FORMAT_VERSION = 1
META_KEY = "emoannotate"


def current_preprocessing() -> dict:
    """The preprocessing this code performs; a checkpoint must have been trained with it."""
    return {
        "window_s": C.WINDOW_SECONDS,
        "frames_per_window": C.FRAMES_PER_WINDOW,
        "face_size": C.FACE_SIZE,
        "face_crop": "MTCNN box, no margin, resized to 224x224 RGB",
        "sample_rate": C.SAMPLE_RATE,
        "hop_length": C.HOP_LENGTH,
        "n_fft": C.N_FFT,
        "audio_features": {"mfcc": C.N_MFCC, "mel_db": C.N_MELS, "contrast": C.N_CONTRAST, "tonnetz": C.N_TONNETZ},
        "audio_frames": C.N_AUDIO_FRAMES,
        "audio_level": "each window's active speech scaled to RMS 0.05 (gain within +-30 dB)",
        "tonnetz_tuning": C.TONNETZ_TUNING,
    }


FACE_PREPROCESSING = ("window_s", "frames_per_window", "face_size", "face_crop")  # what a face window depends on


def face_preprocessing() -> dict:
    """The part of `current_preprocessing` that makes a window's faces (photo caches depend on it alone)."""
    full = current_preprocessing()
    return {k: full[k] for k in FACE_PREPROCESSING}


@dataclass(frozen=True)
class CheckpointMeta:
    """What a checkpoint says about itself."""

    config: ModelConfig
    preprocessing: dict
    version: str
    info: dict = field(default_factory=dict)
    path: Path | None = None
    sha256: str | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return self.config.labels

    def describe(self, name: str) -> str:
        """What `models info NAME` prints: file, backbone, data, protocol and the test figures."""
        from .datasets import summarise_speakers

        info = self.info
        lines = [f"model      {name}", f"file       {self.path}", f"sha256     {self.sha256}",
                 f"backbone   {self.config.backbone}", f"labels     {', '.join(self.labels)}",
                 f"trained    {info.get('summary', '(no description)')}"]
        split = info.get("split", {})
        if split:
            independent = ("yes" if split.get("speaker_independent") else
                           "only for the test speakers; the within-speaker test below is not"
                           if split.get("holdout_within") else "no")
            lines.append(f"protocol   {split.get('protocol')} split (speaker-independent: {independent})")
            lines.append(f"test       speakers {summarise_speakers(split.get('test_speakers', []))}"
                         + (f"; within-speaker {', '.join(split.get('holdout_within', []))}"
                            if split.get("holdout_within") else ""))
        if info.get("table"):
            lines += ["", info["table"]]
        return "\n".join(lines)


def save_checkpoint(model: EmotionNet, path: str | Path, *, info: dict | None = None) -> Path:
    """Write the whole network (backbone included) and its description to `path`."""
    from . import __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "emoannotate_version": __version__,
        "model": model.config.to_dict(),
        "preprocessing": current_preprocessing(),
        "info": info or {},
    }
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        save_file(state, str(tmp), metadata={META_KEY: json.dumps(meta)})
        tmp.replace(path)
    except BaseException:  # a full disk or Ctrl-C mid-save leaves no half checkpoint behind
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_meta(path: str | Path) -> CheckpointMeta:
    """Read a checkpoint's description without loading its weights."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(META_KEY)
    except Exception as err:  # safetensors raises its own error types for bad headers
        raise ModelLoadError(f"{path}: not a readable safetensors file ({err})") from err
    if raw is None:
        raise ModelLoadError(f"{path}: safetensors file without an emoannotate config; was it saved by emoannotate?")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ModelLoadError(f"{path}: its emoannotate config is not valid JSON ({err})") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelLoadError(f"{path}: not an emoannotate checkpoint (its config has no format {FORMAT!r})")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ModelLoadError(f"{path}: checkpoint format {meta.get('format_version')} is newer than this "
                             f"emoannotate understands; upgrade emoannotate")
    try:
        config = ModelConfig.from_dict(meta["model"])
        preprocessing = meta["preprocessing"]
    except (KeyError, TypeError, ValueError) as err:
        raise ModelLoadError(f"{path}: its model config does not fit this version of emoannotate ({err}); "
                             f"upgrade emoannotate") from err
    return CheckpointMeta(
        config=config,
        preprocessing=preprocessing,
        version=meta.get("emoannotate_version", "?"),
        info=meta.get("info", {}),
        path=path,
        sha256=file_sha256(path),
    )


def load_checkpoint(path: str | Path, *, device: str | torch.device = "cpu") -> tuple[EmotionNet, CheckpointMeta]:
    """Rebuild the network from a checkpoint, in eval mode on `device`."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such checkpoint file")
    meta = read_meta(path)
    expected = current_preprocessing()
    diff = {k for k in expected if meta.preprocessing.get(k) != expected[k]}
    if diff:
        raise ModelLoadError(f"{path}: trained with other preprocessing ({', '.join(sorted(diff))}) than this "
                             f"version of emoannotate computes; use a matching emoannotate version")
    from safetensors.torch import load_file

    model = EmotionNet(meta.config)
    try:
        model.load_state_dict(load_file(str(path), device="cpu"), strict=True)
    except RuntimeError as err:
        raise ModelLoadError(f"{path}: weights do not match the model config ({str(err).splitlines()[0]})") from err
    return model.to(device).eval(), meta


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file (hex); computed once per file version (path, size, mtime)."""
    st = Path(path).stat()
    return _sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
