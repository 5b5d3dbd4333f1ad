"""Run extraction tasks (some windows of one input each) inline or in a pool of worker processes.

Workers fork from a forkserver that has imported the extraction stack once (`forkserver`:
torch, facenet-pytorch, librosa's feature modules), so each starts in about a second instead
of importing it all anew; plain fork after torch has started threads is unsafe. Results
come back in task order with a bounded number of tasks in flight, so memory stays flat;
given a `featurise` (the pipeline's, with the model on the CPU), each worker runs the face
backbone on every window's crops as it makes it, and results carry features, not crops.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections import deque
from collections.abc import Generator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import torch

from . import forkserver
from .constants import FACES_SPEAKER
from .device import torch_threads
from .errors import EmoannotateError
from .extract import Featurise, default_detector, extract_windows
from .heap import release_memory
from .records import MediaArrays, Window, WindowInput

log = logging.getLogger("emoannotate")

TASKS_IN_FLIGHT_PER_WORKER = 2
MAX_POOL_BREAKS = 3  # pools broken in a row with no task done: workers cannot run here at all


@dataclass(frozen=True)
class Task:
    """Windows of one input to decode, detect and featurise together."""

    job_index: int
    source: str | MediaArrays
    windows: tuple[Window, ...]
    has_video: bool
    has_audio: bool
    faces: str = FACES_SPEAKER  # whose face each window reads (constants.FACE_MODES)

    @property
    def name(self) -> str:
        """The input as messages name it: its path, or the arrays' name."""
        return self.source.name if isinstance(self.source, MediaArrays) else self.source


@dataclass
class TaskResult:
    """A task's window inputs, or the one-line reason it failed (`detail`: the traceback of a bug)."""

    job_index: int
    windows: tuple[Window, ...]
    inputs: list[WindowInput]
    error: str | None = None
    detail: str | None = None
    warning: str | None = None


_FEATURISE: Featurise | None = None  # a worker's: what it does to each window as it is made


def run_task(task: Task, detector_device: str = "cpu") -> TaskResult:
    """Extract a task's windows (in a worker given one, each `featurise`d as it is made); a failure becomes the
    task's error, never an exception."""
    try:
        return _run_task(task, detector_device)
    finally:
        release_memory()


def _run_task(task: Task, detector_device: str) -> TaskResult:
    name = task.name
    try:
        inputs = extract_windows(task.source, task.windows, has_video=task.has_video, has_audio=task.has_audio,
                                 detector=default_detector(detector_device) if task.has_video else None,
                                 job_index=task.job_index, faces=task.faces, featurise=_FEATURISE)
        return TaskResult(task.job_index, task.windows, inputs)
    except EmoannotateError as err:  # a bad input: its rows say why, the run goes on
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        return TaskResult(task.job_index, task.windows, [], error=msg if msg.startswith(name) else f"{name}: {msg}")
    except Exception as err:  # anything else may be a bug: keep the traceback for --verbose
        first = str(err).splitlines()[0] if str(err) else ""
        return TaskResult(task.job_index, task.windows, [], error=f"{name}: {type(err).__name__}: {first}".rstrip(": "),
                          detail=traceback.format_exc())


def _worker_init(featurise: Featurise | None) -> None:
    global _FEATURISE
    torch.set_num_threads(1)  # one process per core; intra-op threads would oversubscribe
    _FEATURISE = featurise


class _Pool:
    """A process pool that can be replaced when one of its workers dies, and is torn down at once on exit."""

    def __init__(self, workers: int, featurise: Featurise | None = None) -> None:
        self.workers, self.featurise = workers, featurise
        self.ctx = forkserver.context()
        self.pool = self._new()

    def _new(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=self.ctx, initializer=_worker_init,
                                   initargs=(self.featurise,))

    def submit(self, task: Task) -> Future[TaskResult]:
        return self.pool.submit(run_task, task)

    def replace(self) -> None:
        self.close()
        self.pool = self._new()

    def close(self) -> None:
        """Stop now: kill the workers (a task in flight is dropped) and cancel what is queued."""
        for proc in list((getattr(self.pool, "_processes", None) or {}).values()):  # no public way to reach them
            if proc.is_alive():
                proc.kill()
        self.pool.shutdown(wait=False, cancel_futures=True)


def _died(task: Task) -> TaskResult:
    return TaskResult(task.job_index, task.windows, [], error=f"{task.name}: the worker process reading it died twice "
                      "(out of memory? killed?); try fewer --workers")


def run_tasks(tasks: Sequence[Task], *, workers: int, detector_device: str = "cpu",
              model_threads: int | None = None, featurise: Featurise | None = None
              ) -> Generator[TaskResult, None, None]:
    """Run `tasks` inline (workers=0) or in `workers` processes; yield results in task order.

    A worker that dies (the out-of-memory killer, a crash in a codec) takes its pool with it:
    the pool is replaced and the tasks it held are run again one at a time, so the one that
    killed it is found; a task that kills its worker twice gets an error result, and the run
    goes on. Results of retried tasks carry a `warning`.
    model_threads: torch threads this process keeps while workers run (None: the cores they leave).
    featurise: what the workers do to each window as they make it (picklable; given to each worker
    once), e.g. the model's face backbone on its crops (`featuriser.Featuriser`).
    """
    if workers <= 0 or any(isinstance(t.source, MediaArrays) for t in tasks):
        for t in tasks:
            # MTCNN runs many small convolutions: one CPU thread is several times faster
            # than a contended pool of them (docs/BENCHMARKS.md); the model keeps its own.
            with torch_threads(1 if detector_device == "cpu" else None):
                yield run_task(t, detector_device)
        return
    main_threads = model_threads or max(1, (os.cpu_count() or 1) - workers)  # the cores workers leave
    pool = _Pool(workers, featurise)
    queue = deque(tasks)
    pending: deque[tuple[Task, Future[TaskResult]]] = deque()

    def fill() -> bool:
        """Keep tasks in flight; False when the pool turns out broken (submit refuses)."""
        while queue and len(pending) < TASKS_IN_FLIGHT_PER_WORKER * workers:
            t = queue.popleft()
            try:
                pending.append((t, pool.submit(t)))
            except BrokenProcessPool:
                queue.appendleft(t)
                return False
        return True

    def alone(t: Task) -> TaskResult:
        try:
            result = pool.submit(t).result()
        except BrokenProcessPool:
            pool.replace()
            return _died(t)
        result.warning = "a worker process died while this input was in flight; it was read again"
        return result

    def broken() -> Generator[TaskResult, None, None]:
        """The pool lost a worker: replace it and run the tasks it held again, one at a time."""
        suspects = [t for t, _ in pending]
        pending.clear()
        log.error("a worker process died (out of memory? killed?); replacing it and reading the %d "
                  "task(s) it held again, one at a time", len(suspects))
        pool.replace()
        for t in suspects:
            yield alone(t)

    try:
        with torch_threads(main_threads):
            healthy, breaks_in_a_row = fill(), 0
            while pending or not healthy:
                if not healthy or not pending:
                    breaks_in_a_row += 1
                    if breaks_in_a_row > MAX_POOL_BREAKS:
                        raise EmoannotateError("worker processes keep dying before they take any work; "
                                               "try fewer --workers or --workers 0")
                    yield from broken()
                    healthy = fill()
                    continue
                task, future = pending[0]
                try:
                    result = future.result()
                except BrokenProcessPool:
                    yield from broken()
                    healthy = fill()
                    continue
                pending.popleft()
                breaks_in_a_row = 0
                healthy = fill()
                yield result
    finally:
        pool.close()
