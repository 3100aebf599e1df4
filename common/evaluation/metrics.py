"""Binary classification metrics and plots (label 1 = fake, 0 = real).

All PNG files are written atomically: rendered to ``<out>.tmp`` in the same
folder, then moved into place with ``os.replace``.
"""

import logging
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn import metrics as skm

from common.core.files import atomic_path

log = logging.getLogger(__name__)

CLASS_NAMES = ("real", "fake")
PROBABILITY_EPS = 1e-7


def _as_labels(y_true):
    """Flatten labels to a 1-D int array of 0/1."""
    raw = np.asarray(y_true).reshape(-1)
    if raw.size and not np.isin(raw, (0, 1)).all():
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    return raw.astype(int)


def _as_probabilities(p_fake):
    """Flatten probabilities to a 1-D float64 array."""
    return np.asarray(p_fake, dtype=np.float64).reshape(-1)


def _check_same_length(labels, probabilities):
    """Raise ``ValueError`` when labels and probabilities differ in length."""
    if labels.shape != probabilities.shape:
        raise ValueError(f"y_true has {labels.size} values but p_fake has {probabilities.size}")


def video_metrics(y_true, p_fake, verdict_is_fake, threshold=0.5):
    """``binary_metrics`` for videos: AUC and log loss from ``p_fake``, but accuracy, precision, recall, F1
    and the confusion matrix from the verdicts, so they agree with the verdicts printed (for a vote, a tie
    is decided by the mean frame score, not by the 0.5 share alone)."""
    result = binary_metrics(y_true, p_fake, threshold=threshold)
    by_verdict = binary_metrics(y_true, np.asarray(verdict_is_fake, dtype=float), threshold=0.5)
    result.update(
        {
            key: by_verdict[key]
            for key in ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "confusion_matrix")
        }
    )
    return result


def has_both_classes(y_true):
    """True when both real (0) and fake (1) labels are present."""
    return np.unique(_as_labels(y_true)).size == 2


def equal_error_rate(labels, probabilities):
    """The error rate where the false positive rate equals the false negative rate (on the ROC curve,
    interpolated between its two nearest points)."""
    fpr, tpr, _ = skm.roc_curve(labels, probabilities)
    fnr = 1 - tpr
    crossing = int(np.argmax(fpr >= fnr))  # first point at or past the crossing; fpr rises, fnr falls
    if crossing == 0:
        return float((fpr[0] + fnr[0]) / 2)
    before, after = crossing - 1, crossing
    gap_before, gap_after = fnr[before] - fpr[before], fpr[after] - fnr[after]
    weight = gap_before / (gap_before + gap_after) if gap_before + gap_after > 0 else 0.5
    return float(fpr[before] + weight * (fpr[after] - fpr[before]))


def nearest_point_error_rate(labels, probabilities):
    """The equal error rate as DeepfakeBench's metric code takes it (``training/metrics/utils.py``,
    ``get_test_metrics``): the false positive rate of the point of scikit-learn's ROC curve (its default
    points) where |FNR - FPR| is smallest, the first such point on a tie; no interpolation, so it can differ
    from ``equal_error_rate`` by up to the gap between two ROC points."""
    fpr, tpr, _ = skm.roc_curve(labels, probabilities)
    return float(fpr[int(np.nanargmin(np.abs((1 - tpr) - fpr)))])


DEEPFAKEBENCH_THRESHOLD = 0.5  # fake when P(fake) > this: strictly above, as DeepfakeBench counts accuracy


def deepfakebench_metrics(y_true, p_fake):
    """The figures DeepfakeBench reports, computed its way from one score per sample: ``auc`` (area under
    scikit-learn's ROC curve), ``eer`` (``nearest_point_error_rate``), ``average_precision`` and
    ``accuracy`` (fake when the score is strictly above 0.5), with ``n``. ``auc``, ``eer`` and
    ``average_precision`` are ``None`` when only one class is present."""
    labels = _as_labels(y_true)
    probabilities = _as_probabilities(p_fake)
    _check_same_length(labels, probabilities)
    both = has_both_classes(labels)
    return {
        "n": int(labels.size),
        "auc": float(skm.roc_auc_score(labels, probabilities)) if both else None,
        "eer": nearest_point_error_rate(labels, probabilities) if both else None,
        "average_precision": float(skm.average_precision_score(labels, probabilities)) if both else None,
        "accuracy": float(np.mean((probabilities > DEEPFAKEBENCH_THRESHOLD) == labels)),
    }


