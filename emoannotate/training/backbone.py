"""Train the face backbone (`model.vgg.ExpressionVGG`) on FER2013 photographs: `emoannotate train-backbone`.

Every photo becomes the network's input exactly as a face of `run` does: the pipeline's
`crop_face` of the face box (FER2013's 48x48 images are whole face crops, `Sample.cropped`)
to 224x224 RGB, then the network's own `preprocess` (grayscale, antialiased resize to 48).
Those inputs are made once (28,709 photos in ~1 min) and augmented per batch on the tensor:
a random similarity transform (rotation, scale, shift: as MTCNN's boxes and head poses vary
from person to person), a horizontal flip, and brightness/contrast changes.

Recipe: SGD (Nesterov momentum 0.9, weight decay 5e-4), batch 64, a one-cycle learning rate
up to 0.05, label smoothing 0.1, a fixed number of epochs, the last epoch kept. Nothing is
chosen on any held-out image: the accuracy on `--val` photos is reported after each epoch,
never used. Deterministic on the CPU: the same photos, seed and thread count give the same
weights bit for bit.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..constants import FACE_SIZE
from ..datasets import Sample
from ..model.minixception import FER_AS_EMOTIONS
from ..model.vgg import INPUT_SIZE, ExpressionVGG, save_vgg

log = logging.getLogger("emoannotate")

# Our label (neutral read as calm) -> FER2013's output index.
_FER_INDEX = {name: i for i, name in enumerate(FER_AS_EMOTIONS)}
PREPARE_CHUNK = 256  # photos per preprocess call


@dataclass(frozen=True)
class BackboneOptions:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.05  # peak of the one-cycle schedule
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    max_rotation_deg: float = 12.0
    max_scale: float = 0.12  # scale in [1 - s, 1 + s]
    max_shift: float = 0.10  # of the face's side
    max_brightness: float = 0.2  # added, in [0, 1] units
    max_contrast: float = 0.25  # factor in [1 - c, 1 + c]
    seed: int = 0
    threads: int = 2  # CPU threads; part of what makes a run reproducible


def prepare_inputs(samples: Sequence[Sample]) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs (N, 1, 48, 48) float16 in [-1, 1], FER label indices (N,) int64) of photo samples.

    Each photo goes through `faces.crop_face` (the whole image for `cropped` samples) and
    `ExpressionVGG.preprocess`, as the faces of `run` do.
    """
    from PIL import Image

    from ..faces import crop_face

    bad = sorted({s.label for s in samples} - set(_FER_INDEX))
    if bad:
        raise ValueError(f"labels {bad} are not among FER2013's 7 (neutral must be read as calm)")
    if any(s.image is None or not s.cropped for s in samples):
        raise ValueError("train-backbone takes whole-face photos (FER2013); other samples have no crop here")
    out = torch.empty(len(samples), 1, INPUT_SIZE, INPUT_SIZE, dtype=torch.float16)
    for start in range(0, len(samples), PREPARE_CHUNK):
        part = samples[start:start + PREPARE_CHUNK]
        crops = np.empty((len(part), FACE_SIZE, FACE_SIZE, 3), np.uint8)
        for k, s in enumerate(part):
            with Image.open(s.image) as im:  # type: ignore[arg-type]
                frame = np.asarray(im.convert("RGB"))
            h, w = frame.shape[:2]
            crop = crop_face(frame, np.array([0, 0, w, h], np.float32))
            if crop is None:
                raise ValueError(f"{s.image}: an image of {w}x{h} px is too small for a face crop")
            crops[k] = crop
        x = torch.from_numpy(crops).permute(0, 3, 1, 2).float().div_(255.0)
        out[start:start + len(part)] = ExpressionVGG.preprocess(x).half()
    labels = torch.tensor([_FER_INDEX[s.label] for s in samples], dtype=torch.long)
    return out, labels


def augment(x: torch.Tensor, opts: BackboneOptions, gen: torch.Generator) -> torch.Tensor:
    """A random similarity transform, flip and brightness/contrast per image: (B, 1, S, S) -> same."""
    b = x.shape[0]

    def u(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, generator=gen)

    angle = u(-1, 1) * math.radians(opts.max_rotation_deg)
    scale = 1.0 + u(-1, 1) * opts.max_scale
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
    tx, ty = u(-1, 1) * 2 * opts.max_shift, u(-1, 1) * 2 * opts.max_shift  # grid units: the side is 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    contrast = (1.0 + u(-1, 1) * opts.max_contrast).view(b, 1, 1, 1)
    bright = (u(-1, 1) * opts.max_brightness * 2).view(b, 1, 1, 1)  # [-1, 1] units: twice [0, 1]'s
    return ((y + 1) * contrast - 1 + bright).clamp_(-1, 1)


