"""The command line, through click's CliRunner and once as a real process, with the tiny model."""

import csv
import io
import json
import logging
import subprocess
import sys

import pytest
from click.testing import CliRunner

from emoannotate.cli import main
from emoannotate.registry import INDEX
from emoannotate.writers import columns

pytestmark = pytest.mark.slow  # each run decodes and annotates two small files

PNG_MAGIC = b"\x89PNG"


@pytest.fixture(autouse=True)
def restore_logging():
    """`run` installs a log handler on the runner's stderr; put the old ones back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def inputs(tone_video, audio_wav) -> list[str]:
    """Two cheap files with one stem (tone.mp4, tone.wav): two windows each, voice only."""
    return [str(tone_video), str(audio_wav)]


@pytest.fixture
def cli(tiny_checkpoint):
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(main, ["run", *map(str, args), "--model", str(tiny_checkpoint), "-j", "0"],
                             input=input, catch_exceptions=False)

    return invoke


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def squash(text: str) -> str:
    """Text with runs of whitespace made one space (rich wraps stderr at the console width)."""
    return " ".join(text.split())


def test_csv_srt_and_charts(cli, inputs, tmp_path):
    out, srt_dir, charts_dir = tmp_path / "out.csv", tmp_path / "srt", tmp_path / "charts"
    result = cli(*inputs, "--out", out, "--srt-dir", srt_dir, "--charts-dir", charts_dir)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""  # everything else goes to stderr
    text = out.read_text(encoding="utf-8")
    assert text.splitlines()[0].split(",") == columns()
    rows = read_csv(text)
    assert len(rows) == 4  # two files x (one window + the too-short tail)
    assert {r["file"] for r in rows} == set(inputs)
    assert [r["status"] for r in rows] == ["no_face", "too_short"] * 2
    assert all(r["modalities"] == "audio" for r in rows if r["status"] == "no_face")
    # one SRT per input, with keys that keep the two "tone" files apart
    srts = sorted(p.name for p in srt_dir.iterdir())
    assert srts == ["tone_mp4.srt", "tone_wav.srt"]
    cue = (srt_dir / "tone_wav.srt").read_text(encoding="utf-8")
    assert cue.startswith("1\n00:00:00,000 --> 00:00:03,600\n") and "(voice only)" in cue
    charts = sorted(p.name for p in charts_dir.iterdir())
    assert charts == ["distribution.png", "tone_mp4_timeline.png", "tone_wav_timeline.png"]
    assert all((charts_dir / name).read_bytes().startswith(PNG_MAGIC) for name in charts)
    assert "4 windows from 2 input(s)" in squash(result.stderr)


def test_csv_to_stdout_only(cli, inputs):
    result = cli(*inputs, "--out", "-")
    assert result.exit_code == 0, result.stderr
    rows = read_csv(result.stdout)
    assert len(rows) == 4 and list(rows[0]) == columns()
    assert "windows from" in result.stderr and "windows from" not in result.stdout


def test_json_output(cli, inputs, tmp_path):
    out = tmp_path / "out.json"
    result = cli(*inputs, "--out", out)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["model"] and len(doc["labels"]) == 7
    assert [f["file"] for f in doc["files"]] == inputs
    assert [len(f["windows"]) for f in doc["files"]] == [2, 2]
    assert doc["files"][1]["has_video"] is False and doc["files"][1]["duration_s"] == pytest.approx(4.0, abs=0.1)
    assert list(doc["files"][0]["windows"][0]) == columns()


def test_jsonl_output(cli, inputs, tmp_path):
    out = tmp_path / "out.jsonl"
    result = cli(*inputs, "--out", out)
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 4
    assert rows[0]["emotion"] is not None and rows[1]["status"] == "too_short" and rows[1]["emotion"] is None


def test_refuses_to_overwrite_without_flag(cli, audio_wav, tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("precious\n")
    result = cli(audio_wav, "--out", out)
    assert result.exit_code == 2
    assert "already exists" in squash(result.stderr) and "--overwrite" in result.stderr
    assert out.read_text() == "precious\n"
    result = cli(audio_wav, "--out", out, "--overwrite")
    assert result.exit_code == 0, result.stderr
    assert len(read_csv(out.read_text())) == 2


def test_existing_srt_is_refused_before_any_work(cli, audio_wav, tmp_path):
    srt_dir = tmp_path / "srt"
    srt_dir.mkdir()
    (srt_dir / "tone.srt").write_text("old")
    result = cli(audio_wav, "--out", tmp_path / "out.csv", "--srt-dir", srt_dir)
    assert result.exit_code == 2 and "already exists" in result.stderr
    assert not (tmp_path / "out.csv").exists()


def test_one_bad_input_exit_1_and_the_others_are_written(cli, audio_wav, corrupt_file, tmp_path):
    out = tmp_path / "out.csv"
    result = cli(audio_wav, corrupt_file, "--out", out)
    assert result.exit_code == 1
    rows = read_csv(out.read_text())
    by_file = {}
    for row in rows:
        by_file.setdefault(row["file"], []).append(row)
    assert [r["status"] for r in by_file[str(audio_wav)]] == ["no_face", "too_short"]
    (bad,) = by_file[str(corrupt_file)]
    assert bad["status"] == "error" and str(corrupt_file) in bad["error"]
    assert "1 input(s) failed" in squash(result.stderr)


@pytest.mark.parametrize("args,message", [
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--hop", "-1"], "--hop must be a positive"),
    (["--out", "out.txt"], "cannot tell the output format"),
])
def test_bad_option_exit_2_with_one_line(cli, audio_wav, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    if "--out" not in args:
        args = [*args, "--out", "out.csv"]
    result = cli(audio_wav, *args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert result.stdout == "" and not (tmp_path / "out.csv").exists()


def test_unknown_model_name_exit_2(audio_wav, tmp_path):
    result = CliRunner().invoke(main, ["run", str(audio_wav), "--out", str(tmp_path / "o.csv"),
                                       "--model", "no-such-model", "-j", "0"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no-such-model" in lines[0] and "shipped models" in lines[0]


def test_missing_input_is_an_error_row(cli, audio_wav, tmp_path):
    missing = tmp_path / "missing.mp4"
    result = cli(audio_wav, missing, "--out", "-", "-q")
    assert result.exit_code == 1
    rows = read_csv(result.stdout)
    assert [r["status"] for r in rows if r["file"] == str(missing)] == ["error"]


def test_paths_from_stdin(cli, inputs):
    result = cli("-", "--out", "-", "-q", input="\n".join(inputs) + "\n")
    assert result.exit_code == 0, result.stderr
    assert len(read_csv(result.stdout)) == 4
    assert result.stderr == ""  # --quiet: no progress, no summary


def test_models_info_of_a_checkpoint_path(tiny_checkpoint):
    result = CliRunner().invoke(main, ["models", "info", str(tiny_checkpoint), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["model"]["backbone"] == "tiny" and doc["preprocessing"]["sample_rate"] == 22050
    assert len(doc["sha256"]) == 64


def test_models_list():
    assert INDEX.is_file()  # shipped package data, never optional
    result = CliRunner().invoke(main, ["models", "list"])
    assert result.exit_code == 0, result.output
    assert "default" in result.output


def test_models_info_default():
    result = CliRunner().invoke(main, ["models", "info"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("model      default")
    assert "backbone" in result.stdout and "labels" in result.stdout


def test_real_process(tiny_checkpoint, audio_wav, tmp_path):
    """`python -m emoannotate.cli` as a user runs it: CSV on stdout, summary on stderr, exit 0."""
    proc = subprocess.run(
        [sys.executable, "-m", "emoannotate.cli", "run", str(audio_wav), "--out", "-",
         "--model", str(tiny_checkpoint), "--workers", "0"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(proc.stdout)
    assert [r["status"] for r in rows] == ["no_face", "too_short"]
    assert "windows from 1 input(s)" in squash(proc.stderr)
    assert proc.stderr.count("emoannotate summary") == 1  # the table is printed once
