"""CREMA-D: clips named AAAA_SSS_EEE_LL, one folder per format."""

from __future__ import annotations

import re
from pathlib import Path

from ._common import CREMA_D, CREMA_D_EMOTIONS, Sample, _Clip, _clip_reader, _coded_label, _load_folder, _Reading

CREMA_D_SPEAKERS = range(1001, 1092)  # actor ids 1001..1091
_CREMA_D_RE = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2})$", re.IGNORECASE)


def load_crema_d(root: str | Path, *, neutral: str | None = None) -> list[Sample]:
    """CREMA-D clips below `root`, one Sample per clip id `AAAA_SSS_EEE_LL`.

    The distribution keeps each format in its own folder (`AudioWAV/*.wav`,
    `AudioMP3/*.mp3`, `VideoFlash/*.flv`, some copies `VideoMP4/*.mp4`); files of one
    clip id are grouped wherever they are. Preferred: .mp4 over .flv for video, .wav over
    .mp3 for audio (the maintainers report blank MP3/FLV files; the WAVs are the
    recordings). Speakers 1001-1091 ("crema-d:1001"); other ids are skipped.
    Labels: ANG anger, DIS disgust, FEA fear, HAP happiness, SAD sadness; NEU is dropped
    unless `neutral` names a label. intensity = LL (LO, MD, HI, XX; an old copy's
    `1040_ITH_SAD_X.wav` is read as XX), statement = SSS. A clone of the GitHub repository
    made without Git LFS holds pointer files instead of media: that raises DatasetError.
    """
    return _load_folder(_crema_d, root, neutral)


def _parse_crema_d(path: Path, kind: str, match: re.Match[str], reading: _Reading) -> _Clip | None:
    actor, sentence, emotion, level = (g.upper() for g in match.groups())
    if level == "X":
        level = "XX"
    if int(actor) not in CREMA_D_SPEAKERS:
        reading.skipped["actor id outside 1001-1091"] += 1
        return None
    label = _coded_label(CREMA_D_EMOTIONS, emotion, reading, "unknown emotion code")
    if label is None:
        return None
    fields = {"label": label, "speaker": f"crema-d:{actor}", "intensity": level, "statement": sentence}
    return _Clip(fields, f"{actor}_{sentence}_{emotion}_{level}")


_crema_d = _clip_reader(
    CREMA_D, _parse_crema_d, pattern=_CREMA_D_RE, what="CREMA-D clips",
    expected="AAAA_SSS_EEE_LL.flv|mp4|wav (e.g. AudioWAV/1001_DFA_ANG_XX.wav, VideoFlash/1001_DFA_ANG_XX.flv)",
)
