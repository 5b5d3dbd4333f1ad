"""Inputs on other file systems: URLs that fsspec opens, read as local paths are.

    emoannotate run s3://archive/interviews/ --out rows.csv          # a folder: every media file below it
    emoannotate run 'gs://bucket/2024/*.mp4' --out rows.csv           # a glob pattern
    emoannotate run 'zip://a.mp4::file:///data/batch.zip' --out -     # a chained URL (a file in a zip)

A URL is a name with "://" (`is_url`); everything else is a local path. fsspec comes with torch;
each object store needs its own package (s3fs for s3://, gcsfs for gs://, aiohttp for http(s)://),
which `filesystem` names when it is missing. PyAV reads a URL through the file object fsspec opens
(`readable`), so every process that decodes it (a local worker, a Ray node) needs the same
credentials, as with any fsspec code. What says a remote file is unchanged (`stamp`, for `--resume`)
is its size and the version the store reports (ETag, generation, mtime).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any

from .errors import InputError, MediaError

# what fsspec's file systems report that changes with a file's content, in order of preference
_VERSION_KEYS = ("ETag", "etag", "generation", "md5Hash", "CRC", "mtime", "LastModified", "last_modified",
                 "date_time", "created")


def is_url(name: str | Path) -> bool:
    """True for a URL (a str with "://"); a Path is always local."""
    return isinstance(name, str) and "://" in name


def filesystem(url: str) -> tuple[Any, str]:
    """(fsspec file system, its path) of `url`; InputError naming the package a protocol needs."""
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as err:
        raise InputError(f"{url}: reading this kind of URL needs another package: {err}") from None
    except ValueError as err:  # an unknown protocol
        raise InputError(f"{url}: {err}") from None


def url_name(url: str) -> PurePosixPath:
    """The last part of a URL's path, as a file name (for output names and messages)."""
    last = url.split("::", 1)[0].split("://", 1)[-1]
    return PurePosixPath(last.split("?", 1)[0])


def expand_url(url: str, media_suffixes: tuple[str, ...]) -> list[str]:
    """A URL -> the URLs of the files it names: itself (a file, or a missing one: its error row
    names it), every media file below it (a folder), or the media files a glob pattern matches."""
    fs, path = filesystem(url)
    try:
        if any(c in path for c in "*?["):
            found = fs.glob(path)
        elif fs.isdir(path):
            found = fs.find(path)
        else:
            return [url]
    except OSError as err:
        raise InputError(f"{url}: cannot list: {err}") from None
    media = sorted(p for p in found if PurePosixPath(p).suffix.lower() in media_suffixes)
    if not media:
        raise InputError(f"{url}: no media file found there ({', '.join(media_suffixes)})")
    if "::" in url:  # a chained URL: keep what follows the first link (the outer file system)
        chain = url.split("::", 1)[1]
        return [f"{fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]}://{p}::{chain}" for p in media]
    return [fs.unstrip_protocol(p) for p in media]


def stamp(url: str) -> dict[str, Any] | None:
    """{"path", "size", "version"} of a remote file (what `--resume` compares); None when it cannot be read."""
    try:
        fs, path = filesystem(url)
        info = fs.info(path)
    except (InputError, OSError):
        return None
    version = next((info[k] for k in _VERSION_KEYS if info.get(k) is not None), None)
    return {"path": url, "size": info.get("size"), "version": str(version) if version is not None else None}


def check_readable(url: str) -> tuple[Any, str]:
    """(file system, path) of a URL that names a file with bytes in it; MediaError naming it otherwise."""
    try:
        fs, path = filesystem(url)
        info = fs.info(path)
    except FileNotFoundError:
        raise MediaError(f"{url}: no such file") from None
    except (InputError, OSError) as err:
        raise MediaError(f"{url}: cannot read: {err}") from None
    if info.get("type") == "directory":
        raise MediaError(f"{url}: not a file")
    if info.get("size") == 0:
        raise MediaError(f"{url}: file is empty (0 bytes)")
    return fs, path


@contextlib.contextmanager
def readable(path: str | Path) -> Iterator[str | IO[bytes]]:
    """What `av.open` reads: a local path as a str, or a URL's file as a seekable binary file object
    (fsspec's, after `check_readable`), closed on the way out."""
    if not is_url(path):
        yield str(path)
        return
    url = str(path)
    fs, inner = check_readable(url)
    try:
        f = fs.open(inner, "rb")
    except OSError as err:
        raise MediaError(f"{url}: cannot open: {err}") from None
    try:
        yield f
    finally:
        f.close()
