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

from common.checkpoint import EXPLAIN_DIR, GRADCAM_PNG, HISTORY, RUN_METRICS, TSNE_PNG, read_run_config
from common.files import atomic_write_text
from common.manifest import read_pipeline

REPORT = "report.md"
CROSS_DIR = "cross_dataset"  # metrics of stage 05 --add-to-report on other datasets, one JSON per dataset
PLOTS = (
    ("Training curves", "training_curves.png"),
    ("ROC, frames", "roc_frames.png"),
    ("ROC, videos", "roc_videos.png"),
    ("Precision-recall, frames", "pr_frames.png"),
    ("Precision-recall, videos", "pr_videos.png"),
    ("Confusion matrix, frames", "confusion_frames.png"),
    ("Confusion matrix, videos", "confusion_videos.png"),
    ("Grad-CAM of P(fake) on test faces", f"{EXPLAIN_DIR}/{GRADCAM_PNG}"),
    ("t-SNE of test-face embeddings, before and after training", f"{EXPLAIN_DIR}/{TSNE_PNG}"),
)
FIGURES = (
    ("n", "samples", "{:d}"),
    ("accuracy", "accuracy at the threshold", "{:.4f}"),
    ("balanced_accuracy", "balanced accuracy", "{:.4f}"),
    ("auc", "AUC", "{:.4f}"),
    ("eer", "equal error rate", "{:.4f}"),
    ("average_precision", "average precision (fake = positive)", "{:.4f}"),
    ("log_loss", "log loss", "{:.4g}"),
)


def _value(template, value):
    return "n/a" if value is None else template.format(value)


def metrics_table(metrics):
    """The frame-level and video-level figures side by side, as Markdown lines."""
    frame, video = metrics["frame_level"], metrics["video_level"]
    lines = ["| figure | frames | videos |", "|---|---|---|"]
    for key, name, template in FIGURES:
        lines.append(f"| {name} | {_value(template, frame.get(key))} | {_value(template, video.get(key))} |")
    lines.append(
        f"| real / fake | {frame['n_real']} / {frame['n_fake']} | {video['n_real']} / {video['n_fake']} |"
    )
    rules = ", ".join(f"{rule} {accuracy:.4f}" for rule, accuracy in video["accuracy_by_rule"].items())
    lines += ["", f"Verdicts by `{video['aggregate']}`; video accuracy under each rule: {rules}."]
    if "by_method" in metrics:
        lines += ["", "| manipulation method | fake videos | frame AUC | video AUC |", "|---|---|---|---|"]
        for method, figures in metrics["by_method"].items():
            lines.append(
                f"| {method} | {figures['fake_videos']} | {_value('{:.4f}', figures['frame_auc'])} "
                f"| {_value('{:.4f}', figures['video_auc'])} |"
            )
    return lines


def split_table(counts):
    """Faces and videos per split and label (and what balancing dropped), as Markdown lines."""
    lines = [
        "| split | label | videos | faces | dropped videos | dropped faces |",
        "|---|---|---|---|---|---|",
    ]
    for row in counts.itertuples():
        lines.append(
            f"| {row.split} | {row.label} | {row.videos} | {row.faces} | {row.dropped_videos} | {row.dropped_faces} |"
        )
    return lines


def cross_table(paths):
    """One row per dataset scored by stage 05 with ``--add-to-report``, as Markdown lines."""
    lines = [
        "| data | videos | frame AUC | video AUC | video accuracy | frame EER |",
        "|---|---|---|---|---|---|",
    ]
    for path in paths:
        metrics = json.loads(path.read_text())
        frame, video = metrics["frame_level"], metrics["video_level"]
        lines.append(
            f"| {path.stem}: {metrics.get('data', '')} | {video['n']} | {_value('{:.4f}', frame['auc'])} "
            f"| {_value('{:.4f}', video['auc'])} | {video['accuracy']:.4f} | {_value('{:.4f}', frame['eer'])} |"
        )
    return lines


def add_cross_dataset(run_dir, name, metrics):
    """Keep stage 05's ``metrics`` on dataset ``name`` in the run and render its report again; return the
    report's path."""
    atomic_write_text(Path(run_dir) / CROSS_DIR / f"{name}.json", json.dumps(metrics, indent=2) + "\n")
    return write_report(run_dir)


def render_report(run_dir):
    """The Markdown text of the report of ``run_dir``."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    metrics = json.loads((run_dir / RUN_METRICS).read_text())
    dataset_dir = Path(config.get("dataset_dir", ""))
    pipeline = read_pipeline(dataset_dir)
    source, video, split = pipeline.get("source", {}), pipeline.get("video", {}), pipeline.get("dataset", {})
    train, predict = config["train"], config["predict"]
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
        + (
            "balanced by dropping whole majority-class videos."
            if split.get("balance", True)
            else "not balanced."
        ),
        f"- Frames: {video.get('fps', '?')} per second of video (cap {video.get('max_frames', 0) or 'none'}), "
        f"resize `{resize}`"
        + (" (x2 under 300 px wide, x1 to 1000, x0.5 to 1900, x0.33 above)" if resize == "width_rule" else "")
        + f"; test videos contributed {per_video.get('min', '?')}-{per_video.get('max', '?')} frames with a face "
        f"(mean {per_video.get('mean', 0):.1f}).",
        f"- Faces: {config['preprocess']['detector']} at confidence >= {config['preprocess']['min_confidence']}, "
        f"margin {config['preprocess']['margin']} on each side; every face of a frame kept, a frame scored by "
        "its most fake face.",
    ]
    counts_path = dataset_dir / "split_counts.csv"
    if counts_path.is_file():
        lines += ["", *split_table(pd.read_csv(counts_path))]
    lines += [
        "",
        "## Model and training",
        "",
        f"- `{train['model']}` at {train['image_size']} px, weights `{train['weights']}`, BatchNorm "
        f"`{train['batchnorm']}`; batch {train['batch_size']}, learning rate {train['learning_rate']}, "
        f"patience {train['patience']}, seed {config.get('seed')}.",
        f"- Epochs run: {len(history)} (head phase up to {train['head_epochs']}, fine-tuning up to "
        f"{train['epochs']}). Selected: epoch {selected.get('epoch', '?')} of the {selected.get('phase', '?')} "
        f"phase, {selected.get('monitor', 'val_loss')} {_value('{:.4f}', selected.get('value'))}, on the val "
        "split.",
    ]
    if train.get("pseudo_fakes") == "sbi":
        lines.append(
            "- Training fakes: SBI pseudo-fakes made from the train split's real faces ("
            + (
                "new pairs every epoch, the source or the target changed"
                if train.get("pseudo_fakes_mode", "once") == "online"
                else "one per real face, made once"
            )
            + "); no fake of the train split was seen. Model selection (val_loss) used "
            + selected.get("val_fakes", "the val split's own fakes")
            + (
                ": no real fake was seen before the test split."
                if train.get("val_fakes") == "sbi"
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
        *metrics_table(metrics),
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
    for title, name in PLOTS:
        if (run_dir / name).is_file():
            lines += [f"**{title}**", "", f"![{title}]({name})", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_report(run_dir):
    """Write ``run_dir/report.md`` (atomically); return its path."""
    path = Path(run_dir) / REPORT
    atomic_write_text(path, render_report(run_dir))
    return path
