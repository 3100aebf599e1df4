"""Evaluation and reports shared by stage 04 (test split) and stage 05 (labelled videos).

Both stages hand labelled face scores (one row per face, with its frame and face track) to
``evaluate`` with the config's ``predict`` settings, so a run's ``metrics.json`` and stage 05 on the same
videos agree. Frame-level and video-level figures are reported apart, each with its counts.
"""

import json
import textwrap
from pathlib import Path

import pandas as pd

from common.core.config import DEFAULTS
from common.core.files import atomic_write_text
from common.core.model_file import RUN_METRICS
from common.evaluation.aggregate import (
    FAKE_VERDICT,
    LABEL_OF_VERDICT,
    NO_FACE_ERROR,
    REAL_VERDICT,
    RULES,
    UNKNOWN_VERDICT,
    frame_scores,
    scoring,
    video_scores,
)
from common.evaluation.calibration import eer_threshold, expected_calibration_error, reliability_diagram
from common.evaluation.figures import DEEPFAKEBENCH_FIGURES, FIGURES
from common.evaluation.metrics import (
    DEEPFAKEBENCH_THRESHOLD,
    binary_metrics,
    deepfakebench_metrics,
    nearest_point_error_rate,
    plot_confusion_matrix,
    plot_precision_recall,
    plot_reliability_diagram,
    plot_roc,
    video_metrics,
)
from common.evaluation.uncertainty import (
    BOOTSTRAP_METHOD,
    CONFIDENCE,
    accuracy_above,
    accuracy_at,
    auc,
    average_precision,
    bootstrap_metric,
    eer,
    per_resample,
)


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


DEEPFAKEBENCH_INTERVALS = {  # deepfakebench_metrics' figures as bootstrap metrics (uncertainty's interface)
    "auc": auc,
    "eer": per_resample(nearest_point_error_rate),  # scikit-learn's ROC points: exact, one call a resample
    "average_precision": average_precision,
    "accuracy": accuracy_above(DEEPFAKEBENCH_THRESHOLD),
}


def deepfakebench_block(frames, resamples=0, seed=0):
    """The figures computed as DeepfakeBench's metric code computes them (``deepfakebench_metrics``), beside
    ours: ``frame_level`` from each frame's P(fake), ``video_level`` from the mean of a video's frame
    P(fake). One difference is kept on purpose: DeepfakeBench groups frames into videos by their folder name,
    which on FaceForensics++ merges the fake videos of every method that share a pair name (``000_003``), so
    its 700 test videos (140 real, 4 x 140 fake) count as 280; here every video stays one video.

    With ``resamples`` above 0, each level gets ``intervals`` of its four figures, defined as DeepfakeBench
    defines them, by the bootstrap over videos of ``bootstrap_intervals`` (same ``resamples`` and ``seed``):
    frames resampled by whole videos, videos one row each."""
    videos = frames.groupby("video", sort=True).agg(p_fake=("p_fake", "mean"), label=("label", "first"))
    block = {
        "frame_level": deepfakebench_metrics(frames["label"], frames["p_fake"]),
        "video_level": {
            "score": "mean frame P(fake)",
            **deepfakebench_metrics(videos["label"], videos["p_fake"]),
        },
    }
    if resamples:
        for key, table in (("frame_level", frames), ("video_level", videos.reset_index())):
            figures = {name: (metric, table["p_fake"]) for name, metric in DEEPFAKEBENCH_INTERVALS.items()}
            block[key]["intervals"] = intervals_of(figures, table["label"], table["video"], resamples, seed)
    return block


