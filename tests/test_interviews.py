"""Interviews: faces followed into people, who is speaking, face against voice (issue 10).

Two-person media are made here from the astronaut's face (PyAV, numpy): side by side, the
left one's mouth opening and closing while a voice sounds and resting while it pauses, the
right one still. The speaking person must be the left one, in every mode.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from synth import FACE_SIDE, TONE_HZ, write_media

import emoannotate
from emoannotate.constants import FRAMES_PER_WINDOW
from emoannotate.extract import extract_windows
from emoannotate.faces import WindowFaces
from emoannotate.media import iter_frames, probe
from emoannotate.people import PersonLinker
from emoannotate.records import PersonInput, Window, WindowInput
from emoannotate.registry import load_model
from emoannotate.speaking import SPEAKING_MIN_SCORE, choose_speaker, face_motion, speaking_score, voice_envelope
from emoannotate.windows import plan_windows

TWO_FPS = 10
TWO_SECONDS = 7.2  # two windows


def _talking(t: float) -> bool:
    """The voice sounds in the first 0.6 s of every 1.2 s (and the mouth moves then)."""
    return (t % 1.2) < 0.6


@pytest.fixture(scope="module")
def two_people(tmp_path_factory, face_image, face_detector):
    """320x160: the astronaut twice; the left one's mouth moves while the voice sounds. Returns the path."""
    found = face_detector.detect([face_image])
    x1, y1, x2, y2 = found.boxes[0]
    w, h = x2 - x1, y2 - y1
    mouth = (slice(int(y1 + 0.72 * h), int(y1 + 0.90 * h)), slice(int(x1 + 0.30 * w), int(x1 + 0.70 * w)))
    rng = np.random.default_rng(0)
    openings = rng.uniform(0.2, 1.0, round(TWO_SECONDS * TWO_FPS))

    def frame(i: int) -> np.ndarray:
        left = face_image.copy()
        if _talking(i / TWO_FPS):
            rows = np.arange(mouth[0].start, mouth[0].stop)
            band = rows < mouth[0].start + openings[i] * (mouth[0].stop - mouth[0].start)
            left[rows[band], mouth[1]] = (40, 10, 10)  # an open mouth, wider or narrower each frame
        return np.concatenate([left, face_image], axis=1)

    def voice(t: np.ndarray) -> np.ndarray:
        on = (t % 1.2) < 0.6
        return 0.5 * np.sin(2 * np.pi * TONE_HZ * t) * on

    path = tmp_path_factory.mktemp("two") / "two_people.mp4"
    return write_media(path, duration_s=TWO_SECONDS, frame_fn=frame, size=(2 * FACE_SIDE, FACE_SIDE), fps=TWO_FPS,
                       audio_fn=voice)


def _side(row) -> str:
    return "left" if (row["face_x1"] + row["face_x2"]) / 2 < FACE_SIDE else "right"


def test_track_of_one_face_is_detect(face_video, face_detector):
    info = probe(face_video)
    for _, frames in iter_frames(str(face_video), plan_windows(info.duration_s), n_frames=FRAMES_PER_WINDOW):
        one = face_detector.detect(frames)
        (tracked,) = face_detector.track(frames)
        np.testing.assert_array_equal(tracked.mask, one.mask)
        np.testing.assert_array_equal(tracked.crops, one.crops)
        np.testing.assert_array_equal(tracked.boxes, one.boxes)


def test_track_follows_two_faces(two_people, face_detector):
    info = probe(two_people)
    for _, frames in iter_frames(str(two_people), plan_windows(info.duration_s), n_frames=FRAMES_PER_WINDOW):
        faces = face_detector.track(frames)
        assert len(faces) == 2
        for f in faces:
            assert f.mask.all()
            centres = (f.boxes[:, 0] + f.boxes[:, 2]) / 2
            assert np.ptp(centres) < 10  # one face per side, never swapped between frames
        assert {bool(((f.boxes[:, 0] + f.boxes[:, 2]) / 2 < FACE_SIDE).all()) for f in faces} == {True, False}


