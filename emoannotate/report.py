"""The HTML report: one page per input that plays the video beside its emotion timeline, and an index.

    >>> write_report(results, "report/", labels=EMOTIONS)        # FileResults of a run, or read back
    [PosixPath('report/index.html'), PosixPath('report/interview.html'), ...]

Every page is one self-contained file: its data sits in it as JSON, and the scripts and styles
(`emoannotate/web/`, plain JavaScript drawing SVG and canvas, no library, no network) are inlined,
so a reader opens it straight from disk. The media is linked by a path relative to the page
(`media_root`: where the inputs are when the report is made elsewhere than the run was).

What a page holds is made from the rows only (as `writers.row_to_dict` gives them), so a report
made from the CSV, the JSON or the JSONL of one run, or by the run itself, is the same file.
The live page (`live`) draws its bar chart and timeline with the same `emochart.js`.
"""

from __future__ import annotations

import html
import json
import os
from collections import Counter
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import __version__
from .charts import MODALITY_NAMES, emotion_color
from .constants import AUDIO_EXTENSIONS, EMOTIONS
from .discover import make_jobs
from .records import STATUSES, FileResult
from .segments import merge
from .sinks import make_dir, write_atomically
from .writers import check_can_write, columns, row_to_dict, segment_to_dict

__all__ = ["INDEX_NAME", "chart_data", "media_path", "page_names", "report_paths", "web_asset", "write_report"]

INDEX_NAME = "index.html"
STRIP_COLUMNS = ("start_s", "end_s", "label", "confidence")  # the index's strip: one entry per window


def web_asset(name: str) -> str:
    """The text of one of the shipped web files (emoannotate/web/NAME)."""
    return resources.files("emoannotate").joinpath("web", name).read_text(encoding="utf-8")


def _file_of(result: FileResult) -> str:
    return result.windows[0].file if result.windows else result.job.name


def page_names(files: Sequence[str]) -> list[str]:
    """Each input's page file name ("<key>.html", keys as `discover` gives them to the inputs' file names)."""
    jobs = make_jobs(Path(f) for f in dict.fromkeys(files))
    key = {str(j.path): j.key for j in jobs}
    names = [f"{key[f]}.html" for f in files]
    if INDEX_NAME in names or len(set(names)) != len(names):  # an input named "index", or a file listed twice
        taken: Counter[str] = Counter()
        unique = []
        for name in names:
            taken[name] += 1
            stem = name[: -len(".html")]
            unique.append(name if taken[name] == 1 and name != INDEX_NAME else f"{stem}-{taken[name]}.html")
        names = unique
    return names


def report_paths(files: Sequence[str], out_dir: str | Path) -> list[Path]:
    """The files `write_report` writes for inputs of these file names: the index first, then a page per input."""
    out_dir = Path(out_dir)
    return [out_dir / INDEX_NAME, *(out_dir / n for n in page_names(files))]


def media_path(file: str, media_root: str | Path | None = None) -> Path:
    """Where an input of this file name is: relative to `media_root` when given (an absolute name that is
    not there is looked for by its name in `media_root`), else as named."""
    path = Path(file)
    if media_root is None:
        return path
    root = Path(media_root)
    return root / path if not path.is_absolute() else path if path.exists() else root / path.name


def _media(file: str, out_dir: Path, media_root: str | Path | None) -> dict[str, Any]:
    """Where the page finds the input: a path relative to the page, URL-quoted; `found` when it is there now."""
    path = media_path(file, media_root)
    absolute = Path(os.path.abspath(path))
    href = quote(Path(os.path.relpath(absolute, os.path.abspath(out_dir))).as_posix())
    kind = "audio" if path.suffix.lower() in AUDIO_EXTENSIONS else "video"
    return {"href": href, "kind": kind, "found": absolute.is_file(), "path": str(path)}


def _dominant(rows: Sequence[dict[str, Any]]) -> str | None:
    counts = Counter(r["emotion"] for r in rows if r["emotion"])
    return counts.most_common(1)[0][0] if counts else None


