"""From face scores to frame scores to a video verdict (scores are P(fake))."""

import pytest

from common.aggregate import frame_scores, vote_video


@pytest.mark.parametrize(
    "scores, method, threshold, verdict, p_fake",
    [
        ([0.9, 0.8, 0.2, 0.7], "vote", 0.5, "FAKE", 0.75),  # 3 of 4 frames fake
        ([0.1, 0.2, 0.6, 0.3], "vote", 0.5, "REAL", 0.25),
        ([0.9, 0.8, 0.2, 0.7], "vote", 0.85, "REAL", 0.25),  # the threshold is per frame
        ([0.5, 0.5, 0.5], "vote", 0.5, "FAKE", 1.0),  # a score equal to the threshold counts as fake
        ([0.9, 0.8, 0.2, 0.7], "mean", 0.5, "FAKE", 0.65),
        ([0.9, 0.8, 0.2, 0.7], "mean", 0.7, "REAL", 0.65),
        ([0.1, 0.2, 0.6], "max", 0.5, "FAKE", 0.6),
        ([0.1, 0.2, 0.6], "max", 0.7, "REAL", 0.6),
        ([0.3], "mean", 0.3, "FAKE", 0.3),
    ],
)
def test_known_answers(scores, method, threshold, verdict, p_fake):
    got_verdict, got_p_fake = vote_video(scores, method, threshold)
    assert got_verdict == verdict
    assert got_p_fake == pytest.approx(p_fake)


def test_a_tied_vote_is_broken_by_the_mean_frame_score():
    # 2 of 4 frames fake in both videos; the fake frames of the first are sure, those of the second barely so
    assert vote_video([0.9, 0.8, 0.1, 0.2]) == ("FAKE", 0.5)  # mean 0.5 >= 0.5
    assert vote_video([0.6, 0.55, 0.1, 0.2]) == ("REAL", 0.5)  # mean 0.3625 < 0.5


def test_a_frame_takes_its_most_fake_face():
    # frame 0 has a real and a fake face, frame 1 one real face, frame 2 three faces
    frame_ids = [0, 0, 1, 2, 2, 2]
    face_scores = [0.1, 0.9, 0.3, 0.2, 0.4, 0.6]
    scores = frame_scores(frame_ids, face_scores)
    assert scores.tolist() == pytest.approx([0.9, 0.3, 0.6])
    assert vote_video(scores) == ("FAKE", pytest.approx(2 / 3))
    assert vote_video(scores, "mean") == ("FAKE", pytest.approx(0.6))


def test_frame_scores_come_out_in_frame_order_whatever_the_face_order():
    assert frame_scores([2, 0, 1, 0], [0.7, 0.2, 0.4, 0.1]).tolist() == pytest.approx([0.2, 0.4, 0.7])


@pytest.mark.parametrize("method", ["vote", "mean", "max"])
def test_no_face_gives_unknown_one_half(method):
    assert frame_scores([], []).size == 0
    assert vote_video(frame_scores([], []), method) == ("UNKNOWN", 0.5)


def test_an_unknown_method_is_an_error_that_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown aggregation 'median'.*vote, mean, max"):
        vote_video([0.2, 0.8], "median")
