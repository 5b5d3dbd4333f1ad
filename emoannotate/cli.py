"""The command line: `emoannotate run | train | evaluate | models`. Parses options, calls the library."""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from pathlib import Path

import click

from . import __version__
from .constants import EMOTIONS, MIN_WINDOW_SECONDS, WINDOW_SECONDS
from .errors import EmoannotateError

log = logging.getLogger("emoannotate")

EXIT_OK, EXIT_SOME_FAILED, EXIT_FATAL = 0, 1, 2


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _setup_logging(verbose: int, quiet: bool) -> None:
    from rich.logging import RichHandler

    level = logging.ERROR if quiet else logging.DEBUG if verbose else logging.WARNING
    handler = RichHandler(console=_console(), show_time=False, show_path=False, markup=False)
    logging.basicConfig(level=level, handlers=[handler], format="%(message)s", force=True)


class _Fatal(click.ClickException):
    exit_code = EXIT_FATAL


def _fail(err: Exception) -> _Fatal:
    return _Fatal(str(err))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="emoannotate")
def main() -> None:
    """Annotate videos with the emotions people show, from face and voice together.

    \b
    emoannotate run videos/ --out results.csv
    find /data -name '*.mp4' | emoannotate run - --out - | csvlook
    """


# --- run ----------------------------------------------------------------------------------

class _RichHook:
    """Progress bar on stderr, driven by the pipeline's hook calls."""

    def __init__(self, progress, on_file) -> None:
        self.progress, self.on_file, self.task = progress, on_file, None

    def planned(self, jobs, n_windows):
        self.task = self.progress.add_task(f"{len(jobs)} file(s)", total=max(n_windows, 1))

    def advance(self, job, n_windows):
        self.progress.update(self.task, advance=n_windows, description=job.path.name[:40])

    def file_done(self, result):
        self.on_file(result)


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--out", "out", required=True, help="Output file (.csv .json .jsonl), or - for CSV on stdout.")
@click.option("-f", "--format", "fmt", type=click.Choice(["csv", "json", "jsonl"]), help="Output format "
              "(default: from the --out extension; CSV for -).")
@click.option("--srt-dir", type=click.Path(file_okay=False), help="Write one SRT subtitle file per input here.")
@click.option("--charts-dir", type=click.Path(file_okay=False), help="Write per-input timeline charts and a "
              "distribution chart (PNG) here.")
@click.option("-m", "--model", default="default", show_default=True, help="Shipped model name or a .safetensors path.")
@click.option("--hop", type=float, default=WINDOW_SECONDS, show_default=True, help="Seconds between window starts.")
@click.option("--min-window", type=float, default=MIN_WINDOW_SECONDS, show_default=True,
              help="A last partial window shorter than this (s) is marked too_short.")
