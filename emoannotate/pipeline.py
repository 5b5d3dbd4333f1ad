"""Inputs -> windows -> extraction tasks (executor) -> batched model -> rows, per input, in order.

Extraction runs in worker processes, a few windows per task, while this process runs the
model on batches that span inputs. Rows are routed back by (input, window index) and each
input's result is yielded, in input order, once all its windows have been through the
model (at the latest one batch later), so writers can stream and a crash keeps finished
inputs.
"""

from __future__ import annotations

import logging
import math
import os
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field

import numpy as np
import torch

from .constants import FRAMES_PER_WINDOW, MIN_WINDOW_SECONDS, WINDOW_SECONDS
from .device import resolve_device, torch_threads
from .errors import EmoannotateError, InputError
from .executor import Task, TaskResult, run_tasks
from .hooks import NULL_HOOK, ProgressHook
from .media import probe_source
from .model.net import EmotionNet
from .records import (
    MOD_NONE,
    STATUS_ERROR,
    STATUS_NO_AUDIO,
    STATUS_NO_FACE,
    STATUS_NO_SIGNAL,
    STATUS_OK,
    STATUS_TOO_SHORT,
    FileResult,
    MediaInfo,
    MediaJob,
    Window,
    WindowInput,
    WindowResult,
)
from .windows import is_too_short, plan_windows

log = logging.getLogger("emoannotate")

MAX_AUTO_WORKERS = 4
AUTO_WORKERS_MIN_WINDOWS = 16  # fewer windows run faster in-process than with workers to start
MIN_SPAN_WINDOWS = 4  # windows: a span shorter than this is not worth its seek and task
MAX_SPAN_WINDOWS = 16  # windows (about 1 minute): the longest span a worker decodes (and holds) in one task


@dataclass(frozen=True)
class RunOptions:
    """How inputs are annotated. Times in seconds.

    hop_s:          seconds between window starts (3.6: windows touch, no overlap).
    min_window_s:   a last partial window shorter than this gets a `too_short` row.
    batch_size:     windows per model batch; batches span inputs.
    device:         "auto", "cpu", "cuda" or "cuda:N" for the model.
    workers:        extraction processes; None picks min(CPU cores, 4) for enough work, 0 runs inline.
    threads:        torch CPU threads for the model (None: torch's default, less the workers' cores).
    amp:            float16 autocast for the model on CUDA (ignored on the CPU).
    chunk_windows:  windows per worker task; None: each input is cut into contiguous spans, one per
                    worker for a short input, at most MAX_SPAN_WINDOWS for a long one (each span
                    is decoded front to back after one seek).
    """

    hop_s: float = WINDOW_SECONDS
    min_window_s: float = MIN_WINDOW_SECONDS
    batch_size: int = 32
    device: str = "auto"
    workers: int | None = None
    threads: int | None = None
    amp: bool = True
    chunk_windows: int | None = None

    def __post_init__(self) -> None:
        def bad(name: str, must: str, value: object) -> InputError:
            return InputError(f"{name} must be {must}, got {value}")

        if not (math.isfinite(self.hop_s) and self.hop_s > 0):
            raise bad("hop", "a positive, finite number of seconds", self.hop_s)
        if not (math.isfinite(self.min_window_s) and 0 <= self.min_window_s <= WINDOW_SECONDS):
            raise bad("min_window", f"between 0 and {WINDOW_SECONDS} seconds", self.min_window_s)
        if self.batch_size < 1:
            raise bad("batch_size", "at least 1", self.batch_size)
        if self.workers is not None and self.workers < 0:
            raise bad("workers", "0 or more", self.workers)
        if self.threads is not None and self.threads < 1:
            raise bad("threads", "at least 1", self.threads)
        if self.chunk_windows is not None and self.chunk_windows < 1:
            raise bad("chunk_windows", "at least 1", self.chunk_windows)
        if self.hop_s > WINDOW_SECONDS + 1e-9:
            log.warning("hop %.2f s is longer than the %.1f s window: %.2f s between windows are not annotated",
                        self.hop_s, WINDOW_SECONDS, self.hop_s - WINDOW_SECONDS)


@dataclass
class _InputState:
    """Rows of one input as they arrive; complete when every planned window has its row."""

    job: MediaJob
    info: MediaInfo | None
    expected: int
    rows: dict[int, WindowResult] = field(default_factory=dict)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    def done(self) -> bool:
        return len(self.rows) >= self.expected

    def result(self) -> FileResult:
        return FileResult(self.job, self.info, [self.rows[i] for i in sorted(self.rows)], self.error,
                          tuple(dict.fromkeys(self.warnings)))


