"""Ship a trained checkpoint as package data: copy it into emoannotate/weights/ and index it.

    python scripts/release_model.py runs/default/model.safetensors --name default \
        --description "FER mini-Xception faces + RAVDESS voices (22 actors)"

Writes emoannotate/weights/<name>.safetensors and its entry (file, SHA-256, description,
and the test figures the checkpoint carries) in emoannotate/weights/models.json. Dataset
paths recorded by older checkpoints are cut to the corpus name and folder name (no machine
paths ship); the weights are copied unchanged.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file, save_file

from emoannotate.checkpoint import META_KEY, file_sha256, read_meta
from emoannotate.datasets import portable_spec, summarise_speakers

WEIGHTS = Path(__file__).resolve().parents[1] / "emoannotate" / "weights"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--name", required=True)
    ap.add_argument("--description", required=True)
    args = ap.parse_args()
    meta = read_meta(args.checkpoint)
    dest = WEIGHTS / f"{args.name}.safetensors"
    data = meta.info.get("data") or []
    if [portable_spec(d) for d in data] != data:
        with safe_open(str(args.checkpoint), framework="pt") as f:
            header = json.loads(f.metadata()[META_KEY])
        header["info"]["data"] = [portable_spec(d) for d in data]
        tensors = load_file(str(args.checkpoint))
        save_file(tensors, str(dest), metadata={META_KEY: json.dumps(header)})
        meta = read_meta(dest)
    elif args.checkpoint.resolve() != dest.resolve():
        shutil.copyfile(args.checkpoint, dest)
    dest.chmod(0o644)
    reports = meta.info.get("test_reports", {})
    figures = {group: {cond: {k: round(r[k], 4) for k in ("n", "accuracy", "top3_accuracy", "precision", "recall",
                                                              "ece")}
                       for cond, r in conds.items()}
               for group, conds in reports.items()}
    entry = {
        "name": args.name,
        "file": dest.name,
        "sha256": file_sha256(dest),
        "description": args.description,
        "card": {
            "backbone": meta.config.backbone,
            "data": meta.info.get("data"),
            "split": _summarise(meta.info.get("split") or {}),
            "temperature": meta.info.get("temperature"),
            "test_figures": figures,
            "model_card": "docs/MODEL_CARD.md",
        },
    }
    index_path = WEIGHTS / "models.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {"models": []}
    index["models"] = [m for m in index["models"] if m["name"] != args.name] + [entry]
    index_path.write_text(json.dumps(index, indent=2) + "\n")
    print(f"{dest} ({dest.stat().st_size / 1e6:.1f} MB) sha256 {entry['sha256']}")


def _summarise(split: dict) -> dict:
    """The split for the index: long speaker lists as `summarise_speakers` text (the checkpoint
    keeps every name, which `evaluate --split model` needs)."""
    return {k: summarise_speakers(v) if k.endswith("_speakers") and isinstance(v, list) else v
            for k, v in split.items()}


if __name__ == "__main__":
    main()
