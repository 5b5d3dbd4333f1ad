"""The HTML report (`emoannotate report`, `run --report-dir`): the same pages from CSV, JSON, JSONL and the run
itself, and the page driven in a real headless Chromium (skipped where /usr/bin/chromium is missing)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser import ARGS, CHROMIUM, HAVE_CHROMIUM, watched_page

import emoannotate
from emoannotate.errors import InputError
from emoannotate.readers import read_results
from emoannotate.writers import row_to_dict

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ["sample_videos/astronaut_speech.mp4", "sample_videos/speech_only.wav"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """One real run of the shipped model over two sample inputs, written as CSV, JSON and JSONL, and its report."""
    out = tmp_path_factory.mktemp("report")
    cwd = os.getcwd()
    os.chdir(ROOT)  # rows name the inputs as given: relative to the repository
    try:
        results = emoannotate.annotate(SAMPLES, workers=0, report_dir=out / "from_run", out=out / "rows.csv")
        results.write(out / "rows.json")
        results.write(out / "rows.jsonl")
    finally:
        os.chdir(cwd)
    return out


@pytest.mark.slow
def test_reports_from_csv_json_jsonl_and_the_run_are_identical(run_dir):
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        for fmt in ("csv", "json", "jsonl"):
            emoannotate.load_results(run_dir / f"rows.{fmt}").report(run_dir / fmt)
    finally:
        os.chdir(cwd)
    names = sorted(p.name for p in (run_dir / "from_run").glob("*.html"))
    assert names == ["astronaut_speech.html", "index.html", "speech_only.html"]
    for name in names:
        made = [(run_dir / d / name).read_bytes() for d in ("from_run", "csv", "json", "jsonl")]
        assert all(m == made[0] for m in made), name
    page = (run_dir / "csv" / "astronaut_speech.html").read_text()
    assert "https://" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert 'src="' not in page.split("<script")[0]  # no external script or style


@pytest.mark.slow
def test_rows_read_back_equal_the_rows_written(run_dir):
    rows = {}
    for fmt in ("csv", "json", "jsonl"):
        results, labels = read_results(run_dir / f"rows.{fmt}")
        rows[fmt] = [row_to_dict(w, labels) for r in results for w in r.windows]
    assert rows["csv"] == rows["json"] == rows["jsonl"]
    assert len(rows["csv"]) == 4  # 8.0 s: 2 windows + a tail; 3.0 s: one too-short window


def test_a_segments_file_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "seg.csv"
    path.write_text("file,person,start_s,end_s,emotion,confidence,windows,first_window,speaking\na.mp4,1,0,3.6,calm,"
                    "0.5,1,0,true\n")
    with pytest.raises(InputError, match="without --segments"):
        read_results(path)
    with pytest.raises(InputError, match="no such file"):
        read_results(tmp_path / "missing.csv")


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_CHROMIUM, reason="needs Debian's chromium (.ci/run installs it)")
def test_the_page_in_headless_chromium(run_dir, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    pages = run_dir / "from_run"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page, errors, requests = watched_page(browser, viewport={"width": 1280, "height": 900})
            page.goto((pages / "astronaut_speech.html").as_uri())
            page.wait_for_selector("html[data-ready]")
            page.wait_for_function("document.getElementById('media').readyState >= 1", timeout=20000)
            windows = page.evaluate("emoReport.windows.length")
            assert windows == 3
            assert page.locator("#timeline .emo-mark").count() == windows
            mark = page.locator(".emo-mark[data-i='1']")
            mark.wait_for(state="visible")  # laid out: bounding_box() is None before (a flake in a fresh clone)
            box = mark.bounding_box()
            assert box is not None
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + 10)
            page.wait_for_function("Math.abs(document.getElementById('media').currentTime - 3.6) < 0.05")
            assert page.evaluate("emoReport.current") == 1
            page.keyboard.press("ArrowLeft")  # the timeline has the focus: the key seeks to the window before
            page.wait_for_function("document.getElementById('media').currentTime < 0.05")
            assert page.locator(".face-box").count() >= 1  # the face of window 1, drawn over the video
            page.goto((pages / "index.html").as_uri())
            page.wait_for_selector("html[data-ready]")
            links = page.eval_on_selector_all("tbody a", "els => els.map(a => a.getAttribute('href'))")
            assert sorted(links) == ["astronaut_speech.html", "speech_only.html"]
            for link in links:
                assert (pages / link).is_file()
            assert not errors, errors
            assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
        finally:
            browser.close()
