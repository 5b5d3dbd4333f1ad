"""Extraction on a Ray cluster: the same tasks as the local worker pool, as Ray tasks.

    emoannotate run /archive --out rows.csv --ray auto     # the cluster of RAY_ADDRESS / `ray start`
    emoannotate run videos/ --out rows.csv --ray local     # a cluster started on this machine

The extraction is a Ray Data pipeline (`run_tasks_on_ray`): each task (a span of windows of one
input: `executor.Task`) is one block, mapped where Ray Data places it (one CPU each) by the local
pool's own work, which decodes, finds the faces and computes the voice's features; Ray Data's
streaming executor bounds what is in flight by the object store's memory, and its results come
back to the driver in task order, exactly as from the local pool. The model runs in a pool of
Ray actors (`ModelPool`: one per GPU of the cluster, or on CPUs where it has none) on batches
that span inputs; the driver links people, collects the rows, writes the outputs and the resume
manifest. A worker process or node lost mid-run costs only the blocks it held: Ray runs them
again (`MAX_RETRIES`; a model actor is restarted and its batch sent again); a task that fails
every time gets an error row, and the run goes on. Inputs
must be at paths every node sees (a shared file system) or URLs every node can open (`storage`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import warnings
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any

from .errors import EmoannotateError, InputError
from .executor import Task, TaskResult, run_task

log = logging.getLogger("emoannotate")

__all__ = ["INSTALL_HINT", "RAY_LOCAL", "ModelPool", "connect", "run_tasks_on_ray", "session"]

INSTALL_HINT = "pip install 'emoannotate[ray]'"
RAY_LOCAL, RAY_AUTO = "local", "auto"
MAX_RETRIES = 3  # times Ray runs a task again whose worker process or node died
CPUS_PER_CPU_MODEL_ACTOR = 16  # on a cluster without GPUs: a model actor per this many CPUs (the model is
# some 5% of a window's CPU time: docs/BENCHMARKS.md)


def _ray() -> Any:
    try:
        import ray
        import ray.data  # needs pyarrow: Ray's "data" extra
    except ImportError as err:
        raise InputError(f"--ray needs Ray with Ray Data, which is not installed ({err}): {INSTALL_HINT}") from err
    return ray


@contextlib.contextmanager
def session(address: str) -> Iterator[int]:
    """Within: connected to the Ray cluster at `address` (`connect`; yields its CPUs). A connection this
    opened is closed on the way out (a cluster it started stops); one the caller had stays open."""
    ray = _ray()
    ours = not ray.is_initialized()
    try:
        yield connect(address)
    finally:
        if ours and ray.is_initialized():
            ray.shutdown()


def connect(address: str) -> int:
    """Join (or start, for "local") the Ray cluster at `address`; returns its CPUs.

    "local" starts a cluster of this machine's cores (the driver's process stays out of it),
    "auto" joins the one of RAY_ADDRESS or of a running `ray start`, anything else is a
    cluster address ("ray://head:10001", "head:6379").
    """
    ray = _ray()
    if not ray.is_initialized():
        # Ray's logger's notices (and its workers' output) only with -v: a run's stderr stays the run's
        verbose = log.isEnabledFor(logging.INFO)
        quiet = {"log_to_driver": verbose, "logging_level": logging.WARNING if verbose else logging.ERROR,
                 "configure_logging": True}
        terminate = signal.getsignal(signal.SIGTERM)
        try:
            if address == RAY_LOCAL:
                ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, **quiet)
            else:
                ray.init(address=address, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise InputError(f"cannot join the Ray cluster at {address!r}: {err}; start one with `ray start "
                             "--head`, or give --ray local") from err
        finally:
            # Ray's core installs its own SIGTERM handler (it dies at once); the caller's comes back, so
            # that SIGTERM stops a run as cleanly as without Ray (finished inputs written, cluster stopped)
            if callable(terminate) and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, terminate)
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if cpus < 1:
        raise InputError(f"the Ray cluster at {address!r} has no CPUs to run the extraction on")
    return cpus


def _on_node(row: dict[str, Any]) -> dict[str, Any]:
    """Ray Data's map of one block: the local pool's work on its task (one torch thread, as there: one
    task per CPU; MTCNN on it). The task's position comes back with its result."""
    import torch

    torch.set_num_threads(1)
    return {"k": row["k"], "result": run_task(row["task"])}


def _get(ray: Any, ref: Any) -> Any:
    """ray.get, but a Ctrl-C or SIGTERM that lands inside Ray's C code (its `check_signals` while it
    waits or deserialises) comes out as itself, not as the SystemError Ray wraps it in."""
    try:
        return ray.get(ref)
    except SystemError as err:
        stop = err.__cause__ or err.__context__
        if isinstance(stop, BaseException) and not isinstance(stop, Exception):
            raise stop from None
        raise


def _lost(task: Task, why: str) -> TaskResult:
    return TaskResult(task.job_index, task.windows, [], error=f"{task.name}: lost on the Ray cluster {why}")


