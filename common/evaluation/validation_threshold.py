"""The decision threshold stage 04 chooses on the validation split, the accuracies at it, and it in words."""

from common.evaluation.aggregate import FAKE_VERDICT, video_scores
from common.evaluation.calibration import eer_threshold

VALIDATION_THRESHOLD_RULE = (
    "EER point of the val split's frame P(fake) (false positive rate = false negative rate)"
)


def choose_validation_threshold(frames):
    """The threshold stage 04 chooses on the validation split: ``{"value", "split", "level", "rule"}``, the
    equal-error-rate point (``common.evaluation.calibration.eer_threshold``) of the val ``frames``' P(fake)
    (one row per frame, its most fake face); None when the val split lacks a class."""
    try:
        value = eer_threshold(frames["label"], frames["p_fake"])
    except ValueError:
        return None
    return {"value": value, "split": "val", "level": "frame", "rule": VALIDATION_THRESHOLD_RULE}


def accuracy_at_validation_threshold(faces, frames, kwargs, chosen):
    """``chosen`` (``choose_validation_threshold``'s answer) with the accuracies of these scores at 0.5 and at
    its value: frames (P(fake) >= threshold is fake) and videos (the verdicts of the ``aggregate`` rule of
    ``kwargs``, ``scoring``'s answer, with the threshold in place of the configured one)."""
    result = dict(chosen)
    for name, threshold in (("at_0.5", 0.5), ("at_threshold", chosen["value"])):
        called = (frames["p_fake"] >= threshold).astype(int)
        videos = video_scores(faces, **{**kwargs, "threshold": threshold})
        result[f"frame_accuracy_{name}"] = float((called == frames["label"]).mean())
        result[f"video_accuracy_{name}"] = float(
            ((videos["verdict"] == FAKE_VERDICT) == (videos["label"] == 1)).mean()
        )
    return result


def validation_threshold_line(block):
    """``at_validation_threshold`` in words, one line."""
    return (
        f"threshold chosen on the {block['split']} split ({block['rule']}): {block['value']:.3f}; accuracy at "
        f"0.5 / at it: frames {block['frame_accuracy_at_0.5']:.3f} / {block['frame_accuracy_at_threshold']:.3f}, "
        f"videos {block['video_accuracy_at_0.5']:.3f} / {block['video_accuracy_at_threshold']:.3f}"
    )
