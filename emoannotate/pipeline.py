"""Jobs -> windows -> faces + audio features (worker processes) -> batched model -> rows per file.

Decoding, face detection and audio features run in worker processes, a few windows per
task, while the main process runs the model on batches that span files. Rows are routed
back by (file, window index) and each file's result is yielded, in input order, once all
its windows have been through the model (at the latest one batch later), so writers can
stream and a crash keeps finished files.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
from collections import deque
from contextlib import contextmanager
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from . import audio as audio_features
from .constants import FRAMES_PER_WINDOW, MIN_WINDOW_SECONDS, WINDOW_SECONDS
from .errors import EmoannotateError, InputError
from .faces import FaceDetector
from .media import iter_window_audio, iter_window_frames, probe
from .model.net import EmotionNet
from .records import (
    STATUS_ERROR, STATUS_NO_AUDIO, STATUS_NO_FACE, STATUS_NO_SIGNAL, STATUS_OK, STATUS_TOO_SHORT,
    FileResult, MediaInfo, MediaJob, Window, WindowInput, WindowResult,
)
from .windows import is_too_short, plan_windows

log = logging.getLogger("emoannotate")

MAX_AUTO_WORKERS = 4
AUTO_WORKERS_MIN_WINDOWS = 16  # fewer windows run faster in-process than with workers to start


@dataclass(frozen=True)
class RunOptions:
    """How `annotate` runs. Times in seconds.

    workers: decoding/detection processes; None picks min(CPU cores, 4), 0 runs them inline.
    amp: float16 autocast for the model on CUDA (ignored on the CPU).
    chunk_windows: windows per worker task (a long video is split into several tasks).
    """

    hop_s: float = WINDOW_SECONDS
    min_window_s: float = MIN_WINDOW_SECONDS
    batch_size: int = 32
    device: str = "auto"
    workers: int | None = None
    amp: bool = True
    chunk_windows: int = 8

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise InputError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.hop_s <= 0:
            raise InputError(f"--hop must be a positive number of seconds, got {self.hop_s}")
        if self.workers is not None and self.workers < 0:
            raise InputError(f"--workers must be 0 or more, got {self.workers}")
        if self.chunk_windows < 1:
            raise InputError(f"chunk_windows must be at least 1, got {self.chunk_windows}")
        if self.min_window_s < 0:
            raise InputError(f"--min-window must be 0 or more seconds, got {self.min_window_s}")


class ProgressHook:
    """Callbacks the pipeline makes; the CLI draws a progress bar from them. All optional."""

    def planned(self, jobs: Sequence[MediaJob], n_windows: int) -> None:
        """Called once, after probing, with the total number of windows to annotate."""

    def advance(self, job: MediaJob, n_windows: int) -> None:
        """Called when `n_windows` more windows of `job` are done."""

    def file_done(self, result: FileResult) -> None:
        """Called when all windows of a file are done (also for files that failed)."""


def resolve_device(device: str) -> torch.device:
    """"auto" -> CUDA when available, else CPU; "cuda" without CUDA is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for, but PyTorch sees no CUDA GPU; use --device cpu or auto")
    return torch.device(device)


# --- Worker side ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Task:
    job_index: int
    path: str
    windows: tuple[Window, ...]
    has_video: bool
    has_audio: bool


@dataclass
class _TaskResult:
    job_index: int
    windows: tuple[Window, ...]
    inputs: list[WindowInput]
    error: str | None = None


