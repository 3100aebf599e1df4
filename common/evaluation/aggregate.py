"""From face scores to frame scores to a video verdict: the one path stages 04 and 05 share.

Scores are P(fake). A frame takes its most fake face (a frame is fake if any face in it is). Faces are linked
into tracks (one person across frames, ``common.faces.tracks``), and a track decides the video only when it is seen
in at least ``track_min_share`` of the video's frames with a face (a detection in one frame of 32 does not;
when no track is seen that often, the track seen most often decides). The ``predict.video_score`` setting
says how the deciding tracks make the video's ``fake_probability`` and verdict:

- ``track_max``: the most fake deciding track's P(fake) (the mean of its faces'); FAKE when the aggregation
  rule calls any deciding track fake. A video is fake when any person in it is (DFDC swaps any of several).
- ``frame_mean``: the mean P(fake) of the frames, each frame's score being its most fake deciding face
  (DeepfakeBench's video score: the mean of its frame scores); the rule over those frame scores gives the
  verdict.

Either way ``fake_probability`` does not depend on the aggregation rule (vote, mean, max), so AUC, log loss
and any calibration never do; the rule decides only the verdict.
"""

import numpy as np
import pandas as pd

from common.core.config import DEFAULTS, register_choices
from common.core.manifest import FAKE, REAL
from common.core.registry import Registry

FAKE_VERDICT, REAL_VERDICT, UNKNOWN_VERDICT = "FAKE", "REAL", "UNKNOWN"
NO_FACE_ERROR = "no face found"  # how the error of an UNKNOWN video without a face begins
VERDICT_OF_LABEL = {FAKE: FAKE_VERDICT, REAL: REAL_VERDICT}
LABEL_OF_VERDICT = {verdict: label for label, verdict in VERDICT_OF_LABEL.items()}

# name -> is_fake(scores, threshold): a video's verdict from its frame scores (a non-empty array)
RULES = Registry("aggregation rule", "--aggregate", "common.evaluation.aggregate.RULES")
register_choices("predict.aggregate", RULES.names)


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


MIN_SHARE = DEFAULTS["predict"]["track_min_share"]
VIDEO_SCORE = DEFAULTS["predict"]["video_score"]
TRACK_COLUMNS = ["video", "track_id", "verdict", "fake_probability", "fake_frame_share", "frames", "decides"]


def track_scores(faces, rule="vote", threshold=0.5, min_share=MIN_SHARE):
    """One row per face track from one row per face (``video``, ``frame_index``, ``p_fake``, optional
    ``track_id``: without it a video is one track): ``TRACK_COLUMNS``, that is ``video``, ``track_id``,
    ``verdict`` (``rule`` over the track's face scores), ``fake_probability`` (their mean),
    ``fake_frame_share``, ``frames`` and ``decides``: whether the track is seen in at least ``min_share`` of
    its video's frames with a face, or, when no track of the video is, whether it is seen in the most."""
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
    tracks = pd.DataFrame(rows, columns=TRACK_COLUMNS[:-1])
    video_frames = tracks["video"].map(faces.groupby("video")["frame_index"].nunique())
    supported = tracks["frames"] >= min_share * video_frames
    longest = tracks["frames"] == tracks.groupby("video")["frames"].transform("max")
    unsupported_video = ~supported.groupby(tracks["video"]).transform("any")
    return tracks.assign(decides=supported | (unsupported_video & longest))


def video_scores(faces, rule="vote", threshold=0.5, video_score=VIDEO_SCORE, min_share=MIN_SHARE):
    """One row per video from one row per face (see ``track_scores``), by ``video_score`` over the tracks
    that decide (see the module docstring): ``verdict``, ``fake_probability`` (whatever the rule),
    ``fake_frame_share`` (of the deciding tracks' frames, those whose most fake face is fake), ``frames``
    (with a face), ``tracks`` (all of them), and ``label`` and ``method`` when the faces have them."""
    faces = faces if "track_id" in faces else faces.assign(track_id=0)
    tracks = track_scores(faces, rule, threshold, min_share)
    deciding = tracks.loc[tracks["decides"], ["video", "track_id"]]
    deciding_frames = frame_scores(faces.merge(deciding, on=["video", "track_id"])).groupby("video")
    tracks = tracks[tracks["decides"]].groupby("video", sort=False)
    frames = frame_scores(faces).groupby("video", sort=False)
    track_counts = faces.groupby("video")["track_id"].nunique()
    rows = []
    for video, part in frames:
        video_tracks, decided = tracks.get_group(video), deciding_frames.get_group(video)
        if video_score == "frame_mean":
            verdict, p_fake, _ = video_verdict(decided["p_fake"], rule, threshold)
        else:
            fake = (video_tracks["verdict"] == FAKE_VERDICT).any()
            verdict = FAKE_VERDICT if fake else REAL_VERDICT
            p_fake = float(video_tracks["fake_probability"].max())
        row = {
            "video": video,
            "verdict": verdict,
            "fake_probability": p_fake,
            "fake_frame_share": float((decided["p_fake"] >= threshold).mean()),
            "frames": len(part),
            "tracks": int(track_counts[video]),
        }
        row.update({column: part[column].iloc[0] for column in CARRIED if column in part})
        rows.append(row)
    columns = ["video", "verdict", "fake_probability", "fake_frame_share", "frames", "tracks"]
    return pd.DataFrame(rows, columns=columns + [column for column in CARRIED if column in faces])


def track_table(faces, settings):
    """``track_scores`` of ``faces`` by the config's ``predict`` section ``settings``, the one table of a
    stage 05 run's tracks that its ``_tracks.csv``, review rule and report share; with no face, an empty
    ``TRACK_COLUMNS`` table."""
    if not len(faces):
        return pd.DataFrame(columns=TRACK_COLUMNS)
    return track_scores(faces, settings["aggregate"], settings["threshold"], settings["track_min_share"])


# the ``predict`` keys that turn face scores into a video's verdict and P(fake) (``scoring``): stage 04 records
# the values its test figures were computed with in the model file, and stage 05 scores by them by default
SCORING_KEYS = ("aggregate", "threshold", "video_score", "track_min_share")


def scoring(settings):
    """The keyword arguments of ``video_scores`` from the config's ``predict`` section: stages 04 and 05 turn
    face scores into video scores with the same settings."""
    return {
        "rule": settings["aggregate"],
        "threshold": settings["threshold"],
        "video_score": settings["video_score"],
        "min_share": settings["track_min_share"],
    }
