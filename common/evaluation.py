"""Evaluation and reports shared by stage 04 (test split) and stage 05 (labelled videos).

Both stages hand labelled face scores (one row per face, with its frame and face track) to
``evaluate`` with the config's ``predict`` settings, so a run's ``metrics.json`` and stage 05 on the same
videos agree. Frame-level and video-level figures are reported apart, each with its counts.
"""

import json
from pathlib import Path

from common.aggregate import (
    FAKE_VERDICT,
    LABEL_OF_VERDICT,
    REAL_VERDICT,
    RULES,
    UNKNOWN_VERDICT,
    frame_scores,
    scoring,
    video_scores,
)
from common.checkpoint import RUN_METRICS
from common.files import atomic_write_text
from common.metrics import (
    binary_metrics,
    plot_confusion_matrix,
    plot_precision_recall,
    plot_roc,
    video_metrics,
)


def evaluate(faces, settings):
    """Metrics of labelled face scores (one row per face: ``video``, ``frame_index``, ``p_fake``, ``label``,
    optional ``track_id`` and ``method``) by the config's ``predict`` ``settings`` (``aggregate``,
    ``threshold``, ``video_score``, ``track_min_share``); returns ``(metrics, frames, videos)``.

    Frame level: each frame's P(fake) (its most fake face) against ``threshold``. Video level
    (``common.aggregate.video_scores``): AUC, log loss and the threshold-free figures from the video's
    P(fake), accuracy and the confusion matrix from the verdicts of the ``aggregate`` rule, plus the
    accuracy every other rule would have given. ``frames_per_video``: how
    many frames with a face each video contributed. With a ``method`` column (FaceForensics++), AUC per
    manipulation method: the real videos against the fakes of that method.
    """
    kwargs = scoring(settings)
    rule, threshold = kwargs["rule"], kwargs["threshold"]
    frames = frame_scores(faces)
    by_rule = {name: video_scores(faces, **{**kwargs, "rule": name}) for name in RULES}
    videos = by_rule[rule]
    per_video = videos["frames"]
    metrics = {
        "frames_per_video": {
            "min": int(per_video.min()),
            "mean": float(per_video.mean()),
            "max": int(per_video.max()),
        },
        "frame_level": binary_metrics(frames["label"], frames["p_fake"], threshold),
        "video_level": {
            "aggregate": rule,
            "video_score": kwargs["video_score"],
            "track_min_share": kwargs["min_share"],
            **video_metrics(
                videos["label"], videos["fake_probability"], videos["verdict"] == FAKE_VERDICT, threshold
            ),
            "accuracy_by_rule": {
                name: float(((table["verdict"] == FAKE_VERDICT) == (table["label"] == 1)).mean())
                for name, table in by_rule.items()
            },
        },
    }
    if "method" in frames and (frames["method"].fillna("") != "").any():
        metrics["by_method"] = auc_by_method(frames, videos)
    return metrics, frames, videos


def auc_by_method(frames, videos):
    """``{method: {frame_auc, video_auc, fake_videos}}``: every real sample against the fakes of one
    manipulation method (how FaceForensics++ results are reported per method)."""

    def auc(table, score, method):
        chosen = table[(table["label"] == 0) | (table["method"] == method)]
        if chosen["label"].nunique() < 2:
            return None
        return binary_metrics(chosen["label"], chosen[score])["auc"]

    methods = sorted(set(videos.loc[videos["label"] == 1, "method"].fillna("")) - {""})
    return {
        method: {
            "frame_auc": auc(frames, "p_fake", method),
            "video_auc": auc(videos, "fake_probability", method),
            "fake_videos": int(((videos["label"] == 1) & (videos["method"] == method)).sum()),
        }
        for method in methods
    }


def evaluation_paths(prefix):
    """Where ``save_evaluation`` writes: ``<prefix>metrics.json`` and six plots with the same prefix."""
    prefix = str(prefix)
    return {
        "metrics": Path(f"{prefix}{RUN_METRICS}"),
        **{
            f"{plot}_{level}": Path(f"{prefix}{plot}_{level}.png")
            for plot in ("confusion", "roc", "pr")
            for level in ("frames", "videos")
        },
    }


def save_evaluation(metrics, frames, videos, prefix, title):
    """Write the metrics JSON, the confusion matrices, the ROC and the precision-recall curves (frames and
    videos apart) under ``prefix``; return the paths."""
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
        plot_precision_recall(table["label"], table[score], paths[f"pr_{level}"], f"{title}: {level}")
    return paths