def binary_metrics(y_true, p_fake, threshold=0.5):
    """Accuracy and balanced accuracy at ``threshold``, AUC, log loss, equal error rate, average precision,
    precision/recall/F1 (fake positive) and the confusion matrix.

    Values are plain Python numbers; ``auc``, ``eer`` and ``average_precision`` are ``None`` when only one
    class is present. ``confusion_matrix`` is ``[[tn, fp], [fn, tp]]``.
    """
    labels = _as_labels(y_true)
    probabilities = _as_probabilities(p_fake)
    _check_same_length(labels, probabilities)
    if labels.size == 0:
        raise ValueError("binary_metrics needs at least one example")
    predicted = (probabilities >= threshold).astype(int)
    clipped = np.clip(probabilities, PROBABILITY_EPS, 1 - PROBABILITY_EPS)
    matrix = skm.confusion_matrix(labels, predicted, labels=[0, 1])
    both = has_both_classes(labels)
    (tn, fp), (fn, tp) = matrix
    recalls = [
        value for value, count in ((tn / max(tn + fp, 1), tn + fp), (tp / max(tp + fn, 1), tp + fn)) if count
    ]
    return {
        "n": int(labels.size),
        "n_fake": int(labels.sum()),
        "n_real": int(labels.size - labels.sum()),
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "balanced_accuracy": float(np.mean(recalls)),
        "auc": float(skm.roc_auc_score(labels, probabilities)) if both else None,
        "eer": equal_error_rate(labels, probabilities) if both else None,
        "average_precision": float(skm.average_precision_score(labels, probabilities)) if both else None,
        "log_loss": float(skm.log_loss(labels, clipped, labels=[0, 1])),
        "precision": float(skm.precision_score(labels, predicted, zero_division=0)),
        "recall": float(skm.recall_score(labels, predicted, zero_division=0)),
        "f1": float(skm.f1_score(labels, predicted, zero_division=0)),
        "confusion_matrix": [[int(v) for v in row] for row in matrix],
        "threshold": float(threshold),
    }


def save_figure_atomically(fig, out_png):
    """Save ``fig`` as PNG (``common.core.files.atomic_path``), then close it; return the path."""
    try:
        with atomic_path(out_png) as temporary:
            fig.savefig(temporary, format="png", dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)
    log.debug("wrote %s", out_png)
    return os.fspath(out_png)


def load_history(history):
    """Return a training history as a DataFrame (from a DataFrame or CSV path)."""
    if isinstance(history, pd.DataFrame):
        return history
    return pd.read_csv(history)


def _epoch_axis(history):
    """Epoch numbers: the ``epoch`` column if present, else 1..n."""
    if "epoch" in history.columns:
        return history["epoch"].to_numpy()
    return np.arange(1, len(history) + 1)