def run_tasks_on_ray(tasks: Sequence[Task], *, cpus: int) -> Generator[TaskResult, None, None]:
    """Run `tasks` on the connected Ray cluster (`session`; `cpus`: its CPUs) as a Ray Data pipeline, a
    block per task; yield their results in task order (as `executor.run_tasks`). A block that Ray Data
    gave up on (its process died MAX_RETRIES + 1 times) gets an error result in its place. Results of
    tasks Ray had to run again carry no warning: Ray does not say which were retried."""
    ray = _ray()
    if not tasks:
        return
    context = ray.data.DataContext.get_current()
    data_log = logging.getLogger("ray.data")
    # the caller's settings come back at the end (a notebook's own Ray Data pipelines keep theirs)
    saved = (context.execution_options.preserve_order, context.max_errored_blocks, context.enable_progress_bars,
             data_log.level)
    context.execution_options.preserve_order = True  # results in task order, as the driver links them
    context.max_errored_blocks = -1  # a block lost every time is reported below, not the end of the run
    context.enable_progress_bars = False  # the run has its own
    if not log.isEnabledFor(logging.INFO):
        data_log.setLevel(logging.ERROR)  # its notices only with -v, as Ray's
    rows: Iterator[dict[str, Any]] | None = None
    expected = 0
    try:
        blocks = ray.data.from_items([{"k": k, "task": t} for k, t in enumerate(tasks)],
                                     override_num_blocks=len(tasks))
        with warnings.catch_warnings():
            # Ray Data retries a block whose process died forever unless told; its only way to tell (the
            # remote args) is deprecated in Ray 2.60, with nothing named in their place yet
            warnings.simplefilter("ignore", DeprecationWarning)
            mapped = blocks.map(_on_node, num_cpus=1, concurrency=max(1, cpus), max_retries=MAX_RETRIES)
        rows = iter(mapped.iter_rows())
        for row in rows:
            while expected < row["k"]:  # the blocks before it were given up on
                yield _lost(tasks[expected], f"{MAX_RETRIES + 1} times")
                expected += 1
            yield row["result"]
            expected += 1
        for task in tasks[expected:]:
            yield _lost(task, f"{MAX_RETRIES + 1} times")
    except ray.exceptions.RayError as err:  # the cluster went away
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        for task in tasks[expected:]:
            yield _lost(task, f"({type(err).__name__}: {first})")
    finally:
        close = getattr(rows, "close", None)
        if close is not None:  # stopped early (Ctrl-C, an output error): Ray Data stops its pipeline
            close()
        (context.execution_options.preserve_order, context.max_errored_blocks, context.enable_progress_bars,
         level) = saved
        data_log.setLevel(level)


class _Holder:
    """A Ray actor that builds one object (`factory()`, e.g. an Annotator on its GPU) and calls its methods."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        import torch

        if not torch.cuda.is_available():
            torch.set_num_threads(1)  # a CPU actor shares its node with the extraction tasks
        self.obj = factory()

    def call(self, method: str, *args: Any) -> Any:
        return getattr(self.obj, method)(*args)


class ModelPool:
    """Objects built by `factory(on_gpu)()` in Ray actors: one per GPU of the cluster (one GPU each), or
    one per CPUS_PER_CPU_MODEL_ACTOR CPUs where it has none. `submit` hands a call to the next actor
    (round robin); `get` waits for its answer. An actor that dies (its process or node lost) is
    replaced and the call sent again, MAX_RETRIES times."""

    def __init__(self, factory: Callable[[bool], Callable[[], Any]]) -> None:
        ray = _ray()
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        n = gpus or max(1, int(resources.get("CPU", 1)) // CPUS_PER_CPU_MODEL_ACTOR)
        self.on_gpu = bool(gpus)
        self._build = factory(self.on_gpu)
        # A CPU actor reserves no CPU: like the local run's model, it shares the cores of the extraction.
        self._actor_class = ray.remote(num_cpus=0, num_gpus=1 if gpus else 0)(_Holder)
        self.actors = [self._actor_class.remote(self._build) for _ in range(n)]
        self._next = 0
        log.info("the model runs in %d Ray actor(s) on %s", n, "GPUs" if gpus else "CPUs")

    def __len__(self) -> int:
        return len(self.actors)

    def submit(self, method: str, *args: Any) -> tuple[int, str, tuple, Any]:
        i = self._next % len(self.actors)
        self._next += 1
        return i, method, args, self.actors[i].call.remote(method, *args)

    def get(self, call: tuple[int, str, tuple, Any]) -> Any:
        ray = _ray()
        i, method, args, ref = call
        for attempt in range(MAX_RETRIES + 1):
            try:
                return _get(ray, ref)
            except ray.exceptions.RayActorError as err:
                if attempt == MAX_RETRIES:
                    raise EmoannotateError(f"the model's Ray actor died {MAX_RETRIES + 1} times in a row (out of "
                                           "memory? its node lost?); the finished inputs are written: run again "
                                           "with --resume") from err
                log.warning("a model actor was lost (its process or node died); starting another")
                self.actors[i] = self._actor_class.remote(self._build)
                ref = self.actors[i].call.remote(method, *args)
        raise AssertionError("unreachable")

    def close(self) -> None:
        ray = _ray()
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
