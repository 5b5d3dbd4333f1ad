"""Face detection and crops: MTCNN (facenet-pytorch, with the weights its wheel ships), tracked between key frames.

Frames are shrunk for detection (MTCNN's cost grows with pixels) and the boxes mapped back,
so the 224x224 crop is cut from the full-resolution frame. Like the preprocessing the
model was trained on, the crop is the detector's box resized to 224x224 (no margin).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .constants import FACE_SIZE

DETECT_MAX_SIDE = 640  # px, frames are shrunk so their longer side is at most this for MTCNN
MIN_FACE_PX = 40  # px at detection scale: smaller faces are ignored
MIN_FACE_PROB = 0.90  # MTCNN confidence under which a detection is ignored
KEY_FRAME_EVERY = 7  # frames: MTCNN on frames 0, 7 and 14 of a window, boxes carried between them
MIN_TRACK_IOU = 0.5  # two key frames' boxes at least this alike are one face that moved a little


@dataclass(frozen=True)
class WindowFaces:
    """Faces of one window's frames.

    crops:     (n_frames, 224, 224, 3) uint8 RGB, zeros where `mask` is False.
    mask:      (n_frames,) bool, True where a face was found.
    boxes:     (n_frames, 4) float32 (x1, y1, x2, y2) in source pixels, NaN without a face.
    max_faces: the most faces found in one frame (the largest one is always taken).
    """

    crops: np.ndarray
    mask: np.ndarray
    boxes: np.ndarray
    max_faces: int

    @property
    def n_found(self) -> int:
        return int(self.mask.sum())

    def representative_box(self) -> tuple[float, float, float, float] | None:
        """Box of the found face closest to the window's middle frame, or None."""
        idx = np.flatnonzero(self.mask)
        if idx.size == 0:
            return None
        mid = (self.mask.size - 1) / 2
        x1, y1, x2, y2 = (float(v) for v in self.boxes[idx[np.argmin(np.abs(idx - mid))]])
        return (x1, y1, x2, y2)


class FaceDetector:
    """MTCNN wrapper that takes a window's frames and returns its largest faces.

    Frames of one call must share a size (they come from one video); `None` frames
    (past the end of the video stream) count as frames without a face.
    """

    def __init__(self, *, device: str | torch.device = "cpu", detect_max_side: int = DETECT_MAX_SIDE,
                 min_face_px: int = MIN_FACE_PX, min_prob: float = MIN_FACE_PROB,
                 key_every: int = KEY_FRAME_EVERY) -> None:
        from facenet_pytorch import MTCNN  # heavy import, kept local

        if key_every < 1:
            raise ValueError(f"key_every must be at least 1 (1: detect on every frame), got {key_every}")
        self.device = torch.device(device)
        self.key_every = key_every
        self.detect_max_side = detect_max_side
        self.min_face_px = min_face_px
        self.min_prob = min_prob
        self.mtcnn = MTCNN(keep_all=True, device=self.device, min_face_size=min_face_px)

    def detect(self, frames: Sequence[np.ndarray | None], *, size: int = FACE_SIZE) -> WindowFaces:
        """Find the largest face in each frame; frames are (H, W, 3) uint8 RGB.

        MTCNN runs on every `key_every`-th frame and the last (0, 7 and 14 of a window's 15);
        where two neighbouring key frames show the face in about the same place (IoU of
        MIN_TRACK_IOU or more) the frames between them get the box interpolated between the two,
        and where they do not (a cut, a turn, a face coming or going) MTCNN runs on those frames
        too. Faces in interviews barely move in 0.24 s: this finds the same boxes (IoU 0.96 on
        the RAVDESS clips, docs/BENCHMARKS.md) for a third of the cost.
        """
        n = len(frames)
        crops = np.zeros((n, size, size, 3), np.uint8)
        mask = np.zeros(n, bool)
        boxes = np.full((n, 4), np.nan, np.float32)
        available = {i: f for i, f in enumerate(frames) if f is not None}
        present = list(available)
        if not present:
            return WindowFaces(crops, mask, boxes, 0)
        h, w = available[present[0]].shape[:2]
        if min(h, w) < self.min_face_px:  # no face of the smallest size MTCNN looks for fits in the frame
            return WindowFaces(crops, mask, boxes, 0)
        keys = sorted({i for i in present if i % self.key_every == 0} | {present[0], present[-1]})
        found, max_faces = self._largest({i: available[i] for i in keys})
        todo = []
        for a, b in zip(keys, keys[1:]):
            between = [i for i in present if a < i < b]
            if not between:
                continue
            if a in found and b in found and box_iou(found[a], found[b]) >= MIN_TRACK_IOU:
                for i in between:
                    t = (i - a) / (b - a)
                    found[i] = ((1 - t) * found[a] + t * found[b]).astype(np.float32)
            else:
                todo += between
        if todo:
            more, most = self._largest({i: available[i] for i in todo})
            found.update(more)
            max_faces = max(max_faces, most)
        for i, box in found.items():
            crop = crop_face(available[i], box, size=size)
            if crop is not None:
                crops[i], mask[i], boxes[i] = crop, True, box
        return WindowFaces(crops, mask, boxes, max_faces)

    def _largest(self, frames: dict[int, np.ndarray]) -> tuple[dict[int, np.ndarray], int]:
        """MTCNN on these frames (one batch): the largest face's box per frame that has one, and the
        most faces seen in one frame. Boxes are (4,) float32 x1, y1, x2, y2 in source pixels."""
        first = next(iter(frames.values()))
        h, w = first.shape[:2]
        scale = min(1.0, self.detect_max_side / max(h, w))
        small = np.stack([self._shrink(f, scale) for f in frames.values()])  # (k, h', w', 3)
        with torch.inference_mode():
            batch_boxes, batch_probs = self.mtcnn.detect(small)
        found: dict[int, np.ndarray] = {}
        max_faces = 0
        for i, fb, fp in zip(frames, batch_boxes, batch_probs):
            if fb is None:
                continue
            keep = np.asarray(fp, dtype=np.float64) >= self.min_prob
            fb = np.asarray(fb, dtype=np.float32)[keep] / scale
            if fb.shape[0] == 0:
                continue
            max_faces = max(max_faces, fb.shape[0])
            areas = (fb[:, 2] - fb[:, 0]) * (fb[:, 3] - fb[:, 1])
            box = fb[int(np.argmax(areas))]
            found[i] = np.clip(box, 0, [w, h, w, h]).astype(np.float32)  # MTCNN boxes may overhang the frame
        return found, max_faces

    @staticmethod
    def _shrink(frame: np.ndarray, scale: float) -> np.ndarray:
        if scale >= 1.0:
            return frame
        h, w = frame.shape[:2]
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        return np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.BILINEAR))


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes; 0 for empty ones."""
    iw = max(0.0, float(min(a[2], b[2]) - max(a[0], b[0])))
    ih = max(0.0, float(min(a[3], b[3]) - max(a[1], b[1])))
    inter = iw * ih
    union = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union if union > 0 else 0.0


def crop_face(frame: np.ndarray, box: np.ndarray, *, size: int = FACE_SIZE) -> np.ndarray | None:
    """Cut `box` (x1, y1, x2, y2, source pixels) from `frame` and resize to (size, size, 3).

    Returns None when the box, clipped to the frame, is empty.
    """
    h, w = frame.shape[:2]
    x1, y1 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
    x2, y2 = min(w, int(round(box[2]))), min(h, int(round(box[3])))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    patch = Image.fromarray(frame[y1:y2, x1:x2])
    return np.asarray(patch.resize((size, size), Image.Resampling.BILINEAR))
