"""People, not frames: the faces of one file's windows linked into persons with stable ids.

Each window's faces are already followed through its 15 frames (`faces.FaceDetector.track`);
here a window's faces are matched, in window order, to the persons of the windows before it
by where their boxes are: the IoU of a face's first box in this window with a person's last
box, the best match first, at least LINK_IOU. People in interviews stay in their place, so
position continuity is enough and no identity model needs downloading. A person not seen for
FORGET_S is forgotten (someone who sits in that place later is a new person). Ids are 1, 2,
... in order of first appearance.
"""

from __future__ import annotations

import numpy as np

from .faces import box_iou
from .records import PersonInput, WindowInput

LINK_IOU = 0.3  # a face is the person whose last box it overlaps at least this much
FORGET_S = 30.0  # s: a person unseen for longer is not matched any more


def _edge_box(person: PersonInput, last: bool) -> np.ndarray:
    """The face's box in its first (or last) frame that has it, (4,) float32."""
    idx = np.flatnonzero(person.face_mask)
    return person.boxes[idx[-1] if last else idx[0]]


class PersonLinker:
    """Gives the faces of one file's windows person ids; feed it the windows in order."""

    def __init__(self, link_iou: float = LINK_IOU, forget_s: float = FORGET_S) -> None:
        self.link_iou, self.forget_s = link_iou, forget_s
        self._seen: dict[int, tuple[np.ndarray, float]] = {}  # person -> (last box, end of last window seen)
        self._next = 1

    def link(self, x: WindowInput) -> list[int]:
        """Person ids of `x.people`, in their order."""
        start, end = x.window.start_s, x.window.end_s
        known = [(pid, box) for pid, (box, seen) in self._seen.items() if start - seen <= self.forget_s]
        scores = sorted(((box_iou(_edge_box(p, last=False), box), k, pid)
                         for k, p in enumerate(x.people) for pid, box in known), key=lambda s: -s[0])
        ids: dict[int, int] = {}
        taken: set[int] = set()
        for iou, k, pid in scores:
            if iou >= self.link_iou and k not in ids and pid not in taken:
                ids[k] = pid
                taken.add(pid)
        for k in range(len(x.people)):
            if k not in ids:
                ids[k] = self._next
                self._next += 1
        for k, p in enumerate(x.people):
            self._seen[ids[k]] = (_edge_box(p, last=True), end)
        return [ids[k] for k in range(len(x.people))]
