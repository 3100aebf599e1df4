"""From face scores to frame scores to a video verdict: the one path stages 04 and 05 share.

Scores are P(fake). A frame takes its most fake face (a frame is fake if any face in it is). A video's
``fake_probability`` is the mean frame P(fake) under every aggregation rule, so AUC, log loss and any
calibration never depend on the rule; the rule decides only the verdict.
"""

import numpy as np
import pandas as pd

from common.manifest import FAKE, REAL
from common.registry import Registry

FAKE_VERDICT, REAL_VERDICT, UNKNOWN_VERDICT = "FAKE", "REAL", "UNKNOWN"
NO_FACE_ERROR = "no face found"  # how the error of an UNKNOWN video without a face begins
VERDICT_OF_LABEL = {FAKE: FAKE_VERDICT, REAL: REAL_VERDICT}
LABEL_OF_VERDICT = {verdict: label for label, verdict in VERDICT_OF_LABEL.items()}

# name -> is_fake(scores, threshold): a video's verdict from its frame scores (a non-empty array)
RULES = Registry("aggregation rule", "--aggregate", "common.aggregate.RULES")


@RULES.register("vote")
def majority_vote(scores, threshold):
    """The seeds' "max voting": each frame votes fake at ``threshold`` and the majority wins; a tie is
    broken by the mean frame score."""
    share = np.mean(scores >= threshold)
    return bool(share > 0.5 or (share == 0.5 and scores.mean() >= threshold))


@RULES.register("mean")
def mean_score(scores, threshold):
    """Fake when the mean frame score reaches ``threshold``."""
    return bool(scores.mean() >= threshold)


@RULES.register("max")
def max_score(scores, threshold):
    """Fake when any frame score reaches ``threshold``."""
    return bool(scores.max() >= threshold)


def video_verdict(scores, rule="vote", threshold=0.5):
    """Aggregate one video's frame scores into ``(verdict, fake_probability, fake_frame_share)``.

    ``rule`` names one of ``RULES`` (vote, mean, max). ``fake_probability`` is the mean frame score and
    ``fake_frame_share`` the share of fake votes, whatever the rule. No frame (no face found):
    ``("UNKNOWN", 0.5, 0.0)``.
    """
    is_fake = RULES.get(rule)
    scores = np.asarray(scores, dtype=float)
    if scores.size == 0:
        return UNKNOWN_VERDICT, 0.5, 0.0
    verdict = FAKE_VERDICT if is_fake(scores, threshold) else REAL_VERDICT
    return verdict, float(scores.mean()), float(np.mean(scores >= threshold))


CARRIED = ("label", "method")  # per-video columns that frame and video scores keep when they are given


def frame_scores(faces):
    """One row per frame from one row per face (``video``, ``frame_index``, ``p_fake``, optional ``label``
    and ``method``): the frame's most fake face, and how many faces it had. Sorted by video, then frame."""
    carried = {column: (column, "first") for column in CARRIED if column in faces}
    return faces.groupby(["video", "frame_index"], as_index=False, sort=True).agg(
        p_fake=("p_fake", "max"), faces=("p_fake", "size"), **carried
    )


def track_scores(faces, rule="vote", threshold=0.5):
    """One row per face track from one row per face (``video``, ``frame_index``, ``p_fake``, optional
    ``track_id``: without it a video is one track): ``video``, ``track_id``, ``verdict`` (``rule`` over the
    track's face scores), ``fake_probability`` (their mean), ``fake_frame_share``, ``frames``."""
    faces = faces if "track_id" in faces else faces.assign(track_id=0)
    rows = []
    for (video, track), part in faces.groupby(["video", "track_id"], sort=True):
        verdict, p_fake, share = video_verdict(part["p_fake"], rule, threshold)
        rows.append(
            {
                "video": video,
                "track_id": int(track),
                "verdict": verdict,
                "fake_probability": p_fake,
                "fake_frame_share": share,
                "frames": int(part["frame_index"].nunique()),
            }
        )
    columns = ["video", "track_id", "verdict", "fake_probability", "fake_frame_share", "frames"]
    return pd.DataFrame(rows, columns=columns)


def video_scores(faces, rule="vote", threshold=0.5):
    """One row per video from one row per face (see ``track_scores``): ``verdict`` FAKE when any face track
    is fake, ``fake_probability`` the highest track P(fake) (the mean frame P(fake) of a one-person video,
    whatever the rule), ``fake_frame_share`` (frames whose most fake face is fake), ``frames`` (with a
    face), ``tracks``, and ``label`` and ``method`` when the faces have them."""
    tracks = track_scores(faces, rule, threshold).groupby("video", sort=False)
    frames = frame_scores(faces).groupby("video", sort=False)
    rows = []
    for video, part in frames:
        video_tracks = tracks.get_group(video)
        fake = (video_tracks["verdict"] == FAKE_VERDICT).any()
        row = {
            "video": video,
            "verdict": FAKE_VERDICT if fake else REAL_VERDICT,
            "fake_probability": float(video_tracks["fake_probability"].max()),
            "fake_frame_share": float((part["p_fake"] >= threshold).mean()),
            "frames": len(part),
            "tracks": len(video_tracks),
        }
        row.update({column: part[column].iloc[0] for column in CARRIED if column in part})
        rows.append(row)
    columns = ["video", "verdict", "fake_probability", "fake_frame_share", "frames", "tracks"]
    return pd.DataFrame(rows, columns=columns + [column for column in CARRIED if column in faces])