def _plot_metric_panel(ax, epochs, history, metric):
    """Draw train and (when present) validation curves of one metric."""
    for column, label in ((metric, "train"), (f"val_{metric}", "validation")):
        if column in history.columns:
            ax.plot(epochs, history[column], marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(metric)
    ax.grid(True, alpha=0.3)
    if ax.lines:
        ax.legend()
    else:
        ax.text(0.5, 0.5, f"no '{metric}' column", ha="center", va="center", transform=ax.transAxes)


def plot_history(history_df_or_csv_path, out_png):
    """Plot loss and accuracy (train and validation) against epoch, two panels."""
    history = load_history(history_df_or_csv_path)
    epochs = _epoch_axis(history)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        _plot_metric_panel(ax, epochs, history, metric)
    fig.tight_layout()
    return save_figure_atomically(fig, out_png)


def plot_confusion_matrix(cm, out_png, title="Confusion matrix"):
    """Plot a 2x2 confusion matrix ([[tn, fp], [fn, tp]]) with counts in cells."""
    matrix = np.asarray(cm, dtype=np.int64)
    if matrix.shape != (2, 2):
        raise ValueError(f"confusion matrix must be 2x2, got shape {matrix.shape}")
    fig, ax = plt.subplots(figsize=(4.5, 4))
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ticks = np.arange(len(CLASS_NAMES))
    ax.set_xticks(ticks, labels=CLASS_NAMES)
    ax.set_yticks(ticks, labels=CLASS_NAMES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    midpoint = matrix.max() / 2 if matrix.size else 0
    for row in range(2):
        for col in range(2):
            count = matrix[row, col]
            ax.text(
                col, row, str(count), ha="center", va="center", color="white" if count > midpoint else "black"
            )
    fig.tight_layout()
    return save_figure_atomically(fig, out_png)


def plot_precision_recall(y_true, p_fake, out_png, title="Precision-recall curve"):
    """Plot precision against recall (fake = positive) with the average precision; with only one class, a
    figure that says so."""
    labels = _as_labels(y_true)
    probabilities = _as_probabilities(p_fake)
    _check_same_length(labels, probabilities)
    fig, ax = plt.subplots(figsize=(5, 5))
    if has_both_classes(labels):
        precision, recall, _ = skm.precision_recall_curve(labels, probabilities)
        average = skm.average_precision_score(labels, probabilities)
        ax.step(recall, precision, where="post", label=f"AP = {average:.3f}")
        ax.axhline(labels.mean(), linestyle="--", color="grey", label="chance (share of fakes)")
        ax.legend(loc="lower left")
    else:
        ax.text(
            0.5, 0.5, "undefined:\nonly one class present", ha="center", va="center", transform=ax.transAxes
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall (fakes caught)")
    ax.set_ylabel("precision (fake calls that are fake)")
    ax.set_title(title)
    fig.tight_layout()
    return save_figure_atomically(fig, out_png)


def plot_roc(y_true, p_fake, out_png, title="ROC curve"):
    """Plot the ROC curve with AUC; with only one class, a figure that says so."""
    labels = _as_labels(y_true)
    probabilities = _as_probabilities(p_fake)
    _check_same_length(labels, probabilities)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    if has_both_classes(labels):
        fpr, tpr, _ = skm.roc_curve(labels, probabilities)
        auc = skm.roc_auc_score(labels, probabilities)
        ax.plot(fpr, tpr, label=f"ROC (AUC = {auc:.3f})")
    else:
        ax.text(
            0.5,
            0.5,
            "ROC undefined:\nonly one class present",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false positive rate (real called fake)")
    ax.set_ylabel("true positive rate (fake caught)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return save_figure_atomically(fig, out_png)


def draw_reliability_diagram(ax, diagram):
    """Draw on ``ax`` the reliability diagram whose data ``diagram`` holds (the dict of
    ``common.evaluation.calibration.reliability_diagram``): per bin of predicted P(fake), a bar up to the
    share of fakes among its samples (none for an empty bin), a dot at the bin's mean P(fake) on the x axis
    against that share, and the diagonal a calibrated detector follows. Returns the bars (one per
    non-empty bin, in bin order)."""
    lower, upper = np.asarray(diagram["lower"]), np.asarray(diagram["upper"])
    filled = np.asarray(diagram["count"]) > 0
    share = np.array([value for value in diagram["fraction_fake"] if value is not None], dtype=float)
    mean = np.array([value for value in diagram["mean_p_fake"] if value is not None], dtype=float)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="calibrated")
    bars = ax.bar(
        lower[filled],
        share,
        width=(upper - lower)[filled],
        align="edge",
        edgecolor="black",
        alpha=0.8,
        label="share of fakes in the bin",
    )
    ax.plot(mean, share, "o", color="C1", label="mean P(fake) of the bin")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"predicted P(fake), {len(lower)} equal-width bins")
    ax.set_ylabel("share of fakes")
    ax.legend(loc="upper left")
    return bars


def plot_reliability_diagram(diagram, out_png, title="Reliability diagram"):
    """Plot ``draw_reliability_diagram`` of ``diagram`` (``reliability_diagram``'s data) under ``title``."""
    fig, ax = plt.subplots(figsize=(5, 5))
    draw_reliability_diagram(ax, diagram)
    ax.set_title(title)
    fig.tight_layout()
    return save_figure_atomically(fig, out_png)
