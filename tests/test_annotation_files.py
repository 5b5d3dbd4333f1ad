"""Segments, and the files annotation tools open (ELAN .eaf, Praat TextGrid, WebVTT, SRT), read back with
their libraries (pympi-ling, webvtt-py)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import webvtt
from pympi import Elan, Praat

import emoannotate
from emoannotate.outputs import get_writer
from emoannotate.records import FileResult, MediaInfo, MediaJob, WindowResult
from emoannotate.segments import merge
from emoannotate.summary import person_summaries
from emoannotate.writers import SEGMENT_COLUMNS

P = (0.1, 0.1, 0.1, 0.4, 0.1, 0.1, 0.1)


def _row(window: int, person: int | None, emotion: str | None, *, face: str | None = None,
         voice: str | None = None, conf: float = 0.5, speaking: bool | None = None, hop: float = 3.6) -> WindowResult:
    start = window * hop
    return WindowResult("talk.mp4", window, start, start + 3.6, emotion, conf if emotion else None,
                        P if emotion else None, "audio+video" if emotion else "none", 15, None, 2, False,
                        "ok" if emotion else "no_signal", person=person, speaking=speaking,
                        face_emotion=face, face_confidence=0.6 if face else None,
                        voice_emotion=voice, voice_confidence=0.7 if voice else None)


@pytest.fixture
def interview(tmp_path) -> FileResult:
    media = tmp_path / "talk.mp4"
    media.write_bytes(b"")
    rows = [
        _row(0, 1, "anger", face="anger", voice="anger", conf=0.6, speaking=True),
        _row(0, 2, "calm", face="calm"),
        _row(1, 1, "anger", face="happiness", voice="anger", conf=0.8, speaking=True),
        _row(1, 2, "calm", face="calm"),
        _row(2, None, None),  # nothing: ends person 1's segment
        _row(3, 1, "anger", face="anger", voice="anger", speaking=False),
        _row(3, 2, "sadness", face="sadness", voice="sadness", speaking=True),
    ]
    return FileResult(MediaJob(0, media, "talk"), MediaInfo(media, 14.4, True, True), rows)


def test_segments_merge_a_persons_consecutive_windows(interview):
    segments = merge(interview.windows)
    got = [(s.person, s.start_s, s.end_s, s.emotion, s.windows) for s in segments]
    assert got == [(1, 0.0, 7.2, "anger", 2), (2, 0.0, 7.2, "calm", 2), (1, 10.8, 14.4, "anger", 1),
                   (2, 10.8, 14.4, "sadness", 1)]
    assert segments[0].confidence == pytest.approx(0.7)  # mean of 0.6 and 0.8
    assert segments[0].speaking is True and segments[1].speaking is None
    face = merge(interview.windows, "face")
    assert [(s.person, s.emotion, s.windows) for s in face][:3] == [(1, "anger", 1), (2, "calm", 2),
                                                                    (1, "happiness", 1)]


def test_person_summary(interview):
    one, two = person_summaries(interview.windows)
    assert (one.person, one.windows, one.speaking_s) == (1, 3, pytest.approx(7.2))
    assert one.shares == {"anger": 1.0}
    assert (one.compared, one.disagreement) == (3, pytest.approx(1 / 3))  # the smile with an angry voice
    assert two.shares == {"calm": pytest.approx(2 / 3), "sadness": pytest.approx(1 / 3)}
    assert two.compared == 1 and two.disagreement == 0.0


def _write(format: str, result: FileResult, folder: Path, *, segments: bool = False) -> Path:
    writer = get_writer(format, segments=segments)
    with writer.open(folder):
        writer.write_file(result)
    (path,) = writer.output_paths(folder, [result.job])
    return path


@pytest.mark.parametrize("segments", [False, True])
def test_eaf_reads_back_with_pympi(interview, tmp_path, segments):
    eaf = Elan.Eaf(str(_write("eaf", interview, tmp_path, segments=segments)))
    assert set(eaf.get_tier_names()) == {"person 1", "person 1 face", "person 1 voice", "person 2",
                                         "person 2 face", "person 2 voice"}
    (media,) = eaf.media_descriptors
    assert media["MEDIA_URL"] == interview.job.path.resolve().as_uri() and media["MIME_TYPE"] == "video/mp4"
    fused = sorted(eaf.get_annotation_data_for_tier("person 1"))
    if segments:
        assert fused == [(0, 7200, "anger 0.70"), (10800, 14400, "anger 0.50")]
    else:
        assert fused == [(0, 3600, "anger 0.60"), (3600, 7200, "anger 0.80"), (10800, 14400, "anger 0.50")]
    assert sorted(eaf.get_annotation_data_for_tier("person 1 face"))[1][2] == "happiness 0.60"


def test_textgrid_reads_back_with_pympi(interview, tmp_path):
    grid = Praat.TextGrid(str(_write("textgrid", interview, tmp_path, segments=True)), codec="utf-8")
    tiers = {t.name: t for t in grid.get_tiers()}
    assert set(tiers) == {"person 1", "person 1 face", "person 1 voice", "person 2", "person 2 face",
                          "person 2 voice"}
    assert grid.xmax == pytest.approx(14.4)
    intervals = list(tiers["person 2"].get_intervals(sort=True))
    assert [(round(a, 3), round(b, 3), v) for a, b, v in intervals if v] == [  # Praat fills gaps with ""
        (0.0, 7.2, "calm 0.50"), (10.8, 14.4, "sadness 0.50")]


def test_overlapping_windows_never_overlap_on_a_tier(interview, tmp_path):
    rows = [_row(i, 1, e, face=e, hop=1.8) for i, e in enumerate(["anger", "calm", "anger", "fear"])]
    result = FileResult(interview.job, interview.info, rows)
    grid = Praat.TextGrid(str(_write("textgrid", result, tmp_path)), codec="utf-8")  # raises on overlaps
    spans = list(next(t for t in grid.get_tiers() if t.name == "person 1").get_intervals(sort=True))
    assert all(a[1] <= b[0] + 1e-9 for a, b in zip(spans, spans[1:]))
    eaf = Elan.Eaf(str(_write("eaf", result, tmp_path)))
    starts = sorted(eaf.get_annotation_data_for_tier("person 1"))
    assert all(a[1] <= b[0] for a, b in zip(starts, starts[1:]))


def test_vtt_and_srt_read_back_with_webvtt(interview, tmp_path):
    vtt = webvtt.read(str(_write("vtt", interview, tmp_path)))
    assert len(vtt) == 6  # one cue per window with a prediction
    assert vtt[0].voice == "person 1" and vtt[0].text == "anger 0.60"
    srt = webvtt.from_srt(str(_write("srt", interview, tmp_path, segments=True)))
    assert [c.text for c in srt] == ["person 1: anger 0.70", "person 2: calm 0.50", "person 1: anger 0.50",
                                     "person 2: sadness 0.50"]
    assert (srt[0].start, srt[0].end) == ("00:00:00.000", "00:00:07.200")


def test_segments_rows_in_csv_and_json(interview, tmp_path):
    text = _write("csv", interview, tmp_path / "csv", segments=True).read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(SEGMENT_COLUMNS) and len(rows) == 4
    doc = json.loads(_write("json", interview, tmp_path / "json", segments=True).read_text())
    assert [s["emotion"] for s in doc["files"][0]["segments"]] == ["anger", "calm", "anger", "sadness"]


def test_run_writes_every_format_from_a_video(face_video, tiny_checkpoint, tmp_path):
    emoannotate.annotate(face_video, model=tiny_checkpoint, workers=0, device="cpu", output_dir=tmp_path,
                         formats="all", segments=True)
    key = face_video.stem
    eaf = Elan.Eaf(str(tmp_path / f"{key}.eaf"))
    assert eaf.get_annotation_data_for_tier("person 1")
    grid = Praat.TextGrid(str(tmp_path / f"{key}.TextGrid"), codec="utf-8")
    assert [t.name for t in grid.get_tiers()] == ["person 1", "person 1 face", "person 1 voice"]
    assert len(webvtt.read(str(tmp_path / f"{key}.vtt"))) == 1
    rows = list(csv.DictReader((tmp_path / f"{key}.csv").open()))
    assert [r["person"] for r in rows] == ["1"]
