"""Confidence intervals and paired tests for detection metrics, resampling videos rather than frames.

Frames of one video are not independent samples, so every interval here comes from a bootstrap over
**videos**: each resample draws, with replacement, as many real videos as there are real videos and as
many fake videos as there are fake videos (stratified by class), and takes all the frames of every video
drawn (a video drawn twice counts its frames twice). With one row per video it is the ordinary bootstrap
of videos. Label 1 = fake (the positive class), 0 = real; scores are P(fake) or any score that grows
with "fake".

A metric here is a function ``metric(labels, scores, weights)`` of N labels and N scores, with
``weights`` a (B, N) array of how many times each row is counted in each of B resamples; it returns B
values. ``auc``, ``eer``, ``average_precision`` and ``accuracy_at(threshold)`` are such functions,
vectorised over the resamples; ``per_resample(function)`` turns any ``function(labels, scores)`` (a
scikit-learn metric) into one, slowly. ``METRICS`` names the four reported figures.

The paired comparison of two detectors uses the videos both scored: ``paired_bootstrap_auc`` (the same
resampled videos for both) and ``delong_test`` (DeLong, DeLong & Clarke-Pearson 1988, Biometrics 44:837,
by the midrank algorithm of Sun & Xu 2014, IEEE Signal Processing Letters 21:1389).
"""

import logging

import numpy as np
from scipy import stats

log = logging.getLogger(__name__)

CONFIDENCE = 0.95
N_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
BOOTSTRAP_METHOD = "percentile bootstrap over videos, stratified by class"
_CELLS_PER_CHUNK = 4_000_000  # resamples x frames held at once: 32 MB of float64


