"""Debian's headless Chromium for the page tests (playwright drives it; it downloads no browser)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from bench_report import ARGS  # noqa: E402,F401  (the benchmarks' headless flags)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()


def watched_page(browser, **options):
    """A new page, and the lists its console errors (and uncaught exceptions) and its requests' URLs go to."""
    page = browser.new_page(**options)
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    return page, errors, requests
