"""Face tracks: one person across a video's frames, and a video that is fake when any person in it is."""

from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pandas as pd
import pytest
from skimage import data

from common.core.config import DEFAULTS
from common.evaluation.aggregate import track_scores, video_scores
from common.faces.detection import crop_video_faces
from common.faces.tracks import iou, link_tracks


def test_overlap_of_boxes():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0


def test_two_people_keep_their_track_ids_through_movement_a_miss_and_a_swap_of_detector_order():
    left, right = (10, 10, 50, 60), (200, 12, 48, 58)
    frames = [
        [left, right],
        [(216, 14, 48, 58), (14, 12, 50, 60)],  # the detector lists them the other way round
        [(20, 14, 50, 60)],  # the right person is not found in this frame
        [(224, 16, 48, 58), (24, 16, 50, 60)],
    ]
    assert link_tracks(frames) == [[0, 1], [1, 0], [0], [1, 0]]


def test_a_face_that_appears_elsewhere_starts_a_new_track():
    assert link_tracks([[(0, 0, 40, 40)], [(300, 0, 40, 40)], [(2, 0, 40, 40)]]) == [[0], [1], [0]]


def two_people(p_fake):
    """Face scores of a video of 4 frames with two people in each: person 0's and person 1's faces in turn."""
    return pd.DataFrame(
        {"video": "v", "frame_index": [0, 0, 1, 1, 2, 2, 3, 3], "track_id": [0, 1] * 4, "p_fake": p_fake}
    )


def test_a_video_is_fake_when_any_of_its_people_is():
    # person 0 real in every frame, person 1 (another face in the same frames) fake in every frame
    faces = two_people([0.1, 0.8, 0.2, 0.9, 0.1, 0.7, 0.2, 0.8])
    tracks = track_scores(faces, "vote", 0.5)
    assert tracks["verdict"].tolist() == ["REAL", "FAKE"]
    assert tracks["fake_probability"].tolist() == pytest.approx([0.15, 0.8])
    (video,) = video_scores(faces, "vote", 0.5).to_dict("records")
    assert video["verdict"] == "FAKE" and video["tracks"] == 2
    assert video["fake_probability"] == pytest.approx(0.8)  # the fake person's P(fake)
    # a real majority of faces does not hide the fake person: pooled faces would vote 4 of 8 fake
    one_track = video_scores(faces.assign(track_id=0), "mean", 0.5).iloc[0]
    assert one_track["fake_probability"] == pytest.approx(0.475) and one_track["verdict"] == "REAL"


def two_person_frames(count=4):
    """Frames of two different people side by side, drifting a few pixels per frame."""
    hopper = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[20:300, 120:360]
    people = [cv2.resize(hopper[60:420, 90:450], (240, 240)), cv2.resize(astronaut, (240, 280))]
    frames = []
    for step in range(count):
        canvas = np.full((360, 640, 3), 90, np.uint8)
        canvas[40 + 2 * step : 280 + 2 * step, 30 + 3 * step : 270 + 3 * step] = people[0]
        canvas[50 - step : 330 - step, 360 - 2 * step : 600 - 2 * step] = people[1]
        frames.append(canvas)
    return frames


def test_stage_02_gives_each_of_two_people_one_track_on_a_generated_clip(tmp_path, mtcnn_detector):
    rows = []
    for index, frame in enumerate(two_person_frames()):
        path = f"frames/real/two/f{index:06d}.jpg"
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / path), frame)
        rows.append({"video_id": "two", "label": 0, "frame_index": index, "path": path})
    faces = pd.DataFrame(
        crop_video_faces(rows, tmp_path, tmp_path / "out", mtcnn_detector, DEFAULTS["preprocess"])
    )
    faces = faces[faces["face_index"] >= 0]
    assert len(faces) == 8 and sorted(faces["track_id"].unique()) == [0, 1]
    for _, track in faces.groupby("track_id"):
        assert track["frame_index"].tolist() == [0, 1, 2, 3]  # one face per frame: one person
        assert track["box_x"].max() - track["box_x"].min() < 40  # and it stays on its side


