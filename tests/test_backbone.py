"""The project's own face backbone: ExpressionVGG, `train-backbone` and its use as a FER2013 backbone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from emoannotate.cli import main
from emoannotate.datasets import load_dataset
from emoannotate.errors import ModelLoadError
from emoannotate.model.net import FerBackbone, build_backbone
from emoannotate.model.vgg import INPUT_SIZE, ExpressionVGG, load_vgg
from emoannotate.training.backbone import BackboneOptions, augment, prepare_inputs, train_backbone

FOLDERS = ("angry", "happy", "neutral")


def write_fer_layout(root: Path, n: int = 12) -> None:
    """A FER2013-like layout whose classes a net can tell apart: a bright band at a place per class."""
    rng = np.random.default_rng(0)
    for part, usage in (("train", "Training"), ("validation", "PublicTest")):
        for k, folder in enumerate(FOLDERS):
            for i in range(n if part == "train" else 4):
                img = rng.integers(0, 60, (48, 48)).astype(np.uint8)
                img[8 + 12 * k:16 + 12 * k] = 230
                path = root / part / folder / f"{usage}_{k * 100 + i}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(path)


def test_vgg_shapes_and_preprocess_match_the_pipeline_crops() -> None:
    net = ExpressionVGG().eval()
    x = torch.rand(2, 3, 224, 224)
    pre = net.preprocess(x)
    assert pre.shape == (2, 1, INPUT_SIZE, INPUT_SIZE) and pre.min() >= -1 and pre.max() <= 1
    assert net.feature_map(pre).shape == (2, 256, 3, 3)
    assert net(x).shape == (2, 7)
    backbone = build_backbone("fer-vgg")
    assert isinstance(backbone, FerBackbone) and backbone.feature_dim == 263
    feats = backbone.eval().forward_features(x)
    assert feats.shape == (2, 263)
    net.load_state_dict(backbone.net.state_dict())
    torch.testing.assert_close(feats[:, -7:], net(x))  # its last 7 features are the FER2013 head's logits
    with pytest.raises(ValueError, match="RGB faces"):
        net.preprocess(torch.rand(2, 1, 48, 48))


def test_augment_is_seeded_bounded_and_keeps_shape() -> None:
    x = torch.rand(8, 1, 48, 48) * 2 - 1
    opts = BackboneOptions()
    a = augment(x, opts, torch.Generator().manual_seed(3))
    b = augment(x, opts, torch.Generator().manual_seed(3))
    c = augment(x, opts, torch.Generator().manual_seed(4))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= -1 and a.max() <= 1
    still = BackboneOptions(max_rotation_deg=0, max_scale=0, max_shift=0, max_brightness=0, max_contrast=0)
    same = augment(x, still, torch.Generator().manual_seed(0))
    flipped = torch.isclose(same, x.flip(-1), atol=1e-5).flatten(1).all(1)
    kept = torch.isclose(same, x, atol=1e-5).flatten(1).all(1)
    assert bool((flipped | kept).all()) and flipped.any() and kept.any()  # only flips are left


def test_train_backbone_learns_is_deterministic_and_loads(tmp_path: Path) -> None:
    write_fer_layout(tmp_path / "fer")
    train = load_dataset(f"fer2013:{tmp_path / 'fer' / 'train'}", neutral="calm")
    val = load_dataset(f"fer2013:{tmp_path / 'fer' / 'validation'}", neutral="calm")
    x, y = prepare_inputs(train)
    assert x.shape == (36, 1, 48, 48) and sorted(set(y.tolist())) == [0, 3, 6]  # angry, happy, neutral
    opts = BackboneOptions(epochs=6, batch_size=8, lr=0.02, max_rotation_deg=0, max_scale=0, max_shift=0.02)
    digests = []
    for k in range(2):
        out = tmp_path / f"b{k}.safetensors"
        info = train_backbone(train, out, val=val, test=val, options=opts)
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
    assert digests[0] == digests[1]  # bit for bit
    assert len(info["history"]) == 6 and info["history"][-1]["train_loss"] < info["history"][0]["train_loss"]
    assert info["test_accuracy"] >= 0.75  # 12 of 12 held-out bands would be 1.0; chance is 1/3
    net = load_vgg(out)
    backbone = FerBackbone("fer-vgg")
    backbone.load_pretrained(out)
    torch.testing.assert_close(backbone.net.state_dict()["classifier.weight"], net.state_dict()["classifier.weight"])
    with pytest.raises(ModelLoadError, match="no such weights file"):
        load_vgg(tmp_path / "missing.safetensors")


def test_train_backbone_command(tmp_path: Path) -> None:
    write_fer_layout(tmp_path / "fer", n=4)
    out = tmp_path / "vgg.safetensors"
    args = ["train-backbone", "-d", f"fer2013:{tmp_path / 'fer' / 'train'}", "--val",
            f"fer2013:{tmp_path / 'fer' / 'validation'}", "-o", str(out), "--epochs", "1", "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "1 epochs: training loss" in result.output and out.is_file()
    again = CliRunner().invoke(main, args)
    assert again.exit_code != 0 and "exists" in again.output  # never overwritten without --overwrite
    photos = CliRunner().invoke(main, ["train-backbone", "-d", f"london-faces:{tmp_path}", "-o", str(tmp_path / "x")])
    assert photos.exit_code != 0 and "Traceback" not in photos.output
