"""Evaluation and reports shared by stage 04 (test split) and stage 05 (labelled videos).

Both stages hand labelled face scores (one row per face, with its frame and face track) to
``evaluate`` with the config's ``predict`` settings, so a run's ``metrics.json`` and stage 05 on the same
videos agree. Frame-level and video-level figures are reported apart, each with its counts.

The blocks of the metrics have their own modules: bootstrap intervals (``intervals``), the validation
threshold (``validation_threshold``), DeepfakeBench's way (``deepfakebench``), AUC per manipulation method
(``per_method_auc``), how many videos the figures cover (``video_coverage``); the metrics file and plots
(``evaluation_files``) and the printed report (``printed_report``) too.
"""

from pathlib import Path

import pandas as pd

from common.core.config import DEFAULTS
from common.evaluation.aggregate import (
    FAKE_VERDICT,
    LABEL_OF_VERDICT,
    NO_FACE_ERROR,
    RULES,
    UNKNOWN_VERDICT,
    frame_scores,
    scoring,
    video_scores,
)
from common.evaluation.calibration import expected_calibration_error
from common.evaluation.deepfakebench import deepfakebench_block
from common.evaluation.evaluation_files import LEVELS, PLOT_KINDS, reliability_caption, save_evaluation
from common.evaluation.intervals import bootstrap_intervals
from common.evaluation.metrics import binary_metrics, video_metrics
from common.evaluation.per_method_auc import auc_by_method
from common.evaluation.printed_report import metrics_report
from common.evaluation.uncertainty import BOOTSTRAP_METHOD, CONFIDENCE
from common.evaluation.validation_threshold import accuracy_at_validation_threshold
from common.evaluation.video_coverage import video_coverage


def evaluate(faces, settings, statistics=None, validation_threshold=None):
    """Metrics of labelled face scores (one row per face: ``video``, ``frame_index``, ``p_fake``, ``label``,
    optional ``track_id`` and ``method``) by the config's ``predict`` ``settings`` (``aggregate``,
    ``threshold``, ``video_score``, ``track_min_share``); returns ``(metrics, frames, videos)``.

    Frame level: each frame's P(fake) (its most fake face) against ``threshold``. Video level
    (``common.evaluation.aggregate.video_scores``): AUC, log loss and the threshold-free figures from the video's
    P(fake), accuracy and the confusion matrix from the verdicts of the ``aggregate`` rule, plus the
    accuracy every other rule would have given. ``frames_per_video``: how
    many frames with a face each video contributed. With a ``method`` column (FaceForensics++), AUC per
    manipulation method: the real videos against the fakes of that method. ``deepfakebench``: the same
    scores as DeepfakeBench's metric code takes them (``deepfakebench_block``).

    ``statistics``: the config's ``evaluation`` section (None: its defaults). With ``bootstrap_resamples``
    above 0, each level gets ``intervals`` (``bootstrap_intervals``), as do both levels of ``deepfakebench``
    and each method of ``by_method``, and ``bootstrap`` records the resamples and the seed once.
    Calibration: ``ece``, the top-label expected calibration error
    (``common.evaluation.calibration.expected_calibration_error``: confidence max(P, 1 - P) of the class called
    at 0.5, over ``ece_bins`` equal-width bins), of the frames' P(fake) and of the videos' P(fake).
    ``validation_threshold``: a threshold chosen on validation scores (``choose_validation_threshold``), or
    None; with one, ``at_validation_threshold`` holds the accuracies at 0.5 and at it
    (``accuracy_at_validation_threshold``).
    """
    statistics = {**DEFAULTS["evaluation"], **(statistics or {})}
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
    bins = statistics["ece_bins"]
    for key, labels, p_fake in (
        ("frame_level", frames["label"], frames["p_fake"]),
        ("video_level", videos["label"], videos["fake_probability"]),
    ):
        metrics[key].update(ece=expected_calibration_error(labels, p_fake, bins), ece_bins=bins)
    resamples, seed = statistics["bootstrap_resamples"], statistics["bootstrap_seed"]
    if resamples:
        metrics["bootstrap"] = {
            "n_resamples": int(resamples),
            "seed": seed,
            "confidence": CONFIDENCE,
            "method": f"{BOOTSTRAP_METHOD}; a frame-level resample takes all frames of each video drawn",
        }
        metrics["frame_level"]["intervals"] = bootstrap_intervals(
            frames["label"], frames["p_fake"], frames["video"], frames["p_fake"], threshold, resamples, seed
        )
        verdict_is_fake = (videos["verdict"] == FAKE_VERDICT).astype(float)
        metrics["video_level"]["intervals"] = bootstrap_intervals(
            videos["label"],
            videos["fake_probability"],
            videos["video"],
            verdict_is_fake,
            0.5,
            resamples,
            seed,
        )
    if validation_threshold is not None:
        metrics["at_validation_threshold"] = accuracy_at_validation_threshold(
            faces, frames, kwargs, validation_threshold
        )
    metrics["deepfakebench"] = deepfakebench_block(frames, resamples, seed)
    if "method" in frames and (frames["method"].fillna("") != "").any():
        metrics["by_method"] = auc_by_method(frames, videos, resamples, seed)
    return metrics, frames, videos


