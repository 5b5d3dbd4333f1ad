"""bench/bench_pipeline.py end to end on a 4 s 720p clip it makes itself (no ffmpeg program needed)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # encodes a clip, runs the CLI, MTCNN and the model (~40 s on 2 cores)

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_pipeline.py"


def test_bench_json_has_sane_figures(tmp_path):
    out, cache = tmp_path / "out.json", tmp_path / "cache"
    cmd = [sys.executable, str(BENCH), "--seconds", "4", "--clips", "720p", "--repeat", "1",
           "--stage-windows", "1", "--cache-dir", str(cache), "--json", str(out)]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "x ceiling" in proc.stdout  # the table was printed
    report = json.loads(out.read_text())
    assert (cache / "talking_720p_4s.mp4").is_file()

    m = report["machine"]
    assert m["cores"] >= 1 and m["cpu"] and m["git"]
    assert len(m["load_before"]) == 3 and len(m["load_after"]) == 3
    assert m["software"]["torch"] and m["software"]["av"]

    (c,) = report["clips"]
    assert (c["width"], c["height"]) == (1280, 720)
    assert c["fps"] == pytest.approx(29.97, abs=0.01)
    assert 3.9 < c["video_s"] < 4.3
    assert c["decoded_frames"]["video_frames"] == 120 and c["decoded_frames"]["audio_frames"] > 0
    for key in ("ceiling_s", "pyav_default_s", "pyav_auto_s", "pipeline_s"):
        assert c[key] > 0, key
    assert c["ceiling_s"] == min(c["pyav_default_s"], c["pyav_auto_s"])
    assert (c["ffmpeg_null_s"] is None) == (shutil.which("ffmpeg") is None)
    assert c["ratio"] == pytest.approx(c["pipeline_s"] / c["ceiling_s"])
    assert c["rtf"] == pytest.approx(c["video_s"] / c["pipeline_s"])
    assert c["ratio"] > 1  # a CLI process that imports torch cannot beat decoding alone
    assert c["rows_written"] == c["windows_planned"] == 2  # one full window + a too-short tail
    assert c["statuses"].get("ok") == 1
    assert "emoannotate" in c["command"] and "--overwrite" in c["command"]
    assert 50 < c["peak_largest_mb"] <= c["peak_all_mb"]

    st = c["stages"]
    assert st["windows"] == 1 and st["face_frames"] == "15/15"
    assert set(st["ms_per_window"]) == {"decode", "detect", "audio_decode", "features", "model"}
    assert all(v > 0 for v in st["ms_per_window"].values())
    assert sum(st["share"].values()) == pytest.approx(1.0)
    assert st["total_ms_per_window"] == pytest.approx(sum(st["ms_per_window"].values()))
