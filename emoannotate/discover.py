"""Inputs -> jobs: files, folders (recursive), glob patterns and "-" (paths on stdin).

Jobs come back sorted and de-duplicated, each with a unique output `key` (its stem, or
its path relative to the inputs' common folder when two files share a stem).
"""

from __future__ import annotations

import glob
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

from .constants import MEDIA_EXTENSIONS
from .errors import InputError
from .records import MediaJob

_GLOB_CHARS = set("*?[")


def is_media(path: Path) -> bool:
    """True for a file name with a known video or audio extension (case-insensitive)."""
    return path.suffix.lower() in MEDIA_EXTENSIONS


def _walk(folder: Path) -> Iterable[Path]:
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            p = Path(root) / name
            if not name.startswith(".") and is_media(p):
                yield p


def expand(inputs: Sequence[str], *, stdin: TextIO | None = None) -> list[Path]:
    """Expand inputs to file paths (unsorted, possibly repeated).

    A folder gives its media files, recursively (hidden ones skipped); a glob pattern
    gives its media matches; "-" reads one path per line from `stdin` (blank lines and
    lines starting with # skipped). A file named explicitly is kept whatever its
    extension, and a path that does not exist is kept too, so that it becomes an error
    row naming it instead of vanishing.
    """
    paths: list[Path] = []
    for item in inputs:
        if item == "-":
            if stdin is None:
                raise InputError("'-' reads paths from standard input, but none was given")
            lines = [ln.strip() for ln in stdin]
            paths.extend(expand([ln for ln in lines if ln and not ln.startswith("#")]))
            continue
        p = Path(item).expanduser()
        if p.is_dir():
            paths.extend(_walk(p))
        elif not p.exists() and _GLOB_CHARS & set(item):
            matches = [Path(m) for m in glob.glob(str(p), recursive=True)]
            found = [m for m in matches if m.is_file() and is_media(m)]
            for m in matches:
                if m.is_dir():
                    found.extend(_walk(m))
            if not found:
                raise InputError(f"{item}: the pattern matches no media file ({', '.join(MEDIA_EXTENSIONS)})")
            paths.extend(found)
        else:
            paths.append(p)
    return paths


def make_jobs(paths: Iterable[Path]) -> list[MediaJob]:
    """Sort, de-duplicate (by resolved path) and give each file a unique output key."""
    unique: dict[Path, Path] = {}
    for p in paths:
        unique.setdefault(p.resolve(), p)
    resolved = sorted(unique)
    if not resolved:
        return []
    stems = Counter(p.stem for p in resolved)
    common = Path(os.path.commonpath([str(p.parent) for p in resolved]))
    keys = []
    for p in resolved:
        if stems[p.stem] == 1:
            keys.append(_safe(p.stem))
        else:
            rel = p.relative_to(common)
            keys.append(_safe("__".join(rel.parts).replace(".", "_")))
    dup = [k for k, n in Counter(keys).items() if n > 1]
    if dup:  # cannot happen for distinct resolved paths, but never overwrite silently
        raise InputError(f"two inputs map to the same output name {dup[0]!r}; rename one")
    return [MediaJob(i, unique[p], k) for i, (p, k) in enumerate(zip(resolved, keys))]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "file"


def discover(inputs: Sequence[str], *, stdin: TextIO | None = None) -> list[MediaJob]:
    """Inputs (files, folders, globs, "-") -> sorted, de-duplicated jobs with unique keys."""
    if not inputs:
        raise InputError("no input given: name video files, folders, glob patterns, or - for stdin")
    return make_jobs(expand(inputs, stdin=stdin))
