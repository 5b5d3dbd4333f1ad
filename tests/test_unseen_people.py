"""The pieces of a model for people it has never met: photo corpora, stills as windows, per-path
calibration, per-corpus splits, degraded voices and level normalisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from emoannotate import audio
from emoannotate.datasets import Sample, load_dataset, make_split
from emoannotate.errors import DatasetError
from emoannotate.model.net import PATHS, EmotionNet, ModelConfig, modality_path
from emoannotate.training.augment import degrade, draw
from emoannotate.training.batch import TrainItem, pair_items

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def save_gray(path: Path, seed: int, size: int = 48) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size, size), np.uint8)).save(path)


def test_fer2013_reader(tmp_path: Path) -> None:
    for i, (part, usage, folder) in enumerate([("train", "Training", "happy"), ("validation", "PublicTest", "neutral"),
                                               ("test", "PrivateTest", "angry"), ("test", "PrivateTest", "disgust")]):
        save_gray(tmp_path / part / folder / f"{usage}_{100 + i}.jpg", i)
    save_gray(tmp_path / "train" / "disgust" / "Training_7.jpg0.jpg", 9)  # an augmented copy
    save_gray(tmp_path / "train" / "sad" / "Training_5.jpg", 5)
    save_gray(tmp_path / "train" / "fear" / "Training_5.jpg", 6)  # the same image under two emotions
    samples = load_dataset(f"fer2013:{tmp_path}", neutral="calm")
    assert [(s.id, s.label, s.subset, s.cropped) for s in samples] == [
        ("PrivateTest_102", "anger", "PrivateTest", True), ("PrivateTest_103", "disgust", "PrivateTest", True),
        ("PublicTest_101", "calm", "PublicTest", True), ("Training_100", "happiness", "Training", True)]
    assert samples[0].speaker == "fer2013:PrivateTest-102" and samples[0].image is not None
    assert len(load_dataset(f"fer2013:{tmp_path}")) == 3  # neutral dropped by default
    with pytest.raises(DatasetError, match="no FER2013 images"):
        load_dataset(f"fer2013:{tmp_path / 'train' / 'disgust'}")


def test_london_and_muxspace_readers(tmp_path: Path) -> None:
    london = tmp_path / "london"
    save_gray(london / "neutral" / "001_03.jpg", 1)
    save_gray(london / "smiling" / "001_08.jpg", 2)
    s = load_dataset(f"london-faces:{london}", neutral="calm")
    assert [(x.label, x.speaker) for x in s] == [("calm", "london-faces:001"), ("happiness", "london-faces:001")]
    mux = tmp_path / "mux"
    for name in ("Tiger_Woods_0001.jpg", "Tiger_Woods_0002.jpg", "Ann_Lee_0001.jpg", "facial-expressions_1k.jpg"):
        save_gray(mux / "images" / name, len(name))
    (mux / "data").mkdir()
    (mux / "data" / "legend.csv").write_text(
        "user.id,image,emotion\n1,Tiger_Woods_0001.jpg,HAPPINESS\n1,Tiger_Woods_0002.jpg,neutral\n"
        "1,Ann_Lee_0001.jpg,contempt\n1,facial-expressions_1k.jpg,anger\n1,Tiger_Woods_0001.jpg,anger\n")
    s = load_dataset(f"muxspace:{mux}", neutral="calm")
    assert [(x.id, x.label, x.speaker) for x in s] == [("Tiger_Woods_0001", "happiness", "muxspace:Tiger_Woods"),
                                                       ("Tiger_Woods_0002", "calm", "muxspace:Tiger_Woods")]


@pytest.mark.skipif(not (SHARED_DATA / "london-faces").is_dir(), reason="../shared/data/london-faces is absent")
def test_real_london_set_has_102_people_in_both_expressions() -> None:
    s = load_dataset(f"london-faces:{SHARED_DATA / 'london-faces'}", neutral="calm")
    assert len(s) == 204 and len({x.speaker for x in s}) == 102
    assert sorted({x.label for x in s}) == ["calm", "happiness"]


@pytest.mark.slow
def test_extract_still_drifts_a_detected_face(face_image: np.ndarray, tmp_path: Path) -> None:
    from emoannotate.extract import default_detector, extract_still

    path = tmp_path / "face.png"
    Image.fromarray(face_image).save(path)
    x = extract_still(path, detector=default_detector())
    assert x.faces is not None and x.faces.shape == (15, 224, 224, 3) and x.face_mask.all()
    assert not np.array_equal(x.faces[0], x.faces[14])  # the box drifts
    again = extract_still(path, detector=default_detector())
    assert again.faces is not None and np.array_equal(again.faces, x.faces)  # the drift is fixed by the name
    crop = extract_still(path, cropped=True)  # the whole image is the face
    assert crop.faces is not None and crop.face_mask.all() and crop.audio is None
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((200, 200, 3), 127, np.uint8)).save(blank)
    assert extract_still(blank, detector=default_detector()).faces is None


def test_modality_path_and_per_path_temperature() -> None:
    v = torch.tensor([True, True, False])
    a = torch.tensor([True, False, True])
    assert modality_path(v, a).tolist() == [0, 1, 2] and PATHS == ("bimodal", "video", "audio")
    torch.manual_seed(0)
    net = EmotionNet(ModelConfig(backbone="tiny")).eval()
    faces = torch.randint(0, 255, (3, 15, 224, 224, 3), dtype=torch.uint8)
    mask = torch.tensor([[True] * 15, [True] * 15, [False] * 15])
    voice = torch.randn(3, 181, 156)
    with torch.no_grad():
        logits = net(faces, mask, voice, a)
        net.temperature.copy_(torch.tensor([1.0, 2.0, 4.0]))
        p = net.predict_proba(faces, mask, voice, a)
    for row, t in enumerate([1.0, 2.0, 4.0]):
        assert torch.allclose(p[row], torch.softmax(logits[row] / t, dim=0), atol=1e-6)
    state = net.state_dict()
    state["temperature"] = torch.tensor(1.5)  # a checkpoint from before per-path calibration
    net.load_state_dict(state)
    assert net.temperature.tolist() == [1.5, 1.5, 1.5]


def item(label: int, video: bool, voice: bool, name: str) -> TrainItem:
    return TrainItem(torch.ones(15, 4) if video else None, torch.full((15,), video), torch.zeros(181, 156)
                     if voice else None, label, name, "x", name)


def test_pair_items_pairs_faces_with_voices_of_their_label() -> None:
    faces = [item(0, True, False, "f1"), item(0, True, False, "f2"), item(1, True, False, "f3"),
             item(2, True, False, "f4")]
    voices = [item(0, False, True, "v1"), item(1, False, True, "v2"), item(1, False, True, "v3")]
    pairs = pair_items(faces, voices)
    assert [p.id for p in pairs] == ["f1+v1", "f2+v1", "f3+v2"]  # f4's label has no voice
    assert all(p.has_video and p.has_audio for p in pairs)


def test_per_corpus_split_with_patterns() -> None:
    s = [Sample(f"{c}{i}", "generic", "anger", f"{c}:{i}", audio=Path("x.wav")) for c in ("a", "b") for i in range(20)]
    s += [Sample(f"Pr{i}", "fer2013", "anger", f"fer2013:PrivateTest-{i}", image=Path("x.jpg")) for i in range(5)]
    s += [Sample(f"Pu{i}", "fer2013", "anger", f"fer2013:PublicTest-{i}", image=Path("x.jpg")) for i in range(20)]
    split = make_split(s, test_speakers=["fer2013:PrivateTest-*", "a:3"], test_fraction=0.25, val_fraction=0.2,
                       per_corpus=True)
    test = {x.speaker for x in split.test}
    assert {x for x in test if x.startswith("fer2013")} == {f"fer2013:PrivateTest-{i}" for i in range(5)}
    assert {x for x in test if x.startswith("a:")} == {"a:3"}
    assert 3 <= sum(x.startswith("b:") for x in test) <= 7  # b: its own fraction
    for corpus in ("a:", "b:", "fer2013:PublicTest"):  # every corpus has validation people
        assert any(x.speaker.startswith(corpus) for x in split.val)
    everyone = [x.speaker for x in split.train + split.val + split.test]
    assert len(everyone) == len(set(everyone)) == len(s)
    assert split.description["per_corpus"] and split.description["speaker_independent"]


def test_degradations_are_seeded_and_bounded() -> None:
    d1, r1 = draw("ravdess/x/0")
    d2, r2 = draw("ravdess/x/0")
    assert d1 == d2 and draw("ravdess/x/1")[0] != d1
    y = np.sin(np.linspace(0, 2000, 79380)).astype(np.float32) * 0.1
    a, b = degrade(y, d1, r1), degrade(y, d2, r2)
    assert np.array_equal(a, b) and a.dtype == np.float32 and np.abs(a).max() <= 1.0
    phone = degrade(y * 0 + np.random.default_rng(0).standard_normal(79380).astype(np.float32) * 0.1,
                    d1.__class__(0.0, None, True, None, None, False), r1)
    spectrum = np.abs(np.fft.rfft(phone))
    freqs = np.fft.rfftfreq(phone.size, 1 / 22050)
    assert spectrum[freqs > 4000].max() < 1e-3 * spectrum.max()


def test_level_normalisation_makes_features_level_free() -> None:
    rng = np.random.default_rng(0)
    y = (rng.standard_normal(79380) * np.sin(np.linspace(0, 40, 79380)) ** 2 * 0.05).astype(np.float32)
    loud, quiet = audio.window_features(y * 4), audio.window_features(y / 8)
    assert np.allclose(loud, quiet, atol=1e-3)
    level = audio.normalise_level(y / 8)
    assert 0.5 * audio.TARGET_RMS < np.sqrt(np.mean(level**2)) < 1.1 * audio.TARGET_RMS


def test_summarise_speakers_counts_large_corpora() -> None:
    from emoannotate.datasets import summarise_speakers

    speakers = ["ravdess:04", "ravdess:05"] + [f"fer2013:PrivateTest-{i}" for i in range(30)]
    assert summarise_speakers(speakers) == "ravdess:04, ravdess:05; fer2013: 30 speakers"
    assert summarise_speakers(["a:1"]) == "a:1" and summarise_speakers([]) == ""


def test_windows_far_from_training_are_made_less_certain() -> None:
    torch.manual_seed(0)
    net = EmotionNet(ModelConfig(backbone="tiny")).eval()
    d = net.config.d_model
    logits = torch.tensor([[4.0, 0, 0, 0, 0, 0, 0]] * 3)
    emb = torch.zeros(3, d)
    emb[1, 0] = 2.0  # distance 2: at the reference
    emb[2, 0] = 6.0  # distance 6: three times as far
    path = torch.tensor([2, 2, 2])
    plain = net.calibrated(logits, emb, path)  # embed_ref 0: no distance term
    assert torch.allclose(plain[0], plain[2])
    net.embed_precision[2] = torch.eye(d)
    net.embed_ref[2] = 2.0
    p = net.calibrated(logits, emb, path)
    assert torch.allclose(p[0], plain[0]) and torch.allclose(p[1], plain[1])  # near: unchanged
    assert torch.allclose(p[2], torch.softmax(logits[2] / 9.0, dim=0))  # (6 / 2)^2 = 9 times the temperature
    assert net.distance(emb, path).tolist() == pytest.approx([0.0, 2.0, 6.0])
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("embed_")}
    net.load_state_dict(state)  # a checkpoint from before the distance term: turned off
    assert float(net.embed_ref.abs().sum()) == 0.0


def test_fit_calibration_sets_every_path() -> None:
    from emoannotate.training.fit import fit_calibration

    torch.manual_seed(0)
    net = EmotionNet(ModelConfig(backbone="tiny")).eval()

    def items(n: int, seed: int) -> list[TrainItem]:
        r = np.random.default_rng(seed)
        out = []
        for i in range(n):
            video, voice = i % 3 != 2, i % 3 != 0
            frames = torch.from_numpy(r.normal(size=(15, 16)).astype(np.float32)) if video else None
            sound = torch.from_numpy(r.normal(size=(181, 156)).astype(np.float32)) if voice else None
            out.append(TrainItem(frames, torch.full((15,), video), sound, int(r.integers(0, 7)), f"s{i}", "x", f"i{i}"))
        return out

    temps = fit_calibration(net, items(60, 1), items(30, 2), torch.device("cpu"))
    assert len(temps) == 3 and min(temps) > 0
    assert (net.embed_ref > 0).all() and net.embed_precision.abs().sum() > 0


@torch.no_grad()
def test_fused_distance_inputs_makes_a_window_as_unsure_as_its_least_familiar_input() -> None:
    import dataclasses

    from emoannotate.training.batch import calibrated_probs

    torch.manual_seed(0)
    net = EmotionNet(ModelConfig(backbone="tiny")).eval()
    r = np.random.default_rng(3)
    items = [TrainItem(torch.from_numpy(r.normal(size=(15, 16)).astype(np.float32)), torch.ones(15, dtype=torch.bool),
                       torch.from_numpy(r.normal(size=(181, 156)).astype(np.float32)), i, f"s{i}", "x", f"i{i}")
             for i in range(2)]
    frames, audio = torch.stack([it.frames for it in items]), torch.stack([it.audio for it in items])
    mask, amask = torch.ones(2, 15, dtype=torch.bool), torch.ones(2, dtype=torch.bool)
    voice_emb = net.embed_features(None, torch.zeros_like(mask), audio, amask)
    # Calibration where every fused window is familiar (term 1), the first voice too, the second far from it.
    net.temperature[:] = torch.tensor([1.5, 1.0, 2.0])
    net.embed_ref[:] = torch.tensor([1.0, 0.0, 1.0])  # the face path without a distance term
    net.embed_mean[2] = voice_emb[0]
    net.embed_precision[2] = torch.eye(net.config.embed_dim) / float((voice_emb[1] - voice_emb[0]).square().sum()) * 9
    fused, face, voice = net.predict_modalities_features(frames, mask, audio, amask)
    net.config = dataclasses.replace(net.config, fused_distance="inputs")
    fused_in, face_in, voice_in = net.predict_modalities_features(frames, mask, audio, amask)
    assert torch.equal(face, face_in) and torch.equal(voice, voice_in)  # the single paths do not change
    assert torch.equal(fused_in.argmax(1), fused.argmax(1))  # nor any answer
    assert torch.allclose(fused_in[0], fused[0])  # familiar face and voice: as before
    logits = net.head(net.embed_features(frames, mask, audio, amask))
    assert torch.allclose(fused[1], torch.softmax(logits[1] / 1.5, dim=0), atol=1e-6)
    assert torch.allclose(fused_in[1], torch.softmax(logits[1] / (1.5 * 9), dim=0), atol=1e-5)  # its voice's (3/1)^2
    crops = torch.randint(0, 256, (2, 15, 224, 224, 3), dtype=torch.uint8)  # from crops, as `run` calls it
    alone_known = net.predict_modalities(crops, mask, audio, amask)[0]
    assert torch.allclose(net.predict_proba(crops, mask, audio, amask), alone_known)
    # `evaluate` reads the probabilities `run` gives
    assert np.allclose(calibrated_probs(net, items, torch.device("cpu"), "bimodal"), fused_in.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="fused_distance"):
        ModelConfig(backbone="tiny", fused_distance="nearest")
