"""What the command line draws on stderr: the rich progress bar, the log handler, the run summary.

The only module that uses rich; the library reports through `hooks.ProgressHook` and logging.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from .hooks import ProgressHook
from .records import FileResult, MediaJob


def stderr_console() -> Console:
    return Console(stderr=True)


def setup_logging(verbose: int = 0, quiet: bool = False, *, default: int = logging.WARNING) -> None:
    """The package logger to stderr: errors only when quiet, debug with -v.

    On a terminal through rich; into a pipe or a file, one plain line per message (never
    wrapped), so that `grep` finds a file's name on the line that names it.
    """
    import sys

    from rich.logging import RichHandler

    level = logging.ERROR if quiet else logging.DEBUG if verbose else default
    handler: logging.Handler
    if sys.stderr.isatty():
        handler = RichHandler(console=stderr_console(), show_time=False, show_path=False, markup=False)
        fmt = "%(message)s"
    else:
        handler = logging.StreamHandler(sys.stderr)
        fmt = "%(levelname)s %(message)s"
    # Other libraries' loggers stay at warnings (numba's debug output alone is megabytes); ours follows -v/-q.
    logging.basicConfig(level=max(level, logging.WARNING), handlers=[handler], format=fmt, force=True)
    logging.getLogger("emoannotate").setLevel(level)


class RichProgress(ProgressHook):
    """A progress bar on stderr for annotation (windows) and training phases; epochs as lines."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or stderr_console()
        self.progress = Progress(TextColumn("{task.description:40}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=self.console, transient=True)
        self.tasks: dict[str, TaskID] = {}
        self.progress.start()

    def planned(self, jobs: Sequence[MediaJob], n_windows: int) -> None:
        self.tasks["windows"] = self.progress.add_task(f"{len(jobs)} input(s)", total=max(n_windows, 1))

    def advance(self, job: MediaJob, n_windows: int) -> None:
        self.progress.update(self.tasks["windows"], advance=n_windows, description=job.path.name[:40])

    def step(self, name: str, completed: int, total: int | None = None) -> None:
        if name not in self.tasks:
            self.tasks[name] = self.progress.add_task(name, total=total)
        self.progress.update(self.tasks[name], completed=completed, total=total)

    def epoch(self, record: dict[str, Any]) -> None:
        line = f"epoch {record['epoch']:3d}  train loss {record['train_loss']:.3f}"
        if "val_loss" in record:
            line += f"  val loss {record['val_loss']:.3f}  val acc {record['val_accuracy']:.1%}"
        self.console.print(line)

    def close(self) -> None:
        self.progress.stop()


def print_summary(console: Console, results: Sequence[FileResult], where: str) -> None:
    """A table per input (windows, top emotion and its share, modalities, statuses), a table per person
    where people were followed (windows, speaking time, shares of emotions, face-voice disagreement),
    and a closing line."""
    import pandas as pd
    from rich.table import Table

    from .summary import person_summaries

    table = Table(title="emoannotate summary", title_justify="left")
    for col in ("file", "windows", "top emotion", "share", "modalities", "status"):
        table.add_column(col, overflow="fold")
    for r in results:
        df = pd.DataFrame([(w.emotion, w.modalities, w.status) for w in r.windows],
                          columns=["emotion", "modalities", "status"])
        emotions = df["emotion"].dropna().value_counts()
        top, share = (emotions.index[0], f"{emotions.iloc[0] / emotions.sum():.0%}") if len(emotions) else ("-", "-")
        counts = {c: ", ".join(f"{k} {v}" for k, v in df[c].value_counts().items()) for c in ("modalities", "status")}
        table.add_row(r.job.path.name, str(len({w.window for w in r.windows})), str(top), share,
                      counts["modalities"], "[red]error[/] (see the log above)" if r.error else counts["status"])
    console.print(table)
    per_person = [(r, s) for r in results for s in person_summaries(r.windows) if s.person is not None]
    if per_person:
        people = Table(title="by person", title_justify="left")
        for col in ("file", "person", "windows", "speaking s", "emotions", "face vs voice disagree"):
            people.add_column(col, overflow="fold")
        for r, s in per_person:
            shares = ", ".join(f"{e} {v:.0%}" for e, v in list(s.shares.items())[:3])
            disagree = f"{s.disagreement:.0%} of {s.compared}" if s.compared else "-"
            people.add_row(r.job.path.name, str(s.person), str(s.windows), f"{s.speaking_s:.1f}", shares or "-",
                           disagree)
        console.print(people)
    n_fail = sum(not r.ok for r in results)
    n_retried = sum(bool(r.warnings) for r in results)
    n_windows = sum(len({w.window for w in r.windows}) for r in results)  # rows: one per person with --faces all
    console.print(f"{n_windows} windows from {len(results)} input(s) written to {where}"
                  + (f"; [red]{n_fail} input(s) failed[/]" if n_fail else "")
                  + (f"; [yellow]{n_retried} input(s) read again after a worker process died[/]" if n_retried else ""))