def empty_row(job: MediaJob, window: Window, status: str, *, error: str = "", face_frames: int = 0,
              max_faces: int = 0) -> WindowResult:
    """A row without a prediction (too short, no signal, error)."""
    return WindowResult(str(job.path), window.index, window.start_s, window.end_s, None, None, None, MOD_NONE,
                        face_frames, None, max_faces, window.partial, status, error)


def span_windows(n_windows: int, workers: int, chunk_windows: int | None = None) -> int:
    """Windows per task for an input of `n_windows`: one span per worker, within MIN/MAX_SPAN_WINDOWS."""
    if chunk_windows is not None:
        return chunk_windows
    return max(MIN_SPAN_WINDOWS, min(MAX_SPAN_WINDOWS, -(-n_windows // max(1, workers))))


@dataclass
class Plan:
    """What a run will do: each input's state (rows already known: errors, too-short tails) and the
    windows left to extract, per input."""

    states: list[_InputState]
    todo: dict[int, list[Window]]  # job index -> windows to extract, in order

    @property
    def n_windows(self) -> int:
        return sum(len(w) for w in self.todo.values())

    def tasks(self, workers: int, chunk_windows: int | None = None) -> list[Task]:
        """The extraction tasks: each input's windows cut into contiguous spans (`span_windows`)."""
        tasks = []
        for s in self.states:
            todo = self.todo.get(s.job.index, [])
            if not todo or s.info is None:
                continue
            span = span_windows(len(todo), workers, chunk_windows)
            for i in range(0, len(todo), span):
                tasks.append(Task(s.job.index, s.job.source, tuple(todo[i:i + span]), s.info.has_video,
                                  s.info.has_audio))
        return tasks


def plan(jobs: Sequence[MediaJob], options: RunOptions) -> Plan:
    """Probe every input and cut it into windows; an unreadable input gets its error row now."""
    states, todos = [], {}
    for job in jobs:
        try:
            info = probe_source(job.source)
            windows = plan_windows(info.duration_s, hop_s=options.hop_s)
            if not windows:
                raise InputError(f"{job.path}: no audio or video to annotate (duration {info.duration_s:.2f} s)")
        except EmoannotateError as err:
            log.error("%s", err)
            state = _InputState(job, None, 1, error=str(err))
            state.rows[0] = empty_row(job, Window(0, 0.0, 0.0), STATUS_ERROR, error=str(err))
            states.append(state)
            continue
        state = _InputState(job, info, len(windows))
        todo = []
        for w in windows:
            if is_too_short(w, options.min_window_s):
                state.rows[w.index] = empty_row(job, w, STATUS_TOO_SHORT)
            else:
                todo.append(w)
        todos[job.index] = todo
        states.append(state)
    return Plan(states, todos)


class Annotator:
    """Holds a model on its device and annotates inputs with it.

    >>> annotator = Annotator(model, RunOptions(batch_size=64))
    >>> for file_result in annotator.annotate(jobs): ...
    """

    def __init__(self, model: EmotionNet, options: RunOptions | None = None) -> None:
        self.options = options or RunOptions()
        self.device = resolve_device(self.options.device)
        self.model = model.to(self.device).eval()
        self.labels = tuple(model.config.labels)

    def predict(self, inputs: Sequence[WindowInput]) -> np.ndarray:
        """Probabilities (len(inputs), n_labels) for windows that each have a modality."""
        b, n = len(inputs), FRAMES_PER_WINDOW
        face_mask = torch.from_numpy(np.stack([x.face_mask if x.has_video else np.zeros(n, bool) for x in inputs]))
        crops = [x.faces[x.face_mask] for x in inputs if x.faces is not None and x.has_video]  # each (k, 224, 224, 3)
        faces = torch.from_numpy(np.concatenate(crops)) if crops else None  # (K, 224, 224, 3) uint8
        audio_mask = torch.tensor([x.has_audio for x in inputs])
        shape = next((x.audio.shape for x in inputs if x.audio is not None), (self.model.config.n_audio_features, 1))
        audio = torch.from_numpy(np.stack([x.audio if x.audio is not None else np.zeros(shape, np.float32)
                                           for x in inputs]))  # (B, 181, 156) float32
        dev = self.device
        use_amp = self.options.amp and dev.type == "cuda"
        try:
            with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.float16, enabled=use_amp):
                probs = self.model.predict_proba(
                    faces.to(dev, non_blocking=True) if faces is not None else None, face_mask.to(dev),
                    audio.to(dev, non_blocking=True), audio_mask.to(dev))
        except torch.cuda.OutOfMemoryError as err:
            raise EmoannotateError(f"the GPU ran out of memory at batch size {b}; "
                                   f"try a batch size of {max(1, b // 2)} (--batch-size)") from err
        return probs.float().cpu().numpy()

    def _row(self, job: MediaJob, x: WindowInput, p: np.ndarray | None) -> WindowResult:
        """The row of one window: its prediction `p` (n_labels,), or no_signal without one."""
        w, face_frames = x.window, int(x.face_mask.sum())
        if p is None:
            return empty_row(job, w, STATUS_NO_SIGNAL, face_frames=face_frames, max_faces=x.max_faces)
        best = int(np.argmax(p))
        status = STATUS_OK if x.has_video and x.has_audio else STATUS_NO_AUDIO if x.has_video else STATUS_NO_FACE
        return WindowResult(str(job.path), w.index, w.start_s, w.end_s, self.labels[best], float(p[best]),
                            tuple(float(v) for v in p), x.modalities, face_frames, x.face_box, x.max_faces,
                            w.partial, status, labels=self.labels)

    def _n_workers(self, n_windows: int) -> int:
        w = self.options.workers
        if w is None:  # a worker costs a second or more to start: only worth it for real work
            w = min(os.cpu_count() or 1, MAX_AUTO_WORKERS) if n_windows >= AUTO_WORKERS_MIN_WINDOWS else 0
        return w

    def annotate(self, jobs: Sequence[MediaJob], hook: ProgressHook | None = None
                 ) -> Generator[FileResult, None, None]:
        """Annotate every input; yield each one's result, in input order, as soon as it is complete."""
        hook = hook or NULL_HOOK
        planned = plan(jobs, self.options)
        n_workers = self._n_workers(planned.n_windows)
        tasks = planned.tasks(max(1, n_workers), self.options.chunk_windows)
        n_workers = min(n_workers, len(tasks))
        states = planned.states
        by_index = {s.job.index: s for s in states}
        hook.planned(list(jobs), sum(s.expected for s in states))
        for s in states:
            if s.rows:
                hook.advance(s.job, len(s.rows))
        order = deque(s.job.index for s in states)
        batch: list[WindowInput] = []

        def flush(chunk: list[WindowInput]) -> None:
            ready = [x for x in chunk if x.has_video or x.has_audio]
            probs = self.predict(ready) if ready else np.zeros((0, len(self.labels)))
            by_window = {id(x): p for x, p in zip(ready, probs)}
            for x in chunk:
                state = by_index[x.job_index]
                state.rows[x.window.index] = self._row(state.job, x, by_window.get(id(x)))
            for ji in dict.fromkeys(x.job_index for x in chunk):
                hook.advance(by_index[ji].job, sum(x.job_index == ji for x in chunk))

        def finished() -> Iterator[FileResult]:
            while order and by_index[order[0]].done():
                yield by_index[order.popleft()].result()

        def failed(res: TaskResult) -> None:
            state = by_index[res.job_index]
            log.error("%s", res.error)
            if res.detail:
                log.debug("%s", res.detail)
            state.error = state.error or res.error
            for w in res.windows:
                state.rows[w.index] = empty_row(state.job, w, STATUS_ERROR, error=res.error or "")
            hook.advance(state.job, len(res.windows))

        yield from finished()
        detector_device = "cuda" if self.device.type == "cuda" else "cpu"
        threads = self.options.threads
        with torch_threads(threads), closing(run_tasks(tasks, workers=n_workers, detector_device=detector_device,
                                                        model_threads=threads)) as task_results:
            for res in task_results:
                if res.warning:
                    by_index[res.job_index].warnings.append(res.warning)
                if res.error is not None:
                    failed(res)
                batch.extend(res.inputs)
                while len(batch) >= self.options.batch_size:
                    flush(batch[:self.options.batch_size])
                    del batch[:self.options.batch_size]
                yield from finished()
            if batch:
                flush(batch)
        yield from finished()
