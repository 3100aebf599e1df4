"""Frame-level and video-level evaluation shared by stage 04 (test split) and stage 05 (labelled videos).

Both stages hand labelled frame scores (``common.aggregate.frame_scores`` with a ``label`` column) to
``evaluate`` with the config's ``predict`` settings, so a run's ``metrics.json`` and stage 05 on the same
videos agree. Frame-level and video-level figures are reported apart, each with its counts.
"""

import json
from pathlib import Path

from common.aggregate import FAKE_VERDICT, RULES, video_scores
from common.files import atomic_write_text
from common.metrics import binary_metrics, plot_confusion_matrix, plot_roc, video_metrics


def evaluate(frames, method, threshold):
    """Metrics of labelled frame scores; returns ``(metrics, videos)``.

    Frame level: each frame's P(fake) (its most fake face) against ``threshold``. Video level: AUC and log
    loss from the mean frame P(fake), accuracy and the confusion matrix from the verdicts of ``method``,
    plus the accuracy every other rule would have given.
    """
    videos = video_scores(frames, method, threshold)
    by_rule = {rule: video_scores(frames, rule, threshold) for rule in RULES}
    metrics = {
        "frame_level": binary_metrics(frames["label"], frames["p_fake"], threshold),
        "video_level": {
            "aggregate": method,
            **video_metrics(
                videos["label"], videos["fake_probability"], videos["verdict"] == FAKE_VERDICT, threshold
            ),
            "accuracy_by_rule": {
                rule: float(((table["verdict"] == FAKE_VERDICT) == (table["label"] == 1)).mean())
                for rule, table in by_rule.items()
            },
        },
    }
    return metrics, videos


def evaluation_paths(prefix):
    """Where ``save_evaluation`` writes: ``<prefix>metrics.json`` and four plots with the same prefix."""
    prefix = str(prefix)
    return {
        "metrics": Path(f"{prefix}metrics.json"),
        **{
            f"{plot}_{level}": Path(f"{prefix}{plot}_{level}.png")
            for plot in ("confusion", "roc")
            for level in ("frames", "videos")
        },
    }


def save_evaluation(metrics, frames, videos, prefix, title):
    """Write the metrics JSON, the confusion matrices and the ROC curves (frames and videos apart) under
    ``prefix``; return the paths."""
    paths = evaluation_paths(prefix)
    atomic_write_text(paths["metrics"], json.dumps(metrics, indent=2) + "\n")
    for level, key, table, score in (
        ("frames", "frame_level", frames, "p_fake"),
        ("videos", "video_level", videos, "fake_probability"),
    ):
        plot_confusion_matrix(
            metrics[key]["confusion_matrix"], paths[f"confusion_{level}"], f"{title}: {level}"
        )
        plot_roc(table["label"], table[score], paths[f"roc_{level}"], f"{title}: {level}")
    return paths


def metrics_report(metrics):
    """Frame-level and video-level figures as printable lines."""
    lines = []
    for key, unit in (("frame_level", "frames"), ("video_level", "videos")):
        level = metrics[key]
        auc = "n/a (one class)" if level["auc"] is None else f"{level['auc']:.3f}"
        (tn, fp), (fn, tp) = level["confusion_matrix"]
        rule = f", verdicts by {level['aggregate']}" if "aggregate" in level else ""
        if "unknown_left_out" in level:
            rule += f"; {level['unknown_left_out']} UNKNOWN and {level['unlabelled_left_out']} unlabelled left out"
        lines += [
            f"{unit}: {level['n']} ({level['n_real']} real, {level['n_fake']} fake{rule})",
            f"  accuracy {level['accuracy']:.3f}   AUC {auc}   log loss {level['log_loss']:.3f}",
            f"  true REAL: {tn} called REAL, {fp} called FAKE;  true FAKE: {fn} called REAL, {tp} called FAKE",
        ]
    return "\n".join(lines)