def _tie_groups(scores, descending=False):
    """``(order, starts)``: the permutation that sorts ``scores`` (ascending, or descending) and the first
    position of every run of equal scores in that order."""
    order = np.argsort(-scores if descending else scores, kind="stable")
    ordered = scores[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    return order, starts


def _class_weights_by_group(labels, scores, weights, descending):
    """Per tie group of scores (in ascending or descending score order), the total weight of fakes and of
    reals in each resample: two (B, groups) arrays."""
    order, starts = _tie_groups(scores, descending)
    ordered = weights[:, order]
    fake = labels[order] == 1
    fakes = np.add.reduceat(np.where(fake, ordered, 0.0), starts, axis=1)
    reals = np.add.reduceat(np.where(fake, 0.0, ordered), starts, axis=1)
    return fakes, reals


def auc(labels, scores, weights):
    """Area under the ROC curve of each resample (a row of ``weights``): the weighted share of (fake,
    real) pairs in which the fake scores higher, a tie counting one half; equals scikit-learn's
    ``roc_auc_score`` on the frames repeated by their weights. Returns a (B,) array."""
    fakes, reals = _class_weights_by_group(labels, scores, weights, descending=False)
    reals_below = np.cumsum(reals, axis=1) - reals
    pairs = fakes.sum(axis=1) * reals.sum(axis=1)
    return (fakes * (reals_below + 0.5 * reals)).sum(axis=1) / pairs


def _roc_points(labels, scores, weights):
    """(false positive rate, true positive rate) of each resample at every distinct score taken as the
    threshold, highest first, after the point (0, 0): two (B, groups + 1) arrays."""
    fakes, reals = _class_weights_by_group(labels, scores, weights, descending=True)
    zero = np.zeros((weights.shape[0], 1))
    tpr = np.hstack([zero, np.cumsum(fakes, axis=1)]) / fakes.sum(axis=1, keepdims=True)
    fpr = np.hstack([zero, np.cumsum(reals, axis=1)]) / reals.sum(axis=1, keepdims=True)
    return fpr, tpr


def eer(labels, scores, weights):
    """Equal error rate of each resample, as ``common.evaluation.metrics.equal_error_rate`` takes it: the first ROC
    point where the false positive rate reaches the false negative rate, interpolated linearly with the
    point before it. Returns a (B,) array."""
    fpr, fnr = _roc_points(labels, scores, weights)
    fnr = 1 - fnr
    after = np.argmax(fpr >= fnr, axis=1)[:, None]
    before = np.maximum(after - 1, 0)
    take = lambda values, index: np.take_along_axis(values, index, axis=1)[:, 0]
    gap_before = take(fnr, before) - take(fpr, before)
    gap_after = take(fpr, after) - take(fnr, after)
    total = gap_before + gap_after
    weight = np.divide(gap_before, total, out=np.full_like(total, 0.5), where=total > 0)
    interpolated = take(fpr, before) + weight * (take(fpr, after) - take(fpr, before))
    at_start = (take(fpr, after) + take(fnr, after)) / 2
    return np.where(after[:, 0] == 0, at_start, interpolated)


def average_precision(labels, scores, weights):
    """Average precision of each resample as scikit-learn's ``average_precision_score`` takes it: the sum
    over distinct score thresholds (highest first) of the recall gained times the precision there.
    Returns a (B,) array."""
    fakes, reals = _class_weights_by_group(labels, scores, weights, descending=True)
    true_positives = np.cumsum(fakes, axis=1)
    called = true_positives + np.cumsum(reals, axis=1)
    precision = np.divide(true_positives, called, out=np.zeros_like(called), where=called > 0)
    return (fakes * precision).sum(axis=1) / fakes.sum(axis=1)


def accuracy_at(threshold=0.5):
    """The metric "accuracy at ``threshold``": a row is called fake when its score is at or above the
    threshold (the rule of ``common.evaluation.metrics.binary_metrics``); the weighted share called right."""

    def accuracy(labels, scores, weights):
        right = ((scores >= threshold).astype(int) == labels).astype(float)
        return weights @ right / weights.sum(axis=1)

    accuracy.threshold = threshold
    return accuracy


def accuracy_above(threshold=0.5):
    """The metric "accuracy above ``threshold``": a row is called fake when its score is strictly above the
    threshold (as DeepfakeBench counts accuracy); the weighted share called right."""

    def accuracy(labels, scores, weights):
        right = ((scores > threshold).astype(int) == labels).astype(float)
        return weights @ right / weights.sum(axis=1)

    return accuracy


def per_resample(function):
    """A metric from any ``function(labels, scores) -> float`` (e.g. a scikit-learn metric): for each
    resample it repeats every row by its weight and calls ``function``; slow, but exact."""

    def metric(labels, scores, weights):
        values = []
        for row in weights:
            rows = np.repeat(np.arange(labels.size), row.astype(np.int64))
            values.append(function(labels[rows], scores[rows]))
        return np.asarray(values, dtype=float)

    return metric


METRICS = {"auc": auc, "eer": eer, "average_precision": average_precision, "accuracy": accuracy_at(0.5)}


def _videos_of(labels, videos):
    """``(video_of_row, real_videos, fake_videos)``: the index of each row's video among the distinct video
    ids (sorted), and the indices of the real and of the fake videos, in that sorted order. ``ValueError``
    when a video has both labels or a class has no video."""
    ids, video_of_row = np.unique(np.asarray(videos).reshape(-1), return_inverse=True)
    label_of_video = np.full(ids.size, -1)
    label_of_video[video_of_row] = labels
    mixed = np.bincount(video_of_row, weights=labels, minlength=ids.size)
    mixed = (mixed > 0) & (mixed < np.bincount(video_of_row, minlength=ids.size))
    if mixed.any():
        raise ValueError(f"video {ids[np.argmax(mixed)]!r} has frames labelled both real and fake")
    real, fake = np.flatnonzero(label_of_video == 0), np.flatnonzero(label_of_video == 1)
    if not real.size or not fake.size:
        raise ValueError("a bootstrap over videos needs at least one real and one fake video")
    return video_of_row, real, fake


def _as_arrays(scores, labels, videos):
    """Scores as float64, labels as 0/1 ints and video ids (each row its own video when ``videos`` is
    None), all 1-D and of one length."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    videos = np.arange(scores.size) if videos is None else np.asarray(videos).reshape(-1)
    if not scores.size == labels.size == videos.size:
        raise ValueError(f"{scores.size} scores, {labels.size} labels and {videos.size} video ids differ")
    return scores, labels.astype(np.int64), videos


def video_counts(rng, real, fake, n_videos, n_resamples):
    """How many times each of ``n_videos`` videos is drawn in each resample: a (B, n_videos) int array.
    Resample by resample, ``rng.integers(len(real), size=len(real))`` picks the real videos (positions in
    ``real``), then ``rng.integers(len(fake), size=len(fake))`` the fake ones; a slow loop that draws the
    same way from a generator seeded alike gets the same videos."""
    counts = np.zeros((n_resamples, n_videos), dtype=np.int64)
    for row in range(n_resamples):
        drawn = np.concatenate(
            [real[rng.integers(real.size, size=real.size)], fake[rng.integers(fake.size, size=fake.size)]]
        )
        counts[row] = np.bincount(drawn, minlength=n_videos)
    return counts


def _percentile_interval(values, confidence):
    """The (low, high) percentiles of ``values`` that hold ``confidence`` of them between."""
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _resampled(metrics, labels_and_scores, video_of_rows, counts):
    """Each metric of each resample: ``metrics`` and ``labels_and_scores`` pair up (one metric per
    detector, or the same data twice), ``video_of_rows`` maps each data set's rows to video columns of
    ``counts``; returns one (B,) array per metric. Works through the resamples in chunks so that the
    (resamples, rows) weights stay small."""
    rows = max(labels.size for labels, _ in labels_and_scores)
    chunk = max(1, _CELLS_PER_CHUNK // max(rows, 1))
    values = [[] for _ in metrics]
    for start in range(0, counts.shape[0], chunk):
        drawn = counts[start : start + chunk].astype(np.float64)
        for out, metric, (labels, scores), video_of_row in zip(
            values, metrics, labels_and_scores, video_of_rows
        ):
            out.append(metric(labels, scores, drawn[:, video_of_row]))
    return [np.concatenate(parts) for parts in values]


def bootstrap_metric(
    scores,
    labels,
    videos=None,
    metric=auc,
    n_resamples=N_RESAMPLES,
    seed=BOOTSTRAP_SEED,
    confidence=CONFIDENCE,
):
    """A metric with its bootstrap confidence interval over videos.

    ``scores`` (P(fake)), ``labels`` (0 real, 1 fake) and ``videos`` (video ids; None: every row is a
    video) have one entry per frame, or per video. ``metric`` is one of this module's metrics (``auc``,
    ``eer``, ``average_precision``, ``accuracy_at(t)``) or ``per_resample(f)``. Returns a dict:
    ``estimate`` (the metric on all rows), ``low`` and ``high`` (the percentile interval holding
    ``confidence`` of the ``n_resamples`` resampled values), ``confidence``, ``n_resamples``, ``seed``,
    ``method``, and ``n_real_videos`` and ``n_fake_videos`` (how many videos of each class every resample
    keeps). ``ValueError`` when a video carries both labels or a class has no video.
    """
    scores, labels, videos = _as_arrays(scores, labels, videos)
    video_of_row, real, fake = _videos_of(labels, videos)
    estimate = float(metric(labels, scores, np.ones((1, labels.size)))[0])
    counts = video_counts(np.random.default_rng(seed), real, fake, real.size + fake.size, n_resamples)
    (values,) = _resampled([metric], [(labels, scores)], [video_of_row], counts)
    low, high = _percentile_interval(values, confidence)
    return {
        "estimate": estimate,
        "low": low,
        "high": high,
        "confidence": confidence,
        "n_resamples": int(n_resamples),
        "seed": seed,
        "method": BOOTSTRAP_METHOD,
        "n_real_videos": int(real.size),
        "n_fake_videos": int(fake.size),
    }


def _shared(detector_a, detector_b):
    """The rows of two detectors' ``(scores, labels, videos)`` restricted to the videos both scored, with
    each row's video as an index into the shared ids; ``ValueError`` when a shared video's label differs."""
    a, b = _as_arrays(*detector_a), _as_arrays(*detector_b)
    shared = np.intersect1d(a[2], b[2])
    kept = []
    for scores, labels, videos in (a, b):
        keep = np.isin(videos, shared)
        kept.append((scores[keep], labels[keep], np.searchsorted(shared, videos[keep])))
    label_of_video = np.full((2, shared.size), -1)
    for side, (_, labels, video) in enumerate(kept):
        label_of_video[side, video] = labels
    if (label_of_video[0] != label_of_video[1]).any():
        raise ValueError("a video the two detectors share has a different label in each")
    return kept, shared.size


def paired_bootstrap_auc(
    detector_a, detector_b, n_resamples=N_RESAMPLES, seed=BOOTSTRAP_SEED, confidence=CONFIDENCE
):
    """Whether detector A's AUC differs from detector B's, on the videos both scored.

    Each detector is ``(scores, labels, videos)`` with one entry per frame (or per video); the two may have
    different frames of a video (different faces found). Only videos present in both count, and every
    resample draws the same videos for both (stratified by class, all frames of a drawn video), so the
    difference AUC_A - AUC_B is paired. Returns a dict: ``auc_a``, ``auc_b``, ``difference`` (on all shared
    videos), ``low`` and ``high`` (the percentile interval of the difference), ``p_value`` (two-sided:
    twice the smaller share of resampled differences at or below 0 and at or above 0, at most 1; the
    smallest 1 - confidence at which the percentile interval excludes 0), ``n_videos``,
    ``n_resamples``, ``seed``, ``confidence`` and ``method``.
    """
    (a, b), n_videos = _shared(detector_a, detector_b)
    labels = np.concatenate([a[1], b[1]])
    video = np.concatenate([a[2], b[2]])
    _, real, fake = _videos_of(labels, video)
    estimates = [float(auc(side[1], side[0], np.ones((1, side[1].size)))[0]) for side in (a, b)]
    counts = video_counts(np.random.default_rng(seed), real, fake, n_videos, n_resamples)
    auc_a, auc_b = _resampled([auc, auc], [(a[1], a[0]), (b[1], b[0])], [a[2], b[2]], counts)
    differences = auc_a - auc_b
    low, high = _percentile_interval(differences, confidence)
    p_value = min(1.0, 2 * min(np.mean(differences <= 0), np.mean(differences >= 0)))
    return {
        "auc_a": estimates[0],
        "auc_b": estimates[1],
        "difference": estimates[0] - estimates[1],
        "low": low,
        "high": high,
        "p_value": float(p_value),
        "n_videos": int(n_videos),
        "n_resamples": int(n_resamples),
        "seed": seed,
        "confidence": confidence,
        "method": "paired " + BOOTSTRAP_METHOD,
    }


def _structural_components(labels, scores):
    """DeLong's structural components of one detector by midranks (Sun & Xu 2014): ``(auc, v10, v01)``
    with ``v10[i]`` the share of reals that fake i outscores and ``v01[j]`` the share of fakes that
    outscore real j (ties count one half)."""
    fake, real = scores[labels == 1], scores[labels == 0]
    m, n = fake.size, real.size
    rank_all = stats.rankdata(np.concatenate([fake, real]))
    rank_fake, rank_real = stats.rankdata(fake), stats.rankdata(real)
    v10 = (rank_all[:m] - rank_fake) / n
    v01 = 1 - (rank_all[m:] - rank_real) / m
    return float(v10.mean()), v10, v01


def delong_test(labels, scores_a, scores_b):
    """DeLong's test of two correlated AUCs: two detectors' scores of the same rows (``labels`` 0 real,
    1 fake; one row per video, or per frame when both scored the very same frames).

    The variance of AUC_A - AUC_B is c' (S10 / m + S01 / n) c with c = (1, -1), S10 and S01 the 2x2
    covariance matrices of the structural components over the m fakes and the n reals; z = difference /
    its standard error, two-sided p from the normal distribution. Identical detectors give difference 0,
    variance 0, z 0 and p 1. Returns a dict: ``auc_a``, ``auc_b``, ``difference``, ``standard_error``,
    ``z``, ``p_value``, ``n_fake``, ``n_real``, ``method``.
    """
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    scores_a = np.asarray(scores_a, dtype=np.float64).reshape(-1)
    scores_b = np.asarray(scores_b, dtype=np.float64).reshape(-1)
    if not labels.size == scores_a.size == scores_b.size:
        raise ValueError("DeLong's test needs both detectors' scores of the same rows")
    m, n = int(labels.sum()), int(labels.size - labels.sum())
    if m < 2 or n < 2:
        raise ValueError("DeLong's test needs at least two fake and two real rows")
    auc_a, v10_a, v01_a = _structural_components(labels, scores_a)
    auc_b, v10_b, v01_b = _structural_components(labels, scores_b)
    s10, s01 = np.cov(np.vstack([v10_a, v10_b])), np.cov(np.vstack([v01_a, v01_b]))
    contrast = np.array([1.0, -1.0])
    variance = max(float(contrast @ (s10 / m + s01 / n) @ contrast), 0.0)
    difference = auc_a - auc_b
    standard_error = variance**0.5
    if standard_error > 0:
        z = difference / standard_error
    else:
        z = 0.0 if difference == 0 else np.copysign(np.inf, difference)
    return {
        "auc_a": auc_a,
        "auc_b": auc_b,
        "difference": difference,
        "standard_error": standard_error,
        "z": float(z),
        "p_value": float(2 * stats.norm.sf(abs(z))),
        "n_fake": m,
        "n_real": n,
        "method": "DeLong 1988 (midranks, Sun & Xu 2014)",
    }
