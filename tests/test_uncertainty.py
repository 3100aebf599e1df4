"""Tests for common.evaluation.uncertainty: bootstrap over videos, paired bootstrap and DeLong's test (1 = fake)."""

import numpy as np
import pytest
from conftest import slow_bootstrap
from scipy import stats
from sklearn import metrics as skm

from common.evaluation import uncertainty
from common.evaluation.metrics import equal_error_rate


def frames_of_videos(n_real=30, n_fake=40, seed=0, separation=1.0):
    """Frame scores of ``n_real`` + ``n_fake`` videos with 1-8 frames each; a video's frames share a
    video-level offset (so they are correlated), fakes score higher by ``separation`` on average. Scores
    are rounded to two decimals so that ties occur. Returns ``(scores, labels, videos)``."""
    rng = np.random.default_rng(seed)
    scores, labels, videos = [], [], []
    for number in range(n_real + n_fake):
        label = int(number >= n_real)
        frames = int(rng.integers(1, 9))
        offset = rng.normal(separation * label, 1.0)
        scores.append(np.round(offset + rng.normal(0, 0.5, frames), 2))
        labels += [label] * frames
        videos += [f"v{number:03d}"] * frames
    return np.concatenate(scores), np.array(labels), np.array(videos)


REFERENCES = {
    "auc": skm.roc_auc_score,
    "eer": equal_error_rate,
    "average_precision": skm.average_precision_score,
    "accuracy": lambda labels, scores: skm.accuracy_score(labels, (scores >= 0.5).astype(int)),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_bootstrap_interval_equals_the_slow_obvious_loop(name):
    scores, labels, videos = frames_of_videos()
    result = uncertainty.bootstrap_metric(
        scores, labels, videos, uncertainty.METRICS[name], n_resamples=200, seed=7
    )
    _, (low, high) = slow_bootstrap(scores, labels, videos, REFERENCES[name], 200, seed=7)
    assert result["low"] == pytest.approx(low, abs=1e-12)
    assert result["high"] == pytest.approx(high, abs=1e-12)
    assert result["estimate"] == pytest.approx(REFERENCES[name](labels, scores), abs=1e-12)
    assert (result["n_resamples"], result["seed"]) == (200, 7)
    assert (result["n_real_videos"], result["n_fake_videos"]) == (30, 40)
    assert result["low"] <= result["estimate"] <= result["high"]


def test_vectorised_metrics_equal_scikit_learn_on_every_resample():
    scores, labels, videos = frames_of_videos(seed=3)
    _, real, fake = uncertainty._videos_of(labels, videos)
    video_of_row = np.unique(videos, return_inverse=True)[1]
    counts = uncertainty.video_counts(np.random.default_rng(1), real, fake, real.size + fake.size, 50)
    weights = counts[:, video_of_row].astype(float)
    for name, reference in REFERENCES.items():
        fast = uncertainty.METRICS[name](labels, scores, weights)
        slow = uncertainty.per_resample(reference)(labels, scores, weights)
        np.testing.assert_allclose(fast, slow, atol=1e-12, err_msg=name)


def test_frames_of_one_video_move_together():
    """In every resample each frame of a video is counted as often as its video was drawn, and each
    class keeps its number of videos."""
    scores, labels, videos = frames_of_videos(n_real=5, n_fake=7)
    seen = []

    def spy(labels_, scores_, weights):
        seen.append(weights)
        return np.zeros(weights.shape[0])

    uncertainty.bootstrap_metric(scores, labels, videos, spy, n_resamples=100, seed=0)
    weights = np.vstack(seen[1:])  # the first call is the point estimate, all weights 1
    assert weights.shape == (100, labels.size)
    for video in np.unique(videos):
        columns = weights[:, videos == video]
        assert (columns == columns[:, :1]).all()
    first_frame = np.unique(videos, return_index=True)[1]
    per_video = weights[:, first_frame]
    video_labels = labels[first_frame]
    assert (per_video[:, video_labels == 0].sum(axis=1) == 5).all()
    assert (per_video[:, video_labels == 1].sum(axis=1) == 7).all()


def test_same_seed_same_interval_other_seed_other_interval():
    scores, labels, videos = frames_of_videos()
    run = lambda seed: uncertainty.bootstrap_metric(scores, labels, videos, n_resamples=100, seed=seed)
    assert run(3) == run(3)
    assert (run(3)["low"], run(3)["high"]) != (run(4)["low"], run(4)["high"])


def test_one_row_per_video_is_the_ordinary_bootstrap():
    scores, labels, _ = frames_of_videos(n_real=20, n_fake=20)
    by_row = uncertainty.bootstrap_metric(scores, labels, None, n_resamples=100, seed=2)
    _, (low, high) = slow_bootstrap(scores, labels, np.arange(labels.size), skm.roc_auc_score, 100, seed=2)
    assert (by_row["low"], by_row["high"]) == pytest.approx((low, high), abs=1e-12)


def test_interval_narrows_with_more_videos():
    small = uncertainty.bootstrap_metric(*frames_of_videos(20, 20), n_resamples=300)
    large = uncertainty.bootstrap_metric(*frames_of_videos(400, 400), n_resamples=300)
    assert large["high"] - large["low"] < (small["high"] - small["low"]) / 2


def test_a_video_with_both_labels_or_a_missing_class_is_refused():
    with pytest.raises(ValueError, match="both real and fake"):
        uncertainty.bootstrap_metric([0.1, 0.9, 0.5], [0, 1, 1], ["a", "a", "b"])
    with pytest.raises(ValueError, match="at least one real and one fake"):
        uncertainty.bootstrap_metric([0.1, 0.9], [1, 1], ["a", "b"])


def test_paired_bootstrap_of_a_detector_against_itself_gives_zero_and_p_one():
    scores, labels, videos = frames_of_videos()
    result = uncertainty.paired_bootstrap_auc((scores, labels, videos), (scores, labels, videos), 200)
    assert result["difference"] == 0 and result["low"] == result["high"] == 0
    assert result["p_value"] == 1.0


def test_paired_bootstrap_finds_a_better_detector_on_the_shared_videos_only():
    scores, labels, videos = frames_of_videos(100, 100, separation=1.0)
    rng = np.random.default_rng(5)
    worse = scores + rng.normal(0, 2.0, scores.size)  # the same frames, noisier
    keep = videos != "v000"  # detector B did not score one video: it is left out of both
    result = uncertainty.paired_bootstrap_auc(
        (scores, labels, videos), (worse[keep], labels[keep], videos[keep])
    )
    shared = videos != "v000"
    assert result["n_videos"] == 199
    assert result["auc_a"] == pytest.approx(skm.roc_auc_score(labels[shared], scores[shared]))
    assert result["difference"] > 0 and result["low"] > 0
    assert result["p_value"] < 0.01


def test_paired_bootstrap_pairs_videos_even_when_frames_differ():
    """Detector B found fewer faces (frames) in each video: still paired by video, same draws for both."""
    scores, labels, videos = frames_of_videos()
    first_frames = np.unique(videos, return_index=True)[1]
    result = uncertainty.paired_bootstrap_auc(
        (scores, labels, videos), (scores[first_frames], labels[first_frames], videos[first_frames]), 100
    )
    assert result["n_videos"] == 70
    assert result["auc_b"] == pytest.approx(skm.roc_auc_score(labels[first_frames], scores[first_frames]))


def slow_delong(labels, scores_a, scores_b):
    """DeLong 1988 written out: psi(x, y) = 1, 1/2, 0 as the fake score x is above, equal to, below the
    real score y; V10 and V01 as row and column means of the psi matrix; the variance of the difference
    from their sample covariances. Returns ``(difference, standard_error)``."""
    fake, real = labels == 1, labels == 0
    components = []
    for scores in (scores_a, scores_b):
        x, y = scores[fake][:, None], scores[real][None, :]
        psi = (x > y) + 0.5 * (x == y)
        components.append((psi.mean(), psi.mean(axis=1), psi.mean(axis=0)))
    (auc_a, v10_a, v01_a), (auc_b, v10_b, v01_b) = components
    m, n = fake.sum(), real.sum()
    d10, d01 = v10_a - v10_b, v01_a - v01_b
    variance = np.var(d10, ddof=1) / m + np.var(d01, ddof=1) / n
    return auc_a - auc_b, np.sqrt(variance)


def test_delong_hand_worked_example():
    """Fakes score a: (0.9, 0.6, 0.4), b: (0.8, 0.7, 0.2); reals a: (0.5, 0.3), b: (0.6, 0.1).
    AUC a = 5/6 (0.4 < 0.5 is the only pair lost); AUC b = 5/6 (0.2 is below 0.6).
    V10 a = (1, 1, 1/2), b = (1, 1, 1/2); V01 a = (2/3, 1), b = (2/3, 1): identical components, so the
    difference and its variance are both 0 and p = 1."""
    labels = np.array([1, 1, 1, 0, 0])
    result = uncertainty.delong_test(labels, [0.9, 0.6, 0.4, 0.5, 0.3], [0.8, 0.7, 0.2, 0.6, 0.1])
    assert result["auc_a"] == pytest.approx(5 / 6) and result["auc_b"] == pytest.approx(5 / 6)
    assert result["difference"] == pytest.approx(0) and result["standard_error"] == pytest.approx(
        0, abs=1e-12
    )
    assert result["p_value"] == 1.0


def test_delong_second_hand_worked_example():
    """Fakes a: (3, 2), b: (3, 1); reals a: (1, 0), b: (2, 0). AUC a = 1, AUC b = 3/4.
    V10 a = (1, 1), b = (1, 1/2): difference (0, 1/2), sample variance 1/8, over m = 2: 1/16.
    V01 a = (1, 1), b = (1/2, 1): difference (1/2, 0), variance 1/8, over n = 2: 1/16.
    Standard error sqrt(1/8); z = (1/4) / sqrt(1/8) = 0.7071; p = 2 (1 - Phi(0.7071)) = 0.4795."""
    result = uncertainty.delong_test([1, 1, 0, 0], [3, 2, 1, 0], [3, 1, 2, 0])
    assert result["difference"] == pytest.approx(0.25)
    assert result["standard_error"] == pytest.approx(np.sqrt(1 / 8))
    assert result["z"] == pytest.approx(1 / np.sqrt(2))
    assert result["p_value"] == pytest.approx(2 * stats.norm.sf(1 / np.sqrt(2)))
    assert result["p_value"] == pytest.approx(0.4795, abs=1e-4)


def test_delong_midranks_equal_the_direct_structural_components():
    rng = np.random.default_rng(11)
    labels = rng.integers(0, 2, 300)
    scores_a = np.round(labels + rng.normal(0, 1, 300), 1)  # rounded: many ties
    scores_b = np.round(labels * 0.5 + scores_a * 0.5 + rng.normal(0, 1, 300), 1)
    result = uncertainty.delong_test(labels, scores_a, scores_b)
    difference, standard_error = slow_delong(labels, scores_a, scores_b)
    assert result["difference"] == pytest.approx(difference, abs=1e-12)
    assert result["standard_error"] == pytest.approx(standard_error, rel=1e-9)
    assert result["auc_a"] == pytest.approx(skm.roc_auc_score(labels, scores_a))


def test_delong_identical_detectors_give_p_one():
    scores, labels, _ = frames_of_videos()
    result = uncertainty.delong_test(labels, scores, scores)
    assert result["difference"] == 0 and result["z"] == 0 and result["p_value"] == 1.0


def test_delong_and_paired_bootstrap_agree_on_the_standard_error():
    """With one row per video both estimate the same sampling spread of AUC_A - AUC_B."""
    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1], 300)
    scores_a = labels * 1.2 + rng.normal(0, 1, 600)
    scores_b = labels * 0.8 + 0.5 * scores_a + rng.normal(0, 1, 600)
    delong = uncertainty.delong_test(labels, scores_a, scores_b)
    videos = np.arange(600)
    boot = uncertainty.paired_bootstrap_auc((scores_a, labels, videos), (scores_b, labels, videos), 1000)
    bootstrap_se = (boot["high"] - boot["low"]) / (2 * stats.norm.ppf(0.975))
    assert bootstrap_se == pytest.approx(delong["standard_error"], rel=0.2)
    assert boot["difference"] == pytest.approx(delong["difference"])
