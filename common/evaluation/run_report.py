"""A one-page ``report.md`` for a run directory of stage 04: data and protocol, model and training, the
test metrics (frame level and video level apart, each with its counts), the plots, and what the test data
was and was not used for.

Everything is read back from the files of the run (``config.yaml``, ``metrics.json``, ``history.csv``) and
of the dataset it was trained on (``pipeline.yaml``, ``split_counts.csv``), so a report can be rendered
again for any run directory: ``write_report(run_dir)``.
"""

import json
from pathlib import Path

import pandas as pd

from common.core.config import OLD_VALUES, upgraded
from common.core.files import atomic_write_text
from common.core.manifest import read_pipeline
from common.core.model_file import (
    EXPLAIN_DIR,
    GRADCAM_PNG,
    HISTORY,
    RUN_CONFIG,
    RUN_METRICS,
    TSNE_PNG,
    describe_config_file,
    read_run_config,
    recorded_config_file,
)
from common.data.adapters import GROUPING
from common.data.split import COUNTS
from common.evaluation.evaluation_files import LEVELS, reliability_caption
from common.evaluation.figures import DEEPFAKEBENCH_FIGURES, FIGURES, definitions_line
from common.evaluation.intervals import bootstrap_line
from common.evaluation.printed_report import shown, with_interval
from common.evaluation.video_coverage import coverage_line
from common.faces.base import describe_admission
from common.io.video import WIDTH_RULE, describe_sampling

REPORT = "report.md"
BALANCE_TEXT = {  # dataset.balance -> how the report says what stage 03 did to the train split
    "none": "keeps every face of every video (stage 04's class weights even the loss).",
    "frames": "keeps every video, with fewer evenly spaced frames from each majority-class video to even the "
    "classes.",
    "videos": "balanced by dropping whole majority-class videos.",
}
CROSS_DIR = "cross_dataset"  # metrics of stage 05 --add-to-report on other datasets, one JSON per dataset
PLOTS = (
    ("Training curves", "training_curves.png"),
    ("ROC, frames", "roc_frames.png"),
    ("ROC, videos", "roc_videos.png"),
    ("Precision-recall, frames", "pr_frames.png"),
    ("Precision-recall, videos", "pr_videos.png"),
    ("Confusion matrix, frames", "confusion_frames.png"),
    ("Confusion matrix, videos", "confusion_videos.png"),
    ("Reliability diagram, frames", "reliability_frames.png"),  # captioned by plot_captions
    ("Reliability diagram, videos", "reliability_videos.png"),
    ("Grad-CAM of P(fake) on test faces", f"{EXPLAIN_DIR}/{GRADCAM_PNG}"),
    ("t-SNE of test-face embeddings, before and after training", f"{EXPLAIN_DIR}/{TSNE_PNG}"),
)


def side_by_side(figures, frame, video):
    """Markdown lines of a table of ``figures`` (``common.evaluation.figures``), one row each, with the
    ``frame`` and ``video`` level's values (and intervals) in two columns."""
    lines = ["| figure | frames | videos |", "|---|---|---|"]
    for figure in figures:
        cells = (with_interval(level, figure.key, figure.template) for level in (frame, video))
        lines.append(f"| {figure.label} | {' | '.join(cells)} |")
    return lines


def metrics_table(metrics):
    """The frame-level and video-level figures side by side, as Markdown lines."""
    frame, video = metrics["frame_level"], metrics["video_level"]
    lines = side_by_side(FIGURES, frame, video)
    lines.append(
        f"| real / fake | {frame['n_real']} / {frame['n_fake']} | {video['n_real']} / {video['n_fake']} |"
    )
    rules = ", ".join(f"{rule} {accuracy:.4f}" for rule, accuracy in video["accuracy_by_rule"].items())
    score = video.get("video_score", "track_max")
    share = video.get("track_min_share", 0)
    lines += [
        "",
        f"Video P(fake) by `{score}` over the face tracks seen in at least {share:.0%} of a video's frames with "
        f"a face; verdicts by `{video['aggregate']}`; video accuracy under each rule: {rules}.",
    ]
    if "ece_bins" in frame:
        lines += [
            "",
            f"Expected calibration error over {frame['ece_bins']} equal-width bins, of the frames' and of the "
            "videos' P(fake) (defined below).",
        ]
    if "at_validation_threshold" in metrics:
        block = metrics["at_validation_threshold"]
        lines += [
            "",
            "| accuracy at | frames | videos |",
            "|---|---|---|",
            f"| 0.5 | {block['frame_accuracy_at_0.5']:.4f} | {block['video_accuracy_at_0.5']:.4f} |",
            f"| {block['value']:.4f}, chosen on the {block['split']} split ({block['rule']}) "
            f"| {block['frame_accuracy_at_threshold']:.4f} | {block['video_accuracy_at_threshold']:.4f} |",
        ]
    if "bootstrap" in metrics:
        lines += ["", bootstrap_line(metrics["bootstrap"]) + "."]
    if "by_method" in metrics:
        lines += ["", "| manipulation method | fake videos | frame AUC | video AUC |", "|---|---|---|---|"]
        for method, figures in metrics["by_method"].items():
            lines.append(
                f"| {method} | {figures['fake_videos']} | {with_interval(figures, 'frame_auc', '{:.4f}')} "
                f"| {with_interval(figures, 'video_auc', '{:.4f}')} |"
            )
    return lines


