"""Subtitle writers: one SRT or WebVTT file per input, a cue per window (or segment) with a prediction.

Cues are made and written by webvtt-py, which reads both formats back. A cue says the
emotion and its confidence ("anger 0.82"), "(voice only)" / "(face only)" for one modality,
and, where people are followed, who it is: "person 2: anger 0.82" (SRT) or a voice span
`<v person 2>` (WebVTT, which players show as the speaker's name).
"""

from __future__ import annotations

import io
import math

from .records import MOD_AUDIO, MOD_VIDEO, FileResult, WindowResult
from .segments import Segment, merge
from .writers import ResultWriter, format_timestamp

SRT_CONFIDENCE_DECIMALS = 2  # "happiness 0.82"


def cue_text(row: WindowResult | Segment) -> str:
    """What a cue says: "anger 0.82", plus "(voice only)" / "(face only)" for one modality (windows)."""
    text = row.emotion or ""
    if row.confidence is not None and math.isfinite(row.confidence):
        text += f" {row.confidence:.{SRT_CONFIDENCE_DECIMALS}f}"
    if isinstance(row, WindowResult):
        if row.modalities == MOD_AUDIO:
            text += " (voice only)"
        elif row.modalities == MOD_VIDEO:
            text += " (face only)"
    return text


def _clock(seconds: float) -> str:
    """HH:MM:SS.mmm, as webvtt-py takes times."""
    return format_timestamp(seconds).replace(",", ".")


class SrtWriter(ResultWriter):
    """One SRT per input file; one cue per window (or segment) with a prediction, e.g. "anger 0.82".

    Windows without a prediction get no cue; a file without any gets an empty file.
    """

    format = "srt"
    extension = ".srt"
    per_file = True
    _voice_spans = False  # WebVTT marks the person as the cue's voice; SRT says it in the text

    def format_file(self, result: FileResult) -> str:
        import webvtt

        items: list[WindowResult | Segment] = (
            list(merge(result.windows)) if self.segments else [r for r in result.windows if r.emotion is not None])
        followed = any(x.person is not None for x in items)
        captions: list[webvtt.Caption] = []
        for x in items:
            text = cue_text(x)
            if followed:
                who = f"person {x.person}" if x.person is not None else "no face"
                text = f"<v {who}>{text}" if self._voice_spans else f"{who}: {text}"
            captions.append(webvtt.Caption(_clock(x.start_s), _clock(x.end_s), text, identifier=str(len(captions) + 1)))
        buffer = io.StringIO()
        webvtt.WebVTT(captions=captions).write(buffer, format=self.format)
        text = buffer.getvalue()
        return text if not text or text.endswith("\n") else text + "\n"  # a text file ends its last line


class VttWriter(SrtWriter):
    """One WebVTT file per input: the SRT's cues, with the person as the cue's voice (`<v person 1>`)."""

    format = "vtt"
    extension = ".vtt"
    _voice_spans = True
