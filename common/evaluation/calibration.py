"""Decision thresholds and probability calibration fitted on the validation split, applied to test.

Label 1 = fake, 0 = real; scores are P(fake). A threshold is a float: a sample is called fake when its
score is at or above it (the rule of ``common.evaluation.metrics.binary_metrics``). Two ways to choose it on
validation scores: ``eer_threshold`` (where false positive and false negative rates meet) and
``balanced_accuracy_threshold`` (the best balanced accuracy, i.e. Youden's J). Calibration:
``expected_calibration_error`` and ``reliability_diagram`` over equal-width bins of [0, 1], and
temperature scaling (Guo et al. 2017, "On calibration of modern neural networks", ICML):
``fit_temperature`` on validation scores, ``apply_temperature`` on any scores.
"""

import numpy as np
from scipy import optimize
from sklearn import metrics as skm

from common.evaluation.metrics import PROBABILITY_EPS

N_BINS = 15  # Guo et al. 2017 report ECE over 15 equal-width bins
TEMPERATURE_BOUNDS = (1e-2, 1e2)


def _labels_and_scores(labels, scores):
    """Labels as 0/1 ints and scores as float64, 1-D and of one length; ``ValueError`` otherwise."""
    labels = np.asarray(labels).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if labels.size != scores.size:
        raise ValueError(f"{labels.size} labels but {scores.size} scores")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    return labels.astype(np.int64), scores


def _roc_with_thresholds(labels, scores):
    """scikit-learn's ROC curve with every point kept, its first threshold (infinity: nothing called fake)
    replaced by the next float above the highest score, so every threshold can be stored and applied."""
    labels, scores = _labels_and_scores(labels, scores)
    if np.unique(labels).size != 2:
        raise ValueError("choosing a threshold needs both real and fake validation samples")
    fpr, tpr, thresholds = skm.roc_curve(labels, scores, drop_intermediate=False)
    thresholds[0] = np.nextafter(scores.max(), np.inf)
    return fpr, tpr, thresholds


def _midway_below(thresholds, best):
    """The threshold halfway between the chosen distinct score ``thresholds[best]`` and the next lower one:
    every threshold in between classifies the validation samples alike, and the middle leaves test scores
    the most room on both sides (a perfectly separated val split would otherwise put it on its lowest fake,
    calling real every test fake a hair below it). The ends stay as they are: above every score (nothing
    fake) and the lowest score (everything fake)."""
    if best == 0 or best == len(thresholds) - 1:
        return float(thresholds[best])
    return float((thresholds[best] + thresholds[best + 1]) / 2)


def eer_threshold(labels, scores):
    """The equal-error-rate threshold of validation ``scores``: the distinct score where |false negative
    rate - false positive rate| is smallest (the highest such score on a tie), moved halfway down to the
    next lower score (``_midway_below``). Returns a float; fake when score >= it."""
    fpr, tpr, thresholds = _roc_with_thresholds(labels, scores)
    return _midway_below(thresholds, int(np.argmin(np.abs((1 - tpr) - fpr))))


def balanced_accuracy_threshold(labels, scores):
    """The best-balanced-accuracy threshold of validation ``scores``: among the thresholds at the distinct
    scores, the one with the highest (true positive rate + true negative rate) / 2, the same as the
    highest Youden's J = TPR - FPR (the highest such score on a tie), moved halfway down to the next lower
    score (``_midway_below``). Returns a float; fake when score >= it."""
    fpr, tpr, thresholds = _roc_with_thresholds(labels, scores)
    return _midway_below(thresholds, int(np.argmax(tpr - fpr)))


def _bin_of(p_fake, n_bins):
    """The equal-width bin of [0, 1] each probability falls in: bin i holds [i / n, (i + 1) / n), the
    last bin also 1.0."""
    return np.minimum((p_fake * n_bins).astype(np.int64), n_bins - 1)


