"""The committed sample clips open with PyAV and have the streams and lengths we promise.

They are made by scripts/make_sample_videos.py (see sample_videos/README.md); faces are
checked there with --check, not here, so this module stays fast.
"""

from pathlib import Path

import av
import pytest

SAMPLES = Path(__file__).resolve().parent.parent / "sample_videos"
DURATION_TOLERANCE = 0.3  # s
MAX_FOLDER_BYTES = 3 * 1024 * 1024

# name: (duration s, (width, height) or None for no video stream, (rate Hz, channels) or None
# for no audio stream)
EXPECTED = {
    "astronaut_speech.mp4": (8.0, (640, 480), (22050, 1)),
    "hopper_speech.mkv": (5.0, (512, 640), (44100, 2)),
    "astronaut_silent.mp4": (4.0, (640, 360), None),
    "no_face_speech.mp4": (4.0, (640, 480), (22050, 1)),
    "speech_only.wav": (3.0, None, (22050, 1)),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_clip_streams_and_duration(name):
    duration_s, video, audio = EXPECTED[name]
    with av.open(str(SAMPLES / name)) as container:
        assert container.duration is not None, f"{name}: no duration in the container"
        assert container.duration / av.time_base == pytest.approx(
            duration_s, abs=DURATION_TOLERANCE
        )
        videos, audios = container.streams.video, container.streams.audio
        if video is None:
            assert len(videos) == 0
        else:
            assert len(videos) == 1
            assert (videos[0].width, videos[0].height) == video
            assert videos[0].codec_context.name == "h264"
            first = next(container.decode(video=0))
            assert (first.width, first.height) == video
        if audio is None:
            assert len(audios) == 0, f"{name} must have no audio stream at all"
        else:
            assert len(audios) == 1
            assert (audios[0].rate, audios[0].channels) == audio


def test_folder_holds_only_the_expected_clips_and_stays_small():
    media = {p.name for p in SAMPLES.iterdir() if p.suffix != ".md"}
    assert media == set(EXPECTED)
    total = sum(p.stat().st_size for p in SAMPLES.iterdir())
    assert total < MAX_FOLDER_BYTES, f"sample_videos/ holds {total} bytes"
