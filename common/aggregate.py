"""From face scores to frame scores to a video verdict. Scores are P(fake)."""

import numpy as np

FAKE_VERDICT, REAL_VERDICT, UNKNOWN_VERDICT = "FAKE", "REAL", "UNKNOWN"
METHODS = ("vote", "mean", "max")


def frame_scores(frame_ids, face_scores):
    """One score per frame: the most fake of its faces (a video is fake if any face in it is)."""
    best = {}
    for frame_id, score in zip(frame_ids, face_scores):
        best[frame_id] = max(float(score), best.get(frame_id, 0.0))
    return np.array([best[frame_id] for frame_id in sorted(best)], dtype=float)


def vote_video(scores, method="vote", threshold=0.5):
    """Aggregate frame scores into ``(verdict, p_fake)``.

    - ``vote`` (the seeds' "max voting"): each frame votes fake when its score >= ``threshold``; the video
      score is the fraction of fake votes and the majority wins. A tie is broken by the mean frame score.
    - ``mean`` / ``max``: the mean / highest frame score, fake when >= ``threshold``.
    No frame (no face found): ``("UNKNOWN", 0.5)``.
    """
    scores = np.asarray(scores, dtype=float)
    if scores.size == 0:
        return UNKNOWN_VERDICT, 0.5
    if method == "vote":
        fake_share = float(np.mean(scores >= threshold))
        is_fake = fake_share > 0.5 or (fake_share == 0.5 and scores.mean() >= threshold)
        return (FAKE_VERDICT if is_fake else REAL_VERDICT), fake_share
    if method == "mean":
        score = float(scores.mean())
    elif method == "max":
        score = float(scores.max())
    else:
        raise ValueError(f"unknown aggregation '{method}'; known: {', '.join(METHODS)}")
    return (FAKE_VERDICT if score >= threshold else REAL_VERDICT), score
