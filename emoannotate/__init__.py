"""emoannotate: per-window emotion annotation of videos from face and voice together."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("emoannotate")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"

from .constants import EMOTIONS  # noqa: E402

__all__ = ["EMOTIONS", "__version__"]