def test_speaking_score_follows_the_mouth_with_the_voice():
    rng = np.random.default_rng(1)
    n = FRAMES_PER_WINDOW
    crops = np.full((n, 224, 224, 3), 128, np.uint8)
    crops[:, 40:110] = rng.integers(0, 255, (1, 70, 224, 3))  # eyes: the same in every frame
    talking = crops.copy()
    loud = np.arange(n - 1) % 4 < 2  # gaps in which the voice sounds
    for i in range(1, n):
        if loud[i - 1]:
            talking[i, 150:214, 56:168] = rng.integers(0, 255, (64, 112, 3))
        else:
            talking[i, 150:214, 56:168] = talking[i - 1, 150:214, 56:168]
    mask = np.ones(n, bool)
    boxes = np.zeros((n, 4), np.float32)
    envelope = np.where(loud, 0.2, 0.001).astype(np.float32)
    moving, still = WindowFaces(talking, mask, boxes, 2), WindowFaces(crops, mask, boxes, 2)
    assert speaking_score(face_motion(moving), envelope) > SPEAKING_MIN_SCORE
    assert abs(speaking_score(face_motion(still), envelope)) < SPEAKING_MIN_SCORE
    assert choose_speaker([still, moving], envelope)[0] == 1
    assert np.isnan(speaking_score(face_motion(moving), np.zeros(n - 1, np.float32)))  # no voice: no score
    assert choose_speaker([still, moving], np.zeros(n - 1, np.float32))[0] == 0  # the largest, as before


def test_voice_envelope_is_the_loudness_between_frames():
    w = Window(0, 0.0, 3.6)
    t = np.arange(round(3.6 * 22050)) / 22050
    env = voice_envelope((t < 1.8).astype(np.float32), w)
    assert env.shape == (FRAMES_PER_WINDOW - 1,)
    assert env[0] == pytest.approx(1.0) and env[-1] == 0.0
    assert voice_envelope(None, w).sum() == 0


def _person(box: tuple[float, float, float, float]) -> PersonInput:
    return PersonInput(np.ones(FRAMES_PER_WINDOW, bool), np.tile(np.array(box, np.float32), (FRAMES_PER_WINDOW, 1)),
                       None, float("nan"))


def _window(index: int, *boxes) -> WindowInput:
    x = WindowInput.empty(Window(index, index * 3.6, index * 3.6 + 3.6))
    x.people = tuple(_person(b) for b in boxes)
    return x


def test_person_ids_follow_places_not_order():
    linker = PersonLinker()
    left, right = (10, 10, 60, 60), (200, 10, 250, 60)
    assert linker.link(_window(0, left, right)) == [1, 2]
    assert linker.link(_window(1, right, left)) == [2, 1]  # the largest-first order changed
    assert linker.link(_window(2, (12, 11, 61, 62))) == [1]  # moved a little; the other one away
    assert linker.link(_window(3, right)) == [2]  # back after a window away
    assert linker.link(_window(20, right)) == [3]  # unseen for longer than FORGET_S: a new person
    assert linker.link(_window(21, (400, 10, 450, 60))) == [4]


def test_the_speaker_is_chosen_in_every_mode(two_people, tiny_checkpoint):
    speaker = emoannotate.annotate(two_people, model=tiny_checkpoint, workers=0, device="cpu").records()
    assert [r["window"] for r in speaker] == [0, 1]
    assert all(_side(r) == "left" and r["speaking"] is True and r["person"] is not None for r in speaker)
    assert all(r["speaking_score"] >= SPEAKING_MIN_SCORE for r in speaker)
    assert len({r["person"] for r in speaker}) == 1

    every = emoannotate.annotate(two_people, model=tiny_checkpoint, workers=0, device="cpu", faces="all").records()
    assert [(r["window"], r["person"]) for r in every] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    by_person = {p: {_side(r) for r in every if r["person"] == p} for p in (1, 2)}
    assert sorted(by_person.values(), key=str) == [{"left"}, {"right"}]  # stable ids: one side each
    for r in every:
        talking = _side(r) == "left"
        assert r["speaking"] is talking
        assert r["modalities"] == ("audio+video" if talking else "video")  # the others: face alone
        assert (r["voice_emotion"] is not None) is talking

    largest = emoannotate.annotate(two_people, model=tiny_checkpoint, workers=0, device="cpu",
                                   faces="largest").records()
    assert all(r["person"] is None and r["speaking"] is None for r in largest)
    assert all(r["max_faces"] == 2 for r in largest)


