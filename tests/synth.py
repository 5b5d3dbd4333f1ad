"""Helpers for the tests: synthetic media written with PyAV, the astronaut's face, a tiny model.

The fixtures in conftest.py call these; tests import the constants to know the answers.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

# --- What the synthetic files contain ----------------------------------------------------
MEDIA_SECONDS = 4.0  # s: one full 3.6 s window plus a 0.4 s tail (too short to annotate)
TONE_HZ = 440.0  # Hz, the sine in the videos' AAC track
WAV_TONE_HZ = 1000.0  # Hz, the sine in the audio-only WAV
TONE_AMPLITUDE = 0.5  # full scale 1.0
AAC_RATE = 44100  # Hz, the videos' audio rate (resampled to 22,050 on reading)
WAV_RATE = 48000  # Hz, the WAV's rate
PLAIN_SIZE = (160, 120)  # (width, height) px of the flat-colour video
PLAIN_FPS = 10
FACE_SIDE = 160  # px, side of the square astronaut video
FACE_FPS = 2  # few frames: MTCNN sees 15 targets per window whatever the rate
GRAY_STEP = 6  # frame i of the flat-colour video is gray level GRAY_STEP * i


def gray_level(frame_index: int) -> int:
    """The gray level of frame `frame_index` of the flat-colour video."""
    return GRAY_STEP * frame_index


def write_media(
    path: Path,
    *,
    duration_s: float = MEDIA_SECONDS,
    frame_fn=None,
    size: tuple[int, int] = PLAIN_SIZE,
    fps: int = PLAIN_FPS,
    audio_fn=None,
    audio_rate: int = AAC_RATE,
    audio_codec: str = "aac",
    preset: str = "ultrafast",
) -> Path:
    """Encode a file with PyAV: H.264 video from `frame_fn(i) -> (H, W, 3) uint8` and/or
    mono audio from `audio_fn(t seconds array) -> samples in [-1, 1]` (None: no stream).
    preset: x264's ("ultrafast" has no B-frames; "veryfast" and slower have them, as cameras' do)."""
    with av.open(str(path), "w") as container:
        video = audio = None
        if frame_fn is not None:
            video = container.add_stream("libx264", rate=fps)
            video.width, video.height = size
            video.pix_fmt = "yuv420p"
            video.options = {"preset": preset, "crf": "18"}
        if audio_fn is not None:
            audio = container.add_stream(audio_codec, rate=audio_rate, layout="mono")
        if video is not None:
            for i in range(round(duration_s * fps)):
                frame = av.VideoFrame.from_ndarray(frame_fn(i), format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, fps)
                for packet in video.encode(frame):
                    container.mux(packet)
            for packet in video.encode():
                container.mux(packet)
        if audio is not None:
            mux_audio(container, audio, audio_fn, 0, round(duration_s * audio_rate))
    return path


def mux_audio(container, stream, audio_fn, first: int, last: int) -> None:
    """Encode `audio_fn(t seconds array)` for samples [first, last) of `stream`'s rate, every channel
    alike, with pts on the file's clock (a late start stays late), and flush the encoder."""
    rate = stream.codec_context.sample_rate
    layout = stream.codec_context.layout
    step = stream.codec_context.frame_size or 1024
    for start in range(first, last, step):
        mono = np.asarray(audio_fn(np.arange(start, min(last, start + step)) / rate), np.float32)
        planar = np.ascontiguousarray(np.repeat(mono[None], layout.nb_channels, axis=0))  # (channels, n)
        frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout=layout.name)
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def sine(freq_hz: float, amplitude: float = TONE_AMPLITUDE):
    return lambda t: amplitude * np.sin(2 * np.pi * freq_hz * t)


def silence(t: np.ndarray) -> np.ndarray:
    return np.zeros_like(t)


def flat_frame(i: int) -> np.ndarray:
    return np.full((PLAIN_SIZE[1], PLAIN_SIZE[0], 3), gray_level(i), np.uint8)


def astronaut_face(side: int = FACE_SIDE) -> np.ndarray:
    """scikit-image's astronaut (public domain), cropped around her face: (side, side, 3) uint8.

    The face fills about 40% of the side, well above MTCNN's 40 px minimum at 160 px.
    """
    from PIL import Image
    from skimage.data import astronaut

    crop = astronaut()[10:220, 120:330]  # (210, 210, 3), the face near the centre
    return np.asarray(Image.fromarray(crop).resize((side, side), Image.BILINEAR))


# --- Models -------------------------------------------------------------------------------

TINY_CONFIG = dict(backbone="tiny", video_channels=(8, 8, 16, 16), audio_channels=(8, 8, 16),
                   fusion_ff=32, hidden=16)


def tiny_model(seed: int = 0):
    """A random EmotionNet small enough for tests (eval mode)."""
    from emoannotate.constants import N_AUDIO_FEATURES
    from emoannotate.model.net import EmotionNet, ModelConfig

    torch.manual_seed(seed)
    model = EmotionNet(ModelConfig(**TINY_CONFIG))
    # Audio features span about -80..+200; standardise them roughly so the random
    # network's outputs are not saturated one-hot probabilities.
    model.audio.set_normalisation(torch.full((N_AUDIO_FEATURES,), -20.0), torch.full((N_AUDIO_FEATURES,), 40.0))
    return model.eval()
