"""Tests of the result writers: round trips, stdout, never-overwrite, format inference."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from emoannotate.constants import EMOTIONS, WINDOW_SECONDS
from emoannotate.errors import InputError
from emoannotate.outputs import FORMATS, format_from_path, get_writer, write_results
from emoannotate.records import (
    MOD_AUDIO,
    MOD_BOTH,
    MOD_NONE,
    MOD_VIDEO,
    STATUS_ERROR,
    STATUS_NO_FACE,
    STATUS_NO_SIGNAL,
    STATUS_OK,
    STATUS_TOO_SHORT,
    FileResult,
    MediaInfo,
    MediaJob,
    WindowResult,
)
from emoannotate.subtitles import SrtWriter
from emoannotate.writers import (
    CsvWriter,
    JsonWriter,
    check_can_write,
    columns,
    format_timestamp,
    row_to_dict,
    unique_output_paths,
)


def _probs(top: int) -> tuple[float, ...]:
    """Seven probabilities summing to 1 with `top` the largest (0.82)."""
    rest = (1 - 0.82) / 6
    return tuple(0.82 if k == top else rest for k in range(len(EMOTIONS)))


def make_file_result(index: int = 0, name: str = "clip.mp4", key: str | None = None) -> FileResult:
    """A 5-window file: ok, voice only, face only, no signal (a gap), too short tail."""
    job = MediaJob(index=index, path=Path("videos") / name, key=key or Path(name).stem)
    kinds = [  # (modalities, status, top emotion or None)
        (MOD_BOTH, STATUS_OK, 1),
        (MOD_AUDIO, STATUS_NO_FACE, 3),
        (MOD_VIDEO, STATUS_OK, 0),
        (MOD_NONE, STATUS_NO_SIGNAL, None),
        (MOD_NONE, STATUS_TOO_SHORT, None),
    ]
    rows = []
    for w, (modalities, status, top) in enumerate(kinds):
        start = w * WINDOW_SECONDS
        end = start + (0.5 if status == STATUS_TOO_SHORT else WINDOW_SECONDS)
        face = modalities in (MOD_BOTH, MOD_VIDEO)
        rows.append(
            WindowResult(
                file=str(job.path),
                window=w,
                start_s=start,
                end_s=end,
                emotion=EMOTIONS[top] if top is not None else None,
                confidence=0.82 if top is not None else None,
                probabilities=_probs(top) if top is not None else None,
                modalities=modalities,
                face_frames=15 if face else 0,
                face_box=(10.26, 20.0, 110.74, 140.5) if face else None,
                max_faces=2 if face else 0,
                partial=status == STATUS_TOO_SHORT,
                status=status,
            )
        )
    info = MediaInfo(path=job.path, duration_s=4 * WINDOW_SECONDS + 0.5, has_video=True,
                     has_audio=True, fps=25.0, width=640, height=480)
    return FileResult(job=job, info=info, windows=rows)


def make_error_result(index: int = 1) -> FileResult:
    """A file that could not be read: one error row, no info."""
    job = MediaJob(index=index, path=Path("videos/broken, \"odd\".mp4"), key="broken")
    row = WindowResult(file=str(job.path), window=0, start_s=0.0, end_s=0.0, emotion=None,
                       confidence=None, probabilities=None, modalities=MOD_NONE, face_frames=0,
                       face_box=None, max_faces=0, partial=False, status=STATUS_ERROR,
                       error="invalid data\nfound when processing input")
    return FileResult(job=job, info=None, windows=[row], error=row.error)


@pytest.fixture
def results() -> list[FileResult]:
    return [make_file_result(0), make_error_result(1)]


# --- Rows -------------------------------------------------------------------------------


def test_columns_follow_labels():
    cols = columns()
    assert cols[:7] == ["file", "window", "start_s", "end_s", "person", "emotion", "confidence"]
    assert cols[7:14] == [f"p_{e}" for e in EMOTIONS]
    assert cols[14:21] == ["face_emotion", "face_confidence", "voice_emotion", "voice_confidence", "agreement",
                           "speaking", "speaking_score"]
    assert cols[21:] == ["modalities", "face_frames", "face_x1", "face_y1", "face_x2",
                         "face_y2", "max_faces", "partial", "status", "error"]
    assert columns(("a", "b"))[7:9] == ["p_a", "p_b"]


def test_row_to_dict_rounds_and_nulls():
    ok, _, _, gap, short = make_file_result().windows
    row = row_to_dict(ok)
    assert row["start_s"] == 0.0 and row["end_s"] == 3.6
    assert row["p_happiness"] == 0.82 and row["p_calm"] == 0.03
    assert (row["face_x1"], row["face_x2"]) == (10.3, 110.7)  # pixels, 1 decimal
    assert row["error"] is None and row["partial"] is False
    assert row_to_dict(gap)["emotion"] is None and row_to_dict(gap)["p_calm"] is None
    assert row_to_dict(short)["partial"] is True and row_to_dict(short)["face_x1"] is None
    with pytest.raises(ValueError, match="labels"):
        row_to_dict(ok, ("a", "b", "c", "d", "e", "f", "g"))


def test_format_timestamp():
    assert format_timestamp(3.6) == "00:00:03,600"
    assert format_timestamp(0) == "00:00:00,000"
    assert format_timestamp(3723.4567) == "01:02:03,457"


# --- Round trips ------------------------------------------------------------------------


def test_csv_round_trip(tmp_path, results):
    out = tmp_path / "out.csv"
    write_results(results, out, model="tiny")
    with open(out, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == columns()
        rows = list(reader)
    rest = "0.03"  # (1 - 0.82) / 6 rounded to 4 decimals, written as Python writes 0.03
    assert rows[0] == {  # written out by hand: what a spreadsheet sees
        "file": "videos/clip.mp4", "window": "0", "start_s": "0.0", "end_s": "3.6", "emotion": "happiness",
        "confidence": "0.82", "p_calm": rest, "p_happiness": "0.82", "p_sadness": rest, "p_anger": rest,
        "p_fear": rest, "p_disgust": rest, "p_surprise": rest, "person": "", "face_emotion": "",
        "face_confidence": "", "voice_emotion": "", "voice_confidence": "", "agreement": "", "speaking": "",
        "speaking_score": "", "modalities": "audio+video", "face_frames": "15",
        "face_x1": "10.3", "face_y1": "20.0", "face_x2": "110.7", "face_y2": "140.5", "max_faces": "2",
        "partial": "false", "status": "ok", "error": "",
    }
    assert rows[1]["emotion"] == "anger" and rows[1]["modalities"] == "audio" and rows[1]["face_x1"] == ""
    assert rows[4]["partial"] == "true" and rows[4]["confidence"] == "" and rows[4]["end_s"] == "14.9"
    assert rows[5]["file"] == 'videos/broken, "odd".mp4' and rows[5]["status"] == "error"
    assert len(rows) == 6  # every window kept, including gap, too-short and error rows
    assert rows[0]["start_s"] == "0.0" and float(rows[1]["end_s"]) == pytest.approx(7.2)
    assert rows[3]["emotion"] == "" and rows[4]["status"] == STATUS_TOO_SHORT
    assert rows[5]["error"] == "invalid data\nfound when processing input"  # newline kept


def test_json_document(tmp_path, results):
    out = tmp_path / "out.json"
    write_results(results, out, model="tiny")
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert set(doc) == {"emoannotate_version", "model", "labels", "files"}
    assert doc["model"] == "tiny" and doc["labels"] == list(EMOTIONS)
    first, broken = doc["files"]
    assert first["file"] == str(Path("videos/clip.mp4")) and first["has_video"] is True
    assert first["duration_s"] == pytest.approx(14.9) and first["error"] is None
    assert [w["window"] for w in first["windows"]] == [0, 1, 2, 3, 4]
    assert list(first["windows"][0]) == columns()
    assert first["windows"][3]["emotion"] is None and first["windows"][3]["p_anger"] is None
    assert broken["duration_s"] is None and broken["error"].startswith("invalid data")
    assert broken["windows"][0]["status"] == STATUS_ERROR


def test_jsonl_lines(tmp_path, results):
    out = tmp_path / "out.jsonl"
    write_results(results, out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6
    rows = [json.loads(line) for line in lines]
    assert rows[0] == row_to_dict(results[0].windows[0])
    assert rows[5]["file"].startswith("videos")


def test_srt_one_file_per_input(tmp_path, results):
    out_dir = tmp_path / "subs"
    write_results(results, out_dir, format="srt")
    assert sorted(p.name for p in out_dir.iterdir()) == ["broken.srt", "clip.srt"]
    text = (out_dir / "clip.srt").read_text(encoding="utf-8")
    cues = text.strip().split("\n\n")
    assert len(cues) == 3  # gap and too-short windows get no cue
    assert cues[0] == "1\n00:00:00,000 --> 00:00:03,600\nhappiness 0.82"
    assert cues[1] == "2\n00:00:03,600 --> 00:00:07,200\nanger 0.82 (voice only)"
    assert cues[2] == "3\n00:00:07,200 --> 00:00:10,800\ncalm 0.82 (face only)"
    assert (out_dir / "broken.srt").read_text(encoding="utf-8") == ""


def test_srt_single_file_target(tmp_path):
    out = tmp_path / "one.srt"
    write_results([make_file_result()], out)
    assert out.read_text(encoding="utf-8").startswith("1\n00:00:00,000 --> 00:00:03,600\n")
    writer = SrtWriter()
    jobs = [make_file_result(0).job, make_file_result(1, "b.mp4").job]
    with pytest.raises(InputError, match="directory"):
        writer.check_outputs(tmp_path / "two.srt", jobs)
    with pytest.raises(InputError, match="standard output"):
        writer.check_outputs("-", jobs)


# --- Streaming and stdout ---------------------------------------------------------------


def test_csv_streams_each_file(tmp_path, results):
    out = tmp_path / "stream.csv"
    writer = CsvWriter()
    with writer.open(out):
        assert out.read_text().count("\n") == 1  # header already on disk
        writer.write_file(results[0])
        assert out.read_text().count("\n") == 6  # flushed before close


def test_json_is_a_valid_document_after_every_input(tmp_path, results):
    out = tmp_path / "crash.json"
    writer = JsonWriter()
    with pytest.raises(RuntimeError, match="boom"):
        with writer.open(out):
            assert json.loads(out.read_text())["files"] == []  # valid before the first input
            writer.write_file(results[0])
            assert len(json.loads(out.read_text())["files"]) == 1  # on disk now, not at close
            writer.write_file(results[1])
            assert len(json.loads(out.read_text())["files"]) == 2
            raise RuntimeError("boom")
    assert len(json.loads(out.read_text())["files"]) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["crash.json"]  # no temporary left behind


def test_a_failed_write_leaves_the_rows_before_it(tmp_path, results):
    from emoannotate.errors import OutputError

    class FillsUp:  # the disk fills up in the middle of an input's rows
        def __init__(self, f):
            self.f = f

        def tell(self):
            return self.f.tell()

        def write(self, data):
            self.f.write(bytes(data)[: len(data) // 2])
            raise OSError(28, "No space left on device")

        def truncate(self, pos):
            return self.f.truncate(pos)

        def close(self):
            self.f.close()

    out = tmp_path / "full.csv"
    writer = CsvWriter()
    writer.open(out)
    writer.write_file(results[0])
    good = out.read_bytes()
    writer._sink._file = FillsUp(writer._sink._file)
    with pytest.raises(OutputError, match="full.csv: No space left on device"):
        writer.write_file(results[1])
    assert out.read_bytes() == good  # the half-written rows were taken back


@pytest.mark.parametrize("fmt", FORMATS)
def test_stdout(fmt, capsys, results):
    write_results(results[:1], "-", format=fmt)
    text = capsys.readouterr().out
    if fmt == "csv":
        assert len(list(csv.DictReader(io.StringIO(text)))) == 5
    elif fmt == "json":
        assert len(json.loads(text)["files"]) == 1
    elif fmt == "jsonl":
        assert len(text.splitlines()) == 5
    elif fmt == "eaf":
        assert text.count("<ALIGNABLE_ANNOTATION ") == 3  # the fused tier; no face/voice readings here
    elif fmt == "textgrid":
        assert 'class = "IntervalTier"' in text and text.count("happiness 0.82") == 1
    else:
        assert text.count(" --> ") == 3


# --- Paths ------------------------------------------------------------------------------


def test_overwrite_refused_then_allowed(tmp_path, results):
    out = tmp_path / "out.csv"
    out.write_text("precious")
    with pytest.raises(InputError, match=r"out\.csv.*--overwrite"):
        write_results(results, out)
    assert out.read_text() == "precious"
    with pytest.raises(InputError, match="--overwrite"):
        get_writer("json").open(out.with_suffix(".csv"))
    write_results(results, out, overwrite=True)
    assert out.read_text().startswith("file,window,")


def test_srt_overwrite_checked_before_work(tmp_path, results):
    (tmp_path / "clip.srt").write_text("old")
    writer = get_writer("srt")
    with pytest.raises(InputError, match="clip.srt"):
        writer.check_outputs(tmp_path, [r.job for r in results])
    writer.check_outputs(tmp_path, [r.job for r in results], overwrite=True)


def test_check_can_write(tmp_path):
    check_can_write("-", overwrite=False)
    check_can_write(tmp_path / "new.csv", overwrite=False)
    with pytest.raises(InputError, match="directory"):
        check_can_write(tmp_path, overwrite=True)


def test_unique_output_paths(tmp_path):
    a = MediaJob(0, Path("x/clip.mp4"), "clip")
    b = MediaJob(1, Path("y/clip.mp4"), "clip-2")
    paths = unique_output_paths([a, b], tmp_path, ".timeline.png")
    assert paths == {a: tmp_path / "clip.timeline.png", b: tmp_path / "clip-2.timeline.png"}
    with pytest.raises(ValueError, match="both"):
        unique_output_paths([a, MediaJob(2, Path("z/clip.mp4"), "clip")], tmp_path, ".srt")


# --- Formats ----------------------------------------------------------------------------


@pytest.mark.parametrize("name, fmt", [("a.csv", "csv"), ("A.JSON", "json"),
                                       ("a.jsonl", "jsonl"), ("dir/a.srt", "srt")])
def test_format_from_path(name, fmt):
    assert format_from_path(name) == fmt
    assert get_writer(fmt).format == fmt


@pytest.mark.parametrize("name", ["out.txt", "out", "-"])
def test_format_from_path_errors(name):
    with pytest.raises(InputError) as info:
        format_from_path(name)
    assert "csv" in str(info.value) and "jsonl" in str(info.value)


def test_get_writer_unknown():
    with pytest.raises(InputError, match="csv, json, jsonl, srt, vtt, eaf, textgrid"):
        get_writer("xml")


def test_output_dir_writes_one_file_per_input_and_format(tmp_path, results):
    from emoannotate.outputs import Outputs, parse_formats

    assert parse_formats("all") == ("csv", "json", "jsonl", "srt", "vtt", "eaf", "textgrid", "png")
    assert parse_formats("srt, CSV") == ("csv", "srt")
    with pytest.raises(InputError, match="xml"):
        parse_formats("csv,xml")
    outputs = Outputs(output_dir=tmp_path, formats="csv,json,jsonl,srt,vtt", model="tiny")
    outputs.check([r.job for r in results])
    with outputs:
        for r in results:
            outputs.write(r)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(f"{k}.{e}" for k in ("clip", "broken") for e in ("csv", "json", "jsonl", "srt", "vtt"))
    with open(tmp_path / "clip.csv", newline="") as f:
        assert [r["window"] for r in csv.DictReader(f)] == ["0", "1", "2", "3", "4"]
    doc = json.loads((tmp_path / "clip.json").read_text())
    assert [f["file"] for f in doc["files"]] == ["videos/clip.mp4"]  # each JSON holds its own input only
    assert json.loads((tmp_path / "broken.json").read_text())["files"][0]["error"].startswith("invalid data")
    assert len((tmp_path / "clip.jsonl").read_text().splitlines()) == 5
    with pytest.raises(InputError, match="clip.csv.*--overwrite"):
        Outputs(output_dir=tmp_path, formats="csv").check([results[0].job])


def test_vtt_cues():
    text = get_writer("vtt").header() + get_writer("vtt").format_file(make_file_result())
    assert text.startswith("WEBVTT\n\n1\n00:00:00.000 --> 00:00:03.600\nhappiness 0.82\n")
    assert "00:00:03.600 --> 00:00:07.200\nanger 0.82 (voice only)" in text
    assert "00:00:07.200 --> 00:00:10.800\ncalm 0.82 (face only)" in text
    assert text.count(" --> ") == 3  # no cue for the gap and the too-short tail