def accuracy(model: ExpressionVGG, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    """Top-1 accuracy of `model` (eval mode) on prepared inputs."""
    model.eval()
    right = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            right += int((model.forward_preprocessed(x[i:i + batch].float()).argmax(1) == y[i:i + batch]).sum())
    return right / max(len(x), 1)


def train_backbone(train: Sequence[Sample], out: str | Path, *, val: Sequence[Sample] = (),
                   test: Sequence[Sample] = (), options: BackboneOptions = BackboneOptions(),
                   on_epoch: Callable[[int, float, float | None], None] | None = None) -> dict:
    """Train an ExpressionVGG on `train` photos and write it to `out` (safetensors with what made it).

    `val` is scored after every epoch (reported, never used to choose anything); `test` once
    at the end. Returns the record stored in the file: options, data sizes, per-epoch
    training loss and validation accuracy, the test accuracy.
    """
    torch.manual_seed(options.seed)
    torch.set_num_threads(options.threads)
    t0 = time.perf_counter()
    x, y = prepare_inputs(train)
    xv, yv = prepare_inputs(val) if val else (None, None)
    log.info("train-backbone: %d training photos ready in %.0f s", len(x), time.perf_counter() - t0)
    model = ExpressionVGG().to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=options.lr, momentum=0.9, nesterov=True,
                          weight_decay=options.weight_decay)
    steps = options.epochs * math.ceil(len(x) / options.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=options.lr, total_steps=steps)
    gen = torch.Generator().manual_seed(options.seed)
    history = []
    for epoch in range(options.epochs):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        total, n = 0.0, 0
        for i in range(0, len(x), options.batch_size):
            idx = order[i:i + options.batch_size]
            xb = augment(x[idx].float(), options, gen).contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(model.forward_preprocessed(xb), y[idx], label_smoothing=options.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            n += len(idx)
        val_acc = accuracy(model, xv, yv) if xv is not None and yv is not None else None
        history.append({"epoch": epoch + 1, "train_loss": total / n, "val_accuracy": val_acc})
        log.info("train-backbone: epoch %d/%d loss %.4f val %s (%.0f s)", epoch + 1, options.epochs, total / n,
                 "-" if val_acc is None else f"{val_acc:.4f}", time.perf_counter() - t0)
        if on_epoch is not None:
            on_epoch(epoch + 1, total / n, val_acc)
    model = model.to(memory_format=torch.contiguous_format).eval()
    test_acc = None
    if test:
        xt, yt = prepare_inputs(test)
        test_acc = accuracy(model, xt, yt)
    info = {"options": asdict(options), "n_train": len(x), "n_val": len(val), "n_test": len(test),
            "history": history, "test_accuracy": test_acc, "torch": torch.__version__}
    save_vgg(model, out, info)  # no timings in the file: the same data and options give the same bytes
    log.info("train-backbone: test accuracy %s, %.0f s in all", test_acc, time.perf_counter() - t0)
    return info


def run_backbone_training(data: Sequence[str], out: Path, *, val: Sequence[str] = (), test: Sequence[str] = (),
                          options: BackboneOptions = BackboneOptions(), overwrite: bool = False) -> str:
    """The `train-backbone` command: dataset specs in (neutral read as calm), weights out; returns a summary line."""
    from ..datasets import load_dataset
    from ..writers import check_can_write

    def load(specs: Sequence[str]) -> list[Sample]:
        return [s for spec in specs for s in load_dataset(spec, neutral="calm")]

    check_can_write(out, overwrite)
    info = train_backbone(load(data), out, val=load(val), test=load(test), options=options)
    last = info["history"][-1]

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.2f}%"

    return (f"{len(info['history'])} epochs: training loss {last['train_loss']:.4f}, validation accuracy "
            f"{pct(last['val_accuracy'])}, test accuracy {pct(info['test_accuracy'])}")
