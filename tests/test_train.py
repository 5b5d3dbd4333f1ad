"""Training: splits, the feature cache, a smoke training that lowers the loss, train+evaluate end to end."""

from __future__ import annotations

import copy
import json
import random
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from emoannotate.constants import EMOTIONS, FRAMES_PER_WINDOW, N_AUDIO_FEATURES, N_AUDIO_FRAMES, SAMPLE_RATE
from emoannotate.datasets import Sample, make_split
from emoannotate.errors import DatasetError
from emoannotate.model.net import EmotionNet, ModelConfig
from emoannotate.training.batch import TrainItem, predict_items
from emoannotate.training.cache import FeatureCache, sample_inputs
from emoannotate.training.commands import deduplicate
from emoannotate.training.fit import TrainOptions, _other_voice, fit

TINY = dict(backbone="tiny", video_channels=(8, 8, 16, 16), audio_channels=(8, 8, 16), fusion_ff=32, hidden=16)


def _sample(i: int, speaker: str, label: str = "anger", rep: str = "01") -> Sample:
    return Sample(id=f"t{i}", dataset="generic", label=label, speaker=speaker, audio=Path(f"/x/{i}.wav"),
                  repetition=rep)


def test_split_is_speaker_independent_and_holdout_within_is_reported():
    samples = [_sample(i, f"s:{i % 6}", rep="01" if (i // 6) % 2 else "02") for i in range(60)]
    split = make_split(samples, test_fraction=0.3, val_fraction=0.2, holdout_within=["s:0:repetition=02"])
    spk = lambda xs: {s.speaker for s in xs}  # noqa: E731
    assert not (spk(split.val) & spk(split.test))
    assert (spk(split.train) & spk(split.test)) == {"s:0"}  # only the held-out-within speaker
    s0_test = [s for s in split.test if s.speaker == "s:0"]
    assert s0_test and all(s.repetition == "02" for s in s0_test)
    assert all(s.repetition == "01" for s in split.train if s.speaker == "s:0")
    assert split.description["speaker_independent"] is False
    assert len(split.train) + len(split.val) + len(split.test) == 60
    plain = make_split(samples, test_fraction=0.3, val_fraction=0.2)
    assert plain.description["speaker_independent"] is True
    assert not (spk(plain.train) & spk(plain.test)) and not (spk(plain.train) & spk(plain.val))
    with pytest.raises(DatasetError, match="SPEAKER:FIELD=VALUE"):
        make_split(samples, holdout_within=["nonsense"])


def test_random_protocol_is_labelled_not_speaker_independent():
    samples = [_sample(i, f"s:{i % 3}") for i in range(30)]
    split = make_split(samples, protocol="random", test_fraction=0.3, val_fraction=0.1)
    assert split.description["speaker_independent"] is False
    assert len(split.test) == 9


def test_deduplicate_keeps_the_copy_with_a_face(tmp_path):
    a = Sample(id="01-02-01-01-01-05", dataset="ravdess", label="calm", speaker="ravdess:05", audio=tmp_path / "a.flac")
    b = Sample(id="01-02-01-01-01-05", dataset="ravdess-windows", label="calm", speaker="ravdess:05",
               faces_dir=tmp_path / "faces")
    c = Sample(id="01-03-01-01-01-05", dataset="ravdess", label="happiness", speaker="ravdess:05",
               audio=tmp_path / "c.flac")
    assert deduplicate([a, b, c]) == [b, c]


def _write_wav(path: Path, seconds: float, freq: float, amp: float = 0.3) -> None:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    data = (amp * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(SAMPLE_RATE)
        w.writeframes(data.tobytes())


def _window_folder(root: Path, n_faces: int, colour: int) -> Path:
    (root / "faces").mkdir(parents=True)
    for i in range(n_faces):
        Image.fromarray(np.full((224, 224, 3), colour, np.uint8)).save(root / "faces" / f"{i:02d}.jpg")
    _write_wav(root / "audio.wav", 3.6, 220.0 + colour)
    return root


def test_feature_cache_round_trip_and_window_layout(tmp_path):
    folder = _window_folder(tmp_path / "trial", n_faces=12, colour=90)
    sample = Sample(id="trial", dataset="generic", label="fear", speaker="generic:a", faces_dir=folder / "faces",
                    audio=folder / "audio.wav")
    x = sample_inputs(sample)
    assert x.faces.shape == (FRAMES_PER_WINDOW, 224, 224, 3) and x.face_mask.sum() == 12
    assert not x.face_mask[12:].any()
    assert x.audio.shape == (N_AUDIO_FEATURES, N_AUDIO_FRAMES)
    cache = FeatureCache(tmp_path / "cache")
    first = cache.get_all([sample])[0]
    again = FeatureCache(tmp_path / "cache").load(sample)
    assert again is not None
    np.testing.assert_array_equal(first.faces, again.faces)
    np.testing.assert_array_equal(first.face_mask, again.face_mask)
    np.testing.assert_array_equal(first.audio, again.audio)
    assert (again.window.start_s, again.window.end_s) == (first.window.start_s, first.window.end_s)


def _synthetic_items(n: int, seed: int, feature_dim: int = 16) -> list[TrainItem]:
    """Items whose face features and audio carry the label (so a model can learn it)."""
    g = torch.Generator().manual_seed(seed)
    items = []
    for i in range(n):
        label = i % 3
        frames = torch.randn(FRAMES_PER_WINDOW, feature_dim, generator=g) * 0.5
        frames[:, label] += 2.0
        audio = torch.randn(N_AUDIO_FEATURES, N_AUDIO_FRAMES, generator=g) * 0.5
        audio[label * 10:(label + 1) * 10] += 2.0
        has_face = i % 4 != 0
        items.append(TrainItem(frames if has_face else None, torch.ones(FRAMES_PER_WINDOW, dtype=torch.bool),
                               audio, label, f"s:{i % 5}", "synthetic", f"i{i}"))
    return items


def test_smoke_training_lowers_the_loss_and_learns():
    torch.manual_seed(0)
    model = EmotionNet(ModelConfig(labels=EMOTIONS[:3], **TINY))
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    train, val = _synthetic_items(48, 0), _synthetic_items(24, 1)
    result = fit(model, train, val, TrainOptions(epochs=6, batch_size=8, lr=3e-3, patience=10, device="cpu"))
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < 0.7 * losses[0], losses
    logits = predict_items(model, val, torch.device("cpu"))
    assert (logits.argmax(1) == np.array([it.label for it in val])).mean() > 0.8
    # one temperature per path (bimodal, face only, voice only), each fitted on that path's validation windows
    assert len(result.temperature) == 3 and min(result.temperature) > 0
    assert model.temperature.tolist() == pytest.approx(result.temperature)
    # one model, three conditions: face only and voice only still work
    for use_v, use_a in ((True, False), (False, True)):
        subset = [it for it in val if it.has_video] if not use_a else val
        lg = predict_items(model, subset, torch.device("cpu"), use_video=use_v, use_audio=use_a)
        assert (lg.argmax(1) == np.array([it.label for it in subset])).mean() > 0.6


def test_train_and_evaluate_commands_end_to_end(tmp_path):
    """`run_training` on a generic CSV dataset of synthetic windows, then `run_evaluation`."""
    from emoannotate.training.commands import EvalConfig, SplitOptions, TrainConfig, run_evaluation, run_training

    rows = ["path,label,speaker"]
    for spk in range(4):
        for k, label in enumerate(("anger", "sadness")):
            folder = _window_folder(tmp_path / f"s{spk}_{label}", n_faces=15, colour=40 + 120 * k + spk)
            rows.append(f"{folder.name},{label},spk{spk}")
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "model.safetensors"
    outcome = run_training(TrainConfig(
        data=(f"generic:{tmp_path / 'data.csv'}",), out=out,
        split=SplitOptions(test_speakers=("generic:spk3",), val_speakers=("generic:spk2",)),
        options=TrainOptions(epochs=2, device="cpu"), workers=0, cache_dir=tmp_path / "cache",
        report_dir=tmp_path / "report"))
    assert outcome.path == out and "Bimodal" in outcome.table
    assert str(tmp_path) not in json.dumps(outcome.info["data"])  # no machine paths in what a checkpoint records
    assert out.is_file() and not out.with_suffix(".state.pt").exists()
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert set(report["reports"]["overall"]) >= {"bimodal", "video", "audio"}
    assert report["about"]["split"]["test_speakers"] == ["generic:spk3"]
    assert list((tmp_path / "report").glob("confusion_*.png"))
    text = run_evaluation(EvalConfig(data=(f"generic:{tmp_path / 'data.csv'}",), model=str(out),
                                     cache_dir=tmp_path / "cache", workers=0, device="cpu", out_dir=tmp_path / "eval"))
    assert "Bimodal" in text and "Video" in text and "Audio" in text
    doc = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert doc["reports"]["overall"]["bimodal"]["n"] == 2  # the two windows of the test speaker
    # evaluate's figures say how far they could move with other people; one test person: no interval
    assert doc["reports"]["overall"]["bimodal"]["intervals"]["units"] == 1
    assert "bimodal: accuracy" in text and "(one person: no interval)" in text
    assert all("intervals" not in r for r in report["reports"]["overall"].values())  # train's reports as before
    run_evaluation(EvalConfig(data=(f"generic:{tmp_path / 'data.csv'}",), model=str(out), split="validation",
                              cache_dir=tmp_path / "cache", workers=0, device="cpu", out_dir=tmp_path / "val"))
    doc = json.loads((tmp_path / "val" / "report.json").read_text())
    assert doc["reports"]["overall"]["bimodal"]["n"] == 2  # the two windows of the validation speaker
    assert doc["about"]["protocol"]["evaluated"] == "validation people"
    assert doc["reports"]["overall"]["bimodal"] != report["reports"]["overall"]["bimodal"]


def test_backbone_finetuning_trains_through_the_crops():
    torch.manual_seed(0)
    model = EmotionNet(ModelConfig(labels=EMOTIONS[:2], **TINY))
    items = []
    for i in range(12):
        label = i % 2
        crops = torch.full((FRAMES_PER_WINDOW, 224, 224, 3), 60 + 120 * label, dtype=torch.uint8)
        mask = torch.ones(FRAMES_PER_WINDOW, dtype=torch.bool)
        mask[i % FRAMES_PER_WINDOW] = False
        items.append(TrainItem(crops, mask, None, label, f"s:{i % 3}", "synthetic", f"c{i}"))
    before = [p.detach().clone() for p in model.backbone.parameters()]
    result = fit(model, items, [], TrainOptions(epochs=3, batch_size=4, lr=3e-3, device="cpu", p_pair=0,
                                                finetune_backbone=True))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.backbone.parameters()))
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    logits = predict_items(model, items, torch.device("cpu"))
    assert logits.shape == (12, 2)


def test_resume_continues_exactly_where_training_stopped():
    options = TrainOptions(epochs=4, batch_size=8, lr=3e-3, patience=10, device="cpu")
    train, val = _synthetic_items(32, 0), _synthetic_items(12, 1)

    def fresh() -> EmotionNet:
        torch.manual_seed(0)
        m = EmotionNet(ModelConfig(labels=EMOTIONS[:3], **TINY))
        for p in m.backbone.parameters():
            p.requires_grad_(False)
        return m

    straight = fit(fresh(), train, val, options)
    states = []
    fit(fresh(), train, val, TrainOptions(**{**options.to_dict(), "epochs": 2}),
        save_state=lambda st: states.append(copy.deepcopy(st)))  # as torch.save would freeze it
    resumed = fit(fresh(), train, val, options, resume_state=states[-1])
    assert [h["epoch"] for h in resumed.history] == [0, 1, 2, 3]
    for a, b in zip(straight.history, resumed.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)



def test_a_corpus_named_whole_for_test_is_held_out_whole_and_the_others_split():
    """Across corpora: "b:*" puts every person of corpus b in test; corpus a is split as usual."""
    samples = [Sample(id=f"{c}{p}-{k}", dataset=c, label="anger" if k else "sadness", speaker=f"{c}:{p}",
                      audio=Path(f"/x/{c}{p}-{k}.wav")) for c in ("a", "b") for p in range(6) for k in range(2)]
    split = make_split(samples, test_speakers=["b:*"], test_fraction=0.3, val_fraction=0.2, per_corpus=True)
    assert {s.speaker for s in split.test if s.dataset == "b"} == {f"b:{p}" for p in range(6)}
    assert not [s for s in split.train + split.val if s.dataset == "b"]
    a_test = {s.speaker for s in split.test if s.dataset == "a"}
    assert 0 < len(a_test) < 6 and not a_test & {s.speaker for s in split.train}
    assert split.description["speaker_independent"] and "b:3" in split.description["test_speakers"]


def test_folds_test_every_person_once_and_keep_named_test_people():
    """--fold K N: each corpus without named test people is dealt into N folds; over K = 1..N every person of it is
    tested exactly once, never trained or validated on in that fold; a corpus with named test people keeps them."""
    samples = [Sample(id=f"{c}{p}-{k}", dataset=c, label="anger" if k else "sadness", speaker=f"{c}:{p}",
                      audio=Path(f"/x/{c}{p}-{k}.wav")) for c in ("a", "b", "f") for p in range(11) for k in range(2)]
    tested: dict[str, int] = {}
    for k in range(1, 4):
        split = make_split(samples, test_speakers=["f:1", "f:2"], val_fraction=0.2, per_corpus=True, fold=(k, 3))
        test = {s.speaker for s in split.test}
        assert not test & {s.speaker for s in split.train + split.val}
        assert {s.speaker for s in split.test if s.dataset == "f"} == {"f:1", "f:2"}
        assert {s.dataset for s in split.val} == {"a", "b", "f"} and split.description["fold"] == [k, 3]
        for sp in test - {"f:1", "f:2"}:
            tested[sp] = tested.get(sp, 0) + 1
    assert tested == {f"{c}:{p}": 1 for c in ("a", "b") for p in range(11)}
    assert make_split(samples, per_corpus=True, fold=(2, 3)).test == make_split(samples, per_corpus=True,
                                                                                fold=(2, 3)).test  # seeded
    with pytest.raises(DatasetError, match="fewer than 12 folds"):
        make_split(samples, per_corpus=True, fold=(1, 12))
    with pytest.raises(DatasetError, match="K from 1 to N"):
        make_split(samples, fold=(4, 3))


def test_conflicting_pairs_teach_the_fusion_that_either_emotion_is_open():
    faces = [TrainItem(it.frames, it.mask, None, it.label, f"face:{k}", "synthetic", f"f{k}")
             for k, it in enumerate(_synthetic_items(60, 0)) if it.has_video]
    voices = [TrainItem(None, it.mask, it.audio, it.label, f"voice:{k % 4}", "synthetic", f"v{k}")
              for k, it in enumerate(_synthetic_items(60, 1))]
    rng = random.Random(0)
    for _ in range(20):  # another speaker's voice, of another label
        v = _other_voice(rng, {0: voices[0::3], 1: voices[1::3], 2: voices[2::3]}, faces[0], same_label=False)
        assert v is not None and v.label != faces[0].label and v.speaker != faces[0].speaker

    def trained(p_conflict: float) -> EmotionNet:  # every face paired: with its label's voices or with others
        torch.manual_seed(0)
        model = EmotionNet(ModelConfig(labels=EMOTIONS[:3], **TINY))
        for p in model.backbone.parameters():
            p.requires_grad_(False)
        fit(model, faces + voices, [], TrainOptions(epochs=15, batch_size=8, lr=3e-3, device="cpu",
                                                    p_pair=1 - p_conflict, p_conflict=p_conflict))
        return model

    a = faces[1]
    b = next(v for v in voices if v.label != a.label)
    c = next(v for v in voices if v.label == a.label)
    pairs = [TrainItem(a.frames, a.mask, v.audio, a.label, "a+v", "synthetic", "pair") for v in (b, c)]
    probs = {p: torch.softmax(torch.from_numpy(predict_items(trained(p), pairs, torch.device("cpu"))), 1)
             for p in (0.0, 1.0)}
    split = probs[1.0][0]  # trained on disagreeing pairs: about half each
    assert min(split[a.label], split[b.label]) > 0.3 and split[a.label] + split[b.label] > 0.85, split
    assert probs[0.0][0].max() > split.max() + 0.2  # on agreeing pairs: sure of one of them
    assert probs[1.0][1][a.label] > 0.8  # a face and a voice that agree: sure of it
