"""Face crops to the face backbone's features, early: what the pipeline's workers send and its batches hold."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import replace

import torch

from .constants import FRAMES_PER_WINDOW
from .model.net import EmotionNet
from .records import WindowInput


class Featuriser:
    """Replaces windows' face crops with the face backbone's features of them ((15, F) float32 a window).

    What waits for a model batch is then 30 KB a window, not 2.3 MB of crops, and a task's
    result crosses from a worker as features: with the model on the CPU the pool's workers run
    it (the model is pickled to them once) on each window as they make it, so a worker holds one
    window's crops at a time; otherwise the pipeline runs it on the model's device as each task's
    windows arrive. However long the input, no process holds more than a task's crops (issue 9). The backbone
    treats each crop alone, so the rows are those of the crops.
    """

    def __init__(self, model: EmotionNet, device: torch.device, amp: bool = True) -> None:
        self.model, self.device, self.amp = model, device, amp

    def __call__(self, inputs: Sequence[WindowInput]) -> list[WindowInput]:
        """`inputs` with each chosen face's crops replaced by the backbone's features of them (`face_features`);
        other people's crops (`--faces all`) stay."""
        todo = [x for x in inputs if x.faces is not None and x.has_video]
        if not todo:
            return list(inputs)
        with self.inference():
            feats = self.window_features(todo)
        assert feats is not None
        done = {id(x): f for x, f in zip(todo, feats.float().cpu().numpy())}
        return [replace(x, faces=None, face_features=done[id(x)]) if id(x) in done else x for x in inputs]

    def inference(self) -> ExitStack:
        """No autograd, and float16 autocast on CUDA when `amp`."""
        stack = ExitStack()
        stack.enter_context(torch.inference_mode())
        use_amp = self.amp and self.device.type == "cuda"
        stack.enter_context(torch.autocast(self.device.type, dtype=torch.float16, enabled=use_amp))
        return stack

    def window_features(self, inputs: Sequence[WindowInput]) -> torch.Tensor | None:
        """Backbone features (B, T, F) of the windows' faces, zeros where a frame has none, on the model's
        device: `face_features` where the window has them, the backbone run on its crops otherwise (a
        chunk at a time, without copying a window whose every frame has the face); None without faces."""
        n = FRAMES_PER_WINDOW
        crops = [torch.from_numpy(x.faces if x.face_mask.all() else x.faces[x.face_mask])
                 for x in inputs if x.face_features is None and x.faces is not None and x.has_video]
        found = self.model.window_face_features(crops, self.device) if crops else None  # (K, F)
        dim = found.shape[1] if found is not None else next(
            (x.face_features.shape[1] for x in inputs if x.face_features is not None and x.has_video), None)
        if dim is None:
            return None
        dtype = found.dtype if found is not None else torch.float32
        feats = torch.zeros(len(inputs), n, dim, dtype=dtype, device=self.device)
        k = 0
        for i, x in enumerate(inputs):
            if not x.has_video:
                continue
            if x.face_features is not None:
                feats[i] = torch.from_numpy(x.face_features).to(self.device, dtype)
            else:
                m = int(x.face_mask.sum())
                assert found is not None
                feats[i, torch.from_numpy(x.face_mask).to(self.device)] = found[k:k + m]
                k += m
        return feats
