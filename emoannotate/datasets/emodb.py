"""EmoDB (Berlin Database of Emotional Speech): wav/SSTTTEV.wav, German, 10 speakers."""

from __future__ import annotations

import re
from pathlib import Path

from ._common import EMODB, EMODB_EMOTIONS, Sample, _Clip, _clip_reader, _coded_label, _load_folder, _Reading

EMODB_SPEAKERS = ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")
_EMODB_RE = re.compile(r"^(\d{2})([ab]\d{2})([A-Z])([a-z])$")  # speaker, text, emotion, version


def load_emodb(root: str | Path, *, neutral: str | None = None) -> list[Sample]:
    """EmoDB utterances below `root`, one Sample per file `SSTTTEV.wav` (e.g. `wav/03a01Fa.wav`).

    The corpus (Burkhardt et al., Interspeech 2005): 535 utterances of 10 actors (5 women, 5 men;
    speakers 03, 08-16, "emodb:03"), 10 German sentences (TTT, e.g. a01, b10), recorded in an
    anechoic chamber. Labels from the 6th letter, German words: W (Ärger) anger, F (Freude)
    happiness, T (Trauer) sadness, A (Angst) fear, E (Ekel) disgust, N neutral (dropped unless
    `neutral` names a label). L (Langeweile, boredom) has no label among the model's 7 and is
    skipped. statement = TTT, repetition = V (a, b, c: versions of one sentence and emotion).
    Audio only; speakers outside the corpus's 10 are skipped.
    """
    return _load_folder(_emodb, root, neutral)


def _parse_emodb(path: Path, kind: str, match: re.Match[str], reading: _Reading) -> _Clip | None:
    speaker, text, emotion, version = match.groups()
    if kind != "audio" or speaker not in EMODB_SPEAKERS:
        reading.skipped["not an EmoDB speaker's audio"] += 1
        return None
    if emotion == "L":
        reading.skipped["boredom (no label for it)"] += 1
        return None
    label = _coded_label(EMODB_EMOTIONS, emotion, reading, "unknown emotion letter")
    if label is None:
        return None
    fields = {"label": label, "speaker": f"emodb:{speaker}", "statement": text, "repetition": version}
    return _Clip(fields, path.stem)


_emodb = _clip_reader(
    EMODB, _parse_emodb, pattern=_EMODB_RE, what="EmoDB utterances",
    expected="SSTTTEV.wav (speaker, sentence, emotion letter W F T A E N L, version), e.g. wav/03a01Fa.wav",
)
