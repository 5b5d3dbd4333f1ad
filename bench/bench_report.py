"""Load time of report pages in headless Chromium: a page of a 2-hour input (2,000 windows, a row per window,
two people's lanes) and an index over 1,000 inputs; and how smoothly the long page scrolls (frame times while
the timeline, zoomed in 8x, is scrolled from end to end, and while the page is scrolled top to bottom). The
rows are made up (random probabilities): what a page costs does not depend on what the model said. Needs
/usr/bin/chromium and playwright.

    python bench/bench_report.py [--windows 2000] [--inputs 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from emoannotate.constants import EMOTIONS, WINDOW_SECONDS
from emoannotate.records import STATUS_OK, FileResult, MediaJob, WindowResult
from emoannotate.report import write_report

# Headless Chromium without the network chatter of a desktop browser (also the page tests' flags).
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


def fake_result(index: int, name: str, windows: int, rng: np.random.Generator) -> FileResult:
    rows = []
    for w in range(windows):
        p = rng.dirichlet(np.ones(len(EMOTIONS)))
        f, v = rng.dirichlet(np.ones(len(EMOTIONS))), rng.dirichlet(np.ones(len(EMOTIONS)))
        rows.append(WindowResult(name, w, w * WINDOW_SECONDS, (w + 1) * WINDOW_SECONDS, EMOTIONS[int(p.argmax())],
                                 float(p.max()), tuple(map(float, p)), "audio+video", 15, (100.0, 80.0, 260.0, 300.0),
                                 1, False, STATUS_OK, person=1 + w % 2, speaking=True,
                                 face_emotion=EMOTIONS[int(f.argmax())], face_confidence=float(f.max()),
                                 voice_emotion=EMOTIONS[int(v.argmax())], voice_confidence=float(v.max())))
    return FileResult(MediaJob(index, Path(name), str(index)), None, rows)


def load_ms(browser, path: Path) -> tuple[float, float]:
    """(ms from navigation to the page drawn, ms the page's script took), median of 3."""
    runs = []
    for _ in range(3):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        start = time.perf_counter()
        page.goto(path.as_uri())
        page.wait_for_selector("html[data-ready]")
        drawn = float(page.evaluate("document.documentElement.dataset.ready"))
        runs.append(((time.perf_counter() - start) * 1000, drawn))
        page.close()
    runs.sort()
    return runs[1]


SCROLL_JS = """async ([selector, frames]) => {
  const box = selector === "page" ? document.scrollingElement : document.querySelector(selector);
  const horizontal = selector !== "page";
  const max = horizontal ? box.scrollWidth - box.clientWidth : box.scrollHeight - box.clientHeight;
  const deltas = [];
  let last = null;
  await new Promise((done) => {
    let i = 0;
    function step(t) {
      if (last !== null) deltas.push(t - last);
      last = t;
      const to = Math.round(max * i / frames);
      if (horizontal) box.scrollLeft = to; else box.scrollTop = to;
      if (++i <= frames) requestAnimationFrame(step); else done();
    }
    requestAnimationFrame(step);
  });
  return {max, deltas};
}"""


def scroll_frames(browser, path: Path, frames: int = 240) -> dict[str, tuple[int, float, float, float]]:
    """Frame intervals while scrolling, per target: (pixels scrolled, median ms, p95 ms, share over 33 ms)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(path.as_uri())
    page.wait_for_selector("html[data-ready]")
    page.focus("#timeline .emo-scroll")
    for _ in range(3):  # zoom in 8x: the timeline is many screens wide
        page.keyboard.press("+")
    out = {}
    for name, selector in (("timeline", "#timeline .emo-scroll"), ("page", "page")):
        got = page.evaluate(SCROLL_JS, [selector, frames])
        d = np.array(got["deltas"])
        out[name] = (int(got["max"]), float(np.median(d)), float(np.percentile(d, 95)), float((d > 33.4).mean()))
    page.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--windows", type=int, default=2000)
    ap.add_argument("--inputs", type=int, default=1000)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        long = Path(tmp, "long")
        write_report([fake_result(0, "long.mp4", args.windows, rng)], long)
        total, script = load_ms(browser, long / "long.html")
        size = (long / "long.html").stat().st_size / 1e6
        print(f"page of {args.windows} windows ({size:.1f} MB): loaded and drawn in {total:.0f} ms "
              f"(script {script:.0f} ms)")
        for name, (px, median, p95, slow) in scroll_frames(browser, long / "long.html").items():
            print(f"  scrolling the {name} ({px} px in 240 frames): frame median {median:.1f} ms, "
                  f"p95 {p95:.1f} ms, {slow:.0%} of frames over 33 ms")
        many = Path(tmp, "many")
        write_report([fake_result(i, f"input_{i:04d}.mp4", int(rng.integers(5, 60)), rng) for i in range(args.inputs)],
                     many)
        total, script = load_ms(browser, many / "index.html")
        size = (many / "index.html").stat().st_size / 1e6
        print(f"index of {args.inputs} inputs ({size:.1f} MB): loaded and drawn in {total:.0f} ms "
              f"(script {script:.0f} ms)")
        browser.close()


if __name__ == "__main__":
    main()
