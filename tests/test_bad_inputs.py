"""The real CLI, in a subprocess, over a corpus of bad and odd inputs generated from nothing (bad_inputs.py).

One run annotates the whole corpus plus two good files (CSV), one more writes JSON; each case
is then checked on its own (one test id per case). Cases that end a whole run today run
alone, each with one good file. Then output problems and option checks, each one CLI run:
exit 2, one line on stderr naming the path or option, no traceback, nothing decoded.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from bad_inputs import CASE_NAMES, END_TOLERANCE_S, MIN_WINDOW_S, OPTIONAL, Case, Check, make_corpus
from synth import TONE_HZ, sine, write_media

from emoannotate.constants import EMOTIONS
from emoannotate.writers import columns

pytestmark = pytest.mark.slow

RUN_TIMEOUT_S = 240
SMALL_TIMEOUT_S = 120
# rich wraps log lines at 80 columns when stderr is no terminal (see test_error_line_unwrapped);
# the corpus runs check what the lines say, so they get a wide console.
WIDE = {"COLUMNS": "4000"}
PREDICTION_STATUSES = {"ok": "audio+video", "no_face": "audio", "no_audio": "video"}
EMPTY_STATUSES = ("no_signal", "too_short", "error")


# --- Running the CLI ---------------------------------------------------------------------------

@dataclass
class Run:
    args: list[str]
    cwd: Path
    rc: int | None
    stdout: str
    stderr: str
    out: Path
    rows: list[dict[str, str]] = field(default_factory=list)
    header: list[str] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        """Non-empty stderr lines, trailing padding stripped."""
        return [ln.rstrip() for ln in self.stderr.splitlines() if ln.strip()]

    def where(self) -> str:
        return f"exit {self.rc}; stderr (last 1500 chars):\n{self.stderr[-1500:]}"

    def key(self, file: str) -> str:
        """A row's `file` as an absolute, normalised path (it is the path as given, maybe relative)."""
        return os.path.normpath(os.path.join(self.cwd, file))

    def rows_of(self, path: Path) -> list[dict[str, str]]:
        want = os.path.normpath(str(path))
        return [r for r in self.rows if self.key(r["file"]) == want]


def start(args: list[str], *, cwd: Path, model: Path, extra_env: dict | None = None,
          options: tuple[str, ...] = ("-j", "0")) -> tuple[list[str], subprocess.Popen]:
    """Start `python -m emoannotate run ARGS --model MODEL [options]` in `cwd` (by default in-process:
    small runs need no workers)."""
    cmd = [sys.executable, "-m", "emoannotate", "run", *args, "--model", str(model), *options]
    env = {**os.environ, **(extra_env or {})}
    return cmd, subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def finish(started: tuple[list[str], subprocess.Popen], *, cwd: Path, out: Path | None = None,
           timeout: int = SMALL_TIMEOUT_S) -> Run:
    """Wait for a started run; read its CSV `out` when there is one."""
    cmd, proc = started
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        rc: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        rc, stderr = None, stderr + f"\n[timed out after {timeout} s]"
    run = Run(cmd, cwd, rc, stdout, stderr, out or Path(os.devnull))
    if out is not None and out.suffix == ".csv" and out.is_file():
        text = out.read_text(encoding="utf-8")
        run.header = next(csv.reader(io.StringIO(text)), [])
        run.rows = list(csv.DictReader(io.StringIO(text)))
    return run


def cli(args: list[str], *, cwd: Path, model: Path, out: Path | None = None, extra_env: dict | None = None,
        timeout: int = SMALL_TIMEOUT_S, options: tuple[str, ...] = ("-j", "0")) -> Run:
    """One CLI run, to its end."""
    return finish(start(args, cwd=cwd, model=model, extra_env=extra_env, options=options), cwd=cwd, out=out,
                  timeout=timeout)


def mentions(line: str, path: Path) -> bool:
    """Whether a stderr line names `path` (in full, or its file name standing on its own)."""
    if str(path) in line:
        return True
    return re.search(r"(?<![\w.\-])" + re.escape(path.name) + r"(?![\w.\-])", line) is not None


# --- Fixtures: the corpus and its runs ------------------------------------------------------

@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, Case]]:
    folder = tmp_path_factory.mktemp("bad_inputs")
    cases = make_corpus(folder)
    return folder, {c.name: c for c in cases}


