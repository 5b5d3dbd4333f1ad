"""The outputs of one run: which writers write where, checked before any work, fed each input as it finishes.

Two conventions, as users know them from whisper and from shell pipelines:

    out="results.csv" | "-"            one file (or stdout) with the rows of every input
    output_dir="out/", formats=[...]   one file per input and format, named after the input
                                       (csv json jsonl srt vtt eaf textgrid png, or "all")
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from .errors import InputError
from .manifest import Manifest
from .records import FileResult, MediaJob
from .subtitles import SrtWriter, VttWriter
from .tiers import EafWriter, TextGridWriter
from .writers import STDOUT, CsvWriter, JsonlWriter, JsonWriter, ResultWriter, check_can_write

_WRITERS: dict[str, type[ResultWriter]] = {
    cls.format: cls for cls in (CsvWriter, JsonWriter, JsonlWriter, SrtWriter, VttWriter, EafWriter, TextGridWriter)
}
FORMATS = tuple(_WRITERS)  # ("csv", "json", "jsonl", "srt", "vtt", "eaf", "textgrid")
AGGREGATE_FORMATS = ("csv", "json", "jsonl")  # formats that hold every input in one file
CHART_FORMAT = "png"  # per input: the timeline of the 7 probabilities; plus distribution.png over all
OUTPUT_DIR_FORMATS = (*FORMATS, CHART_FORMAT)
_EXTENSIONS = {cls.extension.lower(): name for name, cls in _WRITERS.items()}
NAME_MAX_BYTES = 255  # longest file name most file systems take (ext4, APFS, NTFS in UTF-16 units)
BYTES_PER_INPUT = 64 * 1024  # a first estimate of what one input's outputs take (rows, subtitles, a chart)
BYTES_MIN = 1024 * 1024  # and what a run needs at least


def get_writer(format: str, *, model: str = "", labels: Sequence[str] | None = None,
               per_input: bool | None = None, segments: bool = False,
               modality_probabilities: bool = False) -> ResultWriter:
    """A new, unopened writer for `format` (one of FORMATS); InputError if unknown.

    per_input: CSV/JSON/JSONL write one file per input into a directory (SRT/VTT/EAF/TextGrid always do).
    segments:  write segments (a person's consecutive windows of one emotion) instead of windows.
    modality_probabilities: rows also carry the face-alone and voice-alone probabilities.
    """
    try:
        cls = _WRITERS[format.lower()]
    except KeyError:
        raise InputError(f"unknown output format {format!r}; choose one of {', '.join(FORMATS)}") from None
    return cls(model=model, labels=labels, per_input=per_input or None, segments=segments,
               modality_probabilities=modality_probabilities)


def format_from_path(path: str | Path) -> str:
    """The format named by `path`'s extension (.csv .json .jsonl .srt .vtt .eaf .TextGrid); InputError if none."""
    valid = ", ".join(_EXTENSIONS)
    if str(path) == STDOUT:
        raise InputError(f"cannot tell the output format of standard output; pass --format ({', '.join(FORMATS)})")
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        got = f"extension {suffix!r}" if suffix else "no extension"
        raise InputError(f"cannot tell the output format of {path} ({got}); use one of {valid}, or pass --format")
    return _EXTENSIONS[suffix]


def parse_formats(spec: str | Sequence[str]) -> tuple[str, ...]:
    """"csv,srt" or ["csv", "srt"] or "all" -> the formats, in OUTPUT_DIR_FORMATS order; InputError if unknown."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = {s.strip().lower() for s in items if s.strip()}
    if "all" in names:
        return OUTPUT_DIR_FORMATS
    unknown = sorted(names - set(OUTPUT_DIR_FORMATS))
    if unknown or not names:
        raise InputError(f"unknown output format(s) {', '.join(unknown) or '(none)'}; "
                         f"choose from {', '.join(OUTPUT_DIR_FORMATS)} or all")
    return tuple(f for f in OUTPUT_DIR_FORMATS if f in names)


class Outputs:
    """Every destination of a run. `check(jobs)` before any work; `start(jobs, run)`; then `write(result)`
    per input, in input order, inside `with`.

    out / out_format:   one aggregate file (csv, json, jsonl) or "-" for stdout (CSV unless out_format).
    output_dir/formats: one file per input and format (see parse_formats).
    srt_dir, charts_dir: the older per-input options (SRT files; timeline PNGs + distribution.png).
    resume: reuse the inputs a manifest beside the outputs lists as finished (see `manifest`).
    segments: every writer writes segments (a person's consecutive windows of one emotion), not windows.
    modality_probabilities: rows also carry the 14 probabilities of the face alone and the voice alone.
    """

    def __init__(self, *, out: str | Path | None = None, out_format: str | None = None,
                 output_dir: str | Path | None = None, formats: str | Sequence[str] = (),
                 srt_dir: str | Path | None = None, charts_dir: str | Path | None = None,
                 model: str = "", labels: Sequence[str] | None = None, overwrite: bool = False,
                 resume: bool = False, segments: bool = False, modality_probabilities: bool = False,
                 report_dir: str | Path | None = None, media_root: str | Path | None = None) -> None:
        kinds = dict(segments=segments, modality_probabilities=modality_probabilities)
        if out is None and output_dir is None and srt_dir is None and charts_dir is None and report_dir is None:
            raise InputError("nowhere to write: give an output file (--out) or an output folder (--output-dir)")
        self.overwrite, self.resume = overwrite, resume
        self.writers: list[tuple[ResultWriter, str | Path]] = []
        if out is not None:
            fmt = out_format or ("csv" if str(out) == STDOUT else format_from_path(out))
            self.writers.append((get_writer(fmt, model=model, labels=labels, **kinds), out))
        chosen = parse_formats(formats) if output_dir is not None else ()
        if output_dir is not None:
            for fmt in chosen:
                if fmt != CHART_FORMAT:
                    self.writers.append((get_writer(fmt, model=model, labels=labels, per_input=True, **kinds),
                                         output_dir))
        if srt_dir is not None:
            self.writers.append((get_writer("srt", model=model, labels=labels, **kinds), srt_dir))
        self.charts: list[tuple[Path, str]] = []  # (folder, timeline file suffix)
        if output_dir is not None and CHART_FORMAT in chosen:
            self.charts.append((Path(output_dir), ".png"))
        if charts_dir is not None:
            self.charts.append((Path(charts_dir), "_timeline.png"))
        self.report_dir = Path(report_dir) if report_dir is not None else None
        self.media_root, self.labels = media_root, tuple(labels) if labels else None
        self.manifest_path = _manifest_path(out, output_dir, srt_dir, charts_dir, report_dir)
        if resume and self.manifest_path is None:
            raise InputError("--resume needs an output file or folder to resume; standard output cannot be resumed")
        self.manifest: Manifest | None = None
        self._results: list[FileResult] = []

    @property
    def resuming(self) -> bool:
        """True when this run continues an earlier one (its manifest is there)."""
        return self.resume and self.manifest_path is not None and self.manifest_path.is_file()

    def paths(self, jobs: Sequence[MediaJob]) -> list[Path]:
        """Every file this run writes (not "-")."""
        found = [p for writer, target in self.writers for p in writer.output_paths(target, jobs)]
        for folder, suffix in self.charts:
            found += [folder / f"{job.key}{suffix}" for job in jobs] + [folder / "distribution.png"]
        if self.report_dir is not None:
            from .report import report_paths

            found += report_paths([job.name for job in jobs], self.report_dir)
        return found

    def check(self, jobs: Sequence[MediaJob]) -> None:
        """Raise InputError now, before any work, when an output could not be written."""
        replace = self.overwrite or self.resuming  # a resumed run rewrites its own outputs
        seen: set[Path] = set()
        for writer, target in self.writers:
            writer.check_outputs(target, jobs, overwrite=replace)
            paths = set(writer.output_paths(target, jobs))
            if seen & paths:
                raise InputError(f"two outputs would both write {sorted(seen & paths)[0]}")
            seen |= paths
        for folder, suffix in self.charts:
            for path in [folder / f"{job.key}{suffix}" for job in jobs] + [folder / "distribution.png"]:
                check_can_write(path, replace)
        if self.report_dir is not None:
            from .report import report_paths

            for path in report_paths([job.name for job in jobs], self.report_dir):
                check_can_write(path, replace)
        every = self.paths(jobs) + ([self.manifest_path] if self.manifest_path else [])
        for path in every:
            if len(path.name.encode()) > NAME_MAX_BYTES:
                raise InputError(f"{path.name[:60]}...: an output name of {len(path.name.encode())} bytes is "
                                 f"longer than file systems allow ({NAME_MAX_BYTES}); choose a shorter output name")
        for folder in dict.fromkeys(p.parent for p in every):
            _check_folder(folder, need=len(jobs) * BYTES_PER_INPUT + BYTES_MIN)

    def start(self, jobs: Sequence[MediaJob], run: dict) -> dict[int, FileResult]:
        """Open the manifest; with `resume`, return the finished results it holds for these jobs (by job index)."""
        if self.manifest_path is None:
            return {}
        self.manifest = Manifest(self.manifest_path, run)
        done = self.manifest.finished(list(jobs)) if self.resuming else {}
        self.manifest.open(keep=self.resuming and self.manifest.same_run())
        return done

    def __enter__(self) -> Outputs:
        replace = self.overwrite or self.resuming
        for writer, target in self.writers:
            writer.open(target, overwrite=replace)
        return self

    def write(self, result: FileResult, *, reused: bool = False) -> None:
        """Write one finished input to every destination (`reused`: from the manifest; its own files are kept)."""
        for writer, target in self.writers:
            own = writer.per_file and not writer._single_target(target)
            if reused and own and (Path(target) / f"{result.job.key}{writer.extension}").is_file():
                continue
            writer.write_file(result)
        if self.charts and result.ok and any(r.emotion for r in result.windows):
            from .charts import plot_timeline

            for folder, suffix in self.charts:
                path = folder / f"{result.job.key}{suffix}"
                if not (reused and path.is_file()):
                    plot_timeline(result, path, overwrite=True)
        if self.manifest is not None and not reused:
            self.manifest.add(result)
        self._results.append(result)

    def __exit__(self, *exc_info: object) -> None:
        try:
            for writer, _ in self.writers:
                writer.close()
        finally:
            if self.manifest is not None:
                self.manifest.close()
            if self.charts and self._results:
                from .charts import plot_distribution

                for folder, _ in self.charts:
                    plot_distribution(self._results, folder / "distribution.png", overwrite=True)
            if self.report_dir is not None and self._results:
                from .constants import EMOTIONS
                from .report import write_report

                write_report(self._results, self.report_dir, labels=self.labels or EMOTIONS,
                             media_root=self.media_root, overwrite=True)


def _manifest_path(out: str | Path | None, output_dir: str | Path | None, srt_dir: str | Path | None,
                   charts_dir: str | Path | None, report_dir: str | Path | None = None) -> Path | None:
    """Where the resume manifest of these outputs lives: beside the output file, else in the first folder."""
    if out is not None and str(out) != STDOUT:
        return Path(out).with_name(f".{Path(out).name}.emoannotate.jsonl")
    folder = next((f for f in (output_dir, srt_dir, charts_dir, report_dir) if f is not None), None)
    return Path(folder) / ".emoannotate.jsonl" if folder is not None else None


def _check_folder(folder: Path, *, need: int) -> None:
    """The folder exists (or is made), takes a new file, and has `need` bytes free: else one clear InputError."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(f"{folder} is a file, not a folder; choose another output location") from None
    except OSError as err:
        raise InputError(f"cannot create the output folder {folder}: {err.strerror or err}") from None
    probe = folder / f".emoannotate-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise InputError(f"cannot write in {folder}: {err.strerror or err}; choose another output location") from None
    free = shutil.disk_usage(folder).free
    if free < need:
        raise InputError(f"{folder} has {free / 1e6:.1f} MB free, and this run needs about {need / 1e6:.1f} MB; "
                         "free some space or choose another output location")


def write_results(results: Iterable[FileResult], target: str | Path, *, format: str | None = None,
                  model: str = "", labels: Sequence[str] | None = None, overwrite: bool = False) -> None:
    """Write finished results to one file in one go; `format` defaults to `target`'s extension."""
    results = list(results)
    outputs = Outputs(out=target, out_format=format, model=model, labels=labels, overwrite=overwrite)
    outputs.check([r.job for r in results])
    with outputs:
        for result in results:
            outputs.write(result)