def evaluate_predictions(
    predictions,
    faces,
    settings,
    listed_from="the labelled videos of the input",
    statistics=None,
    validation_threshold=None,
):
    """Frame-level and video-level metrics over the labelled videos that got a verdict, by
    ``evaluate`` (as stage 04 evaluates its test split), and ``video_coverage``: how many labelled videos
    there were (``listed_from`` says which), got a score, had no face; ``statistics``: the config's
    ``evaluation`` settings (None: the defaults); ``validation_threshold``: the model's, when it records one
    (the accuracies at it go beside those at the configured threshold; the verdicts stay). Returns ``(metrics, frames,
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
    metrics, frames, videos = evaluate(scored, settings, statistics, validation_threshold)
    metrics["video_level"].update(
        unknown_left_out=int(len(labelled) - len(decided)),
        unlabelled_left_out=int(len(predictions) - len(labelled)),
    )
    errors = labelled["error"] if "error" in labelled else pd.Series("", index=labelled.index)
    metrics["video_coverage"] = video_coverage(
        labelled["video"],
        decided["video"],
        labelled.loc[errors.str.startswith(NO_FACE_ERROR), "video"],
        listed_from,
    )
    return metrics, frames, videos


def report_predictions(
    predictions, faces, settings, output, data, sampled, statistics=None, validation_threshold=None
):
    """Evaluate stage 05's labelled predictions (``settings``: the config's ``predict`` section), write
    ``<output stem>_metrics.json`` and the plots next to ``output``; return the printable report and the
    metrics (``None`` when no labelled video got a verdict). ``sampled``: how frames were sampled, in words
    (``common.io.video.describe_sampling``); ``statistics``: the config's ``evaluation`` settings;
    ``validation_threshold``: the one the model's metadata records, or None."""
    evaluated = evaluate_predictions(
        predictions, faces, settings, f"the labelled videos: {data}", statistics, validation_threshold
    )
    if evaluated is None:
        return "no labelled video got a verdict: no metrics", None
    metrics, frames, videos = evaluated
    metrics = {"data": f"{data}, {sampled}", "sampling": sampled, **metrics}
    prefix = Path(output).with_name(f"{Path(output).stem}_")
    paths = save_evaluation(metrics, frames, videos, prefix, "Stage 05", data)
    reliability = "; ".join(
        f"{reliability_caption(level, data, len(table))} -> {paths[f'reliability_{level}']}"
        for (level, _), table in zip(LEVELS, (frames, videos))
    )
    text = (
        f"{metrics_report(metrics)}\n"
        f"metrics -> {paths['metrics']}, plots -> {prefix}{{{','.join(PLOT_KINDS)}}}_{{frames,videos}}.png\n"
        f"{reliability}"
    )
    return text, metrics
