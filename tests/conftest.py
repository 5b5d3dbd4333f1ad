"""Shared fixtures: small synthetic media, the MTCNN detector and a tiny random checkpoint.

Everything expensive (encoding, the detector, the checkpoint) is session-scoped. The media
are small on purpose: 160x120 or 160x160 frames, 2 to 10 fps, 4 s (see synth.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from synth import (
    FACE_FPS,
    FACE_SIDE,
    TONE_HZ,
    WAV_RATE,
    WAV_TONE_HZ,
    astronaut_face,
    flat_frame,
    silence,
    sine,
    tiny_model,
    write_media,
)

# The tests' tensors are small: one intra-op thread is as fast, and on a busy shared machine
# far faster than threads that spin waiting for each other.
torch.set_num_threads(1)


# --- Media files (one session folder) -------------------------------------------------------

@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def face_image() -> np.ndarray:
    return astronaut_face()


@pytest.fixture(scope="session")
def tone_video(media_dir) -> Path:
    """160x120 at 10 fps, 4.0 s, frame i flat gray GRAY_STEP*i; AAC 44.1 kHz 440 Hz sine. No face."""
    return write_media(media_dir / "tone.mp4", frame_fn=flat_frame, audio_fn=sine(TONE_HZ))


@pytest.fixture(scope="session")
def video_without_audio(media_dir, face_image) -> Path:
    """The astronaut at 2 fps, 4.0 s, without any audio stream."""
    return write_media(media_dir / "face_no_audio.mp4", frame_fn=lambda i: face_image,
                       size=(FACE_SIDE, FACE_SIDE), fps=FACE_FPS)


@pytest.fixture(scope="session")
def silent_video(media_dir, face_image) -> Path:
    """The astronaut at 2 fps, 4.0 s, with an AAC track of digital silence."""
    return write_media(media_dir / "face_silent.mp4", frame_fn=lambda i: face_image,
                       size=(FACE_SIDE, FACE_SIDE), fps=FACE_FPS, audio_fn=silence)


@pytest.fixture(scope="session")
def face_video(media_dir, face_image) -> Path:
    """The astronaut at 2 fps, 4.0 s, with the 440 Hz AAC tone: both modalities."""
    return write_media(media_dir / "face_tone.mp4", frame_fn=lambda i: face_image,
                       size=(FACE_SIDE, FACE_SIDE), fps=FACE_FPS, audio_fn=sine(TONE_HZ))


@pytest.fixture(scope="session")
def audio_wav(media_dir) -> Path:
    """Audio only: 4.0 s of a 1 kHz sine, 16-bit PCM WAV at 48 kHz mono."""
    return write_media(media_dir / "tone.wav", audio_fn=sine(WAV_TONE_HZ), audio_rate=WAV_RATE,
                       audio_codec="pcm_s16le")


@pytest.fixture(scope="session")
def empty_file(media_dir) -> Path:
    path = media_dir / "empty.mp4"
    path.write_bytes(b"")
    return path


@pytest.fixture(scope="session")
def corrupt_file(media_dir) -> Path:
    path = media_dir / "corrupt.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return path


@pytest.fixture(scope="session")
def all_media(tone_video, video_without_audio, silent_video, face_video, audio_wav, empty_file,
              corrupt_file) -> dict[str, Path]:
    """Every synthetic file by a short name."""
    return {"tone": tone_video, "no_audio": video_without_audio, "silent": silent_video,
            "face": face_video, "wav": audio_wav, "empty": empty_file, "corrupt": corrupt_file}


# --- Models -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """Path of a saved random tiny EmotionNet (.safetensors)."""
    from emoannotate.checkpoint import save_checkpoint

    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    return save_checkpoint(tiny_model(), path, info={"summary": "random tiny model for tests"})


@pytest.fixture(scope="session")
def face_detector():
    """One MTCNN for the session (its start-up costs about two seconds)."""
    from emoannotate.faces import FaceDetector

    return FaceDetector(device="cpu")