@pytest.fixture(scope="module")
def good(tone_video, audio_wav) -> list[Path]:
    """The two good files: the tone video (synth.write_media) and the tone WAV, 4 s each."""
    return [tone_video, audio_wav]


@pytest.fixture(scope="module")
def corpus_runs(corpus, good, tiny_checkpoint, tmp_path_factory) -> dict[str, Run]:
    """The whole corpus and the good files through the CLI, once to CSV and once to JSON, both at once
    (two cores: one run's start-up and model overlap the other's workers)."""
    folder, _ = corpus
    args = [c.cli_arg for c in corpus[1].values() if not c.alone] + [str(p) for p in good]
    outs = {"csv": tmp_path_factory.mktemp("bad_out") / "out.csv",
            "json": tmp_path_factory.mktemp("bad_out_json") / "out.json"}
    started = {k: start([*args, "--out", str(out), "-q"], cwd=folder, model=tiny_checkpoint, extra_env=WIDE,
                        options=("-j", "2")) for k, out in outs.items()}
    return {k: finish(started[k], cwd=folder, out=outs[k], timeout=RUN_TIMEOUT_S) for k in outs}


@pytest.fixture(scope="module")
def main_run(corpus_runs) -> Run:
    return corpus_runs["csv"]


@pytest.fixture(scope="module")
def json_run(corpus_runs) -> Run:
    return corpus_runs["json"]


@pytest.fixture(scope="module")
def alone_runs(corpus, audio_wav, tiny_checkpoint, tmp_path_factory):
    """A run per `alone` case (with the good WAV), made on first use."""
    folder, _ = corpus
    cache: dict[str, Run] = {}

    def get(case: Case) -> Run:
        if case.name not in cache:
            out = tmp_path_factory.mktemp(f"alone_{case.name}") / "out.csv"
            cache[case.name] = cli([case.cli_arg, str(audio_wav), "--out", str(out), "-q"], cwd=folder,
                                   model=tiny_checkpoint, out=out, extra_env=WIDE)
        return cache[case.name]

    return get


# --- The corpus itself ------------------------------------------------------------------------

def test_corpus_has_every_case(corpus):
    _, cases = corpus
    assert len(cases) >= 30
    missing = set(CASE_NAMES) - set(cases) - set(OPTIONAL)
    assert not missing and set(cases) <= set(CASE_NAMES), (missing, set(cases) - set(CASE_NAMES))
    names = [c.path.name for c in cases.values() if c.expect == "error"]
    assert len(names) == len(set(names)), "error cases need distinct file names (stderr lines are matched by name)"


# --- The main run as a whole --------------------------------------------------------------------

def test_main_run_exit_1_without_traceback(main_run):
    assert main_run.rc == 1, main_run.where()
    assert "Traceback" not in main_run.stderr, main_run.where()


def test_main_run_csv_parses_with_header(main_run):
    assert main_run.out.is_file(), main_run.where()
    assert main_run.header == columns(), main_run.header
    for row in main_run.rows:
        assert set(row) == set(columns()) and None not in row.values(), row


def test_good_files_have_every_row_with_predictions(main_run, good):
    for path in good:
        rows = main_run.rows_of(path)
        assert [r["status"] for r in rows] == ["no_face", "too_short"], (path.name, rows, main_run.where())
        first = rows[0]
        assert first["emotion"] in EMOTIONS and float(first["confidence"]) > 0
        total = sum(float(first[f"p_{e}"]) for e in EMOTIONS)
        assert math.isclose(total, 1.0, abs_tol=1e-3), total


def test_json_lists_every_input(json_run, main_run, corpus, good):
    _, cases = corpus
    assert json_run.rc == 1, json_run.where()
    assert "Traceback" not in json_run.stderr, json_run.where()
    doc = json.loads(json_run.out.read_text(encoding="utf-8"))
    listed = {json_run.key(f["file"]): f for f in doc["files"]}
    for path in [*(c.path for c in cases.values() if not c.alone), *good]:
        key = os.path.normpath(str(path))
        assert key in listed, f"{path} is not in the JSON"
        assert len(listed[key]["windows"]) == len(main_run.rows_of(path)), path
        assert all(list(w) == columns() for w in listed[key]["windows"])


# --- Each case --------------------------------------------------------------------------------

