"""Inputs -> windows -> extraction tasks (executor) -> batched model -> rows, per input, in order.

Extraction runs in worker processes, a few windows per task, while this process runs the
model on batches that span inputs. Rows are routed back by (input, window index) and each
input's result is yielded, in input order, once all its windows have been through the
model (at the latest one batch later), so writers can stream and a crash keeps finished
inputs.
"""

from __future__ import annotations

import copy
import functools
import logging
import math
import os
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from .constants import FACE_MODES, FACES_ALL, FACES_SPEAKER, FRAMES_PER_WINDOW, MIN_WINDOW_SECONDS, WINDOW_SECONDS
from .device import resolve_device, torch_threads
from .errors import EmoannotateError, InputError
from .executor import Task, TaskResult, run_tasks
from .featuriser import Featuriser
from .heap import release_memory
from .hooks import NULL_HOOK, ProgressHook
from .media import probe_source
from .model.net import EmotionNet
from .people import PersonLinker
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
from .speaking import is_speaking
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
    faces:          whose face a window reads: "speaker" (the person speaking, default), "largest"
                    (the largest face of each frame), "all" (a row per person per window).
    ray:            run on this Ray cluster ("local", "auto" or an address; `cluster`): extraction as
                    Ray tasks on its CPUs, the model in Ray actors (on its GPUs when it has them).
    """

    hop_s: float = WINDOW_SECONDS
    min_window_s: float = MIN_WINDOW_SECONDS
    batch_size: int = 32
    device: str = "auto"
    workers: int | None = None
    threads: int | None = None
    amp: bool = True
    chunk_windows: int | None = None
    faces: str = FACES_SPEAKER
    ray: str | None = None

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
        if self.faces not in FACE_MODES:
            raise bad("faces", f"one of {', '.join(FACE_MODES)}", repr(self.faces))
        if self.ray is not None and not self.ray.strip():
            raise bad("ray", '"local", "auto" or a cluster address', repr(self.ray))
        if self.hop_s > WINDOW_SECONDS + 1e-9:
            log.warning("hop %.2f s is longer than the %.1f s window: %.2f s between windows are not annotated",
                        self.hop_s, WINDOW_SECONDS, self.hop_s - WINDOW_SECONDS)


@dataclass
class _InputState:
    """Rows of one input as they arrive; complete when every planned window has its row."""

    job: MediaJob
    info: MediaInfo | None
    expected: int
    rows: dict[int, list[WindowResult]] = field(default_factory=dict)  # window -> its rows (one per person)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    people: PersonLinker = field(default_factory=PersonLinker)

    def done(self) -> bool:
        return len(self.rows) >= self.expected

    def result(self) -> FileResult:
        return FileResult(self.job, self.info, [r for i in sorted(self.rows) for r in self.rows[i]], self.error,
                          tuple(dict.fromkeys(self.warnings)))


def empty_row(job: MediaJob, window: Window, status: str, *, error: str = "", face_frames: int = 0,
              max_faces: int = 0) -> WindowResult:
    """A row without a prediction (too short, no signal, error)."""
    return WindowResult(job.name, window.index, window.start_s, window.end_s, None, None, None, MOD_NONE,
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

    def tasks(self, workers: int, chunk_windows: int | None = None, faces: str = FACES_SPEAKER) -> list[Task]:
        """The extraction tasks: each input's windows cut into contiguous spans (`span_windows`)."""
        tasks = []
        for s in self.states:
            todo = self.todo.get(s.job.index, [])
            if not todo or s.info is None:
                continue
            span = span_windows(len(todo), workers, chunk_windows)
            for i in range(0, len(todo), span):
                tasks.append(Task(s.job.index, s.job.source, tuple(todo[i:i + span]), s.info.has_video,
                                  s.info.has_audio, faces))
        return tasks


def plan(jobs: Sequence[MediaJob], options: RunOptions) -> Plan:
    """Probe every input and cut it into windows; an unreadable input gets its error row now."""
    states, todos = [], {}
    for job in jobs:
        try:
            info = probe_source(job.source)
            windows = plan_windows(info.duration_s, hop_s=options.hop_s)
            if not windows:
                raise InputError(f"{job.name}: no audio or video to annotate (duration {info.duration_s:.2f} s)")
        except EmoannotateError as err:
            log.error("%s", err)
            state = _InputState(job, None, 1, error=str(err))
            state.rows[0] = [empty_row(job, Window(0, 0.0, 0.0), STATUS_ERROR, error=str(err))]
            states.append(state)
            continue
        state = _InputState(job, info, len(windows))
        todo = []
        for w in windows:
            if is_too_short(w, options.min_window_s):
                state.rows[w.index] = [empty_row(job, w, STATUS_TOO_SHORT)]
            else:
                todo.append(w)
        todos[job.index] = todo
        states.append(state)
    return Plan(states, todos)