def auc_by_method(frames, videos, resamples=0, seed=0):
    """``{method: {frame_auc, video_auc, fake_videos}}``: every real sample against the fakes of one
    manipulation method (how FaceForensics++ results are reported per method). With ``resamples`` above 0,
    ``intervals`` of both AUCs by the bootstrap over videos of ``bootstrap_intervals`` (same ``resamples``
    and ``seed``) on those samples: the frames resampled by whole videos, the videos one row each."""

    def chosen(table, method):
        return table[(table["label"] == 0) | (table["method"] == method)]

    def auc_of(table, score):
        return binary_metrics(table["label"], table[score])["auc"] if table["label"].nunique() == 2 else None

    methods = sorted(set(videos.loc[videos["label"] == 1, "method"].fillna("")) - {""})
    result = {}
    for method in methods:
        method_frames, method_videos = chosen(frames, method), chosen(videos, method)
        result[method] = {
            "frame_auc": auc_of(method_frames, "p_fake"),
            "video_auc": auc_of(method_videos, "fake_probability"),
            "fake_videos": int(((videos["label"] == 1) & (videos["method"] == method)).sum()),
        }
        if resamples:
            result[method]["intervals"] = {
                **intervals_of(
                    {"frame_auc": (auc, method_frames["p_fake"])},
                    method_frames["label"],
                    method_frames["video"],
                    resamples,
                    seed,
                ),
                **intervals_of(
                    {"video_auc": (auc, method_videos["fake_probability"])},
                    method_videos["label"],
                    method_videos["video"],
                    resamples,
                    seed,
                ),
            }
    return result


def video_coverage(listed, scored, no_face, listed_from):
    """How many of the ``listed`` videos (ids; ``listed_from`` says where the list comes from) the figures
    cover: ``{"listed", "scored", "no_face", "not_scored_otherwise", "listed_from"}``, ``no_face``: listed
    videos in which no face was found (ids in ``no_face``), ``not_scored_otherwise``: the other listed videos
    without a score (unreadable images, a video that failed)."""
    listed = set(listed)
    scored, no_face = set(scored) & listed, (set(no_face) & listed) - set(scored)
    return {
        "listed": len(listed),
        "scored": len(scored),
        "no_face": len(no_face),
        "not_scored_otherwise": len(listed - scored - no_face),
        "listed_from": listed_from,
    }


def coverage_line(coverage):
    """``video_coverage`` in words, one line."""
    line = (
        f"{coverage['listed']} videos listed ({coverage['listed_from']}): {coverage['scored']} scored, "
        f"{coverage['no_face']} without a face, {coverage['not_scored_otherwise']} not scored otherwise"
    )
    if coverage["scored"] < coverage["listed"]:
        line += f"; the figures cover {coverage['scored']} of the {coverage['listed']} listed videos"
    return line


PLOT_KINDS = (
    "confusion",
    "roc",
    "pr",
    "reliability",
)  # the plots save_evaluation draws, frames and videos each
LEVELS = (("frames", "frame_level"), ("videos", "video_level"))  # plot-name level, metrics.json key


def evaluation_paths(prefix):
    """Where ``save_evaluation`` writes: ``<prefix>metrics.json`` and eight plots with the same prefix."""
    prefix = str(prefix)
    return {
        "metrics": Path(f"{prefix}{RUN_METRICS}"),
        **{
            f"{plot}_{level}": Path(f"{prefix}{plot}_{level}.png")
            for plot in PLOT_KINDS
            for level, _ in LEVELS
        },
    }


def reliability_caption(level, data, count):
    """What a reliability diagram shows, as its title and the reports name it: the ``level`` ("frames" or
    "videos"), the ``data`` and how many samples."""
    return f"Reliability diagram of P(fake), {level}: {data}, {count} {level}"


def save_evaluation(metrics, frames, videos, prefix, title, data=None):
    """Write the metrics JSON, the confusion matrices, the ROC and the precision-recall curves and the
    reliability diagrams (``common.evaluation.calibration.reliability_diagram`` over the ``ece_bins`` of the
    metrics) of frames and videos apart under ``prefix``; ``data`` names the data in the reliability
    diagrams' titles (None: ``title``). Returns the paths."""
    paths = evaluation_paths(prefix)
    atomic_write_text(paths["metrics"], json.dumps(metrics, indent=2) + "\n")
    for (level, key), table, score in zip(LEVELS, (frames, videos), ("p_fake", "fake_probability")):
        plot_confusion_matrix(
            metrics[key]["confusion_matrix"], paths[f"confusion_{level}"], f"{title}: {level}"
        )
        plot_roc(table["label"], table[score], paths[f"roc_{level}"], f"{title}: {level}")
        plot_precision_recall(table["label"], table[score], paths[f"pr_{level}"], f"{title}: {level}")
        diagram = reliability_diagram(
            table["label"], table[score], metrics[key].get("ece_bins", DEFAULTS["evaluation"]["ece_bins"])
        )
        caption = textwrap.fill(
            reliability_caption(level, data or title, len(table)), RELIABILITY_TITLE_WIDTH
        )
        plot_reliability_diagram(diagram, paths[f"reliability_{level}"], caption)
    return paths


