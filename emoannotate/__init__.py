"""emoannotate: per-window emotion annotation of videos from face and voice together.

    >>> import emoannotate
    >>> emoannotate.annotate("interview.mp4").to_pandas()

The names below load on first use, so `import emoannotate.datasets` (say) does not pull in torch.
"""

from __future__ import annotations

import os
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

# oneDNN (torch's CPU kernels) caches a compiled primitive per input shape. Our shapes change with
# every batch (the number of face crops; MTCNN's candidate boxes), so that cache only grows: it
# was the whole of the memory that rose with video length (docs/BENCHMARKS.md), and caching
# bought no speed on these shapes (measured). Off unless the user set it; read by torch when it
# first builds a primitive, and inherited by the worker processes.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "0")

try:
    __version__ = version("emoannotate")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"

from .constants import EMOTIONS  # noqa: E402

_LAZY = {
    "annotate": "api", "Results": "api", "load_results": "api",
    "Annotator": "pipeline", "RunOptions": "pipeline",
    "ProgressHook": "hooks",
    "FileResult": "records", "MediaArrays": "records", "WindowResult": "records",
    "available_models": "registry", "load_model": "registry",
}

__all__ = ["EMOTIONS", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
