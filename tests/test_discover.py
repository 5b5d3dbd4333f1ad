"""Inputs -> jobs: folders, globs, stdin lists, sorting, de-duplication and output keys."""

import io
import logging
import os
from pathlib import Path

import pytest

from emoannotate.discover import discover, expand, is_media, make_jobs, walk
from emoannotate.errors import InputError


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


@pytest.fixture
def tree(tmp_path) -> Path:
    """A folder of media, non-media and hidden files, two levels deep."""
    for rel in ("b.mp4", "a.MOV", "notes.txt", "clip.wav", ".hidden.mp4", "sub/c.mkv", "sub/deeper/d.webm",
                ".cache/e.mp4", "sub/readme.md"):
        touch(tmp_path / rel)
    return tmp_path


def names(jobs):
    return [j.path.name for j in jobs]


def test_is_media_ignores_case():
    assert is_media(Path("x.MP4")) and is_media(Path("y.flac"))
    assert not is_media(Path("z.txt")) and not is_media(Path("mp4"))


def test_folder_is_recursive_sorted_and_skips_hidden_and_non_media(tree):
    jobs = discover([str(tree)])
    assert names(jobs) == ["a.MOV", "b.mp4", "clip.wav", "c.mkv", "d.webm"]
    assert [j.index for j in jobs] == list(range(5))
    assert [j.path.resolve() for j in jobs] == sorted(j.path.resolve() for j in jobs)


def test_glob_pattern(tree):
    assert names(discover([str(tree / "*.mp4")])) == ["b.mp4"]
    assert names(discover([str(tree / "**" / "*.webm")])) == ["d.webm"]
    # a glob only gives media files
    assert names(discover([str(tree / "*")])) == ["a.MOV", "b.mp4", "clip.wav", "c.mkv", "d.webm"]


def test_glob_without_matches_is_an_error(tree):
    with pytest.raises(InputError, match="matches no media"):
        discover([str(tree / "*.avi")])


def test_stdin_list_skips_blank_lines_and_strips_whitespace(tree):
    stdin = io.StringIO(f"{tree / 'b.mp4'}\r\n\n   \n  {tree / 'sub'}  \n")
    assert names(discover(["-"], stdin=stdin)) == ["b.mp4", "c.mkv", "d.webm"]


def test_stdin_line_starting_with_hash_is_a_path(tree):
    hashed = touch(tree / "#1 interview.mp4")
    stdin = io.StringIO(f"{hashed}\n#2 missing.mp4\n")
    assert expand(["-"], stdin=stdin) == [hashed, Path("#2 missing.mp4")]


def test_stdin_dash_without_stdin_is_an_error():
    with pytest.raises(InputError, match="standard input"):
        discover(["-"])


def test_no_inputs_is_an_error():
    with pytest.raises(InputError, match="no input"):
        discover([])


def test_same_file_by_two_paths_is_one_job(tree, monkeypatch):
    monkeypatch.chdir(tree)
    link = tree / "link.mp4"
    os.symlink(tree / "b.mp4", link)
    jobs = discover([str(tree / "b.mp4"), "b.mp4", str(tree / "sub" / ".." / "b.mp4"), str(link),
                     str(tree / "b.mp4")])
    assert len(jobs) == 1
    assert jobs[0].key == "b"


def test_explicit_file_is_kept_whatever_its_extension(tree):
    jobs = discover([str(tree / "notes.txt")])
    assert names(jobs) == ["notes.txt"]


def test_missing_path_is_kept_as_a_job(tmp_path):
    missing = tmp_path / "nope.mp4"
    jobs = discover([str(missing)])
    assert len(jobs) == 1 and jobs[0].path == missing and not missing.exists()


def test_same_stem_in_two_folders_gets_two_keys(tmp_path):
    a1 = touch(tmp_path / "x" / "a.mp4")
    a2 = touch(tmp_path / "y" / "a.mp4")
    b = touch(tmp_path / "y" / "b.mp4")
    jobs = discover([str(tmp_path)])
    keys = {j.path: j.key for j in jobs}
    assert len(set(keys.values())) == 3
    assert keys[a1] != keys[a2]
    assert "x" in keys[a1] and "y" in keys[a2]
    assert keys[b] == "b"  # a unique stem keeps its plain name
    for key in keys.values():
        assert "/" not in key and os.sep not in key