RELIABILITY_TITLE_WIDTH = 60  # characters per line of a reliability diagram's title (a 5-inch figure)


def metrics_report(metrics):
    """Frame-level and video-level figures as printable lines."""
    lines = [coverage_line(metrics["video_coverage"])] if "video_coverage" in metrics else []
    for key, unit in (("frame_level", "frames"), ("video_level", "videos")):
        level = metrics[key]
        (tn, fp), (fn, tp) = level["confusion_matrix"]
        rule = f", verdicts by {level['aggregate']}" if "aggregate" in level else ""
        if "unknown_left_out" in level:
            rule += f"; {level['unknown_left_out']} UNKNOWN and {level['unlabelled_left_out']} unlabelled left out"
        lines += [
            f"{unit}: {level['n']} ({level['n_real']} real, {level['n_fake']} fake{rule})",
            "  " + "   ".join(printed_figures(FIGURES, level)),
            f"  true REAL: {tn} called REAL, {fp} called FAKE;  true FAKE: {fn} called REAL, {tp} called FAKE",
        ]
    if "at_validation_threshold" in metrics:
        lines.append(validation_threshold_line(metrics["at_validation_threshold"]))
    if "bootstrap" in metrics:
        lines.append(bootstrap_line(metrics["bootstrap"]))
    if "deepfakebench" in metrics:
        frame, video = metrics["deepfakebench"]["frame_level"], metrics["deepfakebench"]["video_level"]
        lines.append(
            f"DeepfakeBench's way: frames {' '.join(printed_figures(DEEPFAKEBENCH_FIGURES, frame))}; "
            f"videos (mean frame P(fake)) {' '.join(printed_figures(DEEPFAKEBENCH_FIGURES, video))}"
        )
    for method, figures in metrics.get("by_method", {}).items():
        lines.append(
            f"  {method}: frame AUC {with_interval(figures, 'frame_auc')}, video AUC "
            f"{with_interval(figures, 'video_auc')} ({figures['fake_videos']} fake videos against every real one)"
        )
    return "\n".join(lines)


def shown(value, template="{:.3f}"):
    """A metric for a person to read: ``template`` of ``value``, or "n/a" when it is undefined (None)."""
    return "n/a" if value is None else template.format(value)


def with_interval(level, name, template="{:.3f}"):
    """A figure of a level's metrics (``frame_level``, ``video_level``) as ``value [low, high]`` when the level
    has a bootstrap interval for it, else as ``shown``."""
    interval = level.get("intervals", {}).get(name)
    if level.get(name) is None or interval is None:
        return shown(level.get(name), template)
    low, high = interval
    return f"{template.format(level[name])} [{template.format(low)}, {template.format(high)}]"


def printed_figures(figures, level):
    """``figures`` (``common.evaluation.figures``) of one level's metrics as the printed report shows them:
    "short value [low, high]" each, the count left out (the line above says it), ECE with its bins; a figure
    the level lacks (metrics of an older run) left out."""
    shown_figures = []
    for figure in figures:
        if figure.key == "n" or figure.key not in level:
            continue
        text = f"{figure.short} {with_interval(level, figure.key)}"
        if figure.key == "ece":
            text += f" (top-label, {level['ece_bins']} bins)"
        shown_figures.append(text)
    return shown_figures


def bootstrap_line(bootstrap):
    """What the ``[low, high]`` intervals are, one line."""
    return (
        f"[low, high]: {bootstrap['confidence']:.0%} intervals, {bootstrap['method']}, "
        f"{bootstrap['n_resamples']} resamples, seed {bootstrap['seed']}"
    )


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
    no_face = int(unknown["error"].str.startswith(NO_FACE_ERROR).sum())
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
