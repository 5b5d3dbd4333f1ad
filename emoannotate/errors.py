"""The project's exceptions: each message names the file and says what to do."""


class EmoannotateError(Exception):
    """Base class for every error emoannotate raises on purpose."""


class InputError(EmoannotateError):
    """A path, file or option that cannot be used (missing, unreadable, wrong kind)."""


class MediaError(InputError):
    """A media file that ffmpeg cannot open or decode."""


class ModelLoadError(EmoannotateError):
    """A checkpoint that is missing, corrupt or does not match the architecture."""


class DatasetError(EmoannotateError):
    """A training or evaluation dataset that is empty or laid out unexpectedly."""


class OutputError(EmoannotateError):
    """An output that cannot be written (read-only folder, full disk, closed pipe)."""
