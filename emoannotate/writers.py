"""Result writers: the base that owns a destination, and the row formats (CSV, JSON, JSONL).

Subtitles (SRT, WebVTT) are in `subtitles`, the factory and the set of outputs of one run
in `outputs`.

The base `ResultWriter` owns everything about the destination: the path or stdout ("-"),
the encoding (UTF-8), the never-overwrite check, flushing and closing. Each subclass only
turns records into text. Usage, streaming one file at a time as the pipeline finishes it:

    writer = outputs.get_writer("csv", model="efficientface-tfusion")
    writer.check_outputs("out.csv", jobs, overwrite=False)   # before any work starts
    with writer.open("out.csv"):
        for file_result in results:
            writer.write_file(file_result)

CSV and JSONL append each input's rows in one write as soon as `write_file` is called, so a
crash keeps every finished input. JSON is one document, rewritten atomically after each
input, so it too is valid after every finished input, whatever stops the run. Per-input
files are written under a temporary name and renamed. A write that fails (a full disk)
raises OutputError and leaves what was written before it intact.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from . import __version__
from .constants import EMOTIONS
from .errors import InputError
from .records import FileResult, MediaJob, WindowResult
from .segments import Segment, merge
from .sinks import AppendFile, Stdout, make_dir, write_atomically

STDOUT = "-"  # the output path that means standard output

TIME_DECIMALS = 3  # seconds rounded to ms
PROB_DECIMALS = 4  # probabilities and confidence
BOX_DECIMALS = 1  # face box, source-frame pixels

# Columns around the per-label probabilities, in output order.
LEADING_COLUMNS = ("file", "window", "start_s", "end_s", "person", "emotion", "confidence")
# What each modality says alone, and who speaks (after the fused probabilities).
MODALITY_COLUMNS = ("face_emotion", "face_confidence", "voice_emotion", "voice_confidence", "agreement",
                    "speaking", "speaking_score")
TRAILING_COLUMNS = (
    "modalities",
    "face_frames",
    "face_x1",
    "face_y1",
    "face_x2",
    "face_y2",
    "max_faces",
    "partial",
    "status",
    "error",
)

__all__ = [
    "STDOUT",
    "CsvWriter",
    "JsonWriter",
    "JsonlWriter",
    "ResultWriter",
    "check_can_write",
    "columns",
    "format_timestamp",
    "row_to_dict",
    "unique_output_paths",
]


# --- Rows -------------------------------------------------------------------------------


SEGMENT_COLUMNS = ("file", "person", "start_s", "end_s", "emotion", "confidence", "windows", "first_window",
                   "speaking")


def segment_to_dict(segment: Segment) -> dict[str, Any]:
    """One segment as an ordered dict of SEGMENT_COLUMNS (rounded as rows are)."""
    return {"file": segment.file, "person": segment.person, "start_s": _rounded(segment.start_s, TIME_DECIMALS),
            "end_s": _rounded(segment.end_s, TIME_DECIMALS), "emotion": segment.emotion,
            "confidence": _rounded(segment.confidence, PROB_DECIMALS), "windows": segment.windows,
            "first_window": segment.first_window, "speaking": segment.speaking}


def columns(labels: Sequence[str] = EMOTIONS, modality_probabilities: bool = False) -> list[str]:
    """The output columns (CSV header, JSON row keys) for a model with these labels; with
    `modality_probabilities` also each label's probability from the face alone and the voice alone
    (p_face_*, p_voice_*)."""
    alone = [f"p_{m}_{label}" for m in ("face", "voice") for label in labels] if modality_probabilities else []
    return [*LEADING_COLUMNS, *(f"p_{label}" for label in labels), *MODALITY_COLUMNS, *alone, *TRAILING_COLUMNS]


def _rounded(value: float | None, decimals: int) -> float | None:
    """`value` rounded, or None when it is missing or not finite (NaN is not JSON)."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), decimals)


