"""The library's front door: `annotate(inputs)` -> results that become a DataFrame or any output file.

    >>> import emoannotate
    >>> results = emoannotate.annotate("interview.mp4")           # a file, a folder, a glob, a list
    >>> df = results.to_pandas()                                  # one row per window, the CSV's columns
    >>> results.write(output_dir="out/", formats="csv,srt,png")   # or out="all.csv"

Arrays already in memory work too: `annotate(emoannotate.MediaArrays(frames=..., fps=25,
audio=..., sample_rate=16000))`.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
from collections.abc import Callable, Generator, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from . import __version__
from .constants import FACES_SPEAKER, MIN_WINDOW_SECONDS, WINDOW_SECONDS
from .discover import discover, safe_key
from .errors import InputError
from .hooks import ProgressHook
from .model.net import EmotionNet
from .outputs import Outputs
from .pipeline import Annotator, RunOptions
from .records import FileResult, MediaArrays, MediaJob
from .registry import DEFAULT_MODEL, load_model
from .sinks import stdout_reserved
from .writers import columns, row_to_dict

if TYPE_CHECKING:
    import pandas as pd

Inputs = str | Path | MediaArrays | Iterable[str | Path | MediaArrays]

# Column dtypes of `Results.to_pandas`; the others (times, probabilities, box) are float64.
_TEXT_COLUMNS = ("file", "emotion", "face_emotion", "voice_emotion", "modalities", "status", "error")
_INT_COLUMNS = ("window", "face_frames", "max_faces")
_BOOL_COLUMNS = ("partial",)
# Columns that may be empty: nullable integers and booleans (pandas' Int64 and boolean; read_csv gives
# float64 and object for them, or int64 and bool when no cell is empty).
_NULLABLE = {"person": "Int64", "agreement": "boolean", "speaking": "boolean"}


class Results(list[FileResult]):
    """The results of `annotate`: one FileResult per input, in input order (a list), plus conversions."""

    def __init__(self, results: Iterable[FileResult] = (), *, model: str = DEFAULT_MODEL,
                 labels: Sequence[str] = ()) -> None:
        super().__init__(results)
        self.model = model
        self.labels = tuple(labels)

    def records(self, modality_probabilities: bool = False) -> list[dict[str, Any]]:
        """Every window as a dict of the output columns (rounded as in the files; None where empty); with
        `modality_probabilities` also p_face_* and p_voice_*."""
        return [row_to_dict(row, self.labels, modality_probabilities) for r in self for row in r.windows]

    def dtypes(self, modality_probabilities: bool = False) -> dict[str, Any]:
        """The column dtypes of `to_pandas`; `pd.read_csv(path, dtype=results.dtypes())` reads a CSV of
        these results back to the same frame."""
        import numpy as np
        import pandas as pd

        text = pd.StringDtype(na_value=np.nan)
        return {c: (_NULLABLE[c] if c in _NULLABLE else "int64" if c in _INT_COLUMNS else "bool"
                    if c in _BOOL_COLUMNS else text if c in _TEXT_COLUMNS else "float64")
                for c in columns(self.labels, modality_probabilities)}

    def to_pandas(self, modality_probabilities: bool = False) -> pd.DataFrame:
        """One row per window (per person and window with `faces="all"`), the CSV's columns: numbers as
        float64 (NaN where empty), window and face counts as int64, `partial` as bool, `person` as
        nullable Int64, `agreement` and `speaking` as nullable boolean, text as pandas' string dtype
        (NaN where empty); `modality_probabilities` adds p_face_* and p_voice_*. `dtypes()` reads a CSV
        back the same way."""
        import pandas as pd

        df = pd.DataFrame.from_records(self.records(modality_probabilities),
                                       columns=columns(self.labels, modality_probabilities))
        return df.astype(self.dtypes(modality_probabilities))

    def write(self, out: str | Path | None = None, *, format: str | None = None, output_dir: str | Path | None = None,
              formats: str | Sequence[str] = "csv", overwrite: bool = False, segments: bool = False,
              modality_probabilities: bool = False) -> None:
        """Write the results: to one file `out` (csv, json, jsonl by extension, or `format`), and/or one
        file per input and format into `output_dir` (csv json jsonl srt vtt eaf textgrid png, or "all");
        `segments`: segments instead of windows."""
        outputs = Outputs(out=out, out_format=format, output_dir=output_dir, formats=formats, model=self.model,
                          labels=self.labels, overwrite=overwrite, segments=segments,
                          modality_probabilities=modality_probabilities)
        outputs.check([r.job for r in self])
        with outputs:
            for result in self:
                outputs.write(result)


    def report(self, out_dir: str | Path, *, media_root: str | Path | None = None, overwrite: bool = False
               ) -> list[Path]:
        """Write the HTML report: a page per input that plays it beside its emotion timeline, and
        index.html (see `report.write_report`); returns the paths, index first."""
        from .report import write_report

        return write_report(self, out_dir, labels=self.labels, media_root=media_root, overwrite=overwrite)


def load_results(paths: str | Path | Sequence[str | Path]) -> Results:
    """Read outputs of `run` back (CSV, JSON or JSONL files of window rows; several are joined in order)."""
    from .readers import read_results

    results = Results(model="", labels=())
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        found, labels = read_results(path)
        if results.labels and labels != results.labels:
            raise InputError(f"{path}: its labels {', '.join(labels)} are not those of the files before it "
                             f"({', '.join(results.labels)}); give outputs of one model")
        results.labels = labels
        results.extend(found)
    return results


def make_jobs(inputs: Inputs, *, stdin: TextIO | None = None) -> list[MediaJob]:
    """Inputs as jobs: paths, folders, globs, URLs and "-" through `discover`; MediaArrays kept as they are."""
    items = [inputs] if isinstance(inputs, (str, Path, MediaArrays)) else list(inputs)
    paths = [str(x) for x in items if not isinstance(x, MediaArrays)]
    arrays = [x for x in items if isinstance(x, MediaArrays)]
    jobs = discover(paths, stdin=stdin if stdin is not None else sys.stdin if "-" in paths else None) if paths else []
    keys = {j.key for j in jobs}
    for a in arrays:
        base = safe_key(Path(a.name).stem or "array")
        key, n = base, 1
        while key in keys:
            n += 1
            key = f"{base}-{n}"
        keys.add(key)
        jobs.append(MediaJob(len(jobs), Path(a.name), key, a))
    if not jobs:
        raise InputError(f"no media files found in {' '.join(paths) or 'the inputs given'}")
    return jobs


def iter_annotate(jobs: Sequence[MediaJob], model: str | Path | EmotionNet = DEFAULT_MODEL, *,
                  options: RunOptions | None = None, model_dir: str | Path | None = None,
                  hook: ProgressHook | None = None) -> Generator[FileResult, None, None]:
    """Annotate jobs and yield each input's result as soon as it is complete (streaming, for writers)."""
    net = model if isinstance(model, EmotionNet) else load_model(model, device="cpu", model_dir=model_dir)[0]
    yield from Annotator(net, options).annotate(jobs, hook)


