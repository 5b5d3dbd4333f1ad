"""Every training clip's window inputs, computed once by `extract.extract_clip` and cached on disk."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from ..checkpoint import current_preprocessing
from ..datasets import Sample
from ..extract import extract_clip
from ..hooks import NULL_HOOK, ProgressHook
from ..records import Window, WindowInput

log = logging.getLogger("emoannotate")

CACHE_VERSION = 2  # bump when what is cached per sample changes (2: extract.extract_clip, one path with `run`)


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/emoannotate/features, or ~/.cache/emoannotate/features."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "emoannotate" / "features"


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """np.savez under a temporary name, then renamed: a killed run never leaves half a cache entry."""
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    tmp.replace(path)


def sample_inputs(sample: Sample) -> WindowInput:
    """The window inputs of one training sample (its first window), exactly as `run` computes them."""
    return extract_clip(video=sample.video, audio=sample.audio, faces_dir=sample.faces_dir)


def sample_key(sample: Sample) -> str:
    """The cache key of a sample: the cache version, the preprocessing and its media files (path, size, mtime)."""
    parts = [str(CACHE_VERSION), json.dumps(current_preprocessing(), sort_keys=True)]
    for p in (sample.video, sample.audio, sample.faces_dir):
        if p is None:
            parts.append("-")
            continue
        st = p.stat()
        parts.append(f"{p.resolve()}|{st.st_size}|{int(st.st_mtime)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


class FeatureCache:
    """Per-sample `WindowInput`s on disk under `root` (one .npz per sample)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, sample: Sample) -> Path:
        return self.root / f"{sample_key(sample)}.npz"

    def load(self, sample: Sample) -> WindowInput | None:
        p = self._path(sample)
        if not p.is_file():
            return None
        with np.load(p) as z:
            start, end, partial = z["window"].tolist()
            box = tuple(float(v) for v in z["face_box"]) if "face_box" in z else None
            return WindowInput(0, Window(0, float(start), float(end), bool(partial)),
                               z["faces"] if "faces" in z else None, z["face_mask"],
                               box, int(z["max_faces"]), z["audio"] if "audio" in z else None)  # type: ignore[arg-type]

    def save(self, sample: Sample, x: WindowInput) -> None:
        w = x.window
        arrays = {"face_mask": x.face_mask, "window": np.array([w.start_s, w.end_s, float(w.partial)]),
                  "max_faces": np.array(x.max_faces)}
        if x.faces is not None:
            arrays["faces"] = x.faces
        if x.face_box is not None:
            arrays["face_box"] = np.array(x.face_box)
        if x.audio is not None:
            arrays["audio"] = x.audio
        save_npz(self._path(sample), **arrays)

    def get_all(self, samples: Sequence[Sample], *, workers: int = 0, hook: ProgressHook = NULL_HOOK
                ) -> list[WindowInput]:
        """Inputs of every sample, computing (audio-only ones in `workers` processes) what is not cached.

        A sample whose media cannot be read is logged and gets no modality (it is dropped
        by the caller), so one bad file does not stop training.
        """
        out: list[WindowInput | None] = [self.load(s) for s in samples]
        todo = [i for i, x in enumerate(out) if x is None]
        done = len(samples) - len(todo)
        hook.step("features", done, len(samples))
        # Video samples need MTCNN (kept in this process); audio-only ones parallelise well.
        video_todo = [i for i in todo if samples[i].video is not None and samples[i].faces_dir is None]
        other_todo = [i for i in todo if i not in set(video_todo)]

        def finish(i: int, x: WindowInput | Exception) -> None:
            nonlocal done
            if isinstance(x, Exception):
                log.error("%s: skipped (%s)", samples[i].video or samples[i].audio or samples[i].faces_dir, x)
                x = WindowInput.empty()
            else:
                self.save(samples[i], x)
            out[i] = x
            done += 1
            hook.step("features", done, len(samples))

        def compute_all(indices: list[int]) -> None:
            for i in indices:
                try:
                    finish(i, sample_inputs(samples[i]))
                except Exception as err:  # noqa: BLE001 - reported and skipped
                    finish(i, err)

        compute_all(video_todo)
        if workers > 0 and len(other_todo) > 1:
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
                futures = {pool.submit(sample_inputs, samples[i]): i for i in other_todo}
                for fut in futures:
                    try:
                        finish(futures[fut], fut.result())
                    except Exception as err:  # noqa: BLE001
                        finish(futures[fut], err)
        else:
            compute_all(other_todo)
        return [x if x is not None else WindowInput.empty() for x in out]


def cached_inputs(samples: Sequence[Sample], cache_dir: str | Path | None = None, *, workers: int = 0,
                  hook: ProgressHook = NULL_HOOK) -> list[WindowInput]:
    """Every sample's inputs through the on-disk cache (default `default_cache_dir()`)."""
    return FeatureCache(cache_dir or default_cache_dir()).get_all(samples, workers=workers, hook=hook)
