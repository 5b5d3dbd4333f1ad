"""Evaluation reports: the paper's metrics for bimodal, video-only and audio-only on the same windows."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..metrics import Report, apply_temperature, evaluate_probs
from ..model.net import EmotionNet
from .batch import TrainItem, predict_items

CONDITIONS = {"bimodal": (True, True), "video": (True, False), "audio": (False, True)}


def evaluate_items(model: EmotionNet, items: Sequence[TrainItem], device: torch.device | str = "cpu"
                   ) -> dict[str, dict[str, Report]]:
    """Reports per condition, overall and per dataset.

    bimodal / video / audio are computed on the same windows: the items that have both a
    face and a voice. "audio (all)" adds every item with a voice (speakers without faces
    included), "video (all)" every item with a face. Returns
    {"overall": {condition: Report}, "<dataset>": {...}}.
    """
    device = torch.device(device)
    model.to(device).eval()
    labels = tuple(model.config.labels)
    temperature = float(model.temperature)
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
        for cond, subset in sets.items():
            if not subset:
                continue
            use_v, use_a = CONDITIONS.get(cond.split(" ")[0], (True, True))
            logits = predict_items(model, subset, device, use_video=use_v, use_audio=use_a)
            probs = apply_temperature(logits, temperature)
            reports[cond] = evaluate_probs(probs, np.array([it.label for it in subset]), labels)
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
