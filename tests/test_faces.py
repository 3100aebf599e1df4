from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest
from conftest import SequenceDetector

from common.core.config import DEFAULTS
from common.faces.base import Face
from common.faces.detection import crop_with_margin, faces_with_tracks

PREPROCESS = DEFAULTS["preprocess"]


def faces_in_frames(frames, detector, preprocess):
    """The kept faces and crops of each frame of one video."""
    return faces_with_tracks(frames, detector, preprocess)[0]


def test_margin_is_thirty_percent_of_box_on_each_side():
    # box 40 wide, 60 high: 12 px more left and right, 18 px more above and below
    assert crop_with_margin((100, 50, 40, 60), (480, 640, 3), 0.3) == (88, 32, 152, 128)


def test_margin_is_clipped_to_the_frame():
    assert crop_with_margin((5, 4, 40, 60), (70, 50, 3), 0.3) == (0, 0, 50, 70)


class FixedDetector:
    """A stand-in detector returning the same faces for every frame."""

    def __init__(self, faces):
        self.faces = faces

    def detect(self, frames_rgb):
        return [list(self.faces) for _ in frames_rgb]


def test_every_confident_face_is_kept_and_weak_ones_dropped():
    frame = np.zeros((200, 300, 3), np.uint8)
    faces = [Face((10, 10, 50, 50), 0.99), Face((150, 40, 60, 80), 0.97), Face((100, 100, 40, 40), 0.5)]
    (kept,) = faces_in_frames([frame], FixedDetector(faces), PREPROCESS)
    assert [face.confidence for face, _ in kept] == [0.99, 0.97]
    assert kept[1][1].shape == (128, 96, 3)  # 80 + 2 * 24 rows, 60 + 2 * 18 columns


@pytest.fixture(scope="module")
def mtcnn(mtcnn_detector):
    return mtcnn_detector  # built with DEFAULTS["preprocess"], this module's PREPROCESS


def test_mtcnn_finds_the_face_in_a_shipped_photo(mtcnn):
    photo = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    (found,) = faces_in_frames([photo], mtcnn, PREPROCESS)
    assert len(found) == 1
    face, crop = found[0]
    x, y, w, h = face.box
    assert face.confidence >= 0.95
    assert 150 < x + w / 2 < 380 and 100 < y + h / 2 < 350 and w > 100  # her face, not the background
    assert crop.shape[0] > h and crop.shape[1] > w


def test_mtcnn_finds_nothing_in_a_blank_frame(mtcnn):
    (found,) = faces_in_frames([np.full((240, 320, 3), 127, np.uint8)], mtcnn, PREPROCESS)
    assert found == []


@pytest.mark.parametrize(
    ("confidences", "kept", "rules"),
    [
        ([0.85], [0.85], ["lone_face"]),  # a frame's only detection: the lower floor
        ([0.97], [0.97], ["confidence"]),
        ([0.7], [], []),  # below the floor even alone, and no track to continue
        ([0.99, 0.85], [0.99], ["confidence"]),  # beside another detection the 0.95 rule holds
        ([0.85, 0.65], [0.85], ["lone_face"]),  # the only detection above the lone floor
    ],
)
def test_a_lone_detection_is_kept_at_a_lower_floor_and_says_which_rule_kept_it(confidences, kept, rules):
    faces = [Face((20 + 90 * i, 20, 50, 50), confidence) for i, confidence in enumerate(confidences)]
    (found,) = faces_in_frames([np.zeros((200, 300, 3), np.uint8)], FixedDetector(faces), PREPROCESS)
    assert [face.confidence for face, _ in found] == kept
    assert [face.admitted_by for face, _ in found] == rules


def test_weak_detections_that_continue_a_kept_face_track_are_kept_and_a_weak_track_alone_is_not():
    face = (100, 40, 50, 60)
    confidences = [0.9, 0.7, 0.62, 0.5, 0.97]  # the face dims, then shows again
    per_frame = [
        [Face((face[0] + 2 * i, face[1], 50, 60), c), Face((10, 120, 40, 40), 0.7)]
        for i, c in enumerate(confidences)
    ]
    frames = [np.zeros((200, 300, 3), np.uint8) for _ in per_frame]
    faces, tracks = faces_with_tracks(frames, SequenceDetector(per_frame), PREPROCESS)
    kept = [[(f.confidence, f.admitted_by) for f, _ in frame] for frame in faces]
    assert kept == [
        [(0.9, "lone_face")],
        [(0.7, "track")],
        [(0.62, "track")],
        [],  # under track_min_confidence (0.6)
        [(0.97, "confidence")],
    ]
    assert tracks == [[0], [0], [0], [], [0]]  # the weak box at (10, 120) never reached a floor alone