@dataclass(frozen=True, eq=False)
class _View:
    """One row's worth of a window: the inputs the model reads for one person (or for the window, without
    people), who that is, and whether they speak."""

    input: WindowInput
    person: int | None
    speaking: bool | None
    score: float | None = None


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
        self.featuriser = Featuriser(self.model, self.device, self.options.amp)

    def predict(self, inputs: Sequence[WindowInput]) -> np.ndarray:
        """Probabilities (len(inputs), n_labels) of face and voice together, for windows that each have a
        modality."""
        return self.predict_modalities(inputs)[0]

    def predict_modalities(self, inputs: Sequence[WindowInput]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probabilities (len(inputs), n_labels) of face and voice together, of the face alone and of the
        voice alone (NaN rows where a window lacks it; `EmotionNet.predict_modalities`)."""
        b = len(inputs)
        if b == 0:
            empty = np.zeros((0, len(self.labels)), np.float32)
            return empty, empty, empty
        face_mask = torch.from_numpy(np.stack([x.face_mask if x.has_video else np.zeros(FRAMES_PER_WINDOW, bool)
                                               for x in inputs]))
        audio_mask = torch.tensor([x.has_audio for x in inputs])
        shape = next((x.audio.shape for x in inputs if x.audio is not None), (self.model.config.n_audio_features, 1))
        audio = torch.from_numpy(np.stack([x.audio if x.audio is not None else np.zeros(shape, np.float32)
                                           for x in inputs]))  # (B, 181, 156) float32
        dev = self.device
        try:
            with self.featuriser.inference():
                feats = self.featuriser.window_features(inputs)  # (B, T, F) or None
                probs = self.model.predict_modalities_features(
                    None if feats is None else feats.to(dev), face_mask.to(dev), audio.to(dev, non_blocking=True),
                    audio_mask.to(dev))
        except torch.cuda.OutOfMemoryError as err:
            raise EmoannotateError(f"the GPU ran out of memory at batch size {b}; "
                                   f"try a batch size of {max(1, b // 2)} (--batch-size)") from err
        fused, face, voice = (p.float().cpu().numpy() for p in probs)
        return fused, face, voice

    def featurise(self, inputs: Sequence[WindowInput]) -> list[WindowInput]:
        """`inputs` with each chosen face's crops replaced by the backbone's features of them (`Featuriser`)."""
        return self.featuriser(inputs)

    def rows(self, items: Sequence[tuple[MediaJob, WindowInput, list[int]]]) -> list[list[WindowResult]]:
        """The rows of windows, each given with its input and its people's person ids (`PersonLinker`),
        in one model batch: per window one row, or with faces="all" one per person (in person order)."""
        views = [(i, v) for i, (_, x, ids) in enumerate(items) for v in self._views(x, ids)]
        ready = [v for _, v in views if v.input.has_video or v.input.has_audio]
        probs = self.predict_modalities([v.input for v in ready])
        by_view = {id(v): k for k, v in enumerate(ready)}
        out: list[list[WindowResult]] = [[] for _ in items]
        for i, v in views:
            k = by_view.get(id(v))
            out[i].append(self._row(items[i][0], v, None if k is None else tuple(p[k] for p in probs)))
        return out

    def _views(self, x: WindowInput, person_ids: list[int]) -> list[_View]:
        """What the model reads of one window: its chosen face (with the voice), and with `--faces all`
        every other person's face alone as well, in person order."""
        speaker = x.speaker
        if not x.people or speaker is None:
            return [_View(x, None, None)]
        score = x.people[speaker].speaking_score
        talking = is_speaking(score) if x.has_audio else None
        views = [_View(x, person_ids[speaker], talking, score)]
        if self.options.faces == FACES_ALL:
            for k, p in enumerate(x.people):
                if k == speaker or p.crops is None:
                    continue
                alone = replace(x, faces=p.crops, face_mask=p.face_mask, face_box=p.representative_box(), audio=None,
                                face_features=None)
                views.append(_View(alone, person_ids[k], False if x.has_audio else None, p.speaking_score))
            views.sort(key=lambda v: v.person or 0)
        return views

    def _row(self, job: MediaJob, view: _View, p: tuple[np.ndarray, np.ndarray, np.ndarray] | None
             ) -> WindowResult:
        """The row of one view of a window: its probabilities `p` (fused, face alone, voice alone; each
        (n_labels,), NaN where missing), or no_signal without them."""
        x = view.input
        w, face_frames = x.window, int(x.face_mask.sum())
        if p is None:
            return empty_row(job, w, STATUS_NO_SIGNAL, face_frames=face_frames, max_faces=x.max_faces)
        fused, face, voice = p

        def top(q: np.ndarray) -> tuple[str | None, float | None, tuple[float, ...] | None]:
            if not np.isfinite(q).all():
                return None, None, None
            k = int(np.argmax(q))
            return self.labels[k], float(q[k]), tuple(float(v) for v in q)

        best = int(np.argmax(fused))
        status = STATUS_OK if x.has_video and x.has_audio else STATUS_NO_AUDIO if x.has_video else STATUS_NO_FACE
        face_top, voice_top = top(face), top(voice)
        score = view.score if view.score is not None and math.isfinite(view.score) else None
        return WindowResult(job.name, w.index, w.start_s, w.end_s, self.labels[best], float(fused[best]),
                            tuple(float(v) for v in fused), x.modalities, face_frames, x.face_box, x.max_faces,
                            w.partial, status, labels=self.labels, person=view.person, speaking=view.speaking,
                            speaking_score=score, face_emotion=face_top[0], face_confidence=face_top[1],
                            face_probabilities=face_top[2], voice_emotion=voice_top[0],
                            voice_confidence=voice_top[1], voice_probabilities=voice_top[2])

    def _actor_factory(self, on_gpu: bool) -> functools.partial:
        """What a model actor builds: an Annotator of this model, on its GPU or CPU (`cluster.ModelPool`)."""
        options = replace(self.options, device="cuda" if on_gpu else "cpu", ray=None, threads=None)
        model = self.model if self.device.type == "cpu" else copy.deepcopy(self.model).cpu()  # any node loads it
        return functools.partial(Annotator, model, options)

    def _n_workers(self, n_windows: int) -> int:
        w = self.options.workers
        if w is None:  # a worker costs a second or more to start: only worth it for real work
            w = min(os.cpu_count() or 1, MAX_AUTO_WORKERS) if n_windows >= AUTO_WORKERS_MIN_WINDOWS else 0
        return w

    def annotate(self, jobs: Sequence[MediaJob], hook: ProgressHook | None = None
                 ) -> Generator[FileResult, None, None]:
        """Annotate every input; yield each one's result, in input order, as soon as it is complete."""
        if self.options.ray is None:
            yield from self._annotate(jobs, hook, None)
            return
        from .cluster import session

        with session(self.options.ray) as cpus:  # a cluster this run started stops with it
            yield from self._annotate(jobs, hook, cpus)

    def _annotate(self, jobs: Sequence[MediaJob], hook: ProgressHook | None, cluster_cpus: int | None
                  ) -> Generator[FileResult, None, None]:
        hook = hook or NULL_HOOK
        planned = plan(jobs, self.options)
        # on a cluster: a span per CPU of it
        n_workers = cluster_cpus if cluster_cpus is not None else self._n_workers(planned.n_windows)
        tasks = planned.tasks(max(1, n_workers), self.options.chunk_windows, self.options.faces)
        n_workers = min(n_workers, len(tasks))
        states = planned.states
        by_index = {s.job.index: s for s in states}
        hook.planned(list(jobs), sum(s.expected for s in states))
        for s in states:
            if s.rows:
                hook.advance(s.job, len(s.rows))
        order = deque(s.job.index for s in states)
        batch: list[WindowInput] = []

        persons: dict[int, list[int]] = {}  # id(window input) -> person ids of its people

        def arrived(x: WindowInput) -> None:
            persons[id(x)] = by_index[x.job_index].people.link(x) if x.people else []

        in_flight: deque[tuple[list[WindowInput], Any]] = deque()  # batches a model actor is on (with --ray)

        def flush(chunk: list[WindowInput]) -> None:
            items = [(by_index[x.job_index].job, x, persons.pop(id(x), [])) for x in chunk]
            if pool is None:
                settle(chunk, self.rows(items))
                return
            in_flight.append((chunk, pool.submit("rows", items)))
            while len(in_flight) > len(pool):  # a batch per actor on its way, no more
                collect()

        def collect() -> None:
            chunk, ref = in_flight.popleft()
            assert pool is not None
            settle(chunk, pool.get(ref))

        def settle(chunk: list[WindowInput], rows: list[list[WindowResult]]) -> None:
            for x, r in zip(chunk, rows):
                by_index[x.job_index].rows[x.window.index] = r
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
                state.rows[w.index] = [empty_row(state.job, w, STATUS_ERROR, error=res.error or "")]
            hook.advance(state.job, len(res.windows))

        yield from finished()
        detector_device = "cuda" if self.device.type == "cuda" else "cpu"
        threads = self.options.threads
        pool = None
        if self.options.ray is not None:
            from .cluster import ModelPool, run_tasks_on_ray

            assert cluster_cpus is not None  # annotate() opened the session
            results = run_tasks_on_ray(tasks, cpus=cluster_cpus)
            pool = ModelPool(self._actor_factory)
        else:
            on_cpu = self.device.type == "cpu"  # workers then send the backbone's features of the crops
            results = run_tasks(tasks, workers=n_workers, detector_device=detector_device, model_threads=threads,
                                featurise=self.featuriser if on_cpu else None)
        with torch_threads(threads), closing(results) as task_results, \
                closing(pool) if pool is not None else nullcontext():
            for res in task_results:
                if res.warning:
                    by_index[res.job_index].warnings.append(res.warning)
                if res.error is not None:
                    failed(res)
                if pool is None:  # crops not yet featurised go now, their features wait for the batch
                    res.inputs = self.featurise(res.inputs)  # (Ray's model actors take crops)
                for x in res.inputs:  # in window order: each input's tasks come back in order
                    arrived(x)
                batch.extend(res.inputs)
                while len(batch) >= self.options.batch_size:
                    flush(batch[:self.options.batch_size])
                    del batch[:self.options.batch_size]
                    release_memory()  # the batch's crops and activations are freed: give their pages back
                yield from finished()
            if batch:
                flush(batch)
            while in_flight:
                collect()
        yield from finished()
