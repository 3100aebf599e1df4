"""Stage 07's statistics of scored runs: per run and test set, the AUC with its bootstrap interval over
videos (``auc_cell``); per pair of runs, paired tests of the AUC difference on the videos both scored
(``paired_tests``).

Every interval and test is ``common.evaluation.uncertainty``'s: ``bootstrap_metric`` (percentile bootstrap over
videos, stratified by class), ``paired_bootstrap_auc`` and, at video level, ``delong_test``. DeLong's test
assumes independent rows, which frames of one video are not, so at frame level only the paired bootstrap
(which resamples videos) is given.
"""

import itertools
import logging

from common.evaluation.uncertainty import auc, bootstrap_metric, delong_test, paired_bootstrap_auc

log = logging.getLogger(__name__)


def _rows(scores, level):
    """(scores, labels, videos) arrays of one level."""
    table = scores.videos if level == "video" else scores.frames
    return table["score"].to_numpy(float), table["label"].to_numpy(int), table["video"].astype(str).to_numpy()


def auc_cell(scores, level, n_resamples, seed):
    """The bootstrap AUC of one run on one test set at ``level``, with its counts; ``None`` when the level's
    scores are missing, a dict with ``error`` when the AUC is undefined (one class)."""
    values, labels, videos = _rows(scores, level)
    if not values.size:
        return None
    try:
        result = bootstrap_metric(values, labels, videos, metric=auc, n_resamples=n_resamples, seed=seed)
    except ValueError as error:
        return {"error": str(error), "n_rows": int(values.size)}
    return {**result, "n_rows": int(values.size)}


def paired_tests(runs, test_set, level, n_resamples, seed):
    """For each pair of runs scored on ``test_set``: the paired bootstrap of AUC_A - AUC_B on the videos both
    scored and, at video level, DeLong's test on them. Pairs sharing no video of each class are skipped."""
    rows = []
    scored = [run for run in runs if test_set in run.test_sets]
    for run_a, run_b in itertools.combinations(scored, 2):
        a, b = (_rows(run.test_sets[test_set], level) for run in (run_a, run_b))
        if not a[0].size or not b[0].size:
            continue
        try:
            bootstrap = paired_bootstrap_auc(a, b, n_resamples=n_resamples, seed=seed)
        except ValueError as error:
            log.info("%s: %s vs %s: no paired test (%s)", test_set, run_a.name, run_b.name, error)
            continue
        row = {
            "test_set": test_set,
            "level": level,
            "run_a": run_a.name,
            "run_b": run_b.name,
            "shared_videos": bootstrap["n_videos"],
            "auc_a": bootstrap["auc_a"],
            "auc_b": bootstrap["auc_b"],
            "difference": bootstrap["difference"],
            "low": bootstrap["low"],
            "high": bootstrap["high"],
            "p_bootstrap": bootstrap["p_value"],
            "p_delong": None,
            "n_resamples": n_resamples,
            "bootstrap_seed": seed,
        }
        if level == "video":
            row["p_delong"] = _delong_on_shared(run_a.test_sets[test_set], run_b.test_sets[test_set])
        rows.append(row)
    return rows


def _delong_on_shared(scores_a, scores_b):
    """DeLong's p-value on the videos both runs scored (``None`` with fewer than two of a class)."""
    shared = scores_a.videos.merge(scores_b.videos, on="video", suffixes=("_a", "_b"))
    try:
        return delong_test(shared["label_a"], shared["score_a"], shared["score_b"])["p_value"]
    except ValueError:
        return None