def test_frames_are_shrunk_for_detection_and_cropped_at_full_size():
    frame = np.zeros((1080, 1920, 3), np.uint8)
    frame[400:600, 800:960] = 255  # the "face", in full-frame pixels
    detector = SequenceDetector([[Face((400, 200, 80, 100), 0.99)]])  # found at half size
    preprocess = {**PREPROCESS, "detect_max_width": 960}
    ((face, crop),) = faces_in_frames([frame], detector, preprocess)[0]
    assert detector.sizes == [(540, 960, 3)]
    assert face.box == (800, 400, 160, 200)
    assert crop.shape == (320, 256, 3)  # 200 + 2 * 60 rows, 160 + 2 * 48 columns of the full frame
    assert crop[60:260, 48:208].min() == 255


def test_frames_no_wider_than_the_detection_width_are_detected_as_they_are():
    detector = SequenceDetector([[]])
    faces_in_frames([np.zeros((360, 640, 3), np.uint8)], detector, {**PREPROCESS, "detect_max_width": 1000})
    assert detector.sizes == [(360, 640, 3)]


def test_no_crop_from_frames_without_a_face(mtcnn):
    from skimage import data

    scenes = [data.coffee(), data.rocket(), data.brick(), data.grass(), data.gravel(), data.chelsea()]
    rng = np.random.default_rng(0)
    frames = [
        cv2.resize(scene if scene.ndim == 3 else np.stack([scene] * 3, -1), (512, 384)) for scene in scenes
    ]
    frames.append(rng.integers(0, 255, (384, 512, 3), dtype=np.uint8))
    assert faces_in_frames(frames, mtcnn, PREPROCESS) == [[] for _ in frames]


DFDC = Path(__file__).resolve().parents[2] / "shared" / "data" / "dfdc_samples" / "abofeumbvv.mp4"


@pytest.mark.skipif(not DFDC.is_file(), reason="the DFDC sample clips are not on this machine")
@pytest.mark.parametrize("count", [10, 32])  # stage 01 at 1 frame/s; stage 05's default
def test_the_dim_dfdc_clip_gets_a_face_in_most_sampled_frames(mtcnn, count):
    from common.io.video import evenly_spaced, scaled_frames

    _, _, frames = scaled_frames(DFDC, lambda info: evenly_spaced(info.frame_count, count))
    frames = [frame for _, frame in frames if frame is not None]
    faces, tracks = faces_with_tracks(frames, mtcnn, PREPROCESS)
    assert sum(bool(found) for found in faces) >= 0.8 * len(frames)  # 31 of 32 measured, 21 before tracks
    assert all(ids in ([], [0]) for ids in tracks)  # one person in the room: one face, one track, no junk


@pytest.fixture(scope="module")
def blazeface():
    from common.core.config import load_config
    from common.faces.detection import build_detector

    preprocess = load_config(Path(__file__).resolve().parents[1] / "configs" / "blazeface.yaml")["preprocess"]
    return build_detector(preprocess), preprocess


def test_blazeface_finds_the_face_in_a_shipped_photo_where_mtcnn_does(blazeface, mtcnn):
    detector, preprocess = blazeface
    photo = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    ((face, _),), ((reference, _),) = (
        faces_in_frames([photo], d, p)[0] for d, p in ((detector, preprocess), (mtcnn, PREPROCESS))
    )
    centre = np.array(face.box[:2]) + np.array(face.box[2:]) / 2
    reference_centre = np.array(reference.box[:2]) + np.array(reference.box[2:]) / 2
    assert np.abs(centre - reference_centre).max() < 0.2 * reference.box[2]  # the same face
    assert 0.6 < face.box[2] / reference.box[2] < 1.6


def test_blazeface_crops_nothing_from_frames_without_a_face(blazeface):
    from skimage import data

    detector, preprocess = blazeface
    scenes = [data.coffee(), data.rocket(), data.brick(), data.grass(), data.gravel(), data.chelsea()]
    frames = [
        cv2.resize(scene if scene.ndim == 3 else np.stack([scene] * 3, -1), (512, 384)) for scene in scenes
    ]
    assert faces_in_frames(frames, detector, preprocess) == [[] for _ in frames]


@pytest.mark.skipif(not DFDC.is_file(), reason="the DFDC sample clips are not on this machine")
def test_blazeface_finds_the_face_of_the_dim_dfdc_clip_in_most_sampled_frames(blazeface):
    from common.io.video import evenly_spaced, scaled_frames

    detector, preprocess = blazeface
    _, _, frames = scaled_frames(DFDC, lambda info: evenly_spaced(info.frame_count, 32))
    found = faces_in_frames([frame for _, frame in frames if frame is not None], detector, preprocess)
    assert sum(len(faces) == 1 for faces in found) >= 0.8 * len(found)  # 27 of 32 measured