def row_to_dict(row: WindowResult, labels: Sequence[str] = EMOTIONS, modality_probabilities: bool = False
                ) -> dict[str, Any]:
    """One window as an ordered dict of `columns(labels, modality_probabilities)`; missing values are None.

    Times are rounded to 3 decimals (ms), probabilities and confidence to 4, the face box
    to 1 (pixels). An empty `error` becomes None. Raises ValueError when the row has
    probabilities for labels other than `labels` (a writer serves one model).
    """
    if row.probabilities is not None:
        if tuple(row.labels) != tuple(labels):
            raise ValueError(
                f"{row.file} window {row.window}: labels {row.labels} do not match the "
                f"writer's labels {tuple(labels)}"
            )
        if len(row.probabilities) != len(labels):
            raise ValueError(
                f"{row.file} window {row.window}: {len(row.probabilities)} probabilities "
                f"for {len(labels)} labels"
            )
        probs = [_rounded(p, PROB_DECIMALS) for p in row.probabilities]
    else:
        probs = [None] * len(labels)
    box = row.face_box if row.face_box is not None else (None, None, None, None)

    values: list[Any] = [
        row.file,
        int(row.window),
        _rounded(row.start_s, TIME_DECIMALS),
        _rounded(row.end_s, TIME_DECIMALS),
        row.person,
        row.emotion,
        _rounded(row.confidence, PROB_DECIMALS),
        *probs,
        row.face_emotion,
        _rounded(row.face_confidence, PROB_DECIMALS),
        row.voice_emotion,
        _rounded(row.voice_confidence, PROB_DECIMALS),
        row.agreement,
        row.speaking,
        _rounded(row.speaking_score, PROB_DECIMALS),
        *([_rounded(p, PROB_DECIMALS) for p in (row.face_probabilities or [None] * len(labels))]
          + [_rounded(p, PROB_DECIMALS) for p in (row.voice_probabilities or [None] * len(labels))]
          if modality_probabilities else []),
        row.modalities,
        int(row.face_frames),
        *(_rounded(v, BOX_DECIMALS) for v in box),
        int(row.max_faces),
        bool(row.partial),
        row.status,
        row.error or None,
    ]
    return dict(zip(columns(labels, modality_probabilities), values, strict=True))


