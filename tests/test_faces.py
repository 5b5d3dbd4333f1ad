"""MTCNN face detection on a real face (scikit-image's astronaut) and 224x224 crops."""

import numpy as np
import pytest
from PIL import Image

from emoannotate.constants import FACE_SIZE
from emoannotate.faces import FaceDetector, WindowFaces, crop_face

pytestmark = pytest.mark.slow  # runs MTCNN, on a handful of small frames


def resized(image: np.ndarray, side: int) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((side, side), Image.BILINEAR))


def test_finds_the_astronaut(face_detector: FaceDetector, face_image):
    h, w = face_image.shape[:2]
    faces = face_detector.detect([face_image, face_image])
    assert isinstance(faces, WindowFaces)
    assert faces.mask.tolist() == [True, True]
    assert faces.n_found == 2 and faces.max_faces == 1
    assert faces.crops.shape == (2, FACE_SIZE, FACE_SIZE, 3) and faces.crops.dtype == np.uint8
    x1, y1, x2, y2 = faces.boxes[0]
    assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
    assert (x2 - x1) > 0.25 * w  # the face fills a good part of the frame
    assert faces.crops[0].std() > 10  # a real picture, not a blank
    box = faces.representative_box()
    assert box == pytest.approx(tuple(faces.boxes[0]))


def test_largest_of_two_faces_is_chosen(face_detector, face_image):
    big, small = resized(face_image, 160), resized(face_image, 100)
    canvas = np.full((160, 280, 3), 128, np.uint8)
    canvas[:, :160] = big
    canvas[30:130, 170:270] = small
    faces = face_detector.detect([canvas])
    assert faces.mask.tolist() == [True]
    assert faces.max_faces == 2
    x1, _, x2, _ = faces.boxes[0]
    assert x2 <= 165, "the larger face (left) must be chosen"


def test_noise_and_flat_frames_have_no_face(face_detector):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    flat = np.full((120, 160, 3), 90, np.uint8)
    faces = face_detector.detect([noise, flat])
    assert faces.mask.tolist() == [False, False]
    assert faces.max_faces == 0 and faces.n_found == 0
    assert not faces.crops.any()
    assert np.isnan(faces.boxes).all()
    assert faces.representative_box() is None


def test_none_frames_are_masked(face_detector, face_image):
    frames = [None, face_image, None]
    faces = face_detector.detect(frames)
    assert faces.mask.tolist() == [False, True, False]
    assert not faces.crops[0].any() and not faces.crops[2].any()
    assert np.isnan(faces.boxes[[0, 2]]).all()


def test_all_none_frames(face_detector):
    faces = face_detector.detect([None] * 15)
    assert faces.mask.shape == (15,) and not faces.mask.any()
    assert faces.crops.shape == (15, FACE_SIZE, FACE_SIZE, 3)


def test_large_frames_are_shrunk_for_detection_and_boxes_mapped_back(face_image):
    detector = FaceDetector(detect_max_side=100)
    big = resized(face_image, 320)
    faces = detector.detect([big])
    assert faces.mask.tolist() == [True]
    x1, y1, x2, y2 = faces.boxes[0]
    assert x2 - x1 > 80  # in source pixels of the 320 px frame, not of the 100 px copy
    assert 0 <= x1 and x2 <= 320 and 0 <= y1 and y2 <= 320


def test_representative_box_is_nearest_the_middle():
    mask = np.array([True, False, False, True, False])
    boxes = np.array([[0, 0, 1, 1], [np.nan] * 4, [np.nan] * 4, [3, 3, 4, 4], [np.nan] * 4], np.float32)
    faces = WindowFaces(np.zeros((5, 2, 2, 3), np.uint8), mask, boxes, 1)
    assert faces.representative_box() == (3.0, 3.0, 4.0, 4.0)  # index 3 is nearer index 2


# --- crop_face ------------------------------------------------------------------------------

def test_crop_face_resizes_the_box():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[20:60, 50:90] = 255
    crop = crop_face(frame, np.array([50, 20, 90, 60]))
    assert crop.shape == (FACE_SIZE, FACE_SIZE, 3) and crop.dtype == np.uint8
    assert crop.min() == 255  # exactly the white box


def test_crop_face_clips_to_the_frame():
    frame = np.full((100, 200, 3), 7, np.uint8)
    crop = crop_face(frame, np.array([-30.0, -10.0, 40.0, 50.0]), size=32)
    assert crop.shape == (32, 32, 3)
    assert (crop == 7).all()


def test_crop_face_outside_or_degenerate_box_is_none():
    frame = np.zeros((100, 200, 3), np.uint8)
    assert crop_face(frame, np.array([210.0, 10.0, 260.0, 50.0])) is None  # right of the frame
    assert crop_face(frame, np.array([-50.0, -50.0, -1.0, -1.0])) is None  # above-left
    assert crop_face(frame, np.array([10.0, 10.0, 11.0, 60.0])) is None  # 1 px wide
    assert crop_face(frame, np.array([30.0, 30.0, 20.0, 40.0])) is None  # x2 < x1


# --- Tracking between key frames ---------------------------------------------------------------


def _scene(face_image, xs, *, width=640, side=240):
    """Frames of the astronaut picture (`side` px; her face is about 100 px of it) at horizontal positions
    `xs` (None: not there) on a gray background."""
    face = resized(face_image, side)
    frames = []
    for x in xs:
        frame = np.full((320, width, 3), 128, np.uint8)
        if x is not None:
            frame[40:40 + side, x:x + side] = face
        frames.append(frame)
    return frames


