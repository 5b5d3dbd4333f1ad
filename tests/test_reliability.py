"""Never lose work: a killed run resumes to the same bytes, a dead worker is replaced, signals stop cleanly."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from synth import astronaut_face, sine, write_media

N_FILES = 6
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    """Six 8 s face + tone videos (two windows and a tail each): enough work to stop a run in the middle."""
    folder = tmp_path_factory.mktemp("clips")
    face = astronaut_face()
    def frames(i):
        return lambda k: face if (k + i) % 7 else face[::-1]

    size = (face.shape[1], face.shape[0])
    return [write_media(folder / f"clip{i}.mp4", duration_s=8.0, frame_fn=frames(i), size=size, fps=5,
                        audio_fn=sine(300.0 + 40 * i)) for i in range(N_FILES)]


def _command(clips, model, out, *extra) -> list[str]:
    return [sys.executable, "-m", "emoannotate", "run", *map(str, clips), "--out", str(out), "--model", str(model),
            "-q", *extra]


def _started_mid_run(command: list[str], out: Path) -> subprocess.Popen:
    """Start a run (stderr piped) and return once 2 inputs are finished in `out`'s manifest, or it ended."""
    proc = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    while _manifest_lines(out) < 2 and proc.poll() is None:
        time.sleep(0.02)
    return proc


def _manifest_lines(out: Path) -> int:
    manifest = out.with_name(f".{out.name}.emoannotate.jsonl")
    return manifest.read_text().count("\n") if manifest.is_file() else 0


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc's parent pids)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        found += kids
        frontier += kids
    return found


