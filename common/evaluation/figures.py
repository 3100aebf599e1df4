"""The figures the reports show, defined once: stage 05's printed report (``printed_report.metrics_report``), a
run's ``report.md`` (``run_report``) and the analyst's ``report.html`` (``common.inference.analyst_report``,
whose page takes the labels from the data it embeds) all read these lists.

Each figure is reported at both levels, frames and videos (metrics.json's ``frame_level`` and
``video_level``): the level is a column of report.md's tables and a line of the printed report, so it is
not a field here.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Figure:
    key: str  # its key in metrics.json's frame_level and video_level
    label: str  # report.md's tables and report.html
    short: str  # stage 05's printed report
    template: str = "{:.4f}"  # report.md's format
    definition: str | None = None  # report.md's Definitions (Markdown); None: the label says it all


FIGURES = (
    Figure("n", "samples", "n", "{:d}"),
    Figure(
        "accuracy",
        "accuracy at the threshold",
        "accuracy",
        definition="**Accuracy**: share of correct calls, fake when P(fake) >= the threshold (videos: the "
        "verdicts).",
    ),
    Figure(
        "balanced_accuracy",
        "balanced accuracy",
        "balanced",
        definition="**Balanced accuracy**: mean of the recalls of real and of fake.",
    ),
    Figure(
        "auc", "AUC", "AUC", definition="**AUC**: area under the ROC curve (scikit-learn `roc_auc_score`)."
    ),
    Figure(
        "eer",
        "equal error rate",
        "EER",
        definition="**Equal error rate** (ours): where the false positive rate equals the false negative rate, "
        "interpolated linearly between the two ROC points around the crossing.",
    ),
    Figure(
        "average_precision",
        "average precision (fake = positive)",
        "AP",
        definition="**Average precision**: scikit-learn's `average_precision_score`, fake = positive.",
    ),
    Figure(
        "log_loss",
        "log loss",
        "log loss",
        "{:.4g}",
        definition="**Log loss**: binary cross-entropy, P(fake) clipped to [1e-7, 1 - 1e-7].",
    ),
    Figure(
        "ece",
        "expected calibration error (top-label)",
        "ECE",
        definition="**Expected calibration error**: top-label (confidence max(P(fake), 1 - P(fake)) of the "
        "class called at 0.5 against the share called right) over equal-width bins.",
    ),
)

# the DeepfakeBench-compatible block (``deepfakebench.deepfakebench_block``); report.md defines it in one passage
DEEPFAKEBENCH_FIGURES = (
    Figure("n", "samples", "n", "{:d}"),
    Figure("auc", "AUC", "AUC"),
    Figure("eer", "equal error rate (nearest ROC point)", "EER"),
    Figure("average_precision", "average precision", "AP"),
    Figure("accuracy", "accuracy at P(fake) > 0.5", "accuracy"),
)


def definitions_line(figures=FIGURES):
    """The definitions of ``figures`` as one Markdown bullet."""
    return "- " + " ".join(figure.definition for figure in figures if figure.definition)