def test_same_stem_different_extension_gets_two_keys(tmp_path):
    touch(tmp_path / "talk.mp4")
    touch(tmp_path / "talk.wav")
    keys = [j.key for j in discover([str(tmp_path)])]
    assert len(set(keys)) == 2


def test_keys_are_filesystem_safe(tmp_path):
    p = touch(tmp_path / "we ird:name?.mp4")
    (job,) = make_jobs([p])
    assert all(c.isalnum() or c in "-_." for c in job.key)


def test_expand_keeps_repeats_make_jobs_removes_them(tree):
    paths = expand([str(tree / "b.mp4"), str(tree / "b.mp4")])
    assert len(paths) == 2
    assert len(make_jobs(paths)) == 1
    assert make_jobs([]) == []


def test_dangling_link_is_kept_and_named_by_its_target(tmp_path):
    from emoannotate.errors import MediaError
    from emoannotate.media import probe

    link = tmp_path / "clip.mp4"
    os.symlink(tmp_path / "gone" / "missing.mp4", link)
    (job,) = discover([str(link)])  # kept: it becomes an error row, the run goes on
    assert job.path == link
    with pytest.raises(MediaError, match=r"clip\.mp4: broken link to .*gone/missing\.mp4"):
        probe(link)
    relative = tmp_path / "rel.mp4"
    os.symlink("missing.mp4", relative)  # relative targets are shown from the link's folder
    assert expand([str(relative)]) == [relative]
    with pytest.raises(MediaError, match=f"broken link to {tmp_path / 'missing.mp4'}$"):
        probe(relative)


def test_long_names_get_short_unique_keys():
    long_a, long_b = "a" * 240 + "1", "a" * 240 + "2"
    jobs = make_jobs([Path(f"/x/{long_a}.mp4"), Path(f"/x/{long_b}.mp4")])
    keys = [j.key for j in jobs]
    assert all(len(k.encode()) <= 200 for k in keys) and len(set(keys)) == 2
    assert make_jobs([Path("/x/short.mp4")])[0].key == "short"


def test_folder_with_symlink_loops_finishes_and_finds_each_file_once(tree):
    # Two links back up the tree: without a loop guard the walk would branch forever.
    os.symlink(tree, tree / "sub" / "up")
    os.symlink(tree / "sub", tree / "sub" / "deeper" / "back")
    paths = expand([str(tree)])
    assert sorted(p.name for p in paths) == ["a.MOV", "b.mp4", "c.mkv", "clip.wav", "d.webm"]
    assert names(discover([str(tree / "sub")])) == ["a.MOV", "b.mp4", "clip.wav", "c.mkv", "d.webm"]


def test_walk_lists_every_file_sorted_and_skips_hidden_and_macosx(tree):
    touch(tree / "__MACOSX" / "._b.mp4")
    touch(tree / "sub" / ".secret" / "x.mp4")
    found = walk(tree)
    assert found == sorted(found)
    assert [p.relative_to(tree).as_posix() for p in found] == [
        "a.MOV", "b.mp4", "clip.wav", "notes.txt", "sub/c.mkv", "sub/deeper/d.webm", "sub/readme.md"]
    assert names(discover([str(tree)])) == ["a.MOV", "b.mp4", "clip.wav", "c.mkv", "d.webm"]


def test_walk_warns_about_an_unreadable_folder_and_goes_on(tree, monkeypatch, caplog):
    real_scandir = os.scandir
    locked = tree / "sub" / "deeper"

    def scandir(path):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)  # chmod does not stop root, who may run the tests
    with caplog.at_level(logging.WARNING, logger="emoannotate.discover"):
        found = walk(tree)
    assert tree / "sub" / "c.mkv" in found and not any(p.name == "d.webm" for p in found)
    assert any(str(locked) in r.getMessage() and "Permission denied" in r.getMessage() for r in caplog.records)
