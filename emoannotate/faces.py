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
from .records import representative_box

DETECT_MAX_SIDE = 640  # px, frames are shrunk so their longer side is at most this for MTCNN
MIN_FACE_PX = 40  # px at detection scale: smaller faces are ignored
MIN_FACE_PROB = 0.90  # MTCNN confidence under which a detection is ignored
KEY_FRAME_EVERY = 7  # frames: MTCNN on frames 0, 7 and 14 of a window, boxes carried between them
MIN_TRACK_IOU = 0.5  # two key frames' boxes at least this alike are one face that moved a little
MIN_LINK_IOU = 0.3  # a box at least this alike to a face's box in an earlier frame of the window is that face
ONET_SIZE = 48  # px: MTCNN's last stage (O-Net) looks at 48x48 crops
MIN_STILL_IOU = 0.7  # an interpolated box O-Net moves less than this (IoU) was on the face
REFINE_PASSES = 2  # O-Net passes moving a face's box from the last frame onto this one


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

    @property
    def mean_area(self) -> float:
        """Mean box area (source pixels squared) over the frames where the face was found; 0 without any."""
        if not self.mask.any():
            return 0.0
        b = self.boxes[self.mask]
        return float(np.mean((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])))

    def representative_box(self) -> tuple[float, float, float, float] | None:
        """Box of the found face closest to the window's middle frame, or None."""
        return representative_box(self.mask, self.boxes)


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

        MTCNN searches every `key_every`-th frame and the last (0, 7 and 14 of a window's 15). The
        frames between two key frames whose faces agree (as many, each pair at an IoU of MIN_TRACK_IOU
        or more) get boxes interpolated between the two, if MTCNN's last stage (O-Net) finds a face in
        each and barely moves it; otherwise the faces are followed frame to frame by O-Net (each box
        moved from the last frame onto the face, as MTCNN refines its own candidates) and must end
        where the next key frame has them. Where that fails too (a cut, a face coming or going or
        lost), MTCNN searches those frames. A search is a whole image pyramid; O-Net looks at one
        48x48 crop per face. On real faces (RAVDESS Actor 05, docs/BENCHMARKS.md) the boxes agree
        with searching every frame at a mean IoU of 0.955 still and 0.94 swept 400 px/s, for a third
        of the cost.
        """
        available, found, max_faces = self._window_boxes(frames, largest=True)
        return _cut(len(frames), available, {i: boxes[0] for i, boxes in found.items()}, max_faces, size)

    def track(self, frames: Sequence[np.ndarray | None], *, size: int = FACE_SIZE) -> list[WindowFaces]:
        """Every face in a window, each followed through its frames: one WindowFaces per face, largest first.

        Key frames as in `detect`, keeping every face MTCNN finds: where each face of one key frame
        has its counterpart in the next (IoU of MIN_TRACK_IOU or more, and as many faces in both),
        the frames between get the boxes interpolated (if O-Net agrees), otherwise every face is
        followed by O-Net and, where that fails, MTCNN searches those frames too. Boxes are
        then linked frame to frame into faces (IoU of MIN_LINK_IOU with the face's last box, the
        best match first). A window with one face gets exactly the crops and boxes of `detect`.
        `max_faces` of each is the most faces seen in one frame.
        """
        available, found, max_faces = self._window_boxes(frames, largest=False)
        faces: list[dict[int, np.ndarray]] = []  # per face: frame -> box
        for i in sorted(found):
            boxes = found[i]
            linked: dict[int, int] = {}
            if faces:
                last = np.stack([face[max(face)] for face in faces])
                linked = dict(_match(boxes, last, MIN_LINK_IOU))
            for k, box in enumerate(boxes):
                if k in linked:
                    faces[linked[k]][i] = box
                else:
                    faces.append({i: box})
        out = [_cut(len(frames), available, face, max_faces, size) for face in faces]
        return sorted((f for f in out if f.n_found), key=lambda f: -f.mean_area)

    def _window_boxes(self, frames: Sequence[np.ndarray | None], *, largest: bool
                      ) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray], int]:
        """The frames there are (index -> frame), the face boxes of each frame that has any (index ->
        (k, 4) float32 x1, y1, x2, y2 in source pixels, largest first; k = 1 with `largest`), on key
        frames by MTCNN and between them interpolated or detected (see `detect`), and the most
        faces MTCNN saw in one frame."""
        available = {i: f for i, f in enumerate(frames) if f is not None}
        present = list(available)
        if not present:
            return available, {}, 0
        h, w = available[present[0]].shape[:2]
        if min(h, w) < self.min_face_px:  # no face of the smallest size MTCNN looks for fits in the frame
            return available, {}, 0

        def run(idx: Sequence[int]) -> tuple[dict[int, np.ndarray], int]:
            every = {i: b for i, b in self._detect({i: available[i] for i in idx}).items() if len(b)}
            most = max((len(b) for b in every.values()), default=0)
            return ({i: b[:1] for i, b in every.items()} if largest else every), most

        keys = sorted({i for i in present if i % self.key_every == 0} | {present[0], present[-1]})
        found, max_faces = run(keys)
        todo: list[int] = []
        for a, b in zip(keys, keys[1:]):
            between = [i for i in present if a < i < b]
            if not between:
                continue
            fa, fb = found.get(a), found.get(b)
            if fa is None or fb is None or len(fa) != len(fb):  # no face, or faces coming or going: detect
                todo += between
                continue
            pairs = _match(fa, fb, MIN_TRACK_IOU)
            if len(pairs) == len(fa):  # about where they were: the boxes between interpolated, if O-Net agrees
                line = {i: np.stack([(1 - (i - a) / (b - a)) * fa[ia] + (i - a) / (b - a) * fb[ib]
                                     for ia, ib in pairs]).astype(np.float32) for i in between}
                if self._confirmed(available, line):
                    found.update(line)
                    continue
            followed = self._follow(available, fa, between + [b])  # they moved: follow them frame to frame
            if followed is None or len(_match(followed.pop(b), fb, MIN_TRACK_IOU)) != len(fb):
                todo += between  # lost on the way, or not where the next key frame has them: detect
            else:
                found.update(followed)
        if todo:
            more, most = run(sorted(todo))
            found.update(more)
            max_faces = max(max_faces, most)
        return available, found, max_faces

    def _confirmed(self, frames: dict[int, np.ndarray], boxes: dict[int, np.ndarray]) -> bool:
        """Whether O-Net, in one batch, finds every one of these boxes (frame -> (k, 4)) on a face
        (MIN_FACE_PROB) and moves none of them far (to an IoU under MIN_STILL_IOU)."""
        index = [(i, k) for i, b in boxes.items() for k in range(len(b))]
        moved, score = self._refine([frames[i] for i, _ in index], np.stack([boxes[i][k] for i, k in index]))
        return bool((score >= self.min_prob).all()) and all(
            box_iou(m, boxes[i][k]) >= MIN_STILL_IOU for m, (i, k) in zip(moved, index))

    def _follow(self, frames: dict[int, np.ndarray], start: np.ndarray, idx: Sequence[int]
                ) -> dict[int, np.ndarray] | None:
        """Faces followed from boxes `start` (k, 4) through frames `idx` in order: each frame's boxes are
        the last frame's, moved by MTCNN's last stage (O-Net) onto the face (REFINE_PASSES times) and
        kept when O-Net is sure of every one (MIN_FACE_PROB), largest first; None when a face is lost."""
        out: dict[int, np.ndarray] = {}
        boxes = start
        for i in idx:
            for _ in range(REFINE_PASSES):
                boxes, score = self._refine([frames[i]] * len(boxes), boxes)
            if (score < self.min_prob).any():
                return None
            out[i] = _largest_first(boxes)
        return out

    def _refine(self, frames: Sequence[np.ndarray], boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """O-Net on `boxes` (k, 4), box j in frames[j] (H, W, 3), as MTCNN runs it on its second stage's
        candidates: each box made square, cut out and resized to 48x48. Returns the boxes moved as O-Net
        regresses them (k, 4) float32, clipped to the frame, and its face probabilities (k,)."""
        h, w = frames[0].shape[:2]
        one = 1.0 / self._scale(h, w)  # a pixel at detection scale, in source pixels
        squares = _square(boxes)
        crops = np.zeros((len(boxes), ONET_SIZE, ONET_SIZE, 3), np.uint8)
        for j, (frame, sq) in enumerate(zip(frames, squares)):
            x1, y1 = max(0, int(sq[0])), max(0, int(sq[1]))
            x2, y2 = min(w, int(sq[2])), min(h, int(sq[3]))
            if x2 - x1 >= 2 and y2 - y1 >= 2:
                patch = Image.fromarray(frame[y1:y2, x1:x2]).resize((ONET_SIZE, ONET_SIZE), Image.Resampling.BOX)
                crops[j] = np.asarray(patch)
        x = (torch.from_numpy(crops).permute(0, 3, 1, 2).float() - 127.5) * 0.0078125
        with torch.inference_mode():
            reg, _, prob = self.mtcnn.onet(x.to(self.device))
        reg, score = reg.float().cpu().numpy(), prob[:, 1].float().cpu().numpy()
        side = squares[:, 2:] - squares[:, :2] + one  # (k, 2) width, height as MTCNN's regression counts them
        moved = squares + reg * np.concatenate([side, side], axis=1)
        return np.clip(moved, 0, [w, h, w, h]).astype(np.float32), score

    def _detect(self, frames: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        """MTCNN on these frames (one batch): per frame, the boxes (k, 4) it is sure of, largest first
        (k may be 0), float32 x1, y1, x2, y2 in source pixels."""
        first = next(iter(frames.values()))
        h, w = first.shape[:2]
        scale = self._scale(h, w)
        small = np.stack([self._shrink(f, scale) for f in frames.values()])  # (k, h', w', 3)
        with torch.inference_mode():
            batch_boxes, batch_probs = self.mtcnn.detect(small)
        found: dict[int, np.ndarray] = {}
        for i, fb, fp in zip(frames, batch_boxes, batch_probs):
            if fb is None:
                found[i] = np.zeros((0, 4), np.float32)
                continue
            keep = np.asarray(fp, dtype=np.float64) >= self.min_prob
            fb = _largest_first(np.asarray(fb, dtype=np.float32)[keep] / scale)
            found[i] = np.clip(fb, 0, [w, h, w, h]).astype(np.float32)  # MTCNN boxes may overhang the frame
        return found

    def _scale(self, h: int, w: int) -> float:
        """How much an (h, w) frame is shrunk for MTCNN: its longer side to at most detect_max_side."""
        return min(1.0, self.detect_max_side / max(h, w))

    @staticmethod
    def _shrink(frame: np.ndarray, scale: float) -> np.ndarray:
        if scale >= 1.0:
            return frame
        h, w = frame.shape[:2]
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        return np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.BILINEAR))


def _cut(n: int, available: dict[int, np.ndarray], boxes: dict[int, np.ndarray], max_faces: int,
         size: int) -> WindowFaces:
    """The WindowFaces of one face over a window's n frames: its `boxes` (frame -> (4,)) cut from the
    `available` frames; a box that is empty once clipped to the frame counts as no face."""
    crops = np.zeros((n, size, size, 3), np.uint8)
    mask = np.zeros(n, bool)
    out = np.full((n, 4), np.nan, np.float32)
    for i, box in boxes.items():
        crop = crop_face(available[i], box, size=size)
        if crop is not None:
            crops[i], mask[i], out[i] = crop, True, box
    return WindowFaces(crops, mask, out, max_faces)


def _largest_first(boxes: np.ndarray) -> np.ndarray:
    """(n, 4) boxes sorted by area, largest first (ties keep their order)."""
    return boxes[np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), kind="stable")]


def _square(boxes: np.ndarray) -> np.ndarray:
    """(n, 4) boxes made square about their centres, on their longer side (MTCNN's `rerec`)."""
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])[:, None]
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    return np.concatenate([centre - side / 2, centre + side / 2], axis=1).astype(np.float32)


def _match(a: np.ndarray, b: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """Pairs (i, j) of boxes a[i] (n, 4) and b[j] (m, 4) that are one face: best IoU first, each box
    in one pair at most, IoU at least `min_iou`."""
    scores = sorted(((box_iou(x, y), i, j) for i, x in enumerate(a) for j, y in enumerate(b)), reverse=True)
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs = []
    for iou, i, j in scores:
        if iou >= min_iou and i not in used_a and j not in used_b:
            pairs.append((i, j))
            used_a.add(i)
            used_b.add(j)
    return sorted(pairs)


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
