"""Run extraction tasks (some windows of one input each) inline or in a pool of worker processes.

Workers fork from a forkserver that has imported the extraction stack once (torch,
facenet-pytorch, librosa's feature modules), so each starts in about a second instead of
importing it all anew; plain fork after torch has started threads is unsafe. Results
come back in task order with a bounded number of tasks in flight, so memory stays flat.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import traceback
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import torch

from .device import torch_threads
from .errors import EmoannotateError
from .extract import default_detector, extract_windows
from .records import MediaArrays, Window, WindowInput

log = logging.getLogger("emoannotate")

# Imported once by the forkserver before it forks workers (librosa itself is a lazy stub;
# these are the parts the features use). Measured in bench/: about 3 s less per worker start.
WORKER_PRELOAD = ("emoannotate.extract", "facenet_pytorch", "librosa.core.spectrum", "librosa.core.constantq",
                  "librosa.feature", "scipy.signal")
TASKS_IN_FLIGHT_PER_WORKER = 2


@dataclass(frozen=True)
class Task:
    """Windows of one input to decode, detect and featurise together."""

    job_index: int
    source: str | MediaArrays
    windows: tuple[Window, ...]
    has_video: bool
    has_audio: bool


@dataclass
class TaskResult:
    """A task's window inputs, or the one-line reason it failed (`detail`: the traceback of a bug)."""

    job_index: int
    windows: tuple[Window, ...]
    inputs: list[WindowInput]
    error: str | None = None
    detail: str | None = None


def run_task(task: Task, detector_device: str = "cpu") -> TaskResult:
    """Extract a task's windows; a failure becomes the task's error, never an exception."""
    name = task.source.name if isinstance(task.source, MediaArrays) else task.source
    try:
        inputs = extract_windows(task.source, task.windows, has_video=task.has_video, has_audio=task.has_audio,
                                 detector=default_detector(detector_device) if task.has_video else None,
                                 job_index=task.job_index)
        return TaskResult(task.job_index, task.windows, inputs)
    except EmoannotateError as err:  # a bad input: its rows say why, the run goes on
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        return TaskResult(task.job_index, task.windows, [], error=msg if msg.startswith(name) else f"{name}: {msg}")
    except Exception as err:  # anything else may be a bug: keep the traceback for --verbose
        first = str(err).splitlines()[0] if str(err) else ""
        return TaskResult(task.job_index, task.windows, [], error=f"{name}: {type(err).__name__}: {first}".rstrip(": "),
                          detail=traceback.format_exc())


def _worker_init() -> None:
    torch.set_num_threads(1)  # one process per core; intra-op threads would oversubscribe


def run_tasks(tasks: Sequence[Task], *, workers: int, detector_device: str = "cpu",
              model_threads: int | None = None) -> Iterator[TaskResult]:
    """Run `tasks` inline (workers=0) or in `workers` processes; yield results in task order.

    model_threads: torch threads this process keeps while workers run (None: the cores they leave).
    """
    if workers <= 0 or any(isinstance(t.source, MediaArrays) for t in tasks):
        for t in tasks:
            # MTCNN runs many small convolutions: one CPU thread is several times faster
            # than a contended pool of them (docs/BENCHMARKS.md); the model keeps its own.
            with torch_threads(1 if detector_device == "cpu" else None):
                yield run_task(t, detector_device)
        return
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(list(WORKER_PRELOAD))
    main_threads = model_threads or max(1, (os.cpu_count() or 1) - workers)  # the cores workers leave
    with torch_threads(main_threads), \
            ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init) as pool:
        pending: deque[Future[TaskResult]] = deque()
        queue = iter(tasks)
        for t in queue:
            pending.append(pool.submit(run_task, t))
            if len(pending) >= TASKS_IN_FLIGHT_PER_WORKER * workers:
                break
        while pending:
            try:
                result = pending.popleft().result()
            except BrokenProcessPool as err:
                raise EmoannotateError("a worker process died (out of memory?); "
                                       "try fewer workers (--workers) or none (--workers 0)") from err
            nxt = next(queue, None)
            if nxt is not None:
                pending.append(pool.submit(run_task, nxt))
            yield result