def _csv_cell(value: Any) -> str:
    """A JSON-ready value as CSV text: None is an empty cell, booleans are true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _csv_line(cells: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([_csv_cell(c) for c in cells])
    return buffer.getvalue()


def format_timestamp(seconds: float) -> str:
    """Seconds as an SRT timestamp, HH:MM:SS,mmm (3.6 -> "00:00:03,600")."""
    if seconds < 0:
        raise ValueError(f"negative timestamp: {seconds}")
    total_ms = round(seconds * 1000)
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{ms:03d}"


# --- Paths ------------------------------------------------------------------------------


def check_can_write(path: str | Path, overwrite: bool) -> None:
    """Raise InputError when writing `path` would replace something ("-" is always fine).

    An existing file is refused unless `overwrite`; an existing directory always is.
    """
    if str(path) == STDOUT:
        return
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a directory; choose a file name for this output")
    if path.exists() and not overwrite:
        raise InputError(
            f"{path} already exists; pass --overwrite to replace it, or choose another path"
        )


def unique_output_paths(
    jobs: Iterable[MediaJob], out_dir: str | Path, suffix: str
) -> dict[MediaJob, Path]:
    """One output path per job: `out_dir / f"{job.key}{suffix}"` (e.g. suffix ".srt").

    `job.key` is unique per job (two inputs with one stem get different keys), so the
    paths are too; a collision anyway is a bug upstream and raises ValueError.
    """
    out_dir = Path(out_dir)
    paths: dict[MediaJob, Path] = {}
    owners: dict[Path, MediaJob] = {}
    for job in jobs:
        path = out_dir / f"{job.key}{suffix}"
        if path in owners:
            raise ValueError(
                f"{owners[path].name} and {job.name} would both be written to {path}"
            )
        owners[path] = job
        paths[job] = path
    return paths


# --- Destinations -------------------------------------------------------------------------


class ResultWriter:
    """Base of the writers: owns the destination and the encoding; subclasses only format.

    Subclasses set `format` and `extension` and override `header()`, `format_file(result)`
    and `footer()`, each returning text. The destination is one of:

    - one file (or "-" for stdout) that grows by each input's rows as it finishes (CSV, JSONL);
    - one document (`document` formats, JSON) rewritten whole, atomically, after each input,
      so it is valid after every finished input, whatever stops the run;
    - one file per input (`per_file`: SRT, VTT, and CSV/JSON/JSONL with `per_input`) in a
      folder, each written under a temporary name and renamed.
    """

    format: ClassVar[str] = ""
    extension: ClassVar[str] = ""
    document: ClassVar[bool] = False  # the output is one document of every input (JSON)
    per_file: bool = False  # class default; an instance may override it (per_input)

    def __init__(self, *, model: str = "", labels: Sequence[str] | None = None, per_input: bool | None = None,
                 segments: bool = False, modality_probabilities: bool = False):
        if per_input is not None:
            self.per_file = per_input  # CSV/JSON/JSONL: one file per input in a directory (--output-dir)
        self.segments = segments  # write segments (a person's consecutive windows of one emotion), not windows
        self.modality_probabilities = modality_probabilities  # rows also carry p_face_* and p_voice_*
        self.model = model
        self.labels: tuple[str, ...] = tuple(labels) if labels is not None else EMOTIONS
        self._target: str | Path | None = None
        self._overwrite = False
        self._sink: AppendFile | Stdout | None = None
        self._files_written = 0
        self._closed = False

    # -- formatting hooks ------------------------------------------------------------
    def header(self) -> str:
        """Text that opens the output (or each per-file output)."""
        return ""

    def format_file(self, result: FileResult) -> str:
        """Text for one input file's rows (a `document` writer keeps them and returns "")."""
        raise NotImplementedError

    def footer(self) -> str:
        """Text that ends the output (or each per-file output)."""
        return ""

    def _reset(self) -> None:
        """Forget the inputs kept for a document (after one per-input document is written)."""

    # -- destination -----------------------------------------------------------------
    def _single_target(self, target: str | Path) -> bool:
        """For per-file writers: is `target` "-" or one file, rather than a directory?"""
        return str(target) == STDOUT or Path(target).suffix.lower() == self.extension.lower()

    def output_paths(self, target: str | Path, jobs: Sequence[MediaJob]) -> list[Path]:
        """The files that writing `jobs` to `target` would create (none for "-")."""
        if str(target) == STDOUT:
            return []
        if not self.per_file or self._single_target(target):
            return [Path(target)]
        return list(unique_output_paths(jobs, target, self.extension).values())

    def check_outputs(self, target: str | Path, jobs: Sequence[MediaJob], *, overwrite: bool = False) -> None:
        """Raise InputError now, before any work, if writing `jobs` to `target` would fail."""
        if self.per_file and self._single_target(target) and len(jobs) > 1:
            where = "standard output" if str(target) == STDOUT else str(target)
            raise InputError(
                f"{self.format.upper()} makes one file per input, and {len(jobs)} inputs "
                f"cannot all go to {where}; give a directory instead"
            )
        if self.per_file and not self._single_target(target) and Path(target).exists() \
                and not Path(target).is_dir():
            raise InputError(f"{target} is a file; {self.format.upper()} output needs a directory")
        for path in self.output_paths(target, jobs):
            check_can_write(path, overwrite)

    # -- public API ------------------------------------------------------------------
    def open(self, target: str | Path, *, overwrite: bool = False) -> ResultWriter:
        """Start writing to `target` (a path, or "-" for stdout); returns self.

        Refuses (InputError) to replace an existing file unless `overwrite`.
        """
        if self._target is not None:
            raise RuntimeError(f"this {type(self).__name__} is already open")
        self._target, self._overwrite = target, overwrite
        if self.per_file:
            if not self._single_target(target):
                if Path(target).exists() and not Path(target).is_dir():
                    raise InputError(f"{target} is a file; {self.format.upper()} output needs a directory")
                make_dir(Path(target))
            elif str(target) != STDOUT:
                check_can_write(target, overwrite)
        elif str(target) == STDOUT:
            self._sink = Stdout()
            if not self.document:
                self._sink.append(self.header())
        else:
            check_can_write(target, overwrite)  # fail now, not after the whole run
            make_dir(Path(target).parent)
            if self.document:
                self._rewrite()
            else:
                self._sink = AppendFile(Path(target))
                self._sink.append(self.header())
        return self

    def write_file(self, result: FileResult) -> None:
        """Write all rows of one input (a document: rewrite it with them)."""
        if self._target is None or self._closed:
            raise RuntimeError(f"open this {type(self).__name__} before writing")
        if self.per_file:
            self._write_own_output(result)
        elif self.document:
            self.format_file(result)
            if str(self._target) != STDOUT:
                self._rewrite()
        else:
            assert self._sink is not None
            self._sink.append(self.format_file(result))
        self._files_written += 1

    def _rewrite(self) -> None:
        assert self._target is not None
        write_atomically(Path(self._target), (self.header() + self.footer()).encode("utf-8"))

    def _write_own_output(self, result: FileResult) -> None:
        assert self._target is not None
        if self._single_target(self._target):
            if self._files_written:
                raise RuntimeError(
                    f"{self._target} holds one input's {self.format.upper()}; "
                    "give a directory for several (see check_outputs)"
                )
            path: str | Path = self._target
        else:
            path = Path(self._target) / f"{result.job.key}{self.extension}"
        text = self.header() + self.format_file(result) + self.footer()
        self._reset()
        if str(path) == STDOUT:
            Stdout().append(text)
        else:
            write_atomically(Path(path), text.encode("utf-8"))

    def close(self) -> None:
        """Finish the output: a document on stdout is written now; a file sink is closed."""
        if self._target is None or self._closed:
            return
        self._closed = True
        if self.per_file:
            return
        if self.document and str(self._target) == STDOUT:
            assert self._sink is not None
            self._sink.append(self.header() + self.footer())
        elif not self.document and self._sink is not None:
            self._sink.append(self.footer())
        if self._sink is not None:
            self._sink.close()
            self._sink = None

    def __enter__(self) -> ResultWriter:
        if self._target is None:
            raise RuntimeError(f"call open(path) on this {type(self).__name__} first")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _rows(self, result: FileResult) -> list[dict[str, Any]]:
        """The input's rows as dicts: its windows, or with `segments` its segments."""
        if self.segments:
            return [segment_to_dict(s) for s in merge(result.windows)]
        return [row_to_dict(row, self.labels, self.modality_probabilities) for row in result.windows]

    def _columns(self) -> list[str]:
        return list(SEGMENT_COLUMNS) if self.segments else columns(self.labels, self.modality_probabilities)


