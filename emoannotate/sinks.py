"""Where output bytes go: whole files written atomically, files that grow by whole inputs, stdout.

Every destination fails with OutputError (one line naming the path and the cause) and never
leaves half of something behind: a temporary file is renamed only once complete, and an
append that fails is taken back.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from .errors import OutputError


def write_atomically(path: Path, data: bytes) -> None:
    """Write a whole file under a temporary name, then rename it: a reader (or a kill) never sees half of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException as err:  # a full disk, or Ctrl-C / SIGTERM mid-write: the temporary file goes too
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise OutputError(f"cannot write {path}: {err.strerror or err}") from err
        raise


class AppendFile:
    """A file that grows by whole inputs: each `append` is one write, undone if it fails (e.g. a full disk)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file = open(path, "wb", buffering=0)
        except OSError as err:
            raise OutputError(f"cannot write {path}: {err.strerror or err}") from err

    def append(self, text: str) -> None:
        data = text.encode("utf-8")
        pos = self._file.tell()
        try:
            view = memoryview(data)
            while view:
                view = view[self._file.write(view):]
        except OSError as err:
            try:
                self._file.truncate(pos)  # what was there stays valid: no half row
            except OSError:
                pass
            raise OutputError(f"cannot write {self.path}: {err.strerror or err}") from err

    def close(self) -> None:
        self._file.close()


_data_stdout: TextIO | None = None  # the real standard output while `stdout_reserved` holds it


@contextlib.contextmanager
def stdout_reserved() -> Iterator[None]:
    """Standard output for the rows only: within, `sys.stdout` is standard error for everything else
    that prints (a library's notices, e.g. Ray's "(raylet) ..." lines), and `Stdout` writes to the real
    one, so `run --out - | next-tool` gets nothing but rows."""
    global _data_stdout
    if _data_stdout is not None:  # already reserved
        yield
        return
    _data_stdout, sys.stdout = sys.stdout, sys.stderr
    try:
        yield
    finally:
        sys.stdout, _data_stdout = _data_stdout, None


class Stdout:
    """Standard output as a destination: text written and flushed per input."""

    path = Path("-")

    @staticmethod
    def _stream() -> TextIO:
        return _data_stdout or sys.stdout

    def append(self, text: str) -> None:
        try:
            self._stream().write(text)
            self._stream().flush()
        except BrokenPipeError as err:  # `| head`: the reader has gone
            raise OutputError("standard output was closed by the program reading it") from err

    def close(self) -> None:
        try:
            self._stream().flush()
        except BrokenPipeError:
            pass


def make_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create the folder {folder}: {err.strerror or err}") from err
