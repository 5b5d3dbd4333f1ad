"""Inputs -> jobs: files, folders (recursive), glob patterns, URLs (`storage`) and "-" (paths on stdin).

Jobs come back sorted and de-duplicated, each with a unique output `key` (its stem, or
its path relative to the inputs' common folder when two files share a stem).
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, TextIO

from .constants import MEDIA_EXTENSIONS
from .errors import InputError
from .storage import expand_url, is_url, url_name

if TYPE_CHECKING:  # imported where used: `walk` serves the datasets package, which stays light
    from .records import MediaJob

logger = logging.getLogger(__name__)

_GLOB_CHARS = set("*?[")
_SKIPPED_DIRS = ("__MACOSX",)  # macOS zip metadata: holds "._<name>" copies of every file


def is_media(path: Path) -> bool:
    """True for a file name with a known video or audio extension (case-insensitive)."""
    return path.suffix.lower() in MEDIA_EXTENSIONS


def walk(root: Path) -> list[Path]:
    """Every file below `root`, sorted.

    Follows folder links, but enters each real folder once, so a link loop (or a second
    link to one folder) ends instead of repeating. Skips hidden entries and macOS
    `__MACOSX` folders (whose `._name` files would look like media). An unreadable folder
    is skipped with a warning on this module's logger.
    """
    seen: set[str] = set()
    found: list[Path] = []
    for folder, dirs, names in os.walk(root, followlinks=True, onerror=_walk_error):
        real = os.path.realpath(folder)
        if real in seen:  # a link loop or a second link to one folder
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS)
        found.extend(Path(folder, n) for n in names if not n.startswith("."))
    return sorted(found)


def _walk_error(error: OSError) -> None:
    logger.warning("skipping %s: %s", error.filename, error.strerror)


def _media_below(folder: Path) -> list[Path]:
    return [p for p in walk(folder) if is_media(p)]


def expand(inputs: Sequence[str], *, stdin: TextIO | None = None) -> list[Path | str]:
    """Expand inputs to file paths, and URLs as str (unsorted, possibly repeated).

    A folder gives its media files, recursively (see `walk`); a glob pattern gives its
    media matches; "-" reads one path per line from `stdin` (surrounding whitespace
    stripped, blank lines skipped; every other line is a path, "#1 interview.mp4" too).
    A file named explicitly is kept whatever its extension, and a path that does not exist
    is kept too, so that it becomes an error row naming it instead of vanishing. So is a
    link whose target is missing: its error row names the target. A URL (`storage.is_url`)
    is expanded the same way on its file system (`storage.expand_url`).
    """
    paths: list[Path | str] = []
    for item in inputs:
        if is_url(item):
            paths.extend(expand_url(item, MEDIA_EXTENSIONS))
            continue
        if item == "-":
            if stdin is None:
                raise InputError("'-' reads paths from standard input, but none was given")
            lines = [ln.strip() for ln in stdin]
            paths.extend(expand([ln for ln in lines if ln]))
            continue
        p = Path(item).expanduser()
        if p.is_dir():
            paths.extend(_media_below(p))
        elif p.is_symlink() and not p.exists():
            paths.append(p)  # a broken link: its error row names the missing target (media.probe)
        elif not p.exists() and _GLOB_CHARS & set(item):
            matches = [Path(m) for m in glob.glob(str(p), recursive=True)]
            found = [m for m in matches if m.is_file() and is_media(m)]
            for m in matches:
                if m.is_dir():
                    found.extend(_media_below(m))
            if not found:
                raise InputError(f"{item}: the pattern matches no media file ({', '.join(MEDIA_EXTENSIONS)})")
            paths.extend(found)
        else:
            paths.append(p)
    return paths


def make_jobs(paths: Iterable[Path | str]) -> list[MediaJob]:
    """Sort, de-duplicate (by resolved path, or URL) and give each file a unique output key."""
    from .records import MediaJob

    unique: dict[str, Path | str] = {}
    for p in paths:
        if isinstance(p, str):
            real = p
        else:
            try:
                real = str(p.resolve())
            except (RuntimeError, OSError):  # a link loop: kept as given, its error row says so
                real = os.path.abspath(p)
        unique.setdefault(real, p)
    resolved = sorted(unique)
    if not resolved:
        return []
    names = {r: (url_name(r) if is_url(r) else PurePosixPath(Path(r).as_posix())) for r in resolved}
    stems = Counter(n.stem for n in names.values())
    try:
        common: PurePosixPath | None = PurePosixPath(os.path.commonpath([str(n.parent) for n in names.values()]))
    except ValueError:  # local paths and URLs together: no common folder
        common = None
    keys = []
    for r in resolved:
        name = names[r]
        if stems[name.stem] == 1:
            keys.append(safe_key(name.stem))
        else:
            parts = name.relative_to(common).parts if common is not None and name.is_relative_to(common) else name.parts
            keys.append(safe_key("__".join(parts).replace(".", "_")))
    dup = [k for k, n in Counter(keys).items() if n > 1]
    if dup:  # distinct inputs can share a name across file systems: never overwrite silently
        raise InputError(f"two inputs map to the same output name {dup[0]!r}; rename one")
    jobs = []
    for i, (r, k) in enumerate(zip(resolved, keys)):
        given = unique[r]
        jobs.append(MediaJob(i, Path(given), k) if isinstance(given, Path) else MediaJob(i, Path(names[r].name), k,
                                                                                         url=given))
    return jobs


MAX_KEY_BYTES = 200  # output names are "<key><suffix>"; file systems allow 255 bytes


def safe_key(name: str) -> str:
    """A file-system-safe output stem; a long one is cut and given a short hash, so names stay unique."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "file"
    if len(safe.encode()) <= MAX_KEY_BYTES:
        return safe
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    cut = safe.encode()[: MAX_KEY_BYTES - 11].decode(errors="ignore")
    return f"{cut}-{digest}"


def discover(inputs: Sequence[str], *, stdin: TextIO | None = None) -> list[MediaJob]:
    """Inputs (files, folders, globs, "-") -> sorted, de-duplicated jobs with unique keys."""
    if not inputs:
        raise InputError("no input given: name video files, folders, glob patterns, or - for stdin")
    return make_jobs(expand(inputs, stdin=stdin))
