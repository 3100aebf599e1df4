"""What stages 04 and 05 print: the metrics as lines for a person (``metrics_report``, figures with their
intervals, "n/a" for an undefined one) and stage 05's summary of its verdicts (``summary_table``)."""

from common.evaluation.aggregate import FAKE_VERDICT, NO_FACE_ERROR, REAL_VERDICT, UNKNOWN_VERDICT
from common.evaluation.figures import DEEPFAKEBENCH_FIGURES, FIGURES
from common.evaluation.intervals import bootstrap_line
from common.evaluation.validation_threshold import validation_threshold_line
from common.evaluation.video_coverage import coverage_line


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