def temperature_line(block):
    """metrics.json's ``temperature_scaling`` (stage 04 ``--temperature-scaling``) in words, one line."""
    return (
        f"Temperature scaling: T = {block['temperature']:.4g}, fitted on the {block['fitted_on']} ({block['rule']}); "
        f"val frame ECE {block['val_ece_before']:.4f} before, {block['val_ece_after']:.4f} after "
        f"({block['ece_bins']} bins), log loss {block['val_log_loss_before']:.4f} before, "
        f"{block['val_log_loss_after']:.4f} after. The model file outputs the calibrated P(fake): every figure "
        "here, and the threshold chosen on val, is of it."
    )


PHASE_NAMES = {"head": "head phase (backbone frozen)", "finetune": "fine-tuning (every layer)"}


def learning_rates(metrics, train):
    """The Adam learning rate of each phase the run trained in (metrics.json's ``training_phases``); for a
    run that did not record them, the two config keys as they were."""
    phases = metrics.get("training_phases")
    if not phases:
        return (
            f"learning_rate {train['learning_rate']} (finetune_learning_rate {train['finetune_learning_rate']} "
            "for fine-tuning after a head phase)"
        )
    return "learning rate " + ", then ".join(
        f"{phase['learning_rate']:g} in the {PHASE_NAMES[phase['phase']]}" for phase in phases
    )


def deepfakebench_table(metrics):
    """metrics.json's ``deepfakebench`` block (frames and videos side by side), as Markdown lines."""
    block = metrics["deepfakebench"]
    frame, video = block["frame_level"], block["video_level"]
    return side_by_side(DEEPFAKEBENCH_FIGURES, frame, video)


VIDEO_SCORE_TEXT = {  # predict.video_score -> what our video P(fake) is
    "track_max": "the mean P(fake) of each face track that decides the video (seen in at least {share:.0%} "
    "of its frames with a face), the most fake one counting",
    "frame_mean": "the mean frame P(fake) over the frames of the face tracks that decide the video (seen in "
    "at least {share:.0%} of its frames with a face)",
}


def definitions(video_level):
    """The report's definitions of every figure; the video P(fake) as the run's ``video_score`` made it
    (metrics.json's ``video_level``; a run that did not record it used ``track_max`` with every track)."""
    rule = VIDEO_SCORE_TEXT[video_level.get("video_score", "track_max")]
    return (
        "- **Frame P(fake)**: the P(fake) of the frame's most fake face. **Video P(fake)** (our video figures): "
        + rule.format(share=video_level.get("track_min_share", 0.0))
        + ". **Verdicts**: the aggregation rule named under the table, at the threshold.",
        *DEFINITIONS,
    )


DEFINITIONS = (
    definitions_line(),
    "- **DeepfakeBench-compatible** (as its `training/metrics/utils.py`, `get_test_metrics`, computes them): "
    "frames scored by frame P(fake), videos by the mean of their frame P(fake); AUC as above; equal error "
    "rate = the false positive rate of the ROC point (scikit-learn's default points) where |FNR - FPR| is "
    "smallest, no interpolation; accuracy with fake when P(fake) > 0.5 (strictly). DeepfakeBench reports "
    "AUC, EER, AP and accuracy of frames and the AUC of videos. Not copied: DeepfakeBench groups frames into "
    "videos by folder name, so on FaceForensics++ its video AUC merges the fakes of every method that share "
    "a pair name (`000_003`) into one video (700 test videos become 280); here each video stays one.",
)