def reliability_diagram(labels, p_fake, n_bins=N_BINS):
    """The data of a reliability diagram of P(fake) over ``n_bins`` equal-width bins of [0, 1] (bin i
    holds [i / n, (i + 1) / n), the last also 1.0). Returns a dict of lists, one entry per bin:
    ``lower`` and ``upper`` (the bin's edges), ``mean_p_fake`` (mean predicted P(fake) in the bin),
    ``fraction_fake`` (share of fakes among its samples), ``count``; the two means are None for an empty
    bin. A calibrated detector has ``fraction_fake`` close to ``mean_p_fake`` in every bin."""
    labels, p_fake = _labels_and_scores(labels, p_fake)
    bins = _bin_of(p_fake, n_bins)
    count = np.bincount(bins, minlength=n_bins)
    sum_p = np.bincount(bins, weights=p_fake, minlength=n_bins)
    sum_fake = np.bincount(bins, weights=labels, minlength=n_bins)
    mean = lambda total: [float(t / c) if c else None for t, c in zip(total, count)]
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return {
        "lower": edges[:-1].tolist(),
        "upper": edges[1:].tolist(),
        "mean_p_fake": mean(sum_p),
        "fraction_fake": mean(sum_fake),
        "count": count.tolist(),
    }


def expected_calibration_error(labels, p_fake, n_bins=N_BINS, kind="top_label"):
    """Expected calibration error over ``n_bins`` equal-width bins of [0, 1]: the sum over bins of (the
    bin's share of samples) x |accuracy - confidence| in the bin. A float in [0, 1].

    ``kind="top_label"`` (the common definition, Guo et al. 2017): the confidence of a sample is that of
    the class it is called, max(P(fake), 1 - P(fake)), binned; the accuracy is the share called right at
    0.5 (fake when P(fake) >= 0.5). ``kind="p_fake"``: the bins of ``reliability_diagram``, comparing the
    mean P(fake) with the share of fakes in each bin.
    """
    labels, p_fake = _labels_and_scores(labels, p_fake)
    if not labels.size:
        raise ValueError("the calibration error needs at least one sample")
    if kind == "top_label":
        called_fake = p_fake >= 0.5
        confidence = np.where(called_fake, p_fake, 1 - p_fake)
        outcome = (called_fake == (labels == 1)).astype(float)
    elif kind == "p_fake":
        confidence, outcome = p_fake, labels.astype(float)
    else:
        raise ValueError(f"unknown kind {kind!r}: 'top_label' or 'p_fake'")
    bins = _bin_of(confidence, n_bins)
    gap = np.bincount(bins, weights=outcome, minlength=n_bins) - np.bincount(
        bins, weights=confidence, minlength=n_bins
    )
    return float(np.abs(gap).sum() / labels.size)


def _logits(scores, from_logits):
    """Logits of P(fake) (clipped to [eps, 1 - eps] first), or ``scores`` themselves when they are logits."""
    scores = np.asarray(scores, dtype=np.float64)
    if from_logits:
        return scores
    p = np.clip(scores, PROBABILITY_EPS, 1 - PROBABILITY_EPS)
    return np.log(p) - np.log1p(-p)


def apply_temperature(scores, temperature, from_logits=False):
    """Calibrated P(fake) = sigmoid(logit / ``temperature``) of P(fake) ``scores`` (or of logits with
    ``from_logits``); same shape as ``scores``. Temperature 1 changes nothing; above 1 moves the
    probabilities towards 0.5, below 1 away from it; the ranking (hence the AUC) never changes."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return 1 / (1 + np.exp(-_logits(scores, from_logits) / temperature))


def fit_temperature(labels, scores, from_logits=False):
    """The temperature T > 0 that minimises the mean log loss of ``apply_temperature(scores, T)`` against
    ``labels`` on validation samples: a bounded 1-D minimisation over log T within
    ``TEMPERATURE_BOUNDS`` (perfectly separated scores push T to the lower bound). Returns a float."""
    labels, _ = _labels_and_scores(labels, np.zeros(np.size(labels)))
    logits = _logits(scores, from_logits).reshape(-1)
    if logits.size != labels.size:
        raise ValueError(f"{labels.size} labels but {logits.size} scores")
    sign = 2 * labels - 1

    def log_loss(log_temperature):
        return float(np.mean(np.logaddexp(0, -sign * logits / np.exp(log_temperature))))

    bounds = np.log(TEMPERATURE_BOUNDS)
    found = optimize.minimize_scalar(log_loss, bounds=bounds, method="bounded", options={"xatol": 1e-6})
    return float(np.exp(found.x))