def test_a_person_who_moved_between_sparse_samples_stays_one_track():
    # frames seconds apart: the face moved 1.5 box widths (no overlap left), at about the same size
    moved = [[(100, 100, 80, 90)], [(220, 104, 80, 90)], [(100, 96, 78, 88)]]
    assert link_tracks(moved) == [[0], [0], [0]]
    # but a face of another size there, or one much farther away, is someone else
    assert link_tracks([[(100, 100, 80, 90)], [(220, 104, 160, 180)]]) == [[0], [1]]
    assert link_tracks([[(100, 100, 80, 90)], [(400, 104, 80, 90)]]) == [[0], [1]]


def test_two_people_side_by_side_stay_two_tracks_when_both_move():
    # centres 1.4 box widths apart, both drifting by half a box width between samples
    frames = [
        [(100, 100, 80, 90), (212, 100, 80, 90)],
        [(252, 102, 80, 90), (140, 102, 80, 90)],  # listed the other way round
        [(180, 104, 80, 90), (292, 104, 80, 90)],
    ]
    assert link_tracks(frames) == [[0, 1], [1, 0], [0, 1]]


def one_person_with_a_spurious_detection():
    """A real one-person video: 31 frames of the person at P(fake) 0.1, and in one of them a spurious
    detection elsewhere at 0.6 (its own track)."""
    person = pd.DataFrame({"video": "v", "frame_index": range(31), "track_id": 0, "p_fake": 0.1})
    spurious = pd.DataFrame({"video": "v", "frame_index": [7], "track_id": [1], "p_fake": [0.6]})
    return pd.concat([person, spurious], ignore_index=True)


@pytest.mark.parametrize("video_score", ["track_max", "frame_mean"])
def test_a_track_seen_in_one_frame_does_not_decide_the_video(video_score):
    faces = one_person_with_a_spurious_detection()
    tracks = track_scores(faces, "vote", 0.5, min_share=0.25)
    assert tracks["decides"].tolist() == [True, False]
    (video,) = video_scores(faces, "vote", 0.5, video_score, min_share=0.25).to_dict("records")
    assert video["verdict"] == "REAL" and video["fake_probability"] == pytest.approx(0.1)
    assert video["tracks"] == 2 and video["frames"] == 31
    # without a minimum support (the behaviour before it), that one detection made the video FAKE at 0.6
    assert video_scores(faces, "vote", 0.5, "track_max", min_share=0.0).iloc[0]["fake_probability"] == 0.6


def test_with_no_track_seen_often_enough_the_longest_decides():
    faces = pd.DataFrame({"video": "v", "frame_index": [0, 1, 2, 3, 4], "track_id": [0, 0, 1, 2, 3]})
    faces["p_fake"] = [0.2, 0.2, 0.9, 0.9, 0.9]
    assert track_scores(faces, min_share=0.5)["decides"].tolist() == [True, False, False, False]
    (video,) = video_scores(faces, min_share=0.5).to_dict("records")
    assert video["verdict"] == "REAL" and video["fake_probability"] == pytest.approx(0.2)


def test_track_max_calls_a_video_fake_for_one_fake_person_frame_mean_averages_its_frames():
    # two people in every frame: person 0 real (0.1), person 1 fake in 3 of 4 frames
    faces = two_people([0.1, 0.9, 0.1, 0.8, 0.1, 0.7, 0.1, 0.2])
    (by_track,) = video_scores(faces, "vote", 0.5, "track_max").to_dict("records")
    assert by_track["verdict"] == "FAKE" and by_track["fake_probability"] == pytest.approx(0.65)
    # DeepfakeBench's rule: the mean of the frame scores, a frame scoring its most fake face
    (by_frame,) = video_scores(faces, "mean", 0.5, "frame_mean").to_dict("records")
    assert by_frame["fake_probability"] == pytest.approx(0.65) and by_frame["verdict"] == "FAKE"
    # the two rules part when the fake person is seen in only some frames (here 2 of 4): frame_mean dilutes it
    partly = pd.concat([faces[faces["track_id"] == 0], faces[(faces["track_id"] == 1)].iloc[:2]])
    track_max = video_scores(partly, "vote", 0.5, "track_max").iloc[0]
    frame_mean = video_scores(partly, "vote", 0.5, "frame_mean").iloc[0]
    assert track_max["verdict"] == "FAKE" and track_max["fake_probability"] == pytest.approx(0.85)
    assert frame_mean["fake_probability"] == pytest.approx((0.9 + 0.8 + 0.1 + 0.1) / 4)
    assert frame_mean["verdict"] == "REAL"  # 2 of 4 frames fake: a tie, broken by the mean, 0.475
