"""The default face detector, MTCNN on LiteRT (``common.faces.mtcnn_litert``), finds the faces that the ``mtcnn``
package finds, with its confidences, and stage 02 runs it without loading TensorFlow.

The frames in ``tests/data/mtcnn`` are the demo generator's (``00-make-demo-videos.py`` with its default
seed, sampled by stage 01 with ``configs/demo.yaml``) shrunk to 384 x 384, and two of them side by side at
640 x 320, saved at JPEG quality 75; ``faces.json`` holds what mtcnn 1.0.0 found in each
(``x, y, width, height, confidence``), so the comparison does not rest on the package alone.
"""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import run_without_tensorflow

from common.core.config import DEFAULTS
from common.faces.base import Face
from common.faces.detection import MTCNNDetector, build_detector, faces_with_tracks
from common.faces.mtcnn_litert import MTCNNLiteRT, Network, load_weights, pnet_model, pyramid, suppress

DATA = Path(__file__).resolve().parent / "data" / "mtcnn"
PREPROCESS = DEFAULTS["preprocess"]
SAME_BOX, SAME_CONFIDENCE = 0.9, 0.01  # a face is the same: box IoU at least, confidence within


def overlap(a, b):
    """Intersection over union of two ``(x, y, width, height)`` boxes."""
    width = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    height = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return width * height / (a[2] * a[3] + b[2] * b[3] - width * height)


def assert_same_faces(found, expected):
    """Every expected face is found and every face found is expected (same box, same confidence)."""

    def same(face, other):
        return (
            overlap(face.box, other.box) >= SAME_BOX
            and abs(face.confidence - other.confidence) <= SAME_CONFIDENCE
        )

    assert all(any(same(face, other) for other in found) for face in expected), (found, expected)
    assert all(any(same(face, other) for other in expected) for face in found), (found, expected)


@pytest.fixture(scope="module")
def frames():
    """The committed frames, RGB, by file name."""
    return {
        path.name: cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        for path in sorted(DATA.glob("*.jpg"))
    }


@pytest.fixture(scope="module")
def detector():
    return build_detector(PREPROCESS)


def test_the_default_detector_is_mtcnn_on_litert(detector):
    assert PREPROCESS["detector"] == "mtcnn" and isinstance(detector, MTCNNLiteRT)


def test_finds_the_stored_faces_of_the_committed_frames(detector, frames):
    stored = json.loads((DATA / "faces.json").read_text())
    assert sorted(stored) == sorted(frames) and sum(map(len, stored.values())) == 7
    for name, frame in frames.items():
        (found,) = detector.detect([frame])
        assert_same_faces(found, [Face(tuple(face[:4]), face[4]) for face in stored[name]])


def test_finds_the_faces_the_mtcnn_package_finds_and_keeps_the_same_ones(detector, frames):
    package = MTCNNDetector(PREPROCESS)
    for name, frame in frames.items():
        (expected,), (found,) = package.detect([frame]), detector.detect([frame])
        assert_same_faces(found, expected)
        # the admission rules keep the same faces, by the same rule, with the same crops
        bgr = [cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)]
        (kept,), _ = faces_with_tracks(bgr, detector, PREPROCESS)
        (kept_before,), _ = faces_with_tracks(bgr, package, PREPROCESS)
        assert [(face.admitted_by, crop.shape) for face, crop in kept] == [
            (face.admitted_by, crop.shape) for face, crop in kept_before
        ], name


def test_a_batch_of_frames_gives_each_frame_the_faces_it_gets_alone(detector, frames):
    batch = [frames[name] for name in sorted(frames)] * 3  # frames of two sizes, interleaved
    alone = {name: detector.detect([frame])[0] for name, frame in frames.items()}
    together = detector.detect(batch)
    assert together == [alone[name] for name in sorted(frames)] * 3


def test_frames_without_a_face_give_no_face(detector):
    blank = np.full((240, 320, 3), 127, np.uint8)
    noise = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    assert detector.detect([blank, noise]) == [[], []]


def test_frames_of_many_sizes_keep_a_bounded_number_of_interpreters():
    network = Network(pnet_model(load_weights("pnet")), threads=1, kept=3)
    frames = [
        np.random.default_rng(size).standard_normal((1, size, size, 3), np.float32) for size in range(12, 18)
    ]
    first = network(frames[0])
    for frame in frames[1:]:
        network(frame)
    assert network.shapes() == [frame.shape for frame in frames[-3:]]
    assert all(np.array_equal(a, b) for a, b in zip(network(frames[0]), first))  # built again, same outputs


def test_a_box_overlapping_only_a_dropped_box_is_still_dropped():
    # the package's rule: a box goes when any better box overlaps it, whether that one was kept or not
    rows = np.array(
        [
            [0, 0, 0, 10, 10, 0.9],
            [0, 3, 0, 13, 10, 0.8],  # IoU 0.54 with the first: dropped
            [0, 6, 0, 16, 10, 0.7],  # IoU 0.54 with the second only: dropped too
            [1, 6, 0, 16, 10, 0.6],  # another frame: kept
        ]
    )
    assert suppress(rows, 0.5).tolist() == [rows[0].tolist(), rows[3].tolist()]


def test_the_pyramid_leaves_out_levels_too_small_for_p_net():
    # the package fails on a level under 11 px and then reports no face in the whole batch
    assert [rows for _, rows, _ in pyramid(356, 634, 20)] == [213, 151, 107, 76, 53, 38, 27, 19, 13]
    assert min(rows for _, rows, _ in pyramid(356, 634, 40)) >= 11


def test_stage_02_crops_faces_without_loading_tensorflow(tmp_path):
    from tools.demo import make_demo_videos

    make_demo_videos(tmp_path / "videos", n_real=1, seconds=1.0, fps=2.0, seed=3)
    code = (
        "import sys\nfrom common.stages import crop_faces, extract_frames\n"
        f"videos, frames, faces = {str(tmp_path / 'videos')!r}, {str(tmp_path / 'frames')!r}, "
        f"{str(tmp_path / 'faces')!r}\n"
        "extract_frames.main(['--input', videos, '--output', frames, "
        "'--dataset', 'dfdc'])\n"
        "crop_faces.main(['--input', frames, '--output', faces])\n"
    )
    run_without_tensorflow(code)
    assert len(list((tmp_path / "faces" / "faces").rglob("*.jpg"))) >= 2  # a real and a fake clip
