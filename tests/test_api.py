"""The library API as a notebook uses it: `emoannotate.annotate(...)` -> rows, a DataFrame, files."""

from __future__ import annotations

import json

import av
import numpy as np
import pandas as pd
import pytest

import emoannotate
from emoannotate.errors import InputError


@pytest.fixture(scope="module")
def folder_results(tiny_checkpoint, all_media):
    return emoannotate.annotate(list(all_media.values()), model=tiny_checkpoint, workers=0, device="cpu")


def test_one_result_per_file_and_a_row_per_window(folder_results, all_media):
    assert [str(r.job.path) for r in folder_results] == sorted(str(p) for p in all_media.values())
    df = folder_results.to_pandas()
    assert len(df) == sum(len(r.windows) for r in folder_results)
    assert list(df.columns[:7]) == ["file", "window", "start_s", "end_s", "person", "emotion", "confidence"]
    ok = df[df["emotion"].notna()]
    assert np.allclose(ok[[f"p_{e}" for e in folder_results.labels]].sum(axis=1), 1.0, atol=1e-3)
    assert set(df["status"]) >= {"ok", "error"}


def test_the_dataframe_is_what_pandas_reads_from_the_csv(folder_results, tmp_path):
    out = tmp_path / "rows.csv"
    folder_results.write(out)
    read = pd.read_csv(out, dtype=folder_results.dtypes())
    df = folder_results.to_pandas()
    assert list(read.columns) == list(df.columns)
    pd.testing.assert_frame_equal(df, read)
    plain = pd.read_csv(out)  # without dtypes: the numbers and counts pandas guesses are the same
    for col in ("window", "start_s", "confidence", "face_frames", "max_faces", "partial"):
        assert plain[col].dtype == df[col].dtype, col


def test_results_write_every_format_per_input(folder_results, tmp_path):
    folder_results.write(output_dir=tmp_path, formats="all")
    keys = [r.job.key for r in folder_results]
    for ext in ("csv", "json", "jsonl", "srt", "vtt"):
        assert sorted(p.stem for p in tmp_path.glob(f"*.{ext}")) == sorted(keys), ext
    assert (tmp_path / "distribution.png").is_file()
    doc = json.loads((tmp_path / f"{keys[0]}.json").read_text())
    assert len(doc["files"]) == 1


def test_arrays_in_memory(tiny_checkpoint, face_video):
    with av.open(str(face_video)) as c:
        fps = float(c.streams.video[0].average_rate)
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    t = np.arange(int(4.0 * 16000)) / 16000
    voice = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    stereo = np.stack([voice, voice], axis=1)  # (n, 2)
    arrays = emoannotate.MediaArrays(frames=frames, fps=fps, audio=stereo, sample_rate=16000, name="take1")
    (result,) = emoannotate.annotate(arrays, model=tiny_checkpoint, device="cpu")
    assert result.windows[0].file == "take1" and result.windows[0].modalities == "audio+video"
    silent = emoannotate.MediaArrays(frames=frames, fps=fps, name="silent")
    (r2,) = emoannotate.annotate([silent], model=tiny_checkpoint, device="cpu")
    assert r2.windows[0].status == "no_audio"
    bad = emoannotate.MediaArrays(frames=frames[..., 0], fps=fps, name="gray")
    (r3,) = emoannotate.annotate(bad, model=tiny_checkpoint, device="cpu")
    assert r3.windows[0].status == "error" and "(T, H, W, 3)" in r3.windows[0].error


def test_outputs_are_checked_before_any_work(tiny_checkpoint, audio_wav, tmp_path):
    (tmp_path / "taken.csv").write_text("precious")
    with pytest.raises(InputError, match="--overwrite"):
        emoannotate.annotate(audio_wav, model=tiny_checkpoint, out=tmp_path / "taken.csv")
    assert (tmp_path / "taken.csv").read_text() == "precious"
    (tmp_path / "empty-folder").mkdir()
    with pytest.raises(InputError, match="no media files"):
        emoannotate.annotate(tmp_path / "empty-folder", model=tiny_checkpoint)
    (missing,) = emoannotate.annotate(tmp_path / "nothing-here.mp4", model=tiny_checkpoint)
    assert missing.windows[0].status == "error" and "no such file" in missing.windows[0].error


def test_a_model_from_the_user_model_folder(tiny_checkpoint, audio_wav, tmp_path, monkeypatch):
    import shutil

    shutil.copy(tiny_checkpoint, tmp_path / "mine.safetensors")
    monkeypatch.setenv("EMOANNOTATE_MODELS", str(tmp_path))
    assert "mine" in [m.name for m in emoannotate.available_models()]
    (result,) = emoannotate.annotate(audio_wav, model="mine", device="cpu")
    assert result.ok