def _check_error(case: Case, run: Run, rows: list[dict[str, str]]) -> None:
    assert len(rows) == 1, f"{len(rows)} rows, expected one error row: {rows}"
    (row,) = rows
    assert row["status"] == "error", row
    assert row["error"].strip(), "empty error text"
    assert mentions(row["error"], case.path), f"the error does not name {case.path.name}: {row['error']!r}"
    for text in case.mentions:
        assert text in row["error"], f"the error does not mention {text!r}: {row['error']!r}"
    assert row["emotion"] == "" and row["modalities"] == "none", row
    named = [ln for ln in run.lines if mentions(ln, case.path)]
    assert len(named) == 1, f"{len(named)} stderr lines name {case.path.name}: {named}"


def _check_rows(case: Case, rows: list[dict[str, str]]) -> None:
    """What every input that is not an error must have: one row per window, in order, consistent."""
    assert rows, "no rows"
    assert [int(r["window"]) for r in rows] == list(range(len(rows))), [r["window"] for r in rows]
    for r in rows:
        assert r["status"] != "error" or isinstance(case.expect, Check), f"error row: {r['error']}"
        if r["status"] in PREDICTION_STATUSES:
            assert r["emotion"] in EMOTIONS, r
            assert r["modalities"] == PREDICTION_STATUSES[r["status"]], (r["status"], r["modalities"])
        elif r["status"] in EMPTY_STATUSES:
            assert r["emotion"] == "", r
    if case.seconds is not None:
        end = max(float(r["end_s"]) for r in rows)
        assert abs(end - case.seconds) <= END_TOLERANCE_S, f"rows end at {end} s, the media at {case.seconds:.2f} s"


def _check_status(status: str, rows: list[dict[str, str]]) -> None:
    got = [r["status"] for r in rows]
    if status == "too_short":
        assert got == ["too_short"], got
        return
    body = got[:-1] if got[-1] == "too_short" else got
    assert body and set(body) == {status}, f"statuses {got}, expected {status}"
    if got[-1] == "too_short":
        tail = rows[-1]
        assert float(tail["end_s"]) - float(tail["start_s"]) < MIN_WINDOW_S + 1e-6, tail


@pytest.mark.parametrize("name", CASE_NAMES)
def test_case(name, corpus, main_run, alone_runs, audio_wav):
    _, cases = corpus
    if name not in cases:
        pytest.skip("not written here (encoder missing, or running as root)")
    case = cases[name]
    run = alone_runs(case) if case.alone else main_run
    assert run.out.is_file(), f"no output was written: {run.where()}"
    if case.alone:
        assert run.rc == 1, run.where()
        assert "Traceback" not in run.stderr, run.where()
        assert [r["status"] for r in run.rows_of(audio_wav)] == ["no_face", "too_short"], run.where()
    rows = run.rows_of(case.path)
    if case.expect == "error":
        _check_error(case, run, rows)
        return
    _check_rows(case, rows)
    if isinstance(case.expect, Check):
        case.expect(rows)
    else:
        _check_status(case.expect, rows)


# --- Output problems: exit 2, one line naming the path, nothing decoded ---------------------------

@pytest.fixture
def two_inputs(audio_wav, corrupt_file) -> list[str]:
    """A good WAV and a corrupt file: if anything is probed or decoded, a line names corrupt.mp4."""
    return [str(audio_wav), str(corrupt_file)]


def _assert_fatal(run: Run, *named: str, corrupt: Path | None = None) -> str:
    assert run.rc == 2, run.where()
    assert "Traceback" not in run.stderr, run.where()
    assert len(run.lines) == 1, f"{len(run.lines)} stderr lines: {run.lines}"
    (line,) = run.lines
    assert any(n in line for n in named), f"the line names none of {named}: {line!r}"
    if corrupt is not None:
        assert corrupt.name not in run.stderr, f"an input was read before the output was checked: {run.stderr!r}"
    return line


# A full disk is not among them: /dev/full would need --overwrite, and the run then writes a
# temporary file and a resume manifest beside it, in /dev; a small full filesystem needs a mount.
@pytest.mark.parametrize("where", ["proc", "parent_is_a_file", "existing_dir"])
def test_bad_out_path(where, two_inputs, corrupt_file, tiny_checkpoint, tmp_path):
    if where == "proc":  # root writes anywhere chmod allows: /proc refuses new files even to root
        out = Path("/proc/emoannotate_out.csv")
    elif where == "parent_is_a_file":
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "out.csv"
    else:
        out = tmp_path / "adir.csv"
        out.mkdir()
    run = cli([*two_inputs, "--out", str(out), "-q"], cwd=tmp_path, model=tiny_checkpoint)
    _assert_fatal(run, str(out), str(out.parent), corrupt=corrupt_file)
    if where == "existing_dir":
        assert out.is_dir() and not any(out.iterdir())