class CsvWriter(ResultWriter):
    """One row per window of every file, with a header line; streams."""

    format = "csv"
    extension = ".csv"

    def header(self) -> str:
        return _csv_line(self._columns())

    def format_file(self, result: FileResult) -> str:
        return "".join(_csv_line(row.values()) for row in self._rows(result))


class JsonlWriter(ResultWriter):
    """One JSON object per window, one per line; streams."""

    format = "jsonl"
    extension = ".jsonl"

    def format_file(self, result: FileResult) -> str:
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in self._rows(result))


class JsonWriter(ResultWriter):
    """One JSON document of all files; buffered in memory and written at close().

    {"emoannotate_version", "model", "labels",
     "files": [{"file", "duration_s", "has_video", "has_audio", "error", "windows": [...]}]}
    """

    format = "json"
    extension = ".json"
    document = True

    def __init__(self, *, model: str = "", labels: Sequence[str] | None = None, per_input: bool | None = None,
                 segments: bool = False, modality_probabilities: bool = False):
        super().__init__(model=model, labels=labels, per_input=per_input, segments=segments,
                         modality_probabilities=modality_probabilities)
        self._files: list[dict[str, Any]] = []

    def format_file(self, result: FileResult) -> str:
        info = result.info
        self._files.append(
            {
                "file": _file_name(result),
                "duration_s": _rounded(info.duration_s, TIME_DECIMALS) if info else None,
                "has_video": info.has_video if info else None,
                "has_audio": info.has_audio if info else None,
                "error": result.error or None,
                "segments" if self.segments else "windows": self._rows(result),
            }
        )
        return ""

    def _reset(self) -> None:
        self._files = []

    def footer(self) -> str:
        document = {
            "emoannotate_version": __version__,
            "model": self.model,
            "labels": list(self.labels),
            "files": self._files,
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _file_name(result: FileResult) -> str:
    """The file's name as its rows give it (the job's path when it has no rows)."""
    return result.windows[0].file if result.windows else result.job.name