def _script_json(value: Any) -> str:
    """JSON that is safe inside <script> ("<" escaped, so no "</script>" can end it early)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def _html(title: str, body_class: str, data: Any, scripts: Sequence[str]) -> str:
    code = "\n".join(web_asset(s) for s in scripts)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        # No request may leave the page: not even for a favicon.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'; "
        "style-src 'unsafe-inline'; img-src data:; media-src 'self' file: blob:\">\n"
        "<link rel=\"icon\" href=\"data:,\">\n"
        f"<meta name=\"generator\" content=\"emoannotate {html.escape(__version__)}\">\n"
        f"<title>{html.escape(title)}</title>\n<style>\n{web_asset('report.css')}</style>\n</head>\n"
        f"<body class=\"{body_class}\">\n<noscript>This report needs JavaScript.</noscript>\n"
        f"<script type=\"application/json\" id=\"emo-data\">{_script_json(data)}</script>\n"
        f"<script>\n{code}</script>\n</body>\n</html>\n"
    )


def chart_data(labels: Sequence[str]) -> dict[str, Any]:
    """What the pages' charts (`web/emochart.js`) need: labels, their colours, modality and status names."""
    return {"labels": list(labels), "colors": [emotion_color(label, labels) for label in labels],
            "modality_names": MODALITY_NAMES, "statuses": list(STATUSES), "version": __version__}


def write_report(results: Sequence[FileResult], out_dir: str | Path, *, labels: Sequence[str] = EMOTIONS,
                 media_root: str | Path | None = None, overwrite: bool = False) -> list[Path]:
    """Write one HTML page per input and index.html into `out_dir`; returns the paths (index first).

    Refuses (InputError, before writing anything) to replace existing pages unless `overwrite`.
    """
    out_dir = Path(out_dir)
    paths = report_paths([_file_of(r) for r in results], out_dir)
    for path in paths:
        check_can_write(path, overwrite)
    make_dir(out_dir)
    cols = columns(labels)
    entries = []
    for result, path in zip(results, paths[1:]):
        file = _file_of(result)
        rows = [row_to_dict(w, labels) for w in result.windows]
        duration = max((r["end_s"] for r in rows if r["end_s"] is not None), default=0.0)
        media = _media(file, out_dir, media_root)
        segments = [segment_to_dict(s) for s in merge(result.windows)]
        page = {**chart_data(labels), "file": file, "index": INDEX_NAME, "media": media, "duration_s": duration,
                "columns": cols, "rows": [[r[c] for c in cols] for r in rows], "segments": segments}
        write_atomically(path, _html(f"{Path(file).name}: emotions", "emo-page", page,
                                     ("emochart.js", "report.js")).encode("utf-8"))
        statuses = Counter(r["status"] for r in rows)
        main = _main_rows(rows)
        entries.append({
            "file": file, "page": quote(path.name), "duration_s": duration, "dominant": _dominant(main),
            "windows": len(main), "status": {s: statuses.get(s, 0) for s in STATUSES},
            "media_found": media["found"],
            "error": result.error or next((r["error"] for r in rows if r["error"]), None),
            "strip": [[r["start_s"], r["end_s"], labels.index(r["emotion"]) if r["emotion"] in labels else -1,
                       r["confidence"]] for r in main]})
    index = {**chart_data(labels), "inputs": entries, "strip_columns": list(STRIP_COLUMNS)}
    write_atomically(paths[0], _html("emoannotate report", "emo-index", index,
                                     ("emochart.js", "index.js")).encode("utf-8"))
    return paths


def _main_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per window: with a row per person (`--faces all`), the speaker's, else the first with a reading
    (the same choice as the page's timeline, report.js `mainRows`)."""
    by_window: dict[int, dict[str, Any]] = {}
    for r in rows:
        best = by_window.get(r["window"])
        if best is None or (r["speaking"] and not best["speaking"]) or (r["emotion"] and not best["emotion"]):
            by_window[r["window"]] = r
    return [by_window[w] for w in sorted(by_window)]