def test_out_in_missing_folder_is_created(audio_wav, tiny_checkpoint, tmp_path):
    out = tmp_path / "missing_parent" / "deeper" / "x.csv"
    run = cli([str(audio_wav), "--out", str(out), "-q"], cwd=tmp_path, model=tiny_checkpoint, out=out)
    assert run.rc == 0, run.where()
    assert run.header == columns() and [r["status"] for r in run.rows] == ["no_face", "too_short"]


def test_output_dir_is_a_file(two_inputs, corrupt_file, tiny_checkpoint, tmp_path):
    target = tmp_path / "notadir"
    target.write_text("precious\n")
    run = cli([*two_inputs, "--output-dir", str(target), "-q"], cwd=tmp_path, model=tiny_checkpoint)
    _assert_fatal(run, str(target), target.name, corrupt=corrupt_file)
    assert target.read_text() == "precious\n"


def test_chart_name_over_255_bytes(corrupt_file, tiny_checkpoint, tmp_path):
    """A legal 250-byte input name whose chart name ("<stem>_timeline.png") would be over 255 bytes: the
    output stem is cut and given a short hash (as two such inputs must still get two charts)."""
    long_input = write_media(tmp_path / ("L" * 246 + ".wav"), duration_s=2.0, audio_fn=sine(TONE_HZ),
                             audio_rate=16000, audio_codec="pcm_s16le")  # 250 bytes: a legal name
    charts = tmp_path / "charts"
    run = cli([str(long_input), str(corrupt_file), "--charts-dir", str(charts), "-q"], cwd=tmp_path,
              model=tiny_checkpoint)
    assert run.rc == 1 and "Traceback" not in run.stderr, run.where()  # 1: the corrupt file's error row
    names = sorted(p.name for p in charts.iterdir())
    assert "distribution.png" in names and all(len(n.encode()) <= 255 for n in names)
    assert [n for n in names if n.startswith("L" * 100) and n.endswith("_timeline.png")], names


# --- Options ------------------------------------------------------------------------------------

@pytest.mark.parametrize("option,value", [("--hop", "nan"), ("--hop", "inf"), ("--hop", "0"),
                                          ("--min-window", "99")])
def test_bad_option_value(option, value, two_inputs, corrupt_file, tiny_checkpoint, tmp_path):
    out = tmp_path / "out.csv"
    run = cli([*two_inputs, "--out", str(out), option, value], cwd=tmp_path, model=tiny_checkpoint)
    line = _assert_fatal(run, option, corrupt=corrupt_file)
    assert value in line.lower() or option in line
    assert not out.exists()


def test_hop_longer_than_window_warns(audio_wav, tiny_checkpoint, tmp_path):
    out = tmp_path / "out.csv"
    run = cli([str(audio_wav), "--out", str(out), "--hop", "10"], cwd=tmp_path, model=tiny_checkpoint, out=out,
              extra_env=WIDE)
    assert run.rc == 0, run.where()
    assert "Traceback" not in run.stderr
    text = " ".join(run.stderr.split())
    assert "hop" in text and "not annotated" in text, run.stderr
    assert run.rows and run.rows[0]["emotion"] in EMOTIONS


def test_error_line_unwrapped(corpus, audio_wav, tiny_checkpoint, tmp_path):
    """"One clear line naming the file" also when stderr is a pipe (rich's default width is 80)."""
    _, cases = corpus
    bad = cases["text_named_mp4"].path
    deep = tmp_path / ("a_rather_long_folder_name_" * 3) / "not a video, really.mp4"
    deep.parent.mkdir(parents=True)
    deep.write_bytes(bad.read_bytes())
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    out = tmp_path / "out.csv"
    cmd = [sys.executable, "-m", "emoannotate", "run", str(deep), str(audio_wav), "--out", str(out), "-q",
           "--model", str(tiny_checkpoint), "-j", "0"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=SMALL_TIMEOUT_S, env=env)
    assert proc.returncode == 1, proc.stderr
    named = [ln for ln in proc.stderr.splitlines() if str(deep) in ln]
    assert len(named) == 1, f"no single line names {deep}:\n{proc.stderr}"
