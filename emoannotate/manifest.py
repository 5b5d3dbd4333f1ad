"""The resume manifest: every finished input of a run, its rows and what they depend on.

One JSON line per finished input, after a first line that says what the rows depend on
(model checksum, labels, options that change rows). It sits beside the outputs
(`.<out name>.emoannotate.jsonl`, or `.emoannotate.jsonl` in an output folder) and is
appended to, and synced, as each input finishes, so a run killed at any moment (SIGKILL
included) leaves every finished input in it. `--resume` reads it back: inputs listed with
the same path, size and modification time are not decoded again, and the outputs are
rewritten from it plus the new results, byte for byte as an uninterrupted run writes them.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .errors import OutputError
from .records import FileResult, MediaInfo, MediaJob, WindowResult
from .sinks import write_atomically
from .storage import is_url, stamp

log = logging.getLogger("emoannotate")

MANIFEST_VERSION = 1


def input_stamp(job: MediaJob) -> dict[str, Any] | None:
    """What says an input file is unchanged: resolved path, size, mtime (ns) (for a URL: `storage.stamp`);
    None for arrays or a missing file."""
    if job.arrays is not None:
        return None
    if job.url is not None:
        return stamp(job.url)
    try:
        st = job.path.stat()
    except OSError:
        return None
    return {"path": str(job.path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _encode(result: FileResult) -> dict[str, Any]:
    info = asdict(result.info) if result.info is not None else None
    if info is not None:
        info["path"] = str(info["path"])
    return {"stamp": input_stamp(result.job), "key": result.job.key, "file": result.job.name, "info": info,
            "error": result.error, "warnings": list(result.warnings),
            "windows": [asdict(w) for w in result.windows]}


def _decode(doc: dict[str, Any], job: MediaJob) -> FileResult:
    info = doc["info"]
    windows = []
    for w in doc["windows"]:
        w = dict(w)
        for key in ("probabilities", "face_box", "labels", "face_probabilities", "voice_probabilities"):
            if w.get(key) is not None:
                w[key] = tuple(w[key])
        windows.append(WindowResult(**w))
    if info:
        info = MediaInfo(**{**info, "path": info["path"] if is_url(info["path"]) else Path(info["path"])})
    return FileResult(job, info or None, windows, doc["error"], tuple(doc.get("warnings", ())))


class Manifest:
    """The manifest of one run's outputs at `path`; `run` describes what its rows depend on."""

    def __init__(self, path: str | Path, run: dict[str, Any]) -> None:
        self.path = Path(path)
        self.run = {"manifest_version": MANIFEST_VERSION, **run}
        self._stream: Any = None

    def _lines(self) -> list[str]:
        if not self.path.is_file():
            return []
        with open(self.path, encoding="utf-8") as f:
            return f.read().split("\n")

    def same_run(self) -> bool:
        """Whether the manifest on disk was written by a run whose rows these would equal."""
        lines = self._lines()
        try:
            return bool(lines) and json.loads(lines[0]) == self.run
        except json.JSONDecodeError:
            return False

    def finished(self, jobs: list[MediaJob]) -> dict[int, FileResult]:
        """Results already in the manifest for these jobs (by job index): same run, same unchanged input."""
        lines = self._lines()
        if not lines:
            return {}
        done: dict[str, dict[str, Any]] = {}
        try:
            head = json.loads(lines[0])
        except json.JSONDecodeError:
            log.warning("%s is not a manifest emoannotate can read: every input is redone", self.path)
            return {}
        if head != self.run:
            changed = sorted(k for k in set(head) | set(self.run) if head.get(k) != self.run.get(k))
            log.warning("the model or options changed since %s was written (%s): every input is redone",
                        self.path, ", ".join(changed))
            return {}
        for line in lines[1:]:
            try:
                doc = json.loads(line)
            except json.JSONDecodeError:
                continue  # the line a kill cut short (or the empty last one)
            if doc.get("stamp"):
                done[doc["stamp"]["path"]] = doc  # a later line for one input replaces an earlier one
        out = {}
        for job in jobs:
            stamp = input_stamp(job)
            doc = done.get(stamp["path"]) if stamp else None
            if doc is not None and doc["stamp"] == stamp and doc["key"] == job.key:
                out[job.index] = _decode(doc, job)
        return out

    def open(self, *, keep: bool) -> None:
        """Start writing: append to the manifest when `keep` (a resumed run of the same kind), else start anew."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not (keep and self.path.is_file()):
                write_atomically(self.path, (json.dumps(self.run) + "\n").encode())
            self._stream = open(self.path, "a", encoding="utf-8")
        except OSError as err:
            raise OutputError(f"cannot write {self.path}: {err.strerror or err}") from err

    def add(self, result: FileResult) -> None:
        """Record a finished input (after its outputs were written); on disk before this returns."""
        if self._stream is None or input_stamp(result.job) is None:
            return
        line = json.dumps(_encode(result), ensure_ascii=False) + "\n"
        try:
            self._stream.write(line)
            self._stream.flush()
            os.fsync(self._stream.fileno())
        except OSError as err:
            raise OutputError(f"cannot write {self.path}: {err.strerror or err}") from err

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
