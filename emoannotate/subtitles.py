"""Subtitle writers: one SRT or WebVTT file per input, a cue per window with a prediction."""

from __future__ import annotations

import math

from .records import MOD_AUDIO, MOD_VIDEO, FileResult, WindowResult
from .writers import ResultWriter, format_timestamp

SRT_CONFIDENCE_DECIMALS = 2  # "happiness 0.82"


def cue_text(row: WindowResult) -> str:
    """What a window's cue says: "anger 0.82", plus "(voice only)" / "(face only)" for one modality."""
    text = row.emotion or ""
    if row.confidence is not None and math.isfinite(row.confidence):
        text += f" {row.confidence:.{SRT_CONFIDENCE_DECIMALS}f}"
    if row.modalities == MOD_AUDIO:
        text += " (voice only)"
    elif row.modalities == MOD_VIDEO:
        text += " (face only)"
    return text


class SrtWriter(ResultWriter):
    """One SRT per input file; one cue per window with a prediction, e.g. "anger 0.82".

    Cues of windows that had only one modality say so: "(voice only)", "(face only)".
    Windows without a prediction get no cue; a file without any gets an empty SRT.
    """

    format = "srt"
    extension = ".srt"
    per_file = True

    def format_file(self, result: FileResult) -> str:
        cues: list[str] = []
        for row in result.windows:
            if row.emotion is None:
                continue
            text = cue_text(row)
            span = f"{format_timestamp(row.start_s)} --> {format_timestamp(row.end_s)}"
            cues.append(f"{len(cues) + 1}\n{span}\n{text}\n")
        return "\n".join(cues)


class VttWriter(SrtWriter):
    """One WebVTT file per input: the SRT cues with a WEBVTT header and HH:MM:SS.mmm times."""

    format = "vtt"
    extension = ".vtt"

    def header(self) -> str:
        return "WEBVTT\n\n"

    def format_file(self, result: FileResult) -> str:
        cues: list[str] = []
        for row in result.windows:
            if row.emotion is None:
                continue
            start, end = (format_timestamp(s).replace(",", ".") for s in (row.start_s, row.end_s))
            span = f"{start} --> {end}"
            cues.append(f"{len(cues) + 1}\n{span}\n{cue_text(row)}\n")
        return "\n".join(cues)
