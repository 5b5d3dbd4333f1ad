"""The outputs of one run: which writers write where, checked before any work, fed each input as it finishes.

Two conventions, as users know them from whisper and from shell pipelines:

    out="results.csv" | "-"            one file (or stdout) with the rows of every input
    output_dir="out/", formats=[...]   one file per input and format, named after the input
                                       (csv json jsonl srt vtt png, or "all")
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from .errors import InputError
from .records import FileResult, MediaJob
from .subtitles import SrtWriter, VttWriter
from .writers import STDOUT, CsvWriter, JsonlWriter, JsonWriter, ResultWriter, check_can_write

_WRITERS: dict[str, type[ResultWriter]] = {
    cls.format: cls for cls in (CsvWriter, JsonWriter, JsonlWriter, SrtWriter, VttWriter)
}
FORMATS = tuple(_WRITERS)  # ("csv", "json", "jsonl", "srt", "vtt")
AGGREGATE_FORMATS = ("csv", "json", "jsonl")  # formats that hold every input in one file
CHART_FORMAT = "png"  # per input: the timeline of the 7 probabilities; plus distribution.png over all
OUTPUT_DIR_FORMATS = (*FORMATS, CHART_FORMAT)
_EXTENSIONS = {cls.extension: name for name, cls in _WRITERS.items()}


def get_writer(format: str, *, model: str = "", labels: Sequence[str] | None = None,
               per_input: bool | None = None) -> ResultWriter:
    """A new, unopened writer for `format` (one of FORMATS); InputError if unknown.

    per_input: CSV/JSON/JSONL write one file per input into a directory (SRT/VTT always do).
    """
    try:
        cls = _WRITERS[format.lower()]
    except KeyError:
        raise InputError(f"unknown output format {format!r}; choose one of {', '.join(FORMATS)}") from None
    return cls(model=model, labels=labels, per_input=per_input or None)


def format_from_path(path: str | Path) -> str:
    """The format named by `path`'s extension (.csv .json .jsonl .srt .vtt); InputError if none."""
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
    """Every destination of a run. `check(jobs)` before any work; then `write(result)` per input; `close()`.

    out / out_format:   one aggregate file (csv, json, jsonl) or "-" for stdout (CSV unless out_format).
    output_dir/formats: one file per input and format (see parse_formats).
    srt_dir, charts_dir: the older per-input options (SRT files; timeline PNGs + distribution.png).
    """

    def __init__(self, *, out: str | Path | None = None, out_format: str | None = None,
                 output_dir: str | Path | None = None, formats: Sequence[str] = (),
                 srt_dir: str | Path | None = None, charts_dir: str | Path | None = None,
                 model: str = "", labels: Sequence[str] | None = None, overwrite: bool = False) -> None:
        if out is None and output_dir is None and srt_dir is None and charts_dir is None:
            raise InputError("nowhere to write: give an output file (--out) or an output folder (--output-dir)")
        self.overwrite = overwrite
        self.writers: list[tuple[ResultWriter, str | Path]] = []
        if out is not None:
            fmt = out_format or ("csv" if str(out) == STDOUT else format_from_path(out))
            self.writers.append((get_writer(fmt, model=model, labels=labels), out))
        formats = parse_formats(formats) if output_dir is not None else ()
        if output_dir is not None:
            for fmt in formats:
                if fmt != CHART_FORMAT:
                    self.writers.append((get_writer(fmt, model=model, labels=labels, per_input=True), output_dir))
        if srt_dir is not None:
            self.writers.append((get_writer("srt", model=model, labels=labels), srt_dir))
        self.charts: list[tuple[Path, str]] = []  # (folder, timeline file suffix)
        if output_dir is not None and CHART_FORMAT in formats:
            self.charts.append((Path(output_dir), ".png"))
        if charts_dir is not None:
            self.charts.append((Path(charts_dir), "_timeline.png"))
        self._results: list[FileResult] = []

    def check(self, jobs: Sequence[MediaJob]) -> None:
        """Raise InputError now, before any work, when an output could not be written."""
        seen: set[Path] = set()
        for writer, target in self.writers:
            writer.check_outputs(target, jobs, overwrite=self.overwrite)
            paths = writer.output_paths(target, jobs)
            if seen & set(paths):
                raise InputError(f"two outputs would both write {sorted(seen & set(paths))[0]}")
            seen.update(paths)
        for folder, suffix in self.charts:
            for path in [folder / f"{job.key}{suffix}" for job in jobs] + [folder / "distribution.png"]:
                check_can_write(path, self.overwrite)

    def __enter__(self) -> Outputs:
        for writer, target in self.writers:
            writer.open(target, overwrite=self.overwrite)
        return self

    def write(self, result: FileResult) -> None:
        """Write one finished input to every destination."""
        for writer, _ in self.writers:
            writer.write_file(result)
        if self.charts and result.ok and any(r.emotion for r in result.windows):
            from .charts import plot_timeline

            for folder, suffix in self.charts:
                plot_timeline(result, folder / f"{result.job.key}{suffix}", overwrite=self.overwrite)
        self._results.append(result)

    def __exit__(self, *exc_info: object) -> None:
        try:
            for writer, _ in self.writers:
                writer.close()
        finally:
            if self.charts and self._results:
                from .charts import plot_distribution

                for folder, _ in self.charts:
                    plot_distribution(self._results, folder / "distribution.png", overwrite=self.overwrite)


def write_results(results: Iterable[FileResult], target: str | Path, *, format: str | None = None,
                  model: str = "", labels: Sequence[str] | None = None, overwrite: bool = False) -> None:
    """Write finished results to one file in one go; `format` defaults to `target`'s extension."""
    results = list(results)
    outputs = Outputs(out=target, out_format=format, model=model, labels=labels, overwrite=overwrite)
    outputs.check([r.job for r in results])
    with outputs:
        for result in results:
            outputs.write(result)
