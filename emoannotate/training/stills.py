"""Still photographs as training windows: `extract.extract_still`, then the frozen backbone, cached as features.

A still's window is 15 crops of one photo (2.2 MB of pixels); the training cache keeps only
the backbone's per-frame features (15 x F float32, 8 kB), keyed by the photo, the
preprocessing and the backbone's weights, so 20,000 photos cost 160 MB, not 44 GB.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import face_preprocessing
from ..constants import FRAMES_PER_WINDOW
from ..datasets import Sample
from ..hooks import NULL_HOOK, ProgressHook
from ..model.backbone import FaceBackbone
from .cache import save_npz

log = logging.getLogger("emoannotate")

STILLS_VERSION = 2  # bump when extract_still or what is cached per photo changes (2: keyed by the face preprocessing)
CHUNK = 64  # photos per worker task


def backbone_digest(backbone: FaceBackbone) -> str:
    """A short hash of the backbone's weights: features of another backbone are never reused."""
    h = hashlib.sha256()
    for name, tensor in sorted(backbone.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _key(sample: Sample) -> str:
    assert sample.image is not None
    st = sample.image.stat()
    text = "\n".join([str(STILLS_VERSION), json.dumps(face_preprocessing(), sort_keys=True),
                      f"{sample.image.resolve()}|{st.st_size}|{int(st.st_mtime)}|{sample.cropped}"])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def still_features(sample: Sample, backbone: FaceBackbone, detector=None) -> tuple[np.ndarray, np.ndarray] | None:
    """(features (15, F) float32, mask (15,) bool) of one photo's window, or None without a face."""
    from ..extract import extract_still

    x = extract_still(sample.image, cropped=sample.cropped, detector=detector)  # type: ignore[arg-type]
    if x.faces is None:
        return None
    crops = torch.from_numpy(x.faces[x.face_mask])
    with torch.no_grad():
        found = backbone.forward_features(crops.permute(0, 3, 1, 2).float().div_(255.0)).numpy()
    feats = np.zeros((FRAMES_PER_WINDOW, found.shape[1]), np.float32)
    feats[x.face_mask] = found
    return feats, x.face_mask


_WORKER: dict = {}


def _init_worker(backbone_name: str, state: dict[str, torch.Tensor]) -> None:
    torch.set_num_threads(1)
    from ..model.net import build_backbone

    backbone = build_backbone(backbone_name)
    backbone.load_state_dict(state)
    _WORKER["backbone"] = backbone.eval()


def _compute_chunk(samples: list[Sample], out_dir: str) -> list[bool]:
    from ..extract import default_detector

    done = []
    for s in samples:
        try:
            result = still_features(s, _WORKER["backbone"], default_detector())
        except Exception as err:  # noqa: BLE001 - one unreadable photo is logged and skipped
            log.error("%s: skipped (%s)", s.image, err)
            result = None
        path = Path(out_dir) / f"{_key(s)}.npz"
        if result is None:
            save_npz(path, none=np.array(True))
        else:
            save_npz(path, features=result[0], mask=result[1])
        done.append(result is not None)
    return done


def cached_still_features(samples: Sequence[Sample], backbone: FaceBackbone, backbone_name: str,
                          cache_dir: str | Path, *, workers: int = 2, hook: ProgressHook = NULL_HOOK
                          ) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Features of every photo sample (None where no face was found), computing what is not cached.

    `backbone_name` rebuilds the same architecture in each worker process, which is given
    `backbone`'s weights; the cache is keyed by their digest (`backbone_digest`).
    """
    root = Path(cache_dir) / "stills" / backbone_digest(backbone)
    root.mkdir(parents=True, exist_ok=True)
    paths = [root / f"{_key(s)}.npz" for s in samples]
    todo = [s for s, p in zip(samples, paths) if not p.is_file()]
    total, done = len(samples), len(samples) - len(todo)
    hook.step("photos", done, total)
    chunks = [todo[i:i + CHUNK] for i in range(0, len(todo), CHUNK)]
    if chunks:
        if workers > 0:
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                     initargs=(backbone_name, backbone.state_dict())) as pool:
                for part in pool.map(_compute_chunk, chunks, [str(root)] * len(chunks)):
                    done += len(part)
                    hook.step("photos", done, total)
        else:
            _WORKER["backbone"] = backbone.eval()
            for chunk in chunks:
                done += len(_compute_chunk(chunk, str(root)))
                hook.step("photos", done, total)
    out: list[tuple[np.ndarray, np.ndarray] | None] = []
    for p in paths:
        with np.load(p) as z:
            out.append(None if "none" in z else (z["features"], z["mask"]))
    return out