def annotate(inputs: Inputs, model: str | Path | EmotionNet = DEFAULT_MODEL, *,
             hop_s: float = WINDOW_SECONDS, min_window_s: float = MIN_WINDOW_SECONDS, batch_size: int = 32,
             device: str = "auto", workers: int | None = None, threads: int | None = None, amp: bool = True,
             faces: str = FACES_SPEAKER, segments: bool = False, modality_probabilities: bool = False,
             model_dir: str | Path | None = None, ray: str | None = None,
             out: str | Path | None = None, format: str | None = None,
             output_dir: str | Path | None = None, formats: str | Sequence[str] = "csv",
             srt_dir: str | Path | None = None, charts_dir: str | Path | None = None,
             report_dir: str | Path | None = None, media_root: str | Path | None = None, overwrite: bool = False,
             resume: bool = False, progress: bool = False, hook: ProgressHook | None = None,
             stdin: TextIO | None = None,
             on_result: Callable[[FileResult], None] | None = None) -> Results:
    """Annotate videos (and audio files) with the emotions of the people in them, per 3.6 s window.

    Parameters
    ----------
    inputs : a path (file or folder, searched recursively), a glob pattern, a URL that fsspec
        opens ("s3://bucket/folder/", `storage`), "-" (paths on stdin), a `MediaArrays`, or a
        list of any of these.
    model : a model name (shipped: "default"; or in the user model folder, see `model_dir`), a
        .safetensors path, or an `EmotionNet` already loaded.
    hop_s : seconds between window starts (3.6: no overlap; less overlaps windows).
    min_window_s : a last partial window shorter than this gets a `too_short` row.
    batch_size : windows per model batch; batches span inputs.
    device : "auto" (GPU when there is one), "cpu", "cuda" or "cuda:N".
    workers : extraction processes (None: min(cores, 4) when there is enough work; 0: in this process).
    threads : torch CPU threads for the model.
    amp : float16 mixed precision on CUDA.
    faces : whose face each row reads: "speaker" (the person speaking; every face is followed and
        gets a `person` id), "largest" (the largest face of each frame), "all" (a row per person
        per window: face and voice for the speaker, the face alone for the others).
    segments : the outputs hold segments (a person's consecutive windows with one emotion) instead of
        windows; the returned Results keep the windows (`segments.merge` makes segments of them).
    modality_probabilities : the rows written also hold the 14 probabilities of the face alone and the
        voice alone (p_face_*, p_voice_*).
    model_dir : the user model folder (default $EMOANNOTATE_MODELS or ~/.local/share/emoannotate/models).
    ray : decode, find faces and compute voice features on a Ray cluster ("local": one started on this
        machine; "auto": RAY_ADDRESS or a running `ray start`; or an address); needs emoannotate[ray].
    out, format : also write every row to one file (.csv .json .jsonl, or "-" for stdout) as inputs finish.
    output_dir, formats : also write one file per input and format ("csv,json,jsonl,srt,vtt,png" or "all").
    srt_dir, charts_dir : one SRT per input / timeline PNGs and distribution.png (older options).
    report_dir, media_root : also write the HTML report there when the run ends (a page per input that plays
        it beside its timeline, and index.html); `media_root`: where the pages find the inputs.
    overwrite : replace existing output files (refused otherwise, before any work).
    resume : continue an interrupted run with the same outputs: inputs it finished (and that have not
        changed since) are not read again; the outputs come out as an uninterrupted run writes them.
    progress : draw a progress bar on stderr; or pass your own `hook` (see `hooks.ProgressHook`).
    on_result : called with each FileResult as soon as that input is done.

    Returns
    -------
    Results : a list of FileResult (one per input, in input order) with `.to_pandas()` and `.write()`.
    Unreadable inputs do not raise: their rows have status "error" and say why.
    """
    options = RunOptions(hop_s=hop_s, min_window_s=min_window_s, batch_size=batch_size, device=device,
                         workers=workers, threads=threads, amp=amp, faces=faces, ray=ray)
    jobs = make_jobs(inputs, stdin=stdin)
    net = model if isinstance(model, EmotionNet) else load_model(model, device="cpu", model_dir=model_dir)[0]
    labels = tuple(net.config.labels)
    name = str(model) if not isinstance(model, EmotionNet) else "(in memory)"
    writing = any(x is not None for x in (out, output_dir, srt_dir, charts_dir, report_dir))
    if resume and not writing:
        raise InputError("resume continues writing outputs: give out= or output_dir=")
    outputs = Outputs(out=out, out_format=format, output_dir=output_dir, formats=formats, srt_dir=srt_dir,
                      charts_dir=charts_dir, model=name, labels=labels, overwrite=overwrite,
                      resume=resume, report_dir=report_dir, media_root=media_root, segments=segments,
                      modality_probabilities=modality_probabilities) if writing else None
    done: dict[int, FileResult] = {}
    if outputs is not None:
        outputs.check(jobs)  # before any work: a bad output path fails now, not after an hour
        done = outputs.start(jobs, _run_fingerprint(net, options))
    if hook is None and progress:
        from .console import RichProgress

        hook = RichProgress()
    results = Results(model=name, labels=labels)
    with contextlib.ExitStack() as stack:
        if "-" in (str(out), str(output_dir)):  # rows on stdout: whatever else prints (Ray) goes to stderr
            stack.enter_context(stdout_reserved())
        if outputs is not None:
            stack.enter_context(outputs)
        close = getattr(hook, "close", None)  # optional: not part of the ProgressHook interface
        if close is not None:
            stack.callback(close)
        fresh = stack.enter_context(contextlib.closing(
            iter_annotate([j for j in jobs if j.index not in done], net, options=options, hook=hook)))
        for job in jobs:  # in input order: finished inputs from the manifest, the others as they come
            result = done.get(job.index) or next(fresh)
            if outputs is not None:
                outputs.write(result, reused=job.index in done)
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results


def _run_fingerprint(net: EmotionNet, options: RunOptions) -> dict[str, Any]:
    """What a run's rows depend on: a resumed run reuses rows only when all of this is the same."""
    digest = hashlib.sha256()
    for key, tensor in sorted(net.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return {"emoannotate_version": __version__, "model_sha256": digest.hexdigest(),
            "labels": list(net.config.labels), "hop_s": options.hop_s, "min_window_s": options.min_window_s,
            "faces": options.faces, "last_window": "reads the file's last window"}
