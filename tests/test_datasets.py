"""Tests for emoannotate.datasets: tiny fake corpora of empty files, splits, real RAVDESS."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from emoannotate.constants import EMOTIONS
from emoannotate.datasets import (
    DATASET_NAMES,
    Sample,
    detect_layout,
    kfold_by_speaker,
    load_crema_d,
    load_dataset,
    load_emodb,
    load_enterface,
    load_generic,
    load_ravdess,
    load_ravdess_windows,
    load_rml,
    random_split,
    split_by_speaker,
)
from emoannotate.errors import DatasetError

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def sample(speaker: str, i: int, label: str = "anger") -> Sample:
    return Sample(id=f"{speaker}-{i}", dataset="generic", label=label,
                  speaker=f"generic:{speaker}", audio=Path(f"{speaker}-{i}.wav"))


# --- RAVDESS -----------------------------------------------------------------------------


@pytest.fixture
def ravdess(tmp_path: Path) -> Path:
    touch(
        tmp_path,
        # one trial in all three modalities -> one sample
        "Actor_05/01-01-05-01-01-01-05.mp4",
        "Actor_05/02-01-05-01-01-01-05.mp4",
        "Actor_05/03-01-05-01-01-01-05.wav",
        # video-only alone; audio-video alone; audio-only alone
        "Actor_05/02-01-03-02-02-01-05.mp4",
        "Actor_05/01-01-04-01-02-02-05.mp4",
        "Audio_Speech/Actor_06/03-01-08-01-01-01-06.flac",
        # neutral, song, and things that are not RAVDESS clips
        "Actor_06/03-01-01-01-01-01-06.wav",
        "Actor_06/01-02-03-01-01-01-06.mp4",
        "Actor_06/notes.txt",
        "Actor_06/03-01-09-01-01-01-06.wav",
        "__MACOSX/Actor_06/._03-01-02-01-01-01-06.wav",
    )
    return tmp_path


def test_ravdess_groups_modalities_into_one_sample(ravdess: Path) -> None:
    samples = load_ravdess(ravdess)
    by_id = {s.id: s for s in samples}
    assert sorted(by_id) == ["01-03-02-02-01-05", "01-04-01-02-02-05",
                             "01-05-01-01-01-05", "01-08-01-01-01-06"]
    full = by_id["01-05-01-01-01-05"]
    assert full.video == ravdess / "Actor_05/01-01-05-01-01-01-05.mp4"
    assert full.audio == ravdess / "Actor_05/03-01-05-01-01-01-05.wav"
    assert (full.label, full.speaker, full.dataset) == ("anger", "ravdess:05", "ravdess")
    assert (full.intensity, full.statement, full.repetition) == ("01", "01", "01")
    video_only = by_id["01-03-02-02-01-05"]
    assert video_only.video.name.startswith("02-") and video_only.audio is None
    assert video_only.label == "happiness" and video_only.intensity == "02"
    av = by_id["01-04-01-02-02-05"]
    assert av.audio is None and av.label == "sadness"
    audio_only = by_id["01-08-01-01-01-06"]
    assert audio_only.video is None and audio_only.audio.suffix == ".flac"
    assert audio_only.label == "surprise" and audio_only.speaker == "ravdess:06"
    assert samples == sorted(samples, key=lambda s: (s.speaker, s.id))


def test_ravdess_neutral_option(ravdess: Path) -> None:
    assert all(s.label != "calm" for s in load_ravdess(ravdess))
    with_neutral = load_ravdess(ravdess, neutral="calm")
    assert len(with_neutral) == 5
    assert {s.id: s.label for s in with_neutral}["01-01-01-01-01-06"] == "calm"
    with pytest.raises(DatasetError, match="neutral"):
        load_ravdess(ravdess, neutral="boredom")


def test_ravdess_labels_cover_all_codes(tmp_path: Path) -> None:
    touch(tmp_path, *(f"Actor_01/03-01-{code:02d}-01-01-01-01.wav" for code in range(2, 9)))
    labels = [s.label for s in load_ravdess(tmp_path)]
    assert sorted(labels) == sorted(EMOTIONS)


def test_ravdess_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_ravdess(tmp_path / "missing")
    with pytest.raises(DatasetError, match=r"MM-VV-EE-II-SS-RR-AA") as info:
        load_ravdess(tmp_path)
    assert str(tmp_path) in str(info.value)
    touch(tmp_path, "Actor_01/03-01-01-01-01-01-01.wav")
    with pytest.raises(DatasetError, match="neutral='calm'"):
        load_ravdess(tmp_path)


def test_ravdess_two_copies_of_one_trial_is_an_error(tmp_path: Path) -> None:
    touch(tmp_path, "a/Actor_01/03-01-05-01-01-01-01.wav", "b/Actor_01/03-01-05-01-01-01-01.wav")
    with pytest.raises(DatasetError, match="twice"):
        load_ravdess(tmp_path)


def test_ravdess_windows(tmp_path: Path) -> None:
    for trial in ("01-01-05-01-01-01-05", "01-01-01-01-01-01-05", "01-01-07-02-02-02-05"):
        touch(tmp_path, f"windows/Actor_05/{trial}/faces/00.jpg",
              f"windows/Actor_05/{trial}/audio.wav")
    touch(tmp_path, "labels.csv", "windows/Actor_05/01-01-03-01-01-01-05/faces/03.jpg")
    samples = load_ravdess_windows(tmp_path)
    assert [s.id for s in samples] == ["01-03-01-01-01-05", "01-05-01-01-01-05",
                                       "01-07-02-02-02-05"]
    first = samples[0]
    assert first.faces_dir == tmp_path / "windows/Actor_05/01-01-03-01-01-01-05/faces"
    assert first.audio is None and first.video is None and first.label == "happiness"
    assert samples[1].audio.name == "audio.wav" and samples[1].speaker == "ravdess:05"
    assert len(load_ravdess_windows(tmp_path, neutral="calm")) == 4
    trial = tmp_path / "windows" / "Actor_05" / "01-01-05-01-01-01-05"
    assert [s.id for s in load_ravdess_windows(trial)] == ["01-05-01-01-01-05"]
    with pytest.raises(DatasetError, match="faces/NN.jpg"):
        load_ravdess_windows(trial / "faces")


# --- CREMA-D -----------------------------------------------------------------------------


@pytest.fixture
def crema(tmp_path: Path) -> Path:
    touch(
        tmp_path,
        "AudioWAV/1001_DFA_ANG_XX.wav", "VideoFlash/1001_DFA_ANG_XX.flv",
        "AudioMP3/1001_DFA_ANG_XX.mp3",
        "AudioWAV/1002_IEO_HAP_HI.wav",
        "VideoFlash/1003_TIE_SAD_LO.flv", "VideoMP4/1003_TIE_SAD_LO.mp4",
        "AudioWAV/1040_ITH_SAD_X.wav", "VideoFlash/1040_ITH_SAD_XX.flv",
        "AudioWAV/1091_MTI_NEU_XX.wav",
        "AudioWAV/0999_MTI_ANG_XX.wav",
        "README.md",
    )
    return tmp_path


def test_crema_d_groups_video_and_audio(crema: Path) -> None:
    samples = load_crema_d(crema)
    by_id = {s.id: s for s in samples}
    assert sorted(by_id) == ["1001_DFA_ANG_XX", "1002_IEO_HAP_HI", "1003_TIE_SAD_LO",
                             "1040_ITH_SAD_XX"]
    first = by_id["1001_DFA_ANG_XX"]
    assert first.video.suffix == ".flv" and first.audio.suffix == ".wav"  # wav over mp3
    assert (first.label, first.speaker, first.statement, first.intensity) == (
        "anger", "crema-d:1001", "DFA", "XX")
    assert by_id["1002_IEO_HAP_HI"].video is None
    assert by_id["1003_TIE_SAD_LO"].video.suffix == ".mp4"  # mp4 over flv
    assert by_id["1040_ITH_SAD_XX"].audio.name == "1040_ITH_SAD_X.wav"
    assert by_id["1040_ITH_SAD_XX"].video is not None
    neutral = {s.id: s.label for s in load_crema_d(crema, neutral="calm")}
    assert neutral["1091_MTI_NEU_XX"] == "calm"


def test_crema_d_lfs_pointers_are_reported(tmp_path: Path) -> None:
    pointer = tmp_path / "AudioWAV" / "1001_DFA_ANG_XX.wav"
    pointer.parent.mkdir()
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 9\n")
    with pytest.raises(DatasetError, match="git lfs pull"):
        load_crema_d(tmp_path)


# --- EmoDB -------------------------------------------------------------------------------


def test_emodb_reads_speaker_sentence_and_german_emotion_letters(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "wav/03a01Fa.wav", "wav/03a01Nc.wav", "wav/16b10Wb.wav", "wav/09a05Ea.wav",
        "wav/11b03Ld.wav",  # boredom: no label for it
        "wav/02a01Fa.wav",  # not one of the 10 speakers
        "lablaut/03a01Fa.lab", "silb/03a01Fa.silb",  # the corpus's label files
    )
    samples = load_emodb(tmp_path)
    assert [(s.id, s.label, s.speaker) for s in samples] == [
        ("03a01Fa", "happiness", "emodb:03"), ("09a05Ea", "disgust", "emodb:09"),
        ("16b10Wb", "anger", "emodb:16")]
    assert (samples[0].statement, samples[0].repetition, samples[0].video) == ("a01", "a", None)
    assert {s.id: s.label for s in load_emodb(tmp_path, neutral="calm")}["03a01Nc"] == "calm"
    assert detect_layout(tmp_path) == "emodb"
    assert load_dataset(f"emo-db:{tmp_path}") == samples
    touch(tmp_path / "bored", "wav/11b03Ld.wav", "wav/03a01Nc.wav")
    with pytest.raises(DatasetError, match="boredom.*neutral='calm'"):
        load_emodb(tmp_path / "bored")


# --- eNTERFACE'05 and RML ----------------------------------------------------------------


def test_enterface(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "subject 1/anger/sentence 1/s1_an_1.avi",
        "subject 1/anger/sentence 2/s1_an_2.avi",
        "subject 1/happiness/s1_ha_3.avi",  # no sentence level
        "subject 11/fear/sentence 4/s12_fe_4.avi",  # misnamed file: folder wins
        "s3/surprise/sentence 1/x/s_3_su_1.avi",  # extra level, odd name
        "s3/s_3_di_5.avi",  # no emotion folder: file code
        "s3/readme.avi",  # neither: skipped
    )
    samples = load_enterface(tmp_path)
    assert len(samples) == 6
    by_name = {(s.video.name if s.video else s.audio.name): s for s in samples}
    assert by_name["s1_an_2.avi"].label == "anger"
    assert by_name["s1_an_2.avi"].statement == "2"
    assert by_name["s1_ha_3.avi"].statement == "3"
    assert by_name["s12_fe_4.avi"].speaker == "enterface:11"
    assert by_name["s_3_su_1.avi"].label == "surprise"
    assert by_name["s_3_di_5.avi"].label == "disgust"
    assert by_name["s_3_di_5.avi"].speaker == "enterface:03"
    assert by_name["s1_an_1.avi"].id == "subject 1/anger/sentence 1/s1_an_1"
    assert Counter(s.speaker for s in samples) == {"enterface:01": 3, "enterface:03": 2,
                                                   "enterface:11": 1}


def test_rml(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "rml-1/s1/an1.avi", "rml-1/s1/di10.avi", "rml-1/s1/fe2.avi",
        "rml-1/s1/an1.wav",  # audio of an1.avi
        "rml-2/s6/english/ha1.avi", "rml-2/s6/mandarin/ha1.avi",
        "rml-2/s6/mandarin/sa3.avi", "rml-2/s6/mandarin/su4.avi",
        "rml-2/s6/mandarin/info.avi",  # no emotion code: skipped
        "rml-2/other/an9.avi",  # no subject folder: skipped
    )
    samples = load_rml(tmp_path)
    assert len(samples) == 7
    labels = Counter(s.label for s in samples)
    assert labels == {"happiness": 2, "anger": 1, "disgust": 1, "fear": 1, "sadness": 1,
                      "surprise": 1}
    an1 = next(s for s in samples if s.id == "rml-1/s1/an1")
    assert an1.video.suffix == ".avi" and an1.audio.suffix == ".wav"
    assert {s.speaker for s in samples} == {"rml:01", "rml:06"}
    assert len({s.id for s in samples}) == 7  # the two ha1 clips stay apart


# --- Generic -----------------------------------------------------------------------------


def test_generic_csv(tmp_path: Path) -> None:
    touch(tmp_path, "clips/a.mp4", "clips/b.wav", "clips/c.mp4", "w/faces/00.jpg")
    csv_path = tmp_path / "list.csv"
    csv_path.write_text(
        "path,label,speaker,notes\n"
        "clips/a.mp4,Happy,ann,x\n"
        "clips/b.wav,angry,,\n"
        "clips/c.mp4,neutral,bob,\n"
        "w,sadness,bob,\n"
    )
    samples = load_generic(csv_path)
    by_id = {s.id: s for s in samples}
    assert sorted(by_id) == ["clips/a.mp4", "clips/b.wav", "w"]
    assert by_id["clips/a.mp4"].label == "happiness"
    assert by_id["clips/a.mp4"].video == tmp_path / "clips/a.mp4"
    assert by_id["clips/b.wav"].audio == tmp_path / "clips/b.wav"
    assert by_id["clips/b.wav"].speaker == "generic:unknown"
    assert by_id["w"].faces_dir == tmp_path / "w/faces"
    assert {s.id: s.label for s in load_generic(csv_path, neutral="calm")}["clips/c.mp4"] == "calm"
    assert load_dataset(f"generic:{csv_path}") == samples
    assert load_dataset(str(csv_path)) == samples


def test_generic_csv_errors(tmp_path: Path) -> None:
    touch(tmp_path, "a.mp4")
    bad = tmp_path / "bad.csv"
    bad.write_text("path,label\na.mp4,anger\na.mp4,contempt\n")
    with pytest.raises(DatasetError, match=r"bad\.csv, line 3: unknown label 'contempt'"):
        load_generic(bad)
    bad.write_text("path,label\nmissing.mp4,anger\n")
    with pytest.raises(DatasetError, match=r"line 2: file not found"):
        load_generic(bad)
    bad.write_text("file,emotion\na.mp4,anger\n")
    with pytest.raises(DatasetError, match="path, label"):
        load_generic(bad)


def test_generic_folders(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    touch(flat, "Happy/x.mp4", "happy/x2.mp4", "anger/sub/y.wav", "anger/sub/y.mp4",
          "neutral/z.mp4", "README.txt")
    samples = load_generic(flat)
    assert Counter(s.label for s in samples) == {"happiness": 2, "anger": 1}
    y = next(s for s in samples if s.id == "anger/sub/y")
    assert y.video.suffix == ".mp4" and y.audio.suffix == ".wav"
    assert {s.speaker for s in samples} == {"generic:unknown"}

    nested = tmp_path / "nested"
    touch(nested, "alice/sad/1.wav", "alice/fearful/2.wav", "bob/surprised/3.mp4")
    samples = load_dataset(nested)
    assert {(s.speaker, s.label) for s in samples} == {
        ("generic:alice", "sadness"), ("generic:alice", "fear"), ("generic:bob", "surprise")}

    touch(flat, "contempt/w.mp4")
    with pytest.raises(DatasetError, match="contempt"):
        load_generic(flat)


# --- load_dataset ------------------------------------------------------------------------


def test_load_dataset_dispatch_and_detection(ravdess: Path, tmp_path: Path) -> None:
    assert load_dataset(f"ravdess:{ravdess}") == load_ravdess(ravdess)
    assert load_dataset(ravdess) == load_ravdess(ravdess)
    assert detect_layout(ravdess) == "ravdess"

    layouts = {
        "crema-d": ["AudioWAV/1001_DFA_ANG_XX.wav"],
        "enterface": ["subject 1/anger/sentence 1/s1_an_1.avi"],
        "rml": ["s1/an1.avi"],
        "ravdess-windows": ["Actor_01/01-01-05-01-01-01-01/faces/00.jpg"],
        "generic": ["anger/a.mp4"],
    }
    for name, files in layouts.items():
        root = tmp_path / f"detect-{name}"
        touch(root, *files)
        assert detect_layout(root) == name
        assert len(load_dataset(str(root))) == 1
        assert load_dataset(f"{name}:{root}")[0].dataset == name


def test_load_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as info:
        load_dataset(f"savee:{tmp_path}")
    assert all(name in str(info.value) for name in DATASET_NAMES)
    touch(tmp_path, "empty/readme.txt")
    with pytest.raises(DatasetError, match="could not recognise"):
        load_dataset(str(tmp_path / "empty"))
    touch(tmp_path, "both/Actor_01/01-01-05-01-01-01-01.mp4",
          "both/windows/Actor_01/01-01-05-01-01-01-01/audio.wav")
    with pytest.raises(DatasetError, match="several layouts"):
        load_dataset(tmp_path / "both")
    assert len(load_dataset(f"ravdess-windows:{tmp_path / 'both'}")) == 1


def test_sample_validates_label() -> None:
    with pytest.raises(DatasetError):
        Sample(id="x", dataset="generic", label="neutral", speaker="generic:a", audio=Path("a"))
    with pytest.raises(DatasetError):
        Sample(id="x", dataset="generic", label="anger", speaker="generic:a")
    assert sample("a", 1).label_index == EMOTIONS.index("anger")


def test_datasets_imports_no_torch_or_media_code() -> None:
    code = ("import sys, emoannotate.datasets; "
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'av', 'librosa') "
            "or m in ('emoannotate.media', 'emoannotate.train')); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- Splits ------------------------------------------------------------------------------


@pytest.fixture
def corpus() -> list[Sample]:
    sizes = [10, 12, 8, 15, 9, 11, 10, 14, 7, 13]  # 109 samples, 10 speakers
    return [sample(f"sp{i}", j, EMOTIONS[j % 7]) for i, n in enumerate(sizes) for j in range(n)]


def speakers(samples: list[Sample]) -> set[str]:
    return {s.speaker for s in samples}


def test_split_by_speaker(corpus: list[Sample]) -> None:
    train, test = split_by_speaker(corpus, test_fraction=0.3, seed=0)
    assert not speakers(train) & speakers(test)
    assert len(train) + len(test) == len(corpus)
    assert abs(len(test) / len(corpus) - 0.3) < 0.1
    assert (train, test) == split_by_speaker(corpus, test_fraction=0.3, seed=0)
    assert (train, test) == tuple(
        sorted(part, key=corpus.index)
        for part in split_by_speaker(corpus[::-1], test_fraction=0.3, seed=0)
    )
    others = {frozenset(speakers(split_by_speaker(corpus, seed=s)[1])) for s in range(5)}
    assert len(others) > 1  # the seed matters
    for fraction in (0.1, 0.5, 0.8):
        train, test = split_by_speaker(corpus, test_fraction=fraction, seed=3)
        assert train and test and abs(len(test) / len(corpus) - fraction) < 0.1


def test_split_by_speaker_named(corpus: list[Sample]) -> None:
    train, test = split_by_speaker(corpus, ["generic:sp1", "generic:sp2"])
    assert speakers(test) == {"generic:sp1", "generic:sp2"} and len(test) == 20
    assert len(train) == len(corpus) - 20
    with pytest.raises(DatasetError, match="generic:nobody"):
        split_by_speaker(corpus, ["generic:nobody"])
    with pytest.raises(DatasetError, match="at least 2 speakers"):
        split_by_speaker([sample("a", i) for i in range(5)])


def test_kfold_by_speaker(corpus: list[Sample]) -> None:
    folds = kfold_by_speaker(corpus, 4, seed=1)
    assert len(folds) == 4
    tested = [s for _, test in folds for s in test]
    assert sorted(tested, key=corpus.index) == corpus  # every sample tested exactly once
    for train, test in folds:
        assert not speakers(train) & speakers(test)
        assert len(train) + len(test) == len(corpus)
        assert 20 <= len(test) <= 35
    assert folds == kfold_by_speaker(corpus, 4, seed=1)
    with pytest.raises(DatasetError):
        kfold_by_speaker(corpus, 11)


def test_random_split(corpus: list[Sample]) -> None:
    train, test = random_split(corpus, fraction=0.3, seed=0)
    assert len(test) == round(0.3 * len(corpus)) and len(train) + len(test) == len(corpus)
    assert (train, test) == random_split(corpus, fraction=0.3, seed=0)
    assert random_split(corpus, seed=1) != (train, test)
    assert speakers(train) & speakers(test)  # not speaker-independent, by design
    with pytest.raises(DatasetError):
        random_split(corpus, fraction=1.0)


# --- Real RAVDESS (skipped without ../shared/data) ---------------------------------------

needs_data = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"{SHARED_DATA} is absent")


@needs_data
def test_real_ravdess_audio() -> None:
    # 22 actors x 60 speech trials; 4 per actor are neutral. (1,232 = 22 x 56, not 1,144.)
    root = SHARED_DATA / "ravdess-audio"
    samples = load_ravdess(root)
    assert len(speakers(samples)) == 22
    assert len(samples) == 1232
    assert all(s.audio is not None and s.video is None for s in samples)
    assert Counter(s.label for s in samples) == {e: 176 for e in EMOTIONS}
    assert len(load_ravdess(root, neutral="calm")) == 1320
    train, test = split_by_speaker(samples)
    assert not speakers(train) & speakers(test)


@needs_data
def test_real_ravdess_windows() -> None:
    samples = load_ravdess_windows(SHARED_DATA / "ravdess")
    assert len(samples) == 56
    assert speakers(samples) == {"ravdess:05"}
    assert all(s.faces_dir is not None and s.audio is not None for s in samples)
    clips = {s.id for s in load_ravdess(SHARED_DATA / "ravdess", neutral="calm")}
    assert len(clips) == 14 and clips <= {s.id for s in
                                          load_ravdess_windows(SHARED_DATA / "ravdess",
                                                               neutral="calm")}
