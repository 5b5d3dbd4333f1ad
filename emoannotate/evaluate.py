"""Evaluation: the paper's metrics for bimodal, video-only and audio-only on the same windows."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .metrics import Report, apply_temperature, evaluate_probs
from .model.net import EmotionNet
from .train import TrainItem, predict_items

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
    from .charts import plot_confusion_matrix

    paths = []
    for group, conds in reports.items():
        for cond, r in conds.items():
            slug = f"{group}_{cond}".replace(" ", "_").replace("(", "").replace(")", "")
            paths.append(plot_confusion_matrix(np.array(r.confusion), r.labels, out_dir / f"confusion_{slug}.png",
                                               title=f"{group}: {cond} (n={r.n})", overwrite=overwrite))
    return paths


def format_reports(reports: dict[str, dict[str, Report]]) -> str:
    """The paper's Table 2 per group, with n and calibration error."""
    from .metrics import format_table

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

    from .metrics import format_per_class
    from .writers import check_can_write

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


def run_evaluation(*, data, model: str = "default", split: str = "model", neutral: str | None = None,
                   out_dir: Path | None = None, cache_dir=None, workers: int = 2, device: str = "auto",
                   overwrite: bool = False, console=None) -> str:
    """The `evaluate` command: load, pick the test samples, compute every report, write them."""
    from .errors import DatasetError
    from .pipeline import resolve_device
    from .registry import load_model
    from .train import cached_inputs, load_samples, make_split, to_items

    dev = resolve_device(device)
    net, meta = load_model(model, device=dev)
    samples = load_samples(data, neutral)
    about = {"model": str(model), "sha256": meta.sha256, "data": list(data), "split": split}
    if split == "model":
        args = meta.info.get("split_args")
        if not args:
            raise DatasetError(f"{model}: the checkpoint records no split; use --split all")
        chosen = make_split(samples, **{**args, "test_speakers": args.get("test_speakers")})
        # Speakers unknown to the checkpoint's split would be re-drawn: keep only its recorded test speakers.
        recorded = set(meta.info.get("split", {}).get("test_speakers", []))
        rules = args.get("holdout_within") or []
        test = [s for s in chosen.test if s.speaker in recorded or any(s.speaker == r.rsplit(":", 1)[0] for r in rules)]
        about["protocol"] = meta.info.get("split", {})
    else:
        test = samples
        about["protocol"] = {"protocol": "all samples given", "speaker_independent": None}
    if not test:
        raise DatasetError("no test samples: the data given holds none of the checkpoint's test speakers; "
                           "use --split all")
    inputs = cached_inputs(test, cache_dir, workers, console)
    items = to_items(net, test, inputs, dev)
    reports = evaluate_items(net, items, dev)
    if out_dir is not None:
        write_report_dir(reports, out_dir, about, overwrite=overwrite)
    return format_reports(reports)
