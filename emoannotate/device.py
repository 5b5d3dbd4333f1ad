"""Which torch device runs the model, and how many CPU threads torch uses meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .errors import InputError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" -> the first CUDA GPU when there is one, else the CPU; "cpu", "cuda", "cuda:N".

    Raises InputError, with the devices there are, for a GPU that PyTorch cannot see.
    """
    if isinstance(device, torch.device):
        device = str(device)
    name = device.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise InputError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N")
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"device {device!r} was asked for, but PyTorch sees no CUDA GPU; use cpu or auto")
        if dev.index is not None and dev.index >= count:
            raise InputError(f"device {device!r}: PyTorch sees {count} GPU(s), cuda:0 to cuda:{count - 1}")
    return dev


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with `n` intra-op torch threads (None: leave as is), then restore them."""
    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
