"""Tests for common.evaluation.metrics (label 1 = fake, positive class)."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from conftest import C0, C1, count_colour, read_figure

from common.core.config import DEFAULTS
from common.evaluation import metrics


def assert_png_written(path, **size):
    """The PNG exists, is non-empty, has a PNG signature, no .tmp is left, it is not blank and has ``size``;
    returns its pixels."""
    assert path.is_file()
    assert path.stat().st_size > 0
    return read_figure(path, **size)


TWO_PANELS = {"width": (900, 1100), "height": (340, 440)}  # 10 x 4 inches at 100 dpi, trimmed
SQUARE = {"width": (440, 540), "height": (440, 540)}  # 5 x 5 inches


# ---------------------------------------------------------------- binary_metrics


def test_perfect_separation():
    result = metrics.binary_metrics([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert result["accuracy"] == 1.0
    assert result["auc"] == 1.0
    assert result["precision"] == result["recall"] == result["f1"] == 1.0
    assert result["confusion_matrix"] == [[2, 0], [0, 2]]
    assert result["n"] == 4 and result["n_fake"] == 2 and result["n_real"] == 2
    assert result["log_loss"] < 0.25


def test_hand_counted_confusion_matrix():
    y_true = [0, 0, 0, 1, 1, 1, 1]
    p_fake = [0.1, 0.7, 0.6, 0.9, 0.4, 0.8, 0.2]
    # predicted: 0, 1, 1, 1, 0, 1, 0 -> tn=1 fp=2 fn=2 tp=2
    result = metrics.binary_metrics(y_true, p_fake)
    assert result["confusion_matrix"] == [[1, 2], [2, 2]]
    assert result["accuracy"] == pytest.approx(3 / 7)
    assert result["precision"] == pytest.approx(2 / 4)
    assert result["recall"] == pytest.approx(2 / 4)
    assert result["f1"] == pytest.approx(0.5)


def test_threshold_is_used_and_reported():
    result = metrics.binary_metrics([0, 1], [0.3, 0.6], threshold=0.7)
    assert result["confusion_matrix"] == [[1, 0], [1, 0]]
    assert result["threshold"] == 0.7
    assert result["recall"] == 0.0
    assert result["precision"] == 0.0  # zero_division=0, no warning-driven crash


def test_probability_equal_to_threshold_counts_as_fake():
    result = metrics.binary_metrics([1], [0.5])
    assert result["confusion_matrix"] == [[0, 0], [0, 1]]


def test_all_fake_predicted_fake_has_recall_one_and_no_auc():
    result = metrics.binary_metrics([1, 1, 1], [0.9, 0.95, 0.99])
    assert result["recall"] == 1.0
    assert result["precision"] == 1.0
    assert result["auc"] is None
    assert result["confusion_matrix"] == [[0, 0], [0, 3]]
    assert result["n_real"] == 0


def test_one_class_real_only_gives_auc_none():
    result = metrics.binary_metrics([0, 0], [0.2, 0.7])
    assert result["auc"] is None
    assert result["confusion_matrix"] == [[1, 1], [0, 0]]
    assert np.isfinite(result["log_loss"])


def test_extreme_probabilities_are_clipped_in_log_loss():
    result = metrics.binary_metrics([0, 1], [1.0, 0.0])
    assert np.isfinite(result["log_loss"])
    assert result["log_loss"] > 10


def test_values_are_plain_python_and_json_serialisable():
    result = metrics.binary_metrics(np.array([0, 1, 1]), np.array([[0.2], [0.7], [0.4]]))
    json.dumps(result)
    for key in ("n", "n_fake", "n_real"):
        assert type(result[key]) is int
    for key in ("accuracy", "auc", "log_loss", "precision", "recall", "f1", "threshold"):
        assert type(result[key]) is float
    assert all(type(v) is int for row in result["confusion_matrix"] for v in row)


def test_length_mismatch_and_bad_labels_raise():
    with pytest.raises(ValueError):
        metrics.binary_metrics([0, 1], [0.5])
    with pytest.raises(ValueError):
        metrics.binary_metrics([0, 2], [0.5, 0.5])


# ---------------------------------------------------------------- plots


def test_plot_history_from_dataframe_and_csv(tmp_path):
    history = pd.DataFrame(
        {
            "epoch": [0, 1, 2],
            "loss": [0.9, 0.6, 0.4],
            "val_loss": [1.0, 0.7, 0.6],
            "accuracy": [0.5, 0.7, 0.8],
            "val_accuracy": [0.5, 0.6, 0.7],
        }
    )
    out = tmp_path / "history.png"
    metrics.plot_history(history, out)
    pixels = assert_png_written(out, **TWO_PANELS)  # loss and accuracy side by side
    assert count_colour(pixels, C0) > 500 and count_colour(pixels, C1) > 500  # train and validation curves

    csv_path = tmp_path / "history.csv"
    history.drop(columns=["val_loss", "val_accuracy"]).to_csv(csv_path, index=False)
    out_csv = tmp_path / "sub" / "history_csv.png"
    metrics.plot_history(str(csv_path), out_csv)
    pixels = assert_png_written(out_csv, **TWO_PANELS)
    assert count_colour(pixels, C0) > 500 and count_colour(pixels, C1) == 0  # no validation: no such curve


def test_plot_confusion_matrix(tmp_path):
    out = tmp_path / "cm.png"
    metrics.plot_confusion_matrix([[5, 1], [2, 7]], out, title="test")
    pixels = assert_png_written(out, width=(380, 470), height=(340, 430))
    blue = pixels[..., 2] > pixels[..., 0] + 0.2  # the cells, shaded by their counts (and the colour bar)
    assert blue.mean() > 0.2


def test_plot_roc_two_classes_and_one_class(tmp_path):
    out = tmp_path / "roc.png"
    metrics.plot_roc([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], out, title="roc")
    assert count_colour(assert_png_written(out, **SQUARE), C0) > 500  # the curve, beside the grey chance line

    one_class = tmp_path / "roc_one.png"
    metrics.plot_roc([1, 1, 1], [0.2, 0.5, 0.9], one_class, title="one class")
    assert count_colour(assert_png_written(one_class, **SQUARE), C0) == 0  # no curve, a note instead


def test_plot_overwrites_existing_file(tmp_path):
    out = tmp_path / "cm.png"
    out.write_bytes(b"old")
    metrics.plot_confusion_matrix([[1, 0], [0, 1]], out, title="again")
    assert_png_written(out)


def test_video_accuracy_follows_the_verdicts_when_a_tied_vote_was_decided_real():
    from common.evaluation.metrics import video_metrics

    # video 0: a 2-of-4 tie decided REAL by its mean frame score; by the 0.5 share alone it would count as fake
    result = video_metrics([0, 1], [0.5, 1.0], [False, True])
    assert result["accuracy"] == 1.0 and result["confusion_matrix"] == [[1, 0], [0, 1]]
    assert result["auc"] == 1.0


def test_threshold_free_figures_a_paper_reports():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    one_swap = metrics.binary_metrics(y, [0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9])
    assert one_swap["eer"] == pytest.approx(0.25)  # one real above one fake: 1 of 4 wrong on each side
    assert one_swap["average_precision"] == pytest.approx(0.95)
    assert metrics.binary_metrics(y, [0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])["eer"] == 0.0
    skewed = metrics.binary_metrics(
        [0] * 9 + [1], [0.1] * 10
    )  # calls everything real: 90 % accurate, useless
    assert skewed["accuracy"] == pytest.approx(0.9) and skewed["balanced_accuracy"] == pytest.approx(0.5)


def test_auc_per_manipulation_method_pits_every_real_video_against_one_method():
    from common.core.config import DEFAULTS
    from common.evaluation.evaluate import evaluate

    faces = pd.DataFrame(
        {
            "video": ["r0", "r1", "d0", "d1", "n0", "n1"],
            "frame_index": 0,
            "p_fake": [0.2, 0.4, 0.9, 0.8, 0.3, 0.1],  # Deepfakes caught, NeuralTextures missed
            "label": [0, 0, 1, 1, 1, 1],
            "method": ["", "", "Deepfakes", "Deepfakes", "NeuralTextures", "NeuralTextures"],
        }
    )
    result, _, _ = evaluate(faces, DEFAULTS["predict"])
    assert result["by_method"]["Deepfakes"]["video_auc"] == 1.0
    assert result["by_method"]["NeuralTextures"]["frame_auc"] == pytest.approx(0.25)
    assert result["by_method"]["NeuralTextures"]["fake_videos"] == 2
    assert result["frames_per_video"] == {"min": 1, "mean": 1.0, "max": 1}


def frames_of_videos(scores_by_video, frames=5):
    """Faces of one frame each: ``frames`` identical frames per video (``{video: (label, p_fake)}``)."""
    rows = [
        {"video": video, "frame_index": index, "p_fake": p_fake, "label": label}
        for video, (label, p_fake) in scores_by_video.items()
        for index in range(frames)
    ]
    return pd.DataFrame(rows)


OVERLAPPING = {  # four real and four fake videos whose scores overlap: every interval has some width
    "r0": (0, 0.1),
    "r1": (0, 0.3),
    "r2": (0, 0.55),
    "r3": (0, 0.7),
    "f0": (1, 0.4),
    "f1": (1, 0.6),
    "f2": (1, 0.8),
    "f3": (1, 0.9),
}


def test_every_reported_figure_has_the_interval_of_bootstrap_metric_over_videos():
    from common.evaluation import uncertainty
    from common.evaluation.evaluate import evaluate

    faces = frames_of_videos(OVERLAPPING)
    faces.loc[faces["video"] == "f0", "p_fake"] = [0.4, 0.45, 0.5, 0.2, 0.3]  # frames of f0 differ
    statistics = {"bootstrap_resamples": 200, "bootstrap_seed": 7}
    result, _, videos = evaluate(faces, DEFAULTS["predict"], statistics)
    assert result["bootstrap"]["n_resamples"] == 200 and result["bootstrap"]["seed"] == 7
    named = {
        "auc": uncertainty.auc,
        "eer": uncertainty.eer,
        "average_precision": uncertainty.average_precision,
        "accuracy": uncertainty.accuracy_at(0.5),
    }
    for name, metric in named.items():
        expected = uncertainty.bootstrap_metric(
            faces["p_fake"], faces["label"], faces["video"], metric, n_resamples=200, seed=7
        )
        assert result["frame_level"]["intervals"][name] == pytest.approx([expected["low"], expected["high"]])
        low, high = result["frame_level"]["intervals"][name]
        assert low <= result["frame_level"][name] <= high and low < high
    expected = uncertainty.bootstrap_metric(
        videos["fake_probability"], videos["label"], None, uncertainty.auc, n_resamples=200, seed=7
    )
    assert result["video_level"]["intervals"]["auc"] == pytest.approx([expected["low"], expected["high"]])
    for name in named:
        low, high = result["video_level"]["intervals"][name]
        assert low <= result["video_level"][name] <= high
    assert json.loads(json.dumps(result)) == result  # what metrics.json holds


def test_frame_level_intervals_resample_whole_videos():
    from common.evaluation.evaluate import evaluate

    # five identical frames per video: a resample of videos gives the frames the same AUC as their videos,
    # so the frame-level intervals are the video-level ones (a resample of single frames would be narrower)
    statistics = {"bootstrap_resamples": 300, "bootstrap_seed": 0}
    result, _, _ = evaluate(frames_of_videos(OVERLAPPING), DEFAULTS["predict"], statistics)
    for name in ("auc", "eer", "average_precision"):
        assert result["frame_level"]["intervals"][name] == pytest.approx(
            result["video_level"]["intervals"][name]
        )


def test_no_resamples_means_no_intervals_and_the_reports_show_them_when_there_are():
    from common.evaluation.evaluate import evaluate
    from common.evaluation.printed_report import metrics_report
    from common.evaluation.run_report import metrics_table

    faces = frames_of_videos(OVERLAPPING, frames=2)
    plain, _, _ = evaluate(faces, DEFAULTS["predict"], {"bootstrap_resamples": 0})
    assert "bootstrap" not in plain and "intervals" not in plain["frame_level"]
    assert "[" not in next(line for line in metrics_table(plain) if line.startswith("| AUC"))
    result, _, _ = evaluate(faces, DEFAULTS["predict"], {"bootstrap_resamples": 50})
    low, high = result["video_level"]["intervals"]["auc"]
    auc = f"{result['video_level']['auc']:.4f} [{low:.4f}, {high:.4f}]"
    table = "\n".join(metrics_table(result))
    assert "| AUC | " in table and auc in table and "50 resamples, seed 0" in table
    printed = metrics_report(result)
    assert f"AUC {result['video_level']['auc']:.3f} [{low:.3f}, {high:.3f}]" in printed
    assert "50 resamples" in printed


def test_expected_calibration_error_of_frames_and_videos_with_its_bins():
    from common.evaluation.evaluate import evaluate
    from common.evaluation.printed_report import metrics_report
    from common.evaluation.run_report import metrics_table

    # top-label confidences: r0 real 0.9 right, f0 fake 0.8 right, r1 fake 0.7 wrong, f1 real 0.6 wrong.
    # 10 bins: each alone, |1 - 0.9| + |1 - 0.8| + |0 - 0.7| + |0 - 0.6| = 1.6 over 4 = 0.4;
    # 1 bin: |mean right 0.5 - mean confidence 0.75| = 0.25
    faces = frames_of_videos({"r0": (0, 0.1), "f0": (1, 0.8), "r1": (0, 0.7), "f1": (1, 0.4)}, frames=2)
    for bins, expected in ((10, 0.4), (1, 0.25)):
        statistics = {"ece_bins": bins, "bootstrap_resamples": 0}
        result, _, _ = evaluate(faces, DEFAULTS["predict"], statistics)
        for level in ("frame_level", "video_level"):
            assert result[level]["ece"] == pytest.approx(expected) and result[level]["ece_bins"] == bins
    assert "ECE 0.250 (top-label, 1 bins)" in metrics_report(result)
    table = metrics_table(result)
    assert "| expected calibration error (top-label) | 0.2500 | 0.2500 |" in table
    assert any("over 1 equal-width bins" in line for line in table)


def test_validation_threshold_is_the_val_frames_eer_point_and_its_test_accuracy_is_reported():
    from common.evaluation.evaluate import evaluate
    from common.evaluation.printed_report import metrics_report
    from common.evaluation.run_report import metrics_table
    from common.evaluation.validation_threshold import choose_validation_threshold

    val = frames_of_videos({"r0": (0, 0.2), "r1": (0, 0.3), "f0": (1, 0.35), "f1": (1, 0.6)}, frames=1)
    chosen = choose_validation_threshold(val)  # 0.35 separates the val split; halfway down to 0.3: 0.325
    assert chosen["value"] == pytest.approx(0.325) and (chosen["split"], chosen["level"]) == ("val", "frame")
    assert "EER" in chosen["rule"]
    assert choose_validation_threshold(val[val["label"] == 0]) is None  # one class: no threshold
    # test: both fakes below 0.5 but above 0.325, the reals below
    test = frames_of_videos({"r0": (0, 0.1), "r1": (0, 0.32), "f0": (1, 0.4), "f1": (1, 0.45)}, frames=3)
    result, _, _ = evaluate(test, DEFAULTS["predict"], {"bootstrap_resamples": 0}, chosen)
    block = result["at_validation_threshold"]
    assert block["frame_accuracy_at_0.5"] == 0.5 and block["video_accuracy_at_0.5"] == 0.5
    assert block["frame_accuracy_at_threshold"] == 1.0 and block["video_accuracy_at_threshold"] == 1.0
    assert result["video_level"]["accuracy"] == 0.5  # the verdicts keep the configured threshold
    assert "chosen on the val split" in metrics_report(result) and "frames 0.500 / 1.000" in metrics_report(
        result
    )
    assert any(line.startswith("| 0.3250, chosen on the val split") for line in metrics_table(result))
    plain, _, _ = evaluate(test, DEFAULTS["predict"], {"bootstrap_resamples": 0})
    assert "at_validation_threshold" not in plain


def test_deepfakebench_eer_takes_the_nearest_roc_point_where_ours_interpolates():
    # reals 0.2, 0.6; fakes 0.4, 0.6, 0.8. ROC points (FPR, TPR): (0, 0), (0, 1/3), (0.5, 2/3), (0.5, 1), (1, 1);
    # FNR - FPR: 1, 2/3, -1/6, -1/2, -1. Nearest point: the third, FPR 0.5. Between the second and the third
    # (the tie at 0.6) FPR = 0.5 t and FNR = 2/3 - t/3 meet at t = 0.8: FPR = FNR = 0.4.
    labels, scores = [0, 0, 1, 1, 1], [0.2, 0.6, 0.4, 0.6, 0.8]
    compatible = metrics.deepfakebench_metrics(labels, scores)
    assert compatible["eer"] == pytest.approx(0.5)
    assert metrics.binary_metrics(labels, scores)["eer"] == pytest.approx(0.4)
    # AUC: of the 6 (fake, real) pairs, 4 ranked right and 1 tied: 4.5 / 6. AP: at 0.8 precision 1 and
    # recall 1/3, at 0.6 precision 2/3 and recall 2/3, at 0.4 precision 3/4 and recall 1: 1/3 (1 + 2/3 + 3/4).
    # Accuracy at > 0.5: the real at 0.6 and the fake at 0.4 are wrong: 3 / 5.
    assert compatible["auc"] == pytest.approx(0.75)
    assert compatible["average_precision"] == pytest.approx(29 / 36)
    assert compatible["accuracy"] == pytest.approx(3 / 5) and compatible["n"] == 5


def test_deepfakebench_eer_on_a_flat_stretch_of_the_roc_is_the_first_nearest_point():
    # fakes 0.9, 0.8, 0.7, 0.1; reals 0.6, 0.5: ROC (0, 0), (0, 0.75), (1, 0.75), (1, 1) (scikit-learn drops
    # the collinear points); |FNR - FPR| 1, 0.25, 0.75, 1: FPR 0 at the second point. Ours: FNR 0.25 is
    # crossed a quarter of the way from FPR 0 to FPR 1.
    labels, scores = [1, 1, 1, 1, 0, 0], [0.9, 0.8, 0.7, 0.1, 0.6, 0.5]
    assert metrics.deepfakebench_metrics(labels, scores)["eer"] == 0.0
    assert metrics.binary_metrics(labels, scores)["eer"] == pytest.approx(0.25)


def test_deepfakebench_accuracy_calls_a_score_of_exactly_one_half_real():
    labels, scores = [0, 0, 1], [0.5, 0.1, 0.9]
    compatible = metrics.deepfakebench_metrics(labels, scores)
    assert compatible["accuracy"] == 1.0  # P(fake) > 0.5: the real video at 0.5 is called real
    assert metrics.binary_metrics(labels, scores)["accuracy"] == pytest.approx(2 / 3)  # ours: >= 0.5 is fake
    assert compatible["auc"] == 1.0 and compatible["average_precision"] == 1.0 and compatible["n"] == 3


def test_deepfakebench_video_auc_ranks_videos_by_their_mean_frame_score_not_by_their_worst_track():
    from common.evaluation.evaluate import evaluate

    # real video r: a one-frame spurious track at 0.9 beside a steady face at 0.1 (mean frame P(fake): the
    # frame's most fake face, 0.9, 0.1, 0.1, 0.1 -> 0.3); fake video f: 0.4 in every frame
    faces = pd.DataFrame(
        {
            "video": ["r"] * 5 + ["f"] * 4,
            "frame_index": [0, 0, 1, 2, 3, 0, 1, 2, 3],
            "track_id": [0, 1, 0, 0, 0, 0, 0, 0, 0],
            "p_fake": [0.1, 0.9, 0.1, 0.1, 0.1, 0.4, 0.4, 0.4, 0.4],
            "label": [0] * 5 + [1] * 4,
        }
    )
    every_track_decides = {**DEFAULTS["predict"], "video_score": "track_max", "track_min_share": 0.0}
    result, _, _ = evaluate(faces, every_track_decides)
    assert result["video_level"]["auc"] == 0.0  # ours: the real video's highest track (0.9) outranks 0.4
    compatible = result["deepfakebench"]
    assert compatible["video_level"]["auc"] == 1.0 and compatible["video_level"]["n"] == 2
    assert compatible["video_level"]["accuracy"] == 0.5  # 0.3 real (right), 0.4 real (wrong)
    assert compatible["frame_level"]["n"] == 8


def test_reliability_diagram_bars_follow_the_share_of_fakes_of_each_bin(tmp_path):
    import matplotlib.pyplot as plt

    from common.evaluation.calibration import reliability_diagram

    # 4 bins: [0, .25) 2 reals; [.25, .5) 1 real 1 fake; [.5, .75) empty; [.75, 1] 1 real 3 fakes
    labels, p_fake = [0, 0, 0, 1, 0, 1, 1, 1], [0.1, 0.2, 0.3, 0.4, 0.8, 0.9, 0.95, 1.0]
    diagram = reliability_diagram(labels, p_fake, n_bins=4)
    fig, ax = plt.subplots()
    bars = metrics.draw_reliability_diagram(ax, diagram)
    assert [bar.get_height() for bar in bars] == pytest.approx([0.0, 0.5, 0.75])  # none for the empty bin
    assert [bar.get_x() for bar in bars] == pytest.approx([0.0, 0.25, 0.75])
    assert [bar.get_width() for bar in bars] == pytest.approx([0.25] * 3)
    dots = ax.lines[1]  # the mean P(fake) of each non-empty bin against its share of fakes
    assert list(dots.get_xdata()) == pytest.approx([0.15, 0.35, 0.9125])
    plt.close(fig)

    out = tmp_path / "reliability.png"
    metrics.plot_reliability_diagram(diagram, out, "frames: 8 frames")
    pixels = assert_png_written(out, **SQUARE)
    assert count_colour(pixels, C1) > 20  # the dots in C1, beside the bars


def test_evaluation_draws_reliability_diagrams_of_frames_and_videos_named_with_level_data_and_count(
    tmp_path,
):
    from common.evaluation.evaluate import evaluate, report_predictions

    faces = frames_of_videos(OVERLAPPING, frames=3)
    _, _, videos = evaluate(faces, DEFAULTS["predict"], {"bootstrap_resamples": 0})
    predictions = videos.assign(label=videos["label"].map({0: "REAL", 1: "FAKE"}), error="", seconds=0.1)
    text, _ = report_predictions(
        predictions,
        faces,
        DEFAULTS["predict"],
        tmp_path / "preds.csv",
        "labelled videos in demo",
        "3 frames",
        {"bootstrap_resamples": 0},
    )
    assert "Reliability diagram of P(fake), frames: labelled videos in demo, 24 frames" in text
    assert "Reliability diagram of P(fake), videos: labelled videos in demo, 8 videos" in text
    for level in ("frames", "videos"):
        path = tmp_path / f"preds_reliability_{level}.png"
        assert str(path) in text
        assert_png_written(path, **SQUARE)


def faces_of_two_methods(seed=3, n_real=8, n_fake=6):
    """One face per frame of ``n_real`` real videos and ``n_fake`` fake videos of each of two methods, 1-4
    frames a video sharing a video-level offset (correlated frames), P(fake) in (0, 1) rounded so ties occur."""
    rng = np.random.default_rng(seed)
    rows = []
    kinds = [("", 0, 0.0)] * n_real + [("Deepfakes", 1, 1.5)] * n_fake + [("NeuralTextures", 1, 0.5)] * n_fake
    for number, (method, label, shift) in enumerate(kinds):
        offset = rng.normal(shift, 1.0)
        for frame in range(int(rng.integers(1, 5))):
            p_fake = round(float(1 / (1 + np.exp(-(offset + rng.normal(0, 0.5))))), 2)
            rows.append(
                {
                    "video": f"v{number:02d}",
                    "frame_index": frame,
                    "p_fake": p_fake,
                    "label": label,
                    "method": method,
                }
            )
    return pd.DataFrame(rows)


def test_deepfakebench_and_per_method_intervals_equal_the_slow_obvious_bootstrap(tmp_path):
    from conftest import slow_bootstrap
    from sklearn import metrics as skm

    from common.evaluation.evaluate import evaluate
    from common.evaluation.printed_report import metrics_report
    from common.evaluation.run_report import cross_table, deepfakebench_table, metrics_table

    faces = faces_of_two_methods()
    result, frames, videos = evaluate(
        faces, DEFAULTS["predict"], {"bootstrap_resamples": 150, "bootstrap_seed": 4}
    )
    references = {  # DeepfakeBench's definitions, one call on the rows of a resample
        "auc": skm.roc_auc_score,
        "eer": metrics.nearest_point_error_rate,
        "average_precision": skm.average_precision_score,
        "accuracy": lambda labels, scores: float(np.mean((scores > 0.5) == labels)),
    }
    by_video = frames.groupby("video", sort=True).agg(p_fake=("p_fake", "mean"), label=("label", "first"))
    for key, scores, labels, ids in (
        ("frame_level", frames["p_fake"], frames["label"], frames["video"]),
        ("video_level", by_video["p_fake"], by_video["label"], by_video.index),
    ):
        intervals = result["deepfakebench"][key]["intervals"]
        for name, reference in references.items():
            args = (np.asarray(scores), np.asarray(labels), np.asarray(ids), reference, 150, 4)
            _, expected = slow_bootstrap(*args)
            assert intervals[name] == pytest.approx(list(expected), abs=1e-12), (key, name)
    for method in ("Deepfakes", "NeuralTextures"):
        figures = result["by_method"][method]
        for name, table, score in (
            ("frame_auc", frames, "p_fake"),
            ("video_auc", videos, "fake_probability"),
        ):
            chosen = table[(table["label"] == 0) | (table["method"] == method)]
            args = (chosen[score].to_numpy(), chosen["label"].to_numpy(), chosen["video"].to_numpy())
            _, expected = slow_bootstrap(*args, skm.roc_auc_score, 150, 4)
            assert figures["intervals"][name] == pytest.approx(list(expected), abs=1e-12), (method, name)
            low, high = figures["intervals"][name]
            assert low <= figures[name] <= high

    def shown(figures, name):
        low, high = figures["intervals"][name]
        return f"{figures[name]:.4f} [{low:.4f}, {high:.4f}]"

    compatible = result["deepfakebench"]
    assert f"| AUC | {shown(compatible['frame_level'], 'auc')} | " in "\n".join(deepfakebench_table(result))
    deepfakes = result["by_method"]["Deepfakes"]
    row = f"| Deepfakes | 6 | {shown(deepfakes, 'frame_auc')} | {shown(deepfakes, 'video_auc')} |"
    assert row in metrics_table(result)
    low, high = deepfakes["intervals"]["video_auc"]
    assert f"video AUC {deepfakes['video_auc']:.3f} [{low:.3f}, {high:.3f}]" in metrics_report(result)
    (tmp_path / "ffpp.json").write_text(json.dumps({**result, "data": "FF++ test"}))
    table = "\n".join(cross_table([tmp_path / "ffpp.json"]))
    frame, video = result["frame_level"], result["video_level"]
    assert f"| {shown(frame, 'auc')} | {shown(video, 'auc')} | " in table
    assert f"| {shown(compatible['video_level'], 'auc')} |" in table
    assert "150 resamples, seed 4" in table


def test_no_resamples_no_deepfakebench_or_per_method_intervals():
    from common.evaluation.evaluate import evaluate

    result, _, _ = evaluate(faces_of_two_methods(), DEFAULTS["predict"], {"bootstrap_resamples": 0})
    assert "intervals" not in result["deepfakebench"]["frame_level"]
    assert "intervals" not in result["by_method"]["Deepfakes"]


def test_the_printed_report_and_report_md_show_the_figures_of_the_one_list_with_their_names():
    from common.evaluation.evaluate import evaluate
    from common.evaluation.figures import DEEPFAKEBENCH_FIGURES, FIGURES
    from common.evaluation.printed_report import metrics_report
    from common.evaluation.run_report import DEFINITIONS, deepfakebench_table, metrics_table

    result, _, _ = evaluate(
        frames_of_videos(OVERLAPPING, frames=2), DEFAULTS["predict"], {"bootstrap_resamples": 0}
    )
    rows = [line.split(" | ")[0].lstrip("| ") for line in metrics_table(result)[2:]]
    assert rows[: len(FIGURES)] == [
        figure.label for figure in FIGURES
    ]  # report.md's table, in the list's order
    compatible_rows = [line.split(" | ")[0].lstrip("| ") for line in deepfakebench_table(result)[2:]]
    assert compatible_rows == [figure.label for figure in DEEPFAKEBENCH_FIGURES]
    printed = metrics_report(result).splitlines()
    video_line = printed[printed.index(next(line for line in printed if line.startswith("videos:"))) + 1]
    names = [figure.short for figure in FIGURES if figure.key != "n"]
    assert (
        re.findall(r"(?:^  |   )([A-Za-z][A-Za-z ]*?) \d", video_line) == names
    )  # the printed names, in that order
    assert video_line.startswith(f"  accuracy {result['video_level']['accuracy']:.3f}   balanced ")
    definitions = DEFINITIONS[0]
    assert all(figure.definition in definitions for figure in FIGURES if figure.definition)
    assert definitions.startswith("- **Accuracy**: share of correct calls") and "**Log loss**" in definitions
