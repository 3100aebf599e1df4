"""Which videos an analyst should look at again: the ``needs_review`` rule of stage 05.

A video with a verdict needs review when any of these holds (the reasons, in this order):

- ``borderline``: its P(fake) lies within ``predict.review_band`` of ``predict.threshold``;
- ``tracks disagree``: one of the face tracks that decide it (``predict.track_min_share``) is FAKE and another REAL;
- ``few frames``: fewer than ``predict.review_min_frames`` sampled frames had a scored face.

The verdict keeps its meaning; ``needs_review`` only queues the video. An UNKNOWN video (error, no face)
has no verdict to review: its ``error`` says why, and ``needs_review`` is false.
"""

import pandas as pd

from common.evaluation.aggregate import FAKE_VERDICT, UNKNOWN_VERDICT


def review_reasons(predictions, faces, tracks, settings):
    """``{video: [reason, ...]}`` by the rule above for the rows of ``predictions`` (stage 05's), from their
    face scores ``faces`` (``video``, ``frame_index``, ``track_id``, ``p_fake``), their face tracks
    ``tracks`` (``common.evaluation.aggregate.track_table``) and ``settings`` (the config's ``predict``
    section). A video with no reason maps to ``[]``."""
    threshold, band = settings["threshold"], settings["review_band"]
    fake_tracks = {}
    if len(tracks):  # only the tracks that decide their video (a one-frame detection does not)
        deciding = tracks[tracks["decides"]]
        fake_tracks = deciding.groupby("video")["verdict"].agg(lambda verdicts: set(verdicts == FAKE_VERDICT))
    scored_frames = faces.groupby("video")["frame_index"].nunique() if len(faces) else pd.Series(dtype=int)
    reasons = {}
    for row in predictions.itertuples():
        found = []
        if row.verdict != UNKNOWN_VERDICT:
            if abs(row.fake_probability - threshold) <= band:
                found.append("borderline")
            if len(fake_tracks.get(row.video, ())) == 2:
                found.append("tracks disagree")
            if scored_frames.get(row.video, 0) < settings["review_min_frames"]:
                found.append("few frames")
        reasons[row.video] = found
    return reasons


def flag_for_review(predictions, reasons):
    """``predictions`` with its ``needs_review`` column set from ``reasons`` (``review_reasons``)."""
    return predictions.assign(needs_review=[bool(reasons[video]) for video in predictions["video"]])
