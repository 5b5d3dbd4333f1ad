"""What ships with the package works on its own: the `default` model and the README's command.

Never reads ../shared (RAVDESS and the other real data): everything here is package data
(`emoannotate/weights/`) or committed files (`sample_videos/`), so a checkout or wheel
missing them fails here instead of skipping.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import emoannotate
from emoannotate.audio import window_features
from emoannotate.constants import EMOTIONS, FACE_SIZE, FRAMES_PER_WINDOW, SAMPLE_RATE, WINDOW_SAMPLES
from emoannotate.registry import load_model

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_videos"
WEIGHTS = Path(emoannotate.__file__).resolve().parent / "weights"


# --- The shipped default model ----------------------------------------------------------------

def synthetic_window() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Three windows: face+voice, face only, voice only (faces, face_mask, audio, audio_mask).

    The face is scikit-image's astronaut, the voice a 150 Hz harmonic tone with a syllable
    rate amplitude envelope, through the real feature extraction.
    """
    from PIL import Image
    from skimage.data import astronaut

    face = np.asarray(Image.fromarray(astronaut()[10:220, 120:330]).resize((FACE_SIZE, FACE_SIZE)))
    faces = torch.from_numpy(np.broadcast_to(face, (3, FRAMES_PER_WINDOW, *face.shape)).copy())
    t = np.arange(WINDOW_SAMPLES) / SAMPLE_RATE  # s
    voice = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 6))
    voice = 0.2 * voice * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2)
    feats = torch.from_numpy(window_features(voice.astype(np.float32)))  # (181, 156)
    audio = feats[None].repeat(3, 1, 1)
    face_mask = torch.tensor([[True] * FRAMES_PER_WINDOW] * 2 + [[False] * FRAMES_PER_WINDOW])
    audio_mask = torch.tensor([True, False, True])
    return faces, face_mask, audio, audio_mask


def test_default_model_loads_from_package_data_and_predicts():
    net, meta = load_model("default")
    assert meta.path is not None and meta.path.resolve().parent == WEIGHTS
    entry = next(m for m in json.loads((WEIGHTS / "models.json").read_text())["models"] if m["name"] == "default")
    assert meta.sha256 == entry["sha256"]
    assert tuple(meta.labels) == EMOTIONS
    assert not net.training
    with torch.no_grad():
        probs = net.predict_proba(*synthetic_window())  # (3, 7)
        again = net.predict_proba(*synthetic_window())
    assert probs.shape == (3, len(EMOTIONS))
    assert torch.isfinite(probs).all() and (probs >= 0).all()
    assert torch.allclose(probs.sum(dim=1), torch.ones(3), atol=1e-5)
    assert torch.equal(probs, again)  # eval mode: no dropout
    # Adding the voice to the face changes the prediction (measured: by 0.91 in one class;
    # this voice-like tone alone gives the same near-certain calm as with the face).
    assert (probs[0] - probs[1]).abs().max() > 0.05


# --- The README's headline command on sample_videos/ --------------------------------------------

# From sample_videos/README.md: (number of rows, the README's length in s) of each clip.
# 3.6 s windows; a tail shorter than the minimum window is a too_short row.
EXPECTED_ROWS = {
    "astronaut_speech.mp4": (3, 8.0),  # two full windows and a 0.8 s tail
    "hopper_speech.mkv": (2, 5.0),  # one full window and a 1.4 s partial one
    "astronaut_silent.mp4": (2, 4.0),  # one full window and a 0.4 s tail
    "no_face_speech.mp4": (2, 4.0),
    "speech_only.wav": (1, 3.0),  # shorter than one window: one partial window
}
PROBABILITY_COLUMNS = [f"p_{label}" for label in EMOTIONS]


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict[str, list[dict[str, str]]]]:
    """`emoannotate run sample_videos/ --out OUT.csv`, from the repository root."""
    out = tmp_path_factory.mktemp("readme") / "OUT.csv"
    done = subprocess.run([sys.executable, "-m", "emoannotate.cli", "run", "sample_videos/", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    rows: dict[str, list[dict[str, str]]] = {}
    if out.is_file():
        with out.open(newline="") as f:
            for row in csv.DictReader(f):
                rows.setdefault(Path(row["file"]).name, []).append(row)
    return done, rows


def _probabilities(row: dict[str, str]) -> list[float] | None:
    cells = [row[c] for c in PROBABILITY_COLUMNS]
    if not any(cells):
        return None
    assert all(cells), row  # all or none
    return [float(c) for c in cells]


@pytest.mark.slow
def test_readme_command_exits_cleanly_with_one_row_per_window(readme_run):
    done, rows = readme_run
    assert done.returncode == 0, done.stderr[-3000:]
    assert sum(len(r) for r in rows.values()) == 10
    assert set(rows) == set(EXPECTED_ROWS), sorted(rows)
    for name, (n_rows, length_s) in EXPECTED_ROWS.items():
        windows = rows[name]
        assert len(windows) == n_rows, (name, windows)
        assert [int(r["window"]) for r in windows] == list(range(n_rows))
        assert float(windows[0]["start_s"]) == 0.0
        assert float(windows[-1]["end_s"]) == pytest.approx(length_s, abs=0.05), name
        for before, after in zip(windows, windows[1:]):
            assert float(after["start_s"]) == pytest.approx(float(before["end_s"]))


@pytest.mark.slow
def test_readme_command_reports_what_each_clip_holds(readme_run):
    _, rows = readme_run
    speech = rows["astronaut_speech.mp4"]
    for row in speech[:2]:  # the two full windows: face and voice
        assert (row["status"], row["modalities"], row["face_frames"]) == ("ok", "audio+video", "15"), row
        assert row["partial"] == "false" and row["max_faces"] == "1"
    assert speech[2]["status"] == "too_short" and _probabilities(speech[2]) is None

    hopper = rows["hopper_speech.mkv"]
    for row in hopper:  # the full window and the 1.4 s partial one
        assert (row["status"], row["modalities"], row["face_frames"]) == ("ok", "audio+video", "15"), row
    assert [r["partial"] for r in hopper] == ["false", "true"]

    silent = rows["astronaut_silent.mp4"]
    assert (silent[0]["status"], silent[0]["modalities"], silent[0]["face_frames"]) == ("no_audio", "video", "15")
    assert silent[1]["status"] == "too_short"

    no_face = rows["no_face_speech.mp4"]
    assert (no_face[0]["status"], no_face[0]["modalities"], no_face[0]["face_frames"]) == ("no_face", "audio", "0")
    assert no_face[0]["face_x1"] == ""
    assert no_face[1]["status"] == "too_short"

    (wav,) = rows["speech_only.wav"]
    assert (wav["status"], wav["modalities"], wav["face_frames"], wav["partial"]) == ("no_face", "audio", "0", "true")


@pytest.mark.slow
def test_readme_command_probabilities_are_distributions(readme_run):
    _, rows = readme_run
    predicted = 0
    for name, windows in rows.items():
        for row in windows:
            probs = _probabilities(row)
            if probs is None:
                assert row["emotion"] == "" and row["confidence"] == "", row
                continue
            predicted += 1
            assert all(0.0 <= p <= 1.0 for p in probs), row
            assert sum(probs) == pytest.approx(1.0, abs=1e-3), (name, row["window"], sum(probs))
            assert row["emotion"] == EMOTIONS[int(np.argmax(probs))], row
            assert float(row["confidence"]) == pytest.approx(max(probs), abs=1e-4), row
    assert predicted == 7  # every row but the three too_short tails