def _gone(pids: list[int], within_s: float = 15.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not [p for p in pids if Path(f"/proc/{p}").exists() and "Z" not in _state(p)]:
            return True
        time.sleep(0.2)
    return False


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


@pytest.mark.slow
@pytest.mark.parametrize("ext, kill_points", [("csv", (0, 2, 4)), ("jsonl", (3,)), ("json", (1, 5))])
def test_sigkill_at_any_point_then_resume_gives_the_same_bytes(clips, tiny_checkpoint, tmp_path, ext, kill_points):
    reference = tmp_path / f"reference.{ext}"
    assert subprocess.run(_command(clips, tiny_checkpoint, reference, "-j", "2"), cwd=ROOT).returncode == 0
    expected = reference.read_bytes()
    for kill_after in kill_points:  # manifest lines seen before the kill (0: during start-up; 1: the header only)
        out = tmp_path / f"killed{kill_after}.{ext}"
        proc = subprocess.Popen(_command(clips, tiny_checkpoint, out, "-j", "2"), cwd=ROOT)
        while _manifest_lines(out) < kill_after and proc.poll() is None:
            time.sleep(0.02)
        if kill_after == 0:
            time.sleep(1.0)
        kids = _descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _gone(kids), "processes of the killed run were left behind"
        if out.exists() and ext != "json":  # whatever was written is whole inputs, in order
            assert expected.startswith(out.read_bytes())
        if out.exists() and ext == "json":
            json.loads(out.read_text())  # a valid document at every moment
        resumed = subprocess.run(_command(clips, tiny_checkpoint, out, "-j", "2", "--resume"), cwd=ROOT,
                                 capture_output=True, text=True)
        assert resumed.returncode == 0, resumed.stderr
        assert out.read_bytes() == expected, f"resumed after {kill_after} differs"


@pytest.mark.slow
def test_resume_redoes_a_changed_input_and_reads_only_the_rest(clips, tiny_checkpoint, tmp_path):
    inputs = []
    for c in clips[:4]:
        inputs.append(tmp_path / c.name)
        inputs[-1].write_bytes(c.read_bytes())
    out = tmp_path / "rows.csv"
    assert subprocess.run(_command(inputs[:3], tiny_checkpoint, out, "-j", "0"), cwd=ROOT).returncode == 0
    first = out.read_text()
    assert _manifest_lines(out) == 1 + 3
    os.utime(inputs[1], ns=(time.time_ns(), time.time_ns()))  # "changed": touched since the first run
    # a fourth input added and the second changed: those two are read, the others reused
    done = subprocess.run(_command(inputs, tiny_checkpoint, out, "-j", "0", "--resume"), cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert _manifest_lines(out) == 1 + 3 + 2
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["file"] for r in rows if r["window"] == "0"] == [str(p) for p in inputs]
    assert out.read_text().startswith(first)  # the same rows for the same media
    # another model: nothing is reused (rows of two models are never mixed)
    other = tmp_path / "other.safetensors"
    from synth import tiny_model

    from emoannotate.checkpoint import save_checkpoint

    save_checkpoint(tiny_model(seed=1), other)
    again = subprocess.run(_command(inputs, other, out, "-j", "0", "--resume"), cwd=ROOT, capture_output=True,
                           text=True)
    assert again.returncode == 0, again.stderr
    assert _manifest_lines(out) == 1 + 4  # a new manifest: every input redone with the other model
    assert not out.read_text().startswith(first)


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_replaced_and_no_file_loses_its_rows(clips, tiny_checkpoint, tmp_path):
    out = tmp_path / "rows.csv"
    proc = subprocess.Popen(_command(clips, tiny_checkpoint, out, "-j", "2", "--batch-size", "1"), cwd=ROOT,
                            stderr=subprocess.PIPE, text=True)
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline and proc.poll() is None:
        if _manifest_lines(out) >= 2:  # one input done: the workers are busy with the next ones
            forkserver_children = [w for kid in _descendants(proc.pid) for w in _descendants(kid)]
            if forkserver_children:  # the pool's workers are the forkserver's children
                victim = forkserver_children[0]
                os.kill(victim, signal.SIGKILL)  # as the out-of-memory killer does
        time.sleep(0.02)
    _, stderr = proc.communicate(timeout=120)
    assert victim is not None, "the run ended before a worker could be killed"
    assert proc.returncode == 1, stderr
    assert "worker process died" in stderr and "Traceback" not in stderr, stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert sorted({r["file"] for r in rows}) == sorted(str(c) for c in clips)
    assert all(r["status"] in ("ok", "too_short") for r in rows), {r["status"] for r in rows}


@pytest.mark.slow
def test_sigterm_stops_cleanly_says_how_to_resume_and_leaves_no_process(clips, tiny_checkpoint, tmp_path):
    out = tmp_path / "rows.json"
    # overlapping windows (a hop of 0.4 s): several seconds of work per input, so the run is surely mid-way
    proc = _started_mid_run(_command(clips, tiny_checkpoint, out, "-j", "2", "--hop", "0.4"), out)
    proc.send_signal(signal.SIGTERM)
    kids = _descendants(proc.pid)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, (stderr, _manifest_lines(out))
    assert "--resume" in stderr and "Traceback" not in stderr
    assert _gone(kids, within_s=15.0), "a worker outlived the run"
    doc = json.loads(out.read_text())
    assert 1 <= len(doc["files"]) < N_FILES
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left


@pytest.fixture
def small_disk(tmp_path):
    """A 1.5 MB tmpfs (tests run as root here; skipped where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1536k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_too_little_space_is_found_before_any_work(clips, tiny_checkpoint, small_disk):
    many = clips * 1  # six inputs: about 1.4 MB of first estimate, on a 1.5 MB disk with 1 MB taken
    (small_disk / "filler").write_bytes(b"\0" * 1024 * 1024)
    proc = subprocess.run(_command(many, tiny_checkpoint, small_disk / "rows.csv"), cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "MB free" in lines[0] and str(small_disk) in lines[0]
    assert not (small_disk / "rows.csv").exists()


@pytest.mark.slow
def test_a_disk_that_fills_up_mid_run_gives_one_line_and_valid_rows(clips, tiny_checkpoint, small_disk):
    out = small_disk / "rows.csv"
    proc = _started_mid_run(_command(clips, tiny_checkpoint, out, "-j", "0", "--hop", "0.4"), out)
    with open(small_disk / "filler", "wb") as f:  # another program takes the rest of the disk
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stderr
    assert "No space left on device" in stderr and "Traceback" not in stderr
    assert len([ln for ln in stderr.splitlines() if "No space left" in ln]) == 1
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows and all(r["status"] for r in rows)  # whole rows only: what was written before stays valid
    by_file = {r["file"] for r in rows}
    assert str(clips[0]) in by_file


@pytest.mark.parametrize("stop", [KeyboardInterrupt, OSError(28, "No space left on device")])
def test_a_whole_file_write_stopped_midway_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, stop):
    """Ctrl-C, SIGTERM (raised as an exception by the CLI) or a full disk between write and rename."""
    from emoannotate import sinks
    from emoannotate.errors import OutputError

    path = tmp_path / "rows.json"
    path.write_bytes(b"old")

    def stopped(src, dst):
        raise stop

    monkeypatch.setattr(sinks.os, "replace", stopped)
    with pytest.raises(OutputError if isinstance(stop, OSError) else KeyboardInterrupt):
        sinks.write_atomically(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["rows.json"]
