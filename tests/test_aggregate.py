"""From face scores to frame scores to a video verdict (scores are P(fake))."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss

from common.core.errors import UserError
from common.evaluation.aggregate import frame_scores, video_scores, video_verdict


@pytest.mark.parametrize(
    "scores, method, threshold, verdict",
    [
        ([0.9, 0.8, 0.2, 0.7], "vote", 0.5, "FAKE"),  # 3 of 4 frames fake
        ([0.1, 0.2, 0.6, 0.3], "vote", 0.5, "REAL"),
        ([0.9, 0.8, 0.2, 0.7], "vote", 0.85, "REAL"),  # the threshold is per frame
        ([0.5, 0.5, 0.5], "vote", 0.5, "FAKE"),  # a score equal to the threshold counts as fake
        ([0.9, 0.8, 0.2, 0.7], "mean", 0.5, "FAKE"),
        ([0.9, 0.8, 0.2, 0.7], "mean", 0.7, "REAL"),
        ([0.1, 0.2, 0.6], "max", 0.5, "FAKE"),
        ([0.1, 0.2, 0.6], "max", 0.7, "REAL"),
        ([0.3], "mean", 0.3, "FAKE"),
    ],
)
def test_known_verdicts(scores, method, threshold, verdict):
    assert video_verdict(scores, method, threshold)[0] == verdict


@pytest.mark.parametrize("method", ["vote", "mean", "max"])
def test_the_video_probability_is_the_mean_frame_score_whatever_the_rule(method):
    _, p_fake, share = video_verdict([0.9, 0.8, 0.2, 0.7], method, 0.5)
    assert p_fake == pytest.approx(0.65) and share == pytest.approx(0.75)


def test_borderline_videos_get_a_borderline_probability_not_a_vote_share():
    # a real video scored 0.51 in every frame, a fake one 0.49: both verdicts wrong, but only just
    real = video_verdict([0.51] * 8)
    fake = video_verdict([0.49] * 8)
    assert (real[0], fake[0]) == ("FAKE", "REAL")
    assert (real[2], fake[2]) == (1.0, 0.0)  # the unanimous vote share has its own column
    assert log_loss([0, 1], [real[1], fake[1]], labels=[0, 1]) == pytest.approx(0.713, abs=1e-3)  # not 16


def test_a_tied_vote_is_broken_by_the_mean_frame_score():
    # 2 of 4 frames fake in both videos; the fake frames of the first are sure, those of the second barely so
    assert video_verdict([0.9, 0.8, 0.1, 0.2]) == ("FAKE", pytest.approx(0.5), 0.5)  # mean 0.5 >= 0.5
    assert video_verdict([0.6, 0.55, 0.1, 0.2]) == ("REAL", pytest.approx(0.3625), 0.5)


def test_a_frame_takes_its_most_fake_face_and_frames_come_out_in_order():
    # frame 2 has three faces, frame 0 a real and a fake face, frame 1 one face; faces in any order
    faces = pd.DataFrame(
        {"video": "v", "frame_index": [2, 0, 1, 0, 2, 2], "p_fake": [0.2, 0.1, 0.3, 0.9, 0.4, 0.6]}
    )
    frames = frame_scores(faces)
    assert frames["frame_index"].tolist() == [0, 1, 2]
    assert frames["p_fake"].tolist() == pytest.approx([0.9, 0.3, 0.6]) and frames["faces"].tolist() == [
        2,
        1,
        3,
    ]
    (video,) = video_scores(frames).to_dict("records")
    assert video["verdict"] == "FAKE" and video["fake_probability"] == pytest.approx(0.6)
    assert video["fake_frame_share"] == pytest.approx(2 / 3) and video["frames"] == 3


def test_video_scores_keep_one_row_and_label_per_video():
    frames = pd.DataFrame(
        {
            "video": ["a", "a", "b"],
            "frame_index": [0, 1, 0],
            "p_fake": [0.9, 0.7, 0.1],
            "faces": 1,
            "label": [1, 1, 0],
        }
    )
    videos = video_scores(frames, "mean", 0.5)
    assert videos[["video", "verdict", "label"]].values.tolist() == [["a", "FAKE", 1], ["b", "REAL", 0]]


@pytest.mark.parametrize("method", ["vote", "mean", "max"])
def test_no_face_gives_unknown_one_half(method):
    assert video_verdict(np.zeros(0), method) == ("UNKNOWN", 0.5, 0.0)


def test_an_unknown_method_is_an_error_that_lists_the_known_ones():
    with pytest.raises(
        UserError, match=r"unknown aggregation rule 'median' for --aggregate; known: max, mean, vote"
    ):
        video_verdict([0.2, 0.8], "median")