def split_table(counts):
    """Videos and faces per split, label and manipulation method (and what balancing dropped), as Markdown
    lines; the method column only when the dataset names methods."""
    counts = counts.fillna({"method": ""}) if "method" in counts else counts.assign(method="")
    methods = (counts["method"] != "").any()
    lines = [
        f"| split | label |{' method |' if methods else ''} videos | faces | dropped videos | dropped faces |",
        f"|---|---|{'---|' if methods else ''}---|---|---|---|",
    ]
    for row in counts.itertuples():
        method = f" {row.method or '-'} |" if methods else ""
        lines.append(
            f"| {row.split} | {row.label} |{method} {row.videos} | {row.faces} | {row.dropped_videos} "
            f"| {row.dropped_faces} |"
        )
    return lines


def scored_of_listed(metrics):
    """Videos scored, and of how many listed and how many without a face, when the metrics say."""
    coverage = metrics.get("video_coverage")
    if coverage is None:
        return str(metrics["video_level"]["n"])
    return f"{coverage['scored']} ({coverage['listed']}, {coverage['no_face']})"


def cross_table(paths):
    """One row per dataset scored by stage 05 with ``--add-to-report``, as Markdown lines; a figure with a
    bootstrap interval in the stored metrics shows it as ``value [low, high]``, and a line below says how the
    intervals were made (once when every dataset used the same resamples and seed, else per dataset)."""
    lines = [
        "| data | videos scored (listed, without a face) | frame AUC | video AUC | video accuracy | frame EER "
        "| DeepfakeBench frame EER "
        "| DeepfakeBench video AUC |",
        "|---|---|---|---|---|---|---|---|",
    ]
    bootstraps = []
    for path in paths:
        metrics = json.loads(path.read_text())
        frame, video = metrics["frame_level"], metrics["video_level"]
        compatible = metrics.get("deepfakebench", {"frame_level": {}, "video_level": {}})
        cells = [
            with_interval(level, key, "{:.4f}")
            for level, key in (
                (frame, "auc"),
                (video, "auc"),
                (video, "accuracy"),
                (frame, "eer"),
                (compatible["frame_level"], "eer"),
                (compatible["video_level"], "auc"),
            )
        ]
        lines.append(
            f"| {path.stem}: {metrics.get('data', '')} | {scored_of_listed(metrics)} | {' | '.join(cells)} |"
        )
        if "bootstrap" in metrics:
            bootstraps.append((path.stem, bootstrap_line(metrics["bootstrap"])))
    if len({line for _, line in bootstraps}) == 1:
        lines += ["", bootstraps[0][1] + "."]
    else:
        lines += [line for name, text in bootstraps for line in ("", f"{name}: {text}.")]
    return lines


def add_cross_dataset(run_dir, name, metrics):
    """Keep stage 05's ``metrics`` on dataset ``name`` in the run and render its report again; return the
    report's path."""
    atomic_write_text(Path(run_dir) / CROSS_DIR / f"{name}.json", json.dumps(metrics, indent=2) + "\n")
    return write_report(run_dir)


def plot_captions(metrics):
    """The captions of the plots whose title depends on the metrics: each reliability diagram with its level,
    data and count."""
    return {
        f"reliability_{level}.png": reliability_caption(level, "test split", metrics[key]["n"])
        for level, key in LEVELS
    }


