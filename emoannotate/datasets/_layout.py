"""Which reader a dataset spec names: `name:path` parsing, layout detection and dispatch."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ..discover import walk
from ..errors import DatasetError
from ._common import (
    CREMA_D,
    DATASET_NAMES,
    EMODB,
    ENTERFACE,
    FER2013,
    GENERIC,
    LONDON_FACES,
    MUXSPACE,
    RAVDESS,
    RAVDESS_WINDOWS,
    RML,
    Builder,
    Sample,
    _check_dir,
    _load_folder,
)
from .crema_d import _crema_d
from .emodb import _emodb
from .enterface import _enterface
from .fer2013 import _fer2013
from .generic import _generic_folder, load_generic
from .london import _london
from .muxspace import _muxspace
from .ravdess import _ravdess, _ravdess_windows
from .rml import _rml

logger = logging.getLogger(__name__)

_NAME_ALIASES = {"cremad": CREMA_D, "crema": CREMA_D, "emo-db": EMODB, "enterface05": ENTERFACE, "fer": FER2013,
                 "london": LONDON_FACES, "facial-expressions": MUXSPACE}

_BUILDERS: dict[str, Builder] = {
    RAVDESS: _ravdess,
    RAVDESS_WINDOWS: _ravdess_windows,
    CREMA_D: _crema_d,
    EMODB: _emodb,
    ENTERFACE: _enterface,
    RML: _rml,
    GENERIC: _generic_folder,
    FER2013: _fer2013,
    LONDON_FACES: _london,
    MUXSPACE: _muxspace,
}


def load_dataset(spec: str | Path, *, neutral: str | None = None) -> list[Sample]:
    """Samples of one dataset named by `"name:path"`, or by a path whose layout is detected.

    Names: ravdess, ravdess-windows, crema-d (or cremad), emodb, enterface, rml, generic, and the
    face photographs fer2013, london-faces, muxspace (named, never detected), e.g.
    `ravdess:/data/RAVDESS`, `generic:my.csv`. A bare path is a CSV (generic) or a folder
    whose file names are tried against every corpus above, the generic emotion-folder
    layout last. A folder that fits two corpora (say RAVDESS clips beside their
    preprocessed windows) raises DatasetError asking for a name.
    """
    name, path = _parse_spec(spec)
    if name is None:
        name = detect_layout(path)
        logger.info("%s looks like %s", path, name)
    if name == GENERIC:
        return load_generic(path, neutral=neutral)
    return _load_folder(_BUILDERS[name], path, neutral)


def detect_layout(path: str | Path) -> str:
    """The dataset name whose layout `path` follows; DatasetError when none or several do."""
    path = Path(path).expanduser()
    if path.is_file():
        if path.suffix.lower() == ".csv":
            return GENERIC
        raise DatasetError(f"{path} is a file but not a CSV: give a folder or a path,label CSV")
    root = _check_dir(path)
    files = walk(root)
    found = []
    for name in (RAVDESS, RAVDESS_WINDOWS, CREMA_D, EMODB, ENTERFACE, RML):
        try:
            if _BUILDERS[name](root, files, "calm"):  # count neutral clips too
                found.append(name)
        except DatasetError:
            pass
    if len(found) > 1:
        raise DatasetError(
            f"{root} fits several layouts ({', '.join(found)}); say which, e.g. "
            f"'{found[0]}:{root}'"
        )
    if found:
        return found[0]
    try:
        _BUILDERS[GENERIC](root, files, "calm")
    except DatasetError as exc:
        raise DatasetError(
            f"could not recognise the layout of {root}: it fits none of "
            f"{', '.join(DATASET_NAMES)} ({exc}). Name the dataset as 'name:path', or list "
            "the files in a CSV with columns path,label,speaker"
        ) from None
    return GENERIC


def _parse_spec(spec: str | Path) -> tuple[str | None, Path]:
    """("name" or None for autodetect, path) of a dataset spec."""
    if isinstance(spec, Path):
        return None, spec.expanduser()
    name, sep, rest = spec.partition(":")
    key = _NAME_ALIASES.get(name.strip().lower(), name.strip().lower())
    if sep and key in DATASET_NAMES:
        if not rest:
            raise DatasetError(f"dataset spec {spec!r} has no path after '{name}:'")
        return key, Path(rest).expanduser()
    # Not a known name. A one-letter prefix is a Windows drive; a path may contain ':'.
    if sep and len(name) > 1 and re.fullmatch(r"[A-Za-z][\w-]*", name) and not Path(spec).exists():
        raise DatasetError(
            f"unknown dataset name {name!r} in {spec!r}; known names: {', '.join(DATASET_NAMES)}"
            " (as 'name:path'), or give a bare path to detect the layout"
        )
    return None, Path(spec).expanduser()


def portable_spec(spec: str | Path) -> str:
    """A dataset spec as a checkpoint records it: the corpus name and the folder's own name, no machine paths.

    "ravdess:/data/corpora/RAVDESS" -> "ravdess:RAVDESS"; a bare path keeps only its last part.
    """
    name, sep, rest = str(spec).partition(":")
    key = _NAME_ALIASES.get(name.strip().lower(), name.strip().lower())
    if sep and key in DATASET_NAMES:
        return f"{key}:{Path(rest).name}"
    return Path(str(spec)).name