_DETECTOR: FaceDetector | None = None


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with `n` intra-op torch threads, then restore the previous number."""
    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _worker_init() -> None:
    torch.set_num_threads(1)  # one process per core; intra-op threads would oversubscribe


def _detector(device: str = "cpu") -> FaceDetector:
    global _DETECTOR
    if _DETECTOR is None or str(_DETECTOR.device) != str(torch.device(device)):
        _DETECTOR = FaceDetector(device=device)
    return _DETECTOR


def prepare_windows(path: str, windows: Sequence[Window], *, has_video: bool, has_audio: bool,
                    detector: FaceDetector, job_index: int = 0) -> list[WindowInput]:
    """Decode, find faces and compute audio features for some windows of one file."""
    n = FRAMES_PER_WINDOW
    faces: dict[int, object] = {}
    if has_video:
        for window, frames in iter_window_frames(path, windows, n_frames=n):
            faces[window.index] = detector.detect(frames)
    feats: dict[int, np.ndarray | None] = {}
    if has_audio:
        for window, samples in iter_window_audio(path, windows):
            feats[window.index] = audio_features.window_audio_features(samples)
    inputs = []
    for w in windows:
        wf = faces.get(w.index)
        found = wf is not None and wf.n_found > 0
        inputs.append(WindowInput(
            job_index=job_index,
            window=w,
            faces=wf.crops if found else None,
            face_mask=wf.mask if wf is not None else np.zeros(n, bool),
            face_box=wf.representative_box() if found else None,
            max_faces=wf.max_faces if wf is not None else 0,
            audio=feats.get(w.index),
        ))
    return inputs


def _run_task(task: _Task, detector_device: str = "cpu") -> _TaskResult:
    try:
        inputs = prepare_windows(task.path, task.windows, has_video=task.has_video, has_audio=task.has_audio,
                                 detector=_detector(detector_device), job_index=task.job_index)
        return _TaskResult(task.job_index, task.windows, inputs)
    except Exception as err:  # one bad file must not stop the run: report it on its rows
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        if not msg.startswith(task.path):
            msg = f"{task.path}: {msg}"
        return _TaskResult(task.job_index, task.windows, [], error=msg)


# --- Main side ---------------------------------------------------------------------------

@dataclass
class _FileState:
    job: MediaJob
    info: MediaInfo | None
    rows: dict[int, WindowResult]
    expected: int
    error: str | None = None

    def done(self) -> bool:
        return len(self.rows) >= self.expected

    def result(self) -> FileResult:
        return FileResult(self.job, self.info, [self.rows[i] for i in sorted(self.rows)], self.error)


def _empty_row(job: MediaJob, window: Window, status: str, error: str = "") -> WindowResult:
    return WindowResult(str(job.path), window.index, window.start_s, window.end_s, None, None, None,
                        "none", 0, None, 0, window.partial, status, error)


class Annotator:
    """Holds a model on its device and annotates jobs with it.

    >>> annotator = Annotator(model, RunOptions(batch_size=64))
    >>> for file_result in annotator.annotate(jobs): ...
    """

    def __init__(self, model: EmotionNet, options: RunOptions | None = None) -> None:
        self.options = options or RunOptions()
        self.device = resolve_device(self.options.device)
        self.model = model.to(self.device).eval()
        self.labels = tuple(model.config.labels)

    # -- model --
    def predict(self, inputs: Sequence[WindowInput]) -> np.ndarray:
        """Probabilities (len(inputs), n_labels) for windows that each have a modality."""
        b, n = len(inputs), FRAMES_PER_WINDOW
        face_mask = torch.from_numpy(np.stack([x.face_mask if x.has_video else np.zeros(n, bool) for x in inputs]))
        crops = [x.faces[x.face_mask] for x in inputs if x.has_video]  # each (k, 224, 224, 3)
        faces = torch.from_numpy(np.concatenate(crops)) if crops else None  # (K, 224, 224, 3) uint8
        audio_mask = torch.tensor([x.has_audio for x in inputs])
        shape = next((x.audio.shape for x in inputs if x.has_audio), (self.model.config.n_audio_features, 1))
        audio = torch.from_numpy(np.stack([x.audio if x.has_audio else np.zeros(shape, np.float32) for x in inputs]))
        dev = self.device
        use_amp = self.options.amp and dev.type == "cuda"
        try:
            with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.float16, enabled=use_amp):
                probs = self.model.predict_proba(
                    faces.to(dev, non_blocking=True) if faces is not None else None, face_mask.to(dev),
                    audio.to(dev, non_blocking=True), audio_mask.to(dev))
        except torch.cuda.OutOfMemoryError as err:
            raise EmoannotateError(f"the GPU ran out of memory at batch size {b}; "
                                   f"try --batch-size {max(1, b // 2)}") from err
        return probs.float().cpu().numpy()

    def _rows(self, job: MediaJob, inputs: Sequence[WindowInput], probs: np.ndarray | None) -> list[WindowResult]:
        rows = []
        for k, x in enumerate(inputs):
            w = x.window
            if probs is None:
                rows.append(WindowResult(str(job.path), w.index, w.start_s, w.end_s, None, None, None, "none",
                                         int(x.face_mask.sum()), None, x.max_faces, w.partial, STATUS_NO_SIGNAL))
                continue
            p = probs[k]
            best = int(np.argmax(p))
            status = STATUS_OK if x.has_video and x.has_audio else STATUS_NO_AUDIO if x.has_video else STATUS_NO_FACE
            rows.append(WindowResult(
                str(job.path), w.index, w.start_s, w.end_s, self.labels[best], float(p[best]),
                tuple(float(v) for v in p), x.modalities, int(x.face_mask.sum()), x.face_box, x.max_faces,
                w.partial, status, labels=self.labels))
        return rows

    # -- jobs --
    def _plan(self, jobs: Sequence[MediaJob]) -> tuple[list[_FileState], list[_Task]]:
        o = self.options
        states, tasks = [], []
        for job in jobs:
            try:
                info = probe(job.path)
                windows = plan_windows(info.duration_s, hop_s=o.hop_s, min_s=o.min_window_s)
                if not windows:
                    raise InputError(f"{job.path}: no audio or video to annotate (duration {info.duration_s:.2f} s)")
            except EmoannotateError as err:
                log.error("%s", err)
                state = _FileState(job, None, {}, 1, error=str(err))
                state.rows[0] = _empty_row(job, Window(0, 0.0, 0.0), STATUS_ERROR, str(err))
                states.append(state)
                continue
            state = _FileState(job, info, {}, len(windows))
            todo = []
            for w in windows:
                if is_too_short(w, o.min_window_s):
                    state.rows[w.index] = _empty_row(job, w, STATUS_TOO_SHORT)
                else:
                    todo.append(w)
            for i in range(0, len(todo), o.chunk_windows):
                tasks.append(_Task(job.index, str(job.path), tuple(todo[i:i + o.chunk_windows]),
                                   info.has_video, info.has_audio))
            states.append(state)
        return states, tasks

    def _n_workers(self, tasks: Sequence[_Task]) -> int:
        w = self.options.workers
        if w is None:  # a worker costs seconds to start (torch, librosa, MTCNN): only worth it for real work
            n_windows = sum(len(t.windows) for t in tasks)
            w = min(os.cpu_count() or 1, MAX_AUTO_WORKERS) if n_windows >= AUTO_WORKERS_MIN_WINDOWS else 0
        return min(w, len(tasks))

    def _task_results(self, tasks: list[_Task]) -> Iterator[_TaskResult]:
        """Run tasks inline or in a process pool, yielding results in task order."""
        n_workers = self._n_workers(tasks)
        if n_workers == 0:
            det_device = "cuda" if self.device.type == "cuda" else "cpu"
            for t in tasks:
                # MTCNN runs many small convolutions: one CPU thread is several times faster
                # than a contended pool of them (docs/BENCHMARKS.md), and the model keeps its own.
                with torch_threads(1 if det_device == "cpu" else torch.get_num_threads()):
                    result = _run_task(t, det_device)
                yield result
            return
        # forkserver: workers fork from a server that has imported the pipeline once (torch,
        # librosa, facenet-pytorch) instead of each importing it anew (spawn); plain fork
        # after torch has started threads is unsafe.
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["emoannotate.pipeline"])
        # The model shares the cores with the workers: give it what they leave.
        main_threads = max(1, (os.cpu_count() or 1) - n_workers)
        with torch_threads(main_threads), \
                ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=_worker_init) as pool:
            pending: deque = deque()
            queue = iter(tasks)
            for t in queue:  # keep a bounded number of tasks in flight (memory)
                pending.append(pool.submit(_run_task, t))
                if len(pending) >= 2 * n_workers:
                    break
            while pending:
                try:
                    result = pending.popleft().result()
                except BrokenProcessPool as err:
                    raise EmoannotateError("a worker process died (out of memory?); "
                                           "try fewer --workers or --workers 0") from err
                nxt = next(queue, None)
                if nxt is not None:
                    pending.append(pool.submit(_run_task, nxt))
                yield result

    def annotate(self, jobs: Sequence[MediaJob], hook: ProgressHook | None = None) -> Iterator[FileResult]:
        """Annotate every job; yield each file's result, in job order, when it is complete."""
        hook = hook or ProgressHook()
        states, tasks = self._plan(jobs)
        by_index = {s.job.index: s for s in states}
        hook.planned(list(jobs), sum(s.expected for s in states))
        for s in states:
            if s.rows:
                hook.advance(s.job, len(s.rows))
        order = deque(s.job.index for s in states)
        batch: list[WindowInput] = []

        def flush_batch() -> None:
            ready = [x for x in batch if x.has_video or x.has_audio]
            probs = self.predict(ready) if ready else None
            for k, x in enumerate(ready):
                state = by_index[x.job_index]
                state.rows[x.window.index] = self._rows(state.job, [x], probs[k:k + 1])[0]
            for x in batch:
                if not (x.has_video or x.has_audio):
                    state = by_index[x.job_index]
                    state.rows[x.window.index] = self._rows(state.job, [x], None)[0]
            counts: dict[int, int] = {}
            for x in batch:
                counts[x.job_index] = counts.get(x.job_index, 0) + 1
            for ji, c in counts.items():
                hook.advance(by_index[ji].job, c)
            batch.clear()

        def finished() -> Iterator[FileResult]:
            while order and by_index[order[0]].done():
                result = by_index[order.popleft()].result()
                hook.file_done(result)
                yield result

        yield from finished()
        for res in self._task_results(tasks):
            state = by_index[res.job_index]
            if res.error is not None:
                log.error("%s", res.error)
                state.error = state.error or res.error
                for w in res.windows:
                    state.rows[w.index] = _empty_row(state.job, w, STATUS_ERROR, res.error)
                hook.advance(state.job, len(res.windows))
            batch.extend(res.inputs)
            while len(batch) >= self.options.batch_size:
                rest = batch[self.options.batch_size:]
                del batch[self.options.batch_size:]
                flush_batch()
                batch.extend(rest)
            yield from finished()
        if batch:
            flush_batch()
        yield from finished()


def annotate(jobs: Sequence[MediaJob], model: EmotionNet, options: RunOptions | None = None,
             hook: ProgressHook | None = None) -> Iterator[FileResult]:
    """Convenience wrapper: `Annotator(model, options).annotate(jobs, hook)`."""
    return Annotator(model, options).annotate(jobs, hook)
