"""Inputs as URLs that fsspec opens (file://, a file inside a zip): found, decoded and resumed as local files are."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from synth import astronaut_face, sine, write_media

from emoannotate.discover import discover
from emoannotate.errors import InputError, MediaError
from emoannotate.media import probe
from emoannotate.storage import is_url, stamp, url_name

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    """Two 5 s face + tone clips in a folder, the same two in a zip, and a text file beside them."""
    folder = tmp_path_factory.mktemp("remote")
    face = astronaut_face()
    size = (face.shape[1], face.shape[0])
    clips = folder / "clips"
    clips.mkdir()
    for i in range(2):
        write_media(clips / f"clip{i}.mp4", duration_s=5.0, frame_fn=lambda k: face, size=size, fps=5,
                    audio_fn=sine(300.0 + 50 * i))
    (clips / "notes.txt").write_text("not media")
    archive = folder / "batch.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted(clips.iterdir()):
            z.write(p, f"day1/{p.name}")
    return {"folder": clips, "zip": archive}


def test_is_url_only_for_names_with_a_protocol():
    assert is_url("s3://bucket/a.mp4") and is_url("zip://a.mp4::file:///x.zip")
    assert not is_url("a.mp4") and not is_url(Path("/x/a.mp4")) and not is_url("#1 interview.mp4")
    assert url_name("s3://bucket/day 1/a.mp4").name == "a.mp4"
    assert url_name("zip://day1/b.mp4::file:///x/batch.zip").stem == "b"


def test_a_folder_url_gives_its_media_files_sorted(media):
    jobs = discover([media["folder"].as_uri()])
    assert [j.url for j in jobs] == [(media["folder"] / f"clip{i}.mp4").as_uri() for i in range(2)]
    assert [j.key for j in jobs] == ["clip0", "clip1"]
    assert [j.name for j in jobs] == [j.url for j in jobs] and [j.path.name for j in jobs] == ["clip0.mp4", "clip1.mp4"]


def test_a_glob_inside_a_zip_and_a_local_copy_get_distinct_keys(media):
    inside = discover([f"zip://day1/*.mp4::{media['zip'].as_uri()}"])
    assert [j.url for j in inside] == [f"zip://day1/clip{i}.mp4::{media['zip'].as_uri()}" for i in range(2)]
    both = discover([f"zip://day1/clip0.mp4::{media['zip'].as_uri()}", str(media["folder"] / "clip0.mp4")])
    assert len(both) == 2 and len({j.key for j in both}) == 2


def test_a_url_that_matches_nothing_is_an_input_error(media):
    with pytest.raises(InputError, match="no media file"):
        discover([f"zip://day1/*.mov::{media['zip'].as_uri()}"])
    with pytest.raises(InputError, match="nosuchprotocol"):
        discover(["nosuchprotocol://x/a.mp4"])


def test_probe_reads_a_url_and_names_a_missing_one(media):
    url = f"zip://day1/clip1.mp4::{media['zip'].as_uri()}"
    info = probe(url)
    local = probe(media["folder"] / "clip1.mp4")
    assert info.path == url and info.has_video and info.has_audio
    assert (info.duration_s, info.width, info.fps) == (local.duration_s, local.width, local.fps)
    with pytest.raises(MediaError, match="gone.mp4: no such file"):
        probe((media["folder"] / "gone.mp4").as_uri())
    assert stamp(url)["size"] == (media["folder"] / "clip1.mp4").stat().st_size
    assert stamp((media["folder"] / "gone.mp4").as_uri()) is None


def _rows(out: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(out.read_text())))


@pytest.mark.slow
def test_run_on_urls_gives_the_local_rows_in_workers_and_resumes(media, tiny_checkpoint, tmp_path):
    """The same rows from URLs as from the local files (workers open them), the file column naming the
    URL; a missing URL gets its error row; --resume reuses every finished URL."""
    zipped = f"zip://day1/clip0.mp4::{media['zip'].as_uri()}"
    urls = [zipped, (media["folder"] / "clip1.mp4").as_uri(), (media["folder"] / "gone.mp4").as_uri()]
    local = [media["folder"] / "clip0.mp4", media["folder"] / "clip1.mp4"]
    base = [sys.executable, "-m", "emoannotate", "run", "--model", str(tiny_checkpoint), "-q", "-j", "2"]
    subprocess.run([*base, *map(str, local), "--out", str(tmp_path / "local.csv")], cwd=ROOT, check=True)
    out = tmp_path / "urls.csv"
    done = subprocess.run([*base, *urls, "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 1, done.stderr  # one input failed
    assert "gone.mp4: no such file" in done.stderr
    want, got = _rows(tmp_path / "local.csv"), _rows(out)
    errors = [r for r in got if r["status"] == "error"]
    assert [r["file"] for r in errors] == [urls[2]]
    got = [r for r in got if r["status"] != "error"]
    # discover sorts: the file:// URL before the zip:// one
    by_file = {urls[1]: str(local[1]), zipped: str(local[0])}
    assert sorted({r["file"] for r in got}) == sorted(by_file)
    assert len(got) == len(want)
    for r in got:
        match = [w for w in want if w["file"] == by_file[r["file"]] and w["window"] == r["window"]]
        assert len(match) == 1
        assert {k: v for k, v in r.items() if k != "file"} == {k: v for k, v in match[0].items() if k != "file"}
    manifest = out.with_name(f".{out.name}.emoannotate.jsonl")
    before = manifest.read_text()
    again = subprocess.run([*base, *urls[:2], "--out", str(out), "--resume"], cwd=ROOT, capture_output=True,
                           text=True)
    assert again.returncode == 0, again.stderr
    assert manifest.read_text() == before  # both URLs reused, nothing decoded again
    assert _rows(out) == got  # the two URLs' rows as before, the missing one's error row gone with it
    assert all(stamp(u)["version"] is not None for u in urls[:2])  # a zip entry's CRC, a file's mtime


@pytest.fixture
def s3(monkeypatch):
    """A local S3 (moto's server, on a free port) that s3fs, and the run's subprocesses, talk to."""
    pytest.importorskip("s3fs")
    server_mod = pytest.importorskip("moto.server")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
               "FSSPEC_S3_ENDPOINT_URL": f"http://{host}:{port}"}  # fsspec's config from the environment
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        import fsspec.config

        # this process read fsspec's environment at import: give it the endpoint as well
        monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": env["FSSPEC_S3_ENDPOINT_URL"]})
        yield env
    finally:
        server.stop()


@pytest.mark.slow
def test_run_reads_a_folder_on_s3_as_it_reads_the_local_one(media, s3, tiny_checkpoint, tmp_path):
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=s3["FSSPEC_S3_ENDPOINT_URL"])
    fs.mkdir("interviews")
    for i in range(2):
        fs.put(str(media["folder"] / f"clip{i}.mp4"), f"interviews/day1/clip{i}.mp4")
    base = [sys.executable, "-m", "emoannotate", "run", "--model", str(tiny_checkpoint), "-q", "-j", "2"]
    subprocess.run([*base, str(media["folder"]), "--out", str(tmp_path / "local.csv")], cwd=ROOT, check=True)
    done = subprocess.run([*base, "s3://interviews/", "--out", str(tmp_path / "s3.csv")], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    local, remote = _rows(tmp_path / "local.csv"), _rows(tmp_path / "s3.csv")
    assert sorted({r["file"] for r in remote}) == [f"s3://interviews/day1/clip{i}.mp4" for i in range(2)]
    assert [{k: v for k, v in r.items() if k != "file"} for r in remote] == \
        [{k: v for k, v in r.items() if k != "file"} for r in local]
    assert stamp("s3://interviews/day1/clip0.mp4")["version"]  # the object's ETag: what --resume compares
