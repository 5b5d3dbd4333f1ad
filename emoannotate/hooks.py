"""Progress callbacks: what long jobs report while they run. The library itself never prints.

Every method is optional and a no-op here; `console.RichProgress` draws them on stderr.
Annotation calls `planned` once and `advance` as windows finish; training and evaluation
call `step` for their phases (feature extraction, epochs) and `epoch` after each epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .records import MediaJob


class ProgressHook:
    """Base hook: subclass it and override what you need."""

    def planned(self, jobs: Sequence[MediaJob], n_windows: int) -> None:
        """Annotation: called once, after probing, with the number of windows to annotate."""

    def advance(self, job: MediaJob, n_windows: int) -> None:
        """Annotation: `n_windows` more windows of `job` are done."""

    def step(self, name: str, completed: int, total: int | None = None) -> None:
        """Training/evaluation: phase `name` ("features", ...) has done `completed` of `total`."""

    def epoch(self, record: dict[str, Any]) -> None:
        """Training: one epoch ended; `record` has epoch, train_loss and, with validation, val_loss/val_accuracy."""


NULL_HOOK = ProgressHook()