@click.option("-b", "--batch-size", type=int, default=32, show_default=True, help="Windows per model batch.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("-j", "--workers", type=int, default=None, help="Decoding/detection processes (default: min(cores, 4); "
              "0 = none).")
@click.option("--no-amp", is_flag=True, help="Disable float16 mixed precision on CUDA.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary; errors only.")
@click.option("-v", "--verbose", count=True, help="More log output.")
def run(inputs, out, fmt, srt_dir, charts_dir, model, hop, min_window, batch_size, device, workers, no_amp,
        overwrite, quiet, verbose) -> None:
    """Annotate INPUTS (files, folders, glob patterns, or - to read paths from stdin).

    Writes one row per 3.6 s window: file, window, start_s, end_s, emotion, confidence,
    the 7 probabilities, modalities used, face frames and box, partial, status.
    Exit status: 0 all files done, 1 some files failed (their rows say why), 2 nothing run.
    """
    _setup_logging(verbose, quiet)
    from .discover import discover
    from .pipeline import Annotator, RunOptions
    from .checkpoint import read_meta
    from .registry import load_model, resolve
    from .writers import format_from_path, get_writer

    try:
        options = RunOptions(hop_s=hop, min_window_s=min_window, batch_size=batch_size, device=device,
                             workers=workers, amp=not no_amp)
        jobs = discover(list(inputs), stdin=sys.stdin if "-" in inputs else None)
        if not jobs:
            raise EmoannotateError(f"no media files found in {' '.join(inputs)}")
        fmt = fmt or ("csv" if out == "-" else format_from_path(out))
        model_path = resolve(model)  # fails early, before any work, for an unknown name or path
        labels = read_meta(model_path).labels
        writer = get_writer(fmt, model=str(model), labels=labels)
        writer.check_outputs(out, jobs, overwrite=overwrite)
        srt = None
        if srt_dir:
            srt = get_writer("srt", model=str(model), labels=labels)
            srt.check_outputs(srt_dir, jobs, overwrite=overwrite)
        if charts_dir:
            _check_chart_paths(jobs, Path(charts_dir), overwrite)
        net, meta = load_model(model_path, device="cpu")
        annotator = Annotator(net, options)
    except EmoannotateError as err:
        raise _fail(err) from err

    results, failed = [], 0

    def on_file(result) -> None:
        nonlocal failed
        writer.write_file(result)
        if srt is not None:
            srt.write_file(result)
        if charts_dir and result.ok and any(r.emotion for r in result.windows):
            from .charts import plot_timeline

            plot_timeline(result, Path(charts_dir) / f"{result.job.key}_timeline.png", overwrite=overwrite)
        failed += (not result.ok)
        results.append(result)

    console = _console()
    try:
        with writer.open(out, overwrite=overwrite):
            if srt is not None:
                srt.open(srt_dir, overwrite=overwrite)
            try:
                if quiet:
                    from .pipeline import ProgressHook

                    hook = ProgressHook()
                    hook.file_done = on_file  # type: ignore[method-assign]
                    for _ in annotator.annotate(jobs, hook):
                        pass
                else:
                    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

                    with Progress(TextColumn("{task.description:40}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("windows"), TimeElapsedColumn(), console=console,
                                  transient=True) as progress:
                        for _ in annotator.annotate(jobs, _RichHook(progress, on_file)):
                            pass
            finally:
                if srt is not None:
                    srt.close()
        if charts_dir and results:
            from .charts import plot_distribution

            plot_distribution(results, Path(charts_dir) / "distribution.png", overwrite=overwrite)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted: {len(results)} finished file(s) were written[/]")
        sys.exit(130)
    except EmoannotateError as err:
        raise _fail(err) from err
    if not quiet:
        _print_summary(console, results, out, meta)
    sys.exit(EXIT_SOME_FAILED if failed else EXIT_OK)


def _check_chart_paths(jobs, charts_dir: Path, overwrite: bool) -> None:
    from .writers import check_can_write

    for job in jobs:
        check_can_write(charts_dir / f"{job.key}_timeline.png", overwrite)
    check_can_write(charts_dir / "distribution.png", overwrite)


def _print_summary(console, results, out, meta) -> None:
    from rich.table import Table

    table = Table(title="emoannotate summary", title_justify="left")
    for col in ("file", "windows", "top emotion", "share", "modalities", "status"):
        table.add_column(col, overflow="fold")
    for r in results:
        emotions = Counter(w.emotion for w in r.windows if w.emotion)
        mods = Counter(w.modalities for w in r.windows)
        statuses = Counter(w.status for w in r.windows)
        top, n_top = emotions.most_common(1)[0] if emotions else ("-", 0)
        share = f"{n_top / max(1, sum(emotions.values())):.0%}" if emotions else "-"
        table.add_row(r.job.path.name, str(len(r.windows)), top, share,
                      ", ".join(f"{k} {v}" for k, v in mods.most_common()),
                      "[red]error[/] (see the log above)" if r.error else
                      ", ".join(f"{k} {v}" for k, v in statuses.most_common()))
    console.print(table)
    n_fail = sum(not r.ok for r in results)
    where = "standard output" if out == "-" else out
    console.print(f"{sum(len(r.windows) for r in results)} windows from {len(results)} file(s) written to {where}"
                  + (f"; [red]{n_fail} file(s) failed[/]" if n_fail else ""))


# --- models ------------------------------------------------------------------------------

@main.group()
def models() -> None:
    """List the shipped models and show what they were trained and tested on."""


@models.command("list")
def models_list() -> None:
    """The shipped models."""
    from rich.table import Table

    from .registry import available_models

    table = Table()
    for col in ("name", "file", "sha256", "description"):
        table.add_column(col, overflow="fold")
    for e in available_models():
        table.add_row(e.name, e.file, e.sha256[:16] + "...", e.description)
    _console().print(table)


@models.command("info")
@click.argument("name", default="default")
@click.option("--json", "as_json", is_flag=True, help="Print the whole description as JSON.")
def models_info(name, as_json) -> None:
    """What model NAME (or a .safetensors path) was trained on, its protocol and figures."""
    from .checkpoint import read_meta
    from .registry import resolve

    try:
        meta = read_meta(resolve(name))
    except EmoannotateError as err:
        raise _fail(err) from err
    doc = {"path": str(meta.path), "sha256": meta.sha256, "emoannotate_version": meta.version,
           "model": meta.config.to_dict(), "preprocessing": meta.preprocessing, "info": meta.info}
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    info = meta.info
    lines = [f"model      {name}", f"file       {meta.path}", f"sha256     {meta.sha256}",
             f"backbone   {meta.config.backbone}", f"labels     {', '.join(meta.labels)}",
             f"trained    {info.get('summary', '(no description)')}"]
    split = info.get("split", {})
    if split:
        independent = ("yes" if split.get("speaker_independent") else
                       "only for the test speakers; the within-speaker test below is not"
                       if split.get("holdout_within") else "no")
        lines.append(f"protocol   {split.get('protocol')} split (speaker-independent: {independent})")
        lines.append(f"test       speakers {', '.join(split.get('test_speakers', []))}"
                     + (f"; within-speaker {', '.join(split.get('holdout_within', []))}"
                        if split.get("holdout_within") else ""))
    table = info.get("table")
    if table:
        lines += ["", table]
    click.echo("\n".join(lines))


# --- train / evaluate -----------------------------------------------------------------------

def _load_samples(data, neutral):
    from .datasets import load_dataset

    samples = []
    for spec in data:
        samples.extend(load_dataset(spec, neutral=neutral))
    return samples


_DATA_HELP = ("Dataset as NAME:PATH (ravdess, ravdess-windows, crema-d, enterface, rml, generic) or a path "
              "whose layout is detected; repeat for several.")


@main.command()
@click.option("-d", "--data", multiple=True, required=True, help=_DATA_HELP)
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Checkpoint to write (.safetensors).")
@click.option("--backbone", type=click.Choice(["minixception", "efficientface"]), default="minixception",
              show_default=True, help="Face backbone.")
@click.option("--backbone-weights", type=click.Path(exists=True, dir_okay=False),
              help="EfficientFace published checkpoint (.pth.tar), for --backbone efficientface.")
@click.option("--finetune-backbone", is_flag=True, help="Train the face backbone too (default: frozen). "
              "Keeps face crops in memory; slow without a GPU.")
@click.option("--protocol", type=click.Choice(["speaker", "random"]), default="speaker", show_default=True,
              help="speaker: no speaker in both train and test; random: the paper's random split.")
@click.option("--test-speakers", help="Comma-separated test speakers, e.g. ravdess:21,ravdess:22.")
@click.option("--test-fraction", type=float, default=0.3, show_default=True)
@click.option("--val-speakers", help="Comma-separated validation speakers (model selection, calibration).")
@click.option("--val-fraction", type=float, default=0.15, show_default=True)
@click.option("--holdout-within", multiple=True, help="SPEAKER:FIELD=VALUE: that speaker's matching samples "
              "are tested, the rest trained on (not speaker-independent; reported as such).")
@click.option("--neutral", type=click.Choice(EMOTIONS), default=None, help="Map neutral clips to this label "
              "(default: excluded, as in the paper).")
@click.option("--epochs", type=int, default=40, show_default=True)
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--lr", type=float, default=3e-4, show_default=True)
@click.option("--p-pair", type=float, default=0.5, show_default=True,
              help="Chance to pair a face with another recording's voice of the same label.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Where per-sample faces and features are cached (default ~/.cache/emoannotate/features).")
@click.option("-j", "--workers", type=int, default=2, show_default=True, help="Processes for feature extraction.")
@click.option("--resume", is_flag=True, help="Continue from OUT.state if a previous run left one.")
@click.option("--report-dir", type=click.Path(file_okay=False), help="Also evaluate on the test split and write "
              "report.json, report.txt and confusion PNGs here.")
@click.option("--overwrite", is_flag=True)
@click.option("-v", "--verbose", count=True)
def train(data, out, backbone, backbone_weights, finetune_backbone, protocol, test_speakers, test_fraction, val_speakers, val_fraction,
          holdout_within, neutral, epochs, batch_size, lr, p_pair, seed, device, cache_dir, workers, resume,
          report_dir, overwrite, verbose) -> None:
    """Train a model on one or more datasets and save it as a checkpoint."""
    _setup_logging(verbose, False)
    from .train import run_training

    try:
        run_training(data=list(data), out=Path(out), backbone=backbone, backbone_weights=backbone_weights,
                     protocol=protocol, test_speakers=_csv(test_speakers), test_fraction=test_fraction,
                     val_speakers=_csv(val_speakers), val_fraction=val_fraction, holdout_within=list(holdout_within),
                     neutral=neutral, epochs=epochs, batch_size=batch_size, lr=lr, p_pair=p_pair, seed=seed,
                     device=device, cache_dir=cache_dir, workers=workers, resume=resume,
                     report_dir=Path(report_dir) if report_dir else None, overwrite=overwrite,
                     finetune_backbone=finetune_backbone, console=_console())
    except EmoannotateError as err:
        raise _fail(err) from err


@main.command()
@click.option("-d", "--data", multiple=True, required=True, help=_DATA_HELP)
@click.option("-m", "--model", default="default", show_default=True, help="Shipped model name or a .safetensors path.")
@click.option("--split", type=click.Choice(["model", "all"]), default="model", show_default=True,
              help="model: the test split recorded in the checkpoint; all: every sample given.")
@click.option("--neutral", type=click.Choice(EMOTIONS), default=None)
@click.option("-o", "--out-dir", type=click.Path(file_okay=False), help="Write report.json, report.txt and "
              "confusion matrices (PNG) here.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None)
@click.option("-j", "--workers", type=int, default=2, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--overwrite", is_flag=True)
@click.option("-v", "--verbose", count=True)
def evaluate(data, model, split, neutral, out_dir, cache_dir, workers, device, overwrite, verbose) -> None:
    """Accuracy, top-3, precision, recall, per-class figures, calibration and confusion matrices,
    for bimodal, video-only and audio-only, per dataset and overall."""
    _setup_logging(verbose, False)
    from .evaluate import run_evaluation

    try:
        text = run_evaluation(data=list(data), model=model, split=split, neutral=neutral,
                              out_dir=Path(out_dir) if out_dir else None, cache_dir=cache_dir, workers=workers,
                              device=device, overwrite=overwrite, console=_console())
    except EmoannotateError as err:
        raise _fail(err) from err
    click.echo(text)


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


if __name__ == "__main__":  # pragma: no cover
    main()
