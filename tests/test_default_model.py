"""The shipped default model on real RAVDESS recordings (skipped without ../shared/data).

The raw Actor 05 clips go through the whole pipeline (PyAV decode, MTCNN, librosa, the
model), so these tests check that inference reproduces the preprocessing the model was
trained on, and that the model earns its card's figures. Clips of repetition 02 were held
out of training (the card's within-speaker test); repetition 01 clips were trained on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from emoannotate.constants import EMOTIONS
from emoannotate.datasets import RAVDESS_EMOTIONS
from emoannotate.discover import discover
from emoannotate.pipeline import Annotator, RunOptions
from emoannotate.registry import load_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CLIPS = DATA / "ravdess" / "Actor_05"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CLIPS.is_dir(), reason="real RAVDESS data (../shared/data) not present"),
]


@pytest.fixture(scope="module")
def clip_results():
    model, _ = load_model("default")
    jobs = discover([str(CLIPS)])
    return list(Annotator(model, RunOptions(workers=2, batch_size=16)).annotate(jobs))


def _label(path: str) -> str:
    return RAVDESS_EMOTIONS[Path(path).stem.split("-")[2]]


def test_every_clip_gets_a_bimodal_row_with_faces(clip_results):
    assert len(clip_results) == 14
    for r in clip_results:
        assert r.ok and len(r.windows) == 1, r
        row = r.windows[0]
        assert row.modalities == "audio+video" and row.status == "ok"
        assert row.face_frames >= 13, (r.job.path.name, row.face_frames)
        assert abs(sum(row.probabilities) - 1) < 1e-4


def test_default_model_reaches_the_emotion_of_most_clips(clip_results):
    rows = [r.windows[0] for r in clip_results]
    scored = [(row.emotion, _label(row.file), Path(row.file).stem.split("-")[5]) for row in rows
              if _label(row.file) in EMOTIONS]  # neutral is not one of the 7 labels
    assert len(scored) == 13
    assert sum(p == t for p, t, _ in scored) >= 10, scored
    held_out = [(p, t) for p, t, rep in scored if rep == "02"]  # repetition 02: never trained on
    assert sum(p == t for p, t in held_out) >= 0.7 * len(held_out), held_out


def test_default_model_evaluates_on_the_windows_it_was_tested_on(tmp_path):
    """`evaluate` on the preprocessed Actor 05 windows, with the checkpoint's own split."""
    from emoannotate.evaluate import run_evaluation

    text = run_evaluation(data=[f"ravdess-windows:{DATA / 'ravdess' / 'windows'}"], model="default",
                          cache_dir=tmp_path / "cache", workers=0, device="cpu", out_dir=tmp_path / "report")
    import json

    doc = json.loads((tmp_path / "report" / "report.json").read_text())
    bimodal = doc["reports"]["overall"]["bimodal"]
    assert bimodal["n"] == 28  # Actor 05, repetition 02
    assert bimodal["accuracy"] >= 0.8, text
    assert (tmp_path / "report" / "confusion_overall_bimodal.png").is_file()