def render_report(run_dir):
    """The Markdown text of the report of ``run_dir``."""
    run_dir = Path(run_dir)
    config = upgraded(read_run_config(run_dir), f"in {run_dir / RUN_CONFIG}")  # a run saved before keys moved
    metrics = json.loads((run_dir / RUN_METRICS).read_text())
    dataset_dir = Path(config.get("dataset_dir", ""))
    pipeline = read_pipeline(dataset_dir)
    source, video, split = pipeline.get("source", {}), pipeline.get("video", {}), pipeline.get("dataset", {})
    train, predict = config["train"], config["predict"]
    sbi = train.get("sbi", {})
    history = pd.read_csv(run_dir / HISTORY) if (run_dir / HISTORY).is_file() else pd.DataFrame()
    selected = metrics.get("model_selection", {})
    per_video = metrics.get("frames_per_video", {})
    resize = video.get("resize", "width_rule")
    lines = [
        f"# Run {run_dir.name}",
        "",
        "## Data and protocol",
        "",
        f"- Dataset: `{source.get('dataset', 'unknown')}` from `{source.get('input', 'unknown')}`; "
        f"stage 03 output `{dataset_dir}`.",
        f"- Split: protocol `{split.get('protocol', 'ratios')}`, by video group"
        + (
            f" (ratios {split.get('train')}/{split.get('val')}/{split.get('test')})"
            if split.get("protocol", "ratios") == "ratios"
            else " (the official test list whole; val carved from the rest by group)"
        )
        + (
            "; as in the official Celeb-DF v2 protocol, identities of the test list also appear in train"
            if source.get("dataset") == "celebdf" and split.get("protocol") == "official"
            else ""
        )
        + f", seed {split.get('seed', config.get('seed'))}; the train split "
        + BALANCE_TEXT[OLD_VALUES["dataset.balance"].get(split.get("balance", True), split.get("balance"))]
        + (f" Groups: {GROUPING[source['dataset']]}." if source.get("dataset") in GROUPING else ""),
        f"- Frames: {describe_sampling(video) if 'fps' in video else 'sampling not recorded'}, "
        f"resize `{resize}`"
        + (f" ({WIDTH_RULE})" if resize == "width_rule" else "")
        + f"; test videos contributed {per_video.get('min', '?')}-{per_video.get('max', '?')} frames with a face "
        f"(mean {per_video.get('mean', 0):.1f}).",
        f"- Faces: {config['preprocess']['detector']} kept at {describe_admission(config['preprocess'])}; "
        f"margin {config['preprocess']['margin']} on each side; "
        + (
            "only the main face track of a video kept (most face area over its frames)"
            if config["preprocess"].get("faces") == "main"
            else "every face of a frame kept"
        )
        + "; a frame scored by its most fake face.",
    ]
    counts_path = dataset_dir / COUNTS
    if counts_path.is_file():
        lines += ["", *split_table(pd.read_csv(counts_path))]
    lines += [
        "",
        "## Model and training",
        "",
        f"- `{train['model']}` at {train['image_size']} px, weights `{train['weights']}`, BatchNorm "
        f"`{train['batchnorm']}`; batch {train['batch_size']}, {learning_rates(metrics, train)}, "
        f"patience {train['patience']}, seed {config.get('seed')}.",
        f"- Config file: `{describe_config_file(*recorded_config_file(config))}`, command-line flags over it; "
        f"the settings used are in `{RUN_CONFIG}`.",
        f"- Epochs run: {len(history)} (head phase up to {train['head_epochs']}, fine-tuning up to "
        f"{train['epochs']}). Selected: epoch {selected.get('epoch', '?')} of the {selected.get('phase', '?')} "
        f"phase, {selected.get('monitor', 'val_loss')} {shown(selected.get('value'), '{:.4f}')}, on the val "
        "split.",
    ]
    if train.get("pseudo_fakes") == "sbi":
        lines.append(
            "- Training fakes: SBI pseudo-fakes made from the train split's real faces ("
            + (
                "new pairs every epoch, the source or the target changed"
                if sbi.get("mode", "once") == "online"
                else "one per real face, made once"
            )
            + "); no fake of the train split was seen. Model selection (val_loss) used "
            + selected.get("val_fakes", "the val split's own fakes")
            + (
                ": no real fake was seen before the test split."
                if sbi.get("val_fakes") == "sbi"
                else ": real fakes were seen in model selection, so 'no real fake seen' holds for training only."
            )
        )
    if metrics.get("learned_nothing"):
        lines.append(f"- **WARNING: the model learned nothing**: {metrics['learned_nothing']}.")
    lines += [
        "",
        "## Test metrics",
        "",
        f"Data: {metrics.get('data', 'the test split')}. Threshold {predict['threshold']}.",
        "",
        *(
            [f"Test videos: {coverage_line(metrics['video_coverage'])}.", ""]
            if "video_coverage" in metrics
            else []
        ),
        *metrics_table(metrics),
        "",
        *(
            [temperature_line(metrics["temperature_scaling"]), ""]
            if metrics.get("temperature_scaling")
            else []
        ),
        *(
            ["DeepfakeBench-compatible figures (definitions below):", "", *deepfakebench_table(metrics), ""]
            if "deepfakebench" in metrics
            else []
        ),
        "Definitions:",
        "",
        *definitions(metrics["video_level"]),
        "",
        "No test data was used for training or model selection: the model was selected on the val split "
        "(lowest val_loss over every epoch of every phase) and the test split was scored once, after training.",
        "",
    ]
    cross = (
        sorted((run_dir / CROSS_DIR).glob("[!.]*.json")) if (run_dir / CROSS_DIR).is_dir() else []
    )  # not temporaries
    if cross:
        lines += ["## Cross-dataset", "", *cross_table(cross), ""]
    lines += ["## Plots", ""]
    captions = plot_captions(metrics)
    for title, name in PLOTS:
        if (run_dir / name).is_file():
            title = captions.get(name, title)
            lines += [f"**{title}**", "", f"![{title}]({name})", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_report(run_dir):
    """Write ``run_dir/report.md`` (atomically); return its path."""
    path = Path(run_dir) / REPORT
    atomic_write_text(path, render_report(run_dir))
    return path
