"""Read `run`'s outputs back: a CSV, JSON or JSONL file of window rows -> FileResults.

The inverse of `writers.row_to_dict` for the three row formats: every cell is typed by its
column (times, probabilities and the box as float, window and face counts as int, `person` as
int or None, `agreement`, `speaking` and `partial` as bool or None, text as str or None), so
the three files of one run read back to equal records, and `row_to_dict` of a record read back
gives the row that was written.

    >>> results, labels = read_results("results.csv")   # one FileResult per file, in file order
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import InputError
from .records import FileResult, MediaJob, WindowResult
from .writers import LEADING_COLUMNS, MODALITY_COLUMNS, TRAILING_COLUMNS

__all__ = ["READ_FORMATS", "read_results", "row_from_dict"]

READ_FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl"}
_INT = {"window", "face_frames", "max_faces", "person"}
_BOOL = {"agreement", "speaking", "partial"}
_TEXT = {"file", "emotion", "face_emotion", "voice_emotion", "modalities", "status", "error"}
_REQUIRED = ("file", "window", "start_s", "end_s", "status")


def read_results(path: str | Path) -> tuple[list[FileResult], tuple[str, ...]]:
    """The rows of a CSV/JSON/JSONL output of `run` as one FileResult per file (in the order the
    files first appear) and the model's labels (from the p_* columns).

    Raises InputError, naming the file and the fix, when it is missing, of another format, a
    segments file (`--segments`), or lacks the columns rows have.
    """
    path = Path(path)
    fmt = READ_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: not an output of run (.csv, .json or .jsonl); give one of those")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            raw = list(_raw_rows(fh, fmt, path))
    except (UnicodeDecodeError, json.JSONDecodeError, csv.Error) as err:
        raise InputError(f"{path}: cannot be read as {fmt.upper()} ({err})") from None
    if not raw:
        raise InputError(f"{path}: holds no rows")
    keys = set(raw[0])
    if "window" not in keys and "first_window" in keys:
        raise InputError(f"{path}: holds segments (run --segments); a report needs the window rows: run without "
                         "--segments, or give its other output")
    missing = [c for c in _REQUIRED if c not in keys]
    if missing:
        raise InputError(f"{path}: not an output of run: no column {', '.join(missing)}")
    labels = _labels(raw[0])
    by_file: dict[str, list[WindowResult]] = {}
    for n, row in enumerate(raw, 1):
        try:
            record = row_from_dict(row, labels)
        except (TypeError, ValueError) as err:
            raise InputError(f"{path}: row {n}: {err}") from None
        by_file.setdefault(record.file, []).append(record)
    results = [FileResult(MediaJob(i, Path(name), str(i)), None, rows,
                          error=next((r.error for r in rows if r.status == "error" and r.error), None))
               for i, (name, rows) in enumerate(by_file.items())]
    return results, labels


def _raw_rows(fh: Iterable[str], fmt: str, path: Path) -> Iterator[dict[str, Any]]:
    if fmt == "csv":
        yield from csv.DictReader(fh)
    elif fmt == "jsonl":
        for line in fh:
            if line.strip():
                yield json.loads(line)
    else:
        doc = json.load(fh)  # type: ignore[arg-type]
        files = doc.get("files") if isinstance(doc, dict) else None
        if not isinstance(files, list):
            raise InputError(f"{path}: not a JSON output of run (no \"files\" list)")
        for f in files:
            if "segments" in f and "windows" not in f:
                raise InputError(f"{path}: holds segments (run --segments); a report needs the window rows: "
                                 "run without --segments, or give its other output")
            yield from f.get("windows", [])


def _labels(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(c[2:] for c in row if c.startswith("p_") and not c.startswith(("p_face_", "p_voice_")))


def _cell(column: str, value: Any) -> Any:
    """One cell, typed by its column; "" (CSV) and None are missing."""
    if value is None or value == "":
        return None
    if column in _TEXT:
        return str(value)
    if column in _BOOL:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in ("true", "false"):
            raise ValueError(f"{column}: {value!r} is not true or false")
        return text == "true"
    if column in _INT:
        return int(value)
    return float(value)


def _probabilities(row: dict[str, Any], prefix: str, labels: Sequence[str]) -> tuple[float, ...] | None:
    values = [_cell("p", row.get(f"{prefix}{label}")) for label in labels]
    return None if any(v is None for v in values) else tuple(values)


def row_from_dict(row: dict[str, Any], labels: Sequence[str]) -> WindowResult:
    """The record of one output row (a dict of `writers.columns`, as CSV text or JSON values)."""
    known = set(LEADING_COLUMNS) | set(MODALITY_COLUMNS) | set(TRAILING_COLUMNS)
    v = {c: _cell(c, row.get(c)) for c in known}
    box = (v["face_x1"], v["face_y1"], v["face_x2"], v["face_y2"])
    return WindowResult(
        file=v["file"] or "", window=v["window"], start_s=v["start_s"], end_s=v["end_s"],
        emotion=v["emotion"], confidence=v["confidence"],
        probabilities=_probabilities(row, "p_", labels),
        modalities=v["modalities"] or "none", face_frames=v["face_frames"] or 0,
        face_box=None if any(b is None for b in box) else box,  # type: ignore[arg-type]
        max_faces=v["max_faces"] or 0, partial=bool(v["partial"]), status=v["status"], error=v["error"] or "",
        labels=tuple(labels), person=v["person"], speaking=v["speaking"], speaking_score=v["speaking_score"],
        face_emotion=v["face_emotion"], face_confidence=v["face_confidence"],
        face_probabilities=_probabilities(row, "p_face_", labels),
        voice_emotion=v["voice_emotion"], voice_confidence=v["voice_confidence"],
        voice_probabilities=_probabilities(row, "p_voice_", labels))