def metrics_report(metrics):
    """Frame-level and video-level figures as printable lines."""
    lines = []
    for key, unit in (("frame_level", "frames"), ("video_level", "videos")):
        level = metrics[key]
        auc, eer, ap = (_figure(level[name]) for name in ("auc", "eer", "average_precision"))
        (tn, fp), (fn, tp) = level["confusion_matrix"]
        rule = f", verdicts by {level['aggregate']}" if "aggregate" in level else ""
        if "unknown_left_out" in level:
            rule += f"; {level['unknown_left_out']} UNKNOWN and {level['unlabelled_left_out']} unlabelled left out"
        lines += [
            f"{unit}: {level['n']} ({level['n_real']} real, {level['n_fake']} fake{rule})",
            f"  accuracy {level['accuracy']:.3f}   balanced {level['balanced_accuracy']:.3f}   AUC {auc}   "
            f"EER {eer}   AP {ap}   log loss {level['log_loss']:.3f}",
            f"  true REAL: {tn} called REAL, {fp} called FAKE;  true FAKE: {fn} called REAL, {tp} called FAKE",
        ]
    for method, figures in metrics.get("by_method", {}).items():
        lines.append(
            f"  {method}: frame AUC {_figure(figures['frame_auc'])}, video AUC {_figure(figures['video_auc'])} "
            f"({figures['fake_videos']} fake videos against every real one)"
        )
    return "\n".join(lines)


def _figure(value):
    return "n/a" if value is None else f"{value:.3f}"


PER_VIDEO_LINES = 40  # up to this many videos, the summary lists each verdict


def summary_table(predictions, output):
    """Each video's verdict (for a short batch), counts per verdict, time per video and where the CSV went."""
    lines = []
    if len(predictions) <= PER_VIDEO_LINES:
        shown = [
            column
            for column in ("video", "verdict", "fake_probability", "label", "error")
            if column in predictions
        ]
        lines += [predictions[shown].to_string(index=False, float_format=lambda value: f"{value:.3f}"), ""]
    counts = predictions["verdict"].value_counts()
    unknown = predictions[predictions["verdict"] == UNKNOWN_VERDICT]
    no_face = int(unknown["error"].str.startswith("no face found").sum())
    lines.append(f"{'verdict':<9}{'videos':>7}")
    for verdict in (FAKE_VERDICT, REAL_VERDICT, UNKNOWN_VERDICT):
        lines.append(f"{verdict:<9}{int(counts.get(verdict, 0)):>7}")
    if len(unknown):
        lines[-1] += f"   ({no_face} without a face, {len(unknown) - no_face} failed)"
    seconds = predictions["seconds"]
    scored = seconds[predictions["verdict"] != UNKNOWN_VERDICT]
    timing = f"{len(predictions)} videos in {seconds.sum():.1f} s ({seconds.mean():.2f} s per video"
    if len(scored):
        timing += f"; {scored.mean():.2f} s per scored video"
    lines.append(f"{timing}) -> {output}")
    return "\n".join(lines)


def evaluate_predictions(predictions, faces, settings):
    """Frame-level and video-level metrics over the labelled videos that got a verdict, by
    ``evaluate`` (as stage 04 evaluates its test split). Returns ``(metrics, frames,
    videos)`` of those videos, or ``None`` when there are none.

    AUC and log loss come from ``fake_probability``; accuracy, precision, recall, F1 and the confusion
    matrix come from the ``verdict`` column, so they agree with the CSV.
    """
    labelled = predictions[predictions["label"] != ""]
    decided = labelled[labelled["verdict"] != UNKNOWN_VERDICT]
    if decided.empty:
        return None
    labels = decided.set_index("video")["label"].map(LABEL_OF_VERDICT)
    scored = faces[faces["video"].isin(labels.index)]
    scored = scored.assign(label=scored["video"].map(labels))
    if "method" in decided:
        scored = scored.assign(method=scored["video"].map(decided.set_index("video")["method"]))
    metrics, frames, videos = evaluate(scored, settings)
    metrics["video_level"].update(
        unknown_left_out=int(len(labelled) - len(decided)),
        unlabelled_left_out=int(len(predictions) - len(labelled)),
    )
    return metrics, frames, videos


def report_predictions(predictions, faces, settings, output, data, sampled):
    """Evaluate stage 05's labelled predictions (``settings``: the config's ``predict`` section), write
    ``<output stem>_metrics.json`` and the plots next to ``output``; return the printable report and the
    metrics (``None`` when no labelled video got a verdict). ``sampled``: how frames were sampled, in words
    (``common.video.describe_sampling``)."""
    evaluated = evaluate_predictions(predictions, faces, settings)
    if evaluated is None:
        return "no labelled video got a verdict: no metrics", None
    metrics, frames, videos = evaluated
    metrics = {"data": f"{data}, {sampled}", "sampling": sampled, **metrics}
    prefix = Path(output).with_name(f"{Path(output).stem}_")
    paths = save_evaluation(metrics, frames, videos, prefix, "Stage 05")
    text = (
        f"{metrics_report(metrics)}\n"
        f"metrics -> {paths['metrics']}, plots -> {prefix}{{confusion,roc,pr}}_{{frames,videos}}.png"
    )
    return text, metrics
