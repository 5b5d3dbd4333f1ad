"""Labelled samples from emotion corpora laid out as their authors distribute them.

Each loader walks a folder, reads labels from file and folder names, and returns a sorted
list of `Sample` records; nothing is decoded here. Splits are deterministic and, except
`random_split`, speaker-independent.

Layouts (see each loader's docstring for the details a user may trip over):

    ravdess          Actor_NN/MM-VV-EE-II-SS-RR-AA.mp4|wav|flac
    ravdess-windows  Actor_NN/<trial id>/{faces/NN.jpg, audio.wav}
    crema-d          AudioWAV/AAAA_SSS_EEE_LL.wav, VideoFlash/AAAA_SSS_EEE_LL.flv
    emodb            wav/SSTTTEV.wav                   (German speech, 10 speakers)
    enterface        subject N/<emotion>/sentence M/sN_xx_M.avi
    rml              sN/[<language>/]<xx><n>.avi      (xx: an di fe ha sa su)
    generic          a CSV of path,label[,speaker], or <emotion>/ or <speaker>/<emotion>/
    fer2013          <emotion>/{Training,PublicTest,PrivateTest}_<id>.jpg   (48x48 face crops)
    london-faces     neutral/NNN_03.jpg, smiling/NNN_08.jpg                  (102 people)
    muxspace         data/legend.csv + images/<First_Last_NNNN>.jpg          (news photos)

Neutral clips: the paper excluded them, and so does every loader by default. Pass
`neutral="calm"` (or any label of EMOTIONS) to keep them under that label.

Modules: `_common` (Sample, label tables, the shared reader), one per corpus (`ravdess`,
`crema_d`, `emodb`, `enterface`, `rml`, `generic`), `_layout` (specs, detection, dispatch) and
`splits`. Nothing here imports torch or media code.
"""

from ._common import (
    CREMA_D,
    CREMA_D_EMOTIONS,
    DATASET_NAMES,
    EMODB,
    EMODB_EMOTIONS,
    EMOTION_CODES,
    ENTERFACE,
    FER2013,
    GENERIC,
    IMAGE_EXTENSIONS,
    LABEL_ALIASES,
    LONDON_FACES,
    MUXSPACE,
    NEUTRAL,
    RAVDESS,
    RAVDESS_EMOTIONS,
    RAVDESS_WINDOWS,
    RML,
    UNKNOWN_SPEAKER,
    Sample,
)
from ._layout import detect_layout, load_dataset, portable_spec
from .crema_d import CREMA_D_SPEAKERS, load_crema_d
from .emodb import EMODB_SPEAKERS, load_emodb
from .enterface import load_enterface
from .generic import load_generic
from .ravdess import load_ravdess, load_ravdess_windows
from .rml import load_rml
from .splits import Split, kfold_by_speaker, make_split, random_split, split_by_speaker, summarise_speakers

__all__ = [
    "CREMA_D",
    "CREMA_D_EMOTIONS",
    "CREMA_D_SPEAKERS",
    "DATASET_NAMES",
    "EMODB",
    "EMODB_EMOTIONS",
    "EMODB_SPEAKERS",
    "EMOTION_CODES",
    "ENTERFACE",
    "FER2013",
    "GENERIC",
    "IMAGE_EXTENSIONS",
    "LABEL_ALIASES",
    "LONDON_FACES",
    "MUXSPACE",
    "NEUTRAL",
    "RAVDESS",
    "RAVDESS_EMOTIONS",
    "RAVDESS_WINDOWS",
    "RML",
    "UNKNOWN_SPEAKER",
    "Sample",
    "Split",
    "detect_layout",
    "portable_spec",
    "kfold_by_speaker",
    "load_crema_d",
    "load_emodb",
    "load_dataset",
    "load_enterface",
    "load_generic",
    "load_ravdess",
    "load_ravdess_windows",
    "load_rml",
    "make_split",
    "random_split",
    "split_by_speaker",
    "summarise_speakers",
]