class _Counting:
    """Wraps an MTCNN and counts the frames it searches and the crops its last stage (O-Net) looks at."""

    def __init__(self, mtcnn):
        self.mtcnn, self.frames, self.checked = mtcnn, 0, 0

    def detect(self, batch):
        self.frames += len(batch)
        return self.mtcnn.detect(batch)

    def onet(self, crops):
        assert crops.shape[1:] == (3, 48, 48)
        self.checked += len(crops)
        return self.mtcnn.onet(crops)


@pytest.fixture
def tracking_and_full(face_detector):
    full = FaceDetector(key_every=1)
    tracking = FaceDetector(key_every=7)
    tracking.mtcnn = _Counting(tracking.mtcnn)
    full.mtcnn = face_detector.mtcnn  # the same MTCNN weights, detecting on every frame
    return tracking, full


def test_a_face_that_drifts_is_found_on_three_frames_and_tracked_between(tracking_and_full, face_image):
    from emoannotate.faces import box_iou

    tracking, full = tracking_and_full
    frames = _scene(face_image, [20 + 2 * i for i in range(15)])  # 2 px a frame (0.24 s), 28 px in all
    tracked, detected = tracking.detect(frames), full.detect(frames)
    assert tracking.mtcnn.frames == 3  # frames 0, 7 and 14 only
    assert tracked.mask.all() and detected.mask.all()
    ious = [box_iou(a, b) for a, b in zip(tracked.boxes, detected.boxes)]
    assert min(ious) > 0.85, ious
    assert tracked.max_faces == 1


def test_a_cut_between_key_frames_is_detected_frame_by_frame(tracking_and_full, face_image):
    from emoannotate.faces import box_iou

    tracking, full = tracking_and_full
    xs = [10] * 4 + [390] * 11  # the face jumps between frames 3 and 4: key frames 0 and 7 disagree
    frames = _scene(face_image, xs)
    tracked, detected = tracking.detect(frames), full.detect(frames)
    assert tracking.mtcnn.frames == 3 + 6  # the six frames between 0 and 7 were looked at again
    assert all(box_iou(a, b) > 0.95 for a, b in zip(tracked.boxes, detected.boxes))
    assert tracked.boxes[3][0] < 250 < tracked.boxes[4][0]  # no box was invented half-way across the cut


def test_a_face_that_comes_in_late_is_found_where_it_is(tracking_and_full, face_image):
    tracking, full = tracking_and_full
    frames = _scene(face_image, [None] * 9 + [300] * 6)
    tracked, detected = tracking.detect(frames), full.detect(frames)
    assert tracked.mask.tolist() == detected.mask.tolist() == [False] * 9 + [True] * 6
    assert not np.any(tracked.crops[:9])


def _swing(face_image, xs):
    """The astronaut at positions xs, each frame checked against MTCNN run on every frame."""
    return _scene(face_image, xs, width=900)


def test_a_face_that_moves_fast_is_followed_by_onet_not_searched_for(tracking_and_full, face_image):
    from emoannotate.faces import box_iou

    tracking, full = tracking_and_full
    frames = _swing(face_image, [20 + 35 * i for i in range(15)])  # 35 px a frame: key frames' boxes apart
    tracked, detected = tracking.detect(frames), full.detect(frames)
    assert tracking.mtcnn.frames == 3  # MTCNN searched the key frames only
    assert tracking.mtcnn.checked >= 12  # O-Net followed the face through the 12 frames between
    assert tracked.mask.all()
    ious = [box_iou(a, b) for a, b in zip(tracked.boxes, detected.boxes)]
    assert min(ious) > 0.8, ious


def test_a_face_that_moves_away_and_back_between_key_frames_is_not_interpolated(tracking_and_full, face_image):
    from emoannotate.faces import box_iou

    tracking, full = tracking_and_full
    xs = [300, 340, 380, 420, 380, 340, 300, 300, 300, 260, 220, 180, 220, 260, 300]  # 0, 7, 14 agree
    frames = _swing(face_image, xs)
    tracked, detected = tracking.detect(frames), full.detect(frames)
    ious = [box_iou(a, b) for a, b in zip(tracked.boxes, detected.boxes)]
    assert min(ious) > 0.8, ious  # the interpolated line (x = 300 throughout) would be at 0.5 in frames 3, 11
    assert tracking.mtcnn.frames == 3


def test_two_faces_moving_apart_are_followed_each(tracking_and_full, face_image):
    from emoannotate.faces import box_iou

    tracking, full = tracking_and_full
    face = resized(face_image, 200)
    frames = []
    for i in range(15):
        frame = np.full((320, 1000, 3), 128, np.uint8)
        frame[40:240, 300 - 20 * i:500 - 20 * i] = face
        frame[60:260, 500 + 20 * i:700 + 20 * i] = face
        frames.append(frame)
    tracked, detected = tracking.track(frames), full.track(frames)
    assert len(tracked) == len(detected) == 2
    assert tracking.mtcnn.frames == 3
    for a, b in zip(sorted(tracked, key=lambda f: f.boxes[0][0]), sorted(detected, key=lambda f: f.boxes[0][0])):
        assert a.mask.all()
        assert min(box_iou(x, y) for x, y in zip(a.boxes, b.boxes)) > 0.8
