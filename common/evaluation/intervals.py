"""Bootstrap intervals of several figures at once over the same resamples of videos (``intervals_of``,
``bootstrap_intervals``), and what the intervals are, in words (``bootstrap_line``)."""

from common.evaluation.uncertainty import accuracy_at, auc, average_precision, bootstrap_metric, eer


def bootstrap_intervals(labels, scores, videos, called, threshold, resamples, seed):
    """``{auc, eer, average_precision, accuracy: [low, high]}``: 95 % intervals by
    ``common.evaluation.uncertainty.bootstrap_metric`` over ``videos`` (the rows of one video drawn
    together), the same ``resamples`` and ``seed`` for every figure. AUC, EER and AP from ``scores``,
    accuracy from ``called`` at ``threshold`` (frames: P(fake) against the threshold; videos: the verdict).
    An interval is None when it is undefined (one class only, or a video labelled both ways)."""
    figures = {
        "auc": (auc, scores),
        "eer": (eer, scores),
        "average_precision": (average_precision, scores),
        "accuracy": (accuracy_at(threshold), called),
    }
    return intervals_of(figures, labels, videos, resamples, seed)


def intervals_of(figures, labels, videos, resamples, seed):
    """``{name: [low, high]}`` of ``figures`` (``{name: (metric, values)}``, a metric of
    ``common.evaluation.uncertainty`` and the scores it takes), each by ``bootstrap_metric`` over ``videos``
    with the same ``resamples`` and ``seed``; None where the interval is undefined (one class only, or a
    video labelled both ways)."""
    intervals = {}
    for name, (metric, values) in figures.items():
        try:
            result = bootstrap_metric(values, labels, videos, metric, resamples, seed)
        except ValueError:
            intervals[name] = None
            continue
        intervals[name] = [result["low"], result["high"]]
    return intervals


def bootstrap_line(bootstrap):
    """What the ``[low, high]`` intervals are, one line."""
    return (
        f"[low, high]: {bootstrap['confidence']:.0%} intervals, {bootstrap['method']}, "
        f"{bootstrap['n_resamples']} resamples, seed {bootstrap['seed']}"
    )
