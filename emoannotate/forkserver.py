"""The worker processes' forkserver: what it imports once, and starting it before the caller's own imports.

Workers fork from a forkserver (plain fork after torch has started threads is unsafe) that has
imported the extraction stack once: torch, facenet-pytorch (torchvision, which imports
torch._dynamo) and librosa's feature modules, about 4 s of one core on a 2-core machine.
Started when the first pool spawns a worker, those imports follow everything the main process
did before (its own torch, the model); `start()` begins them at once, in the background, so
that they overlap it. The command line calls it before it imports torch (`cli.run`).
"""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing import forkserver
from multiprocessing.context import BaseContext

# Imported once by the forkserver before it forks workers (librosa itself is a lazy stub;
# these are the parts the features use). Measured in bench/: about 3 s less per worker start.
WORKER_PRELOAD = ("emoannotate.extract", "emoannotate.featuriser", "facenet_pytorch", "librosa.core.spectrum",
                  "librosa.core.constantq", "librosa.feature", "scipy.signal")


def context() -> BaseContext:
    """The context worker pools start their processes in: the forkserver, with WORKER_PRELOAD."""
    from .audio import use_librosa_cache

    use_librosa_cache()  # the forkserver imports librosa with this process's environment
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(list(WORKER_PRELOAD))
    return ctx


def start() -> None:
    """Start the forkserver now, without waiting for its imports (nothing happens if it runs already).

    It serves every pool of this process, and exits with it. Started for nothing (a run that
    turns out to need no workers), it costs one core for its imports and the memory they hold.
    """
    context()
    forkserver.ensure_running()