def test_one_face_gives_the_rows_of_the_largest_face(face_video, tiny_checkpoint):
    kept = ("emotion", "confidence", "modalities", "face_frames", "face_x1", "face_y1", "face_x2", "face_y2",
            *(f"p_{e}" for e in emoannotate.EMOTIONS))
    rows = {mode: emoannotate.annotate(face_video, model=tiny_checkpoint, workers=0, device="cpu",
                                       faces=mode).records() for mode in ("speaker", "largest")}
    assert [{k: r[k] for k in kept} for r in rows["speaker"]] == [{k: r[k] for k in kept} for r in rows["largest"]]
    assert rows["speaker"][0]["person"] == 1


def test_face_and_voice_columns_are_the_single_modality_outputs(face_video, tiny_checkpoint):
    net = load_model(str(tiny_checkpoint), device="cpu")[0]
    info = probe(face_video)
    window = plan_windows(info.duration_s)[0]
    (x,) = extract_windows(str(face_video), [window], has_video=True, has_audio=True)
    faces = torch.from_numpy(x.faces[None])
    mask = torch.from_numpy(x.face_mask[None])
    audio = torch.from_numpy(x.audio[None])
    with torch.inference_mode():
        face_alone = net.predict_proba(faces, mask, None, torch.zeros(1, dtype=torch.bool))[0].numpy()
        voice_alone = net.predict_proba(None, torch.zeros_like(mask), audio, torch.ones(1, dtype=torch.bool))[0].numpy()
        both = net.predict_proba(faces, mask, audio, torch.ones(1, dtype=torch.bool))[0].numpy()
    results = emoannotate.annotate(face_video, model=tiny_checkpoint, workers=0, device="cpu")
    row = results[0].windows[0]
    record = results.records(modality_probabilities=True)[0]
    labels = net.config.labels
    assert [record[f"p_face_{e}"] for e in labels] == [round(float(v), 4) for v in face_alone]
    assert [record[f"p_voice_{e}"] for e in labels] == [round(float(v), 4) for v in voice_alone]
    assert list(results.to_pandas(modality_probabilities=True).columns) == list(record)
    np.testing.assert_allclose(row.face_probabilities, face_alone, atol=1e-5)
    np.testing.assert_allclose(row.voice_probabilities, voice_alone, atol=1e-5)
    np.testing.assert_allclose(row.probabilities, both, atol=1e-5)
    assert row.face_emotion == labels[int(face_alone.argmax())]
    assert row.voice_emotion == labels[int(voice_alone.argmax())]
    assert row.agreement is (row.face_emotion == row.voice_emotion)


def test_a_window_with_one_modality_has_only_that_reading(video_without_audio, audio_wav, tiny_checkpoint):
    rows = emoannotate.annotate([video_without_audio, audio_wav], model=tiny_checkpoint, workers=0,
                                device="cpu").records()
    face_only = next(r for r in rows if r["modalities"] == "video")
    voice_only = next(r for r in rows if r["modalities"] == "audio")
    assert face_only["face_emotion"] == face_only["emotion"] and face_only["voice_emotion"] is None
    assert voice_only["voice_emotion"] == voice_only["emotion"] and voice_only["face_emotion"] is None
    assert face_only["agreement"] is None and voice_only["agreement"] is None
    assert voice_only["person"] is None
