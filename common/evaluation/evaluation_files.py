"""The files of an evaluation: where ``metrics.json`` and its plots go, the reliability diagrams' captions,
and writing them."""

import json
import textwrap
from pathlib import Path

from common.core.config import DEFAULTS
from common.core.files import atomic_write_text
from common.core.model_file import RUN_METRICS
from common.evaluation.calibration import reliability_diagram
from common.evaluation.metrics import (
    plot_confusion_matrix,
    plot_precision_recall,
    plot_reliability_diagram,
    plot_roc,
)

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
