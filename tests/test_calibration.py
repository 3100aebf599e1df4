"""Tests for common.evaluation.calibration: validation thresholds, calibration error, temperature scaling (1 = fake)."""

import numpy as np
import pytest
from sklearn import metrics as skm

from common.evaluation import calibration
from common.evaluation.metrics import binary_metrics


def test_thresholds_on_a_hand_checkable_validation_set():
    """Reals 0.1, 0.2, 0.3, 0.6; fakes 0.4, 0.7, 0.8, 0.9. At 0.7: FPR 0, FNR 1/4, balanced accuracy 7/8.
    At 0.4: FPR 1/4, FNR 0, balanced accuracy 7/8 too; at 0.6 FPR = FNR = 1/4 (the equal error point),
    balanced accuracy 3/4. The tie on balanced accuracy goes to the higher score, 0.7. Each threshold sits
    halfway down to the next lower score (0.6 -> 0.5, 0.7 -> 0.65), where val is classified alike."""
    labels = [0, 0, 0, 0, 1, 1, 1, 1]
    scores = [0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9]
    assert calibration.eer_threshold(labels, scores) == pytest.approx(0.5)
    assert calibration.balanced_accuracy_threshold(labels, scores) == pytest.approx(0.65)
    at = calibration.balanced_accuracy_threshold(labels, scores)
    assert binary_metrics(labels, scores, threshold=at)["balanced_accuracy"] == 7 / 8


def test_thresholds_follow_a_shifted_detector():
    """A detector whose scores all sit near 0.9 is useless at 0.5 but fine at the validation threshold."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 500)
    scores = 0.9 + 0.02 * labels + rng.normal(0, 0.005, 1000)
    for choose in (calibration.eer_threshold, calibration.balanced_accuracy_threshold):
        threshold = choose(labels, scores)
        assert isinstance(threshold, float) and 0.9 < threshold < 0.92
        assert binary_metrics(labels, scores, threshold)["balanced_accuracy"] > 0.95
    assert binary_metrics(labels, scores, 0.5)["balanced_accuracy"] == 0.5


def test_threshold_above_every_score_is_a_finite_float():
    """When the best point calls nothing fake (fakes score lowest), the threshold is finite, above all."""
    threshold = calibration.balanced_accuracy_threshold([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9])
    assert np.isfinite(threshold) and threshold > 0.9


def test_thresholds_need_both_classes():
    with pytest.raises(ValueError, match="both real and fake"):
        calibration.eer_threshold([1, 1], [0.2, 0.8])


def test_reliability_diagram_and_calibration_error_by_hand():
    """P(fake) 0.1, 0.1 (one real, one fake) and 0.9, 0.9 (both fake), 10 bins.
    Bin [0.1, 0.2): mean 0.1, fraction fake 1/2; bin [0.9, 1.0]: mean 0.9, fraction fake 1.
    p_fake ECE = 2/4 * |0.5 - 0.1| + 2/4 * |1 - 0.9| = 0.25. Top label: every confidence is 0.9, three
    of four called right: |0.75 - 0.9| = 0.15."""
    labels, p_fake = [0, 1, 1, 1], [0.1, 0.1, 0.9, 0.9]
    diagram = calibration.reliability_diagram(labels, p_fake, n_bins=10)
    assert diagram["count"] == [0, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert diagram["mean_p_fake"][1] == pytest.approx(0.1) and diagram["fraction_fake"][1] == 0.5
    assert diagram["mean_p_fake"][9] == pytest.approx(0.9) and diagram["fraction_fake"][9] == 1.0
    assert diagram["mean_p_fake"][0] is None and diagram["fraction_fake"][5] is None
    assert diagram["lower"][1] == pytest.approx(0.1) and diagram["upper"][9] == 1.0
    assert calibration.expected_calibration_error(labels, p_fake, 10, kind="p_fake") == pytest.approx(0.25)
    assert calibration.expected_calibration_error(labels, p_fake, 10) == pytest.approx(0.15)


def test_a_calibrated_detector_has_a_small_error_an_overconfident_one_a_large_one():
    rng = np.random.default_rng(1)
    p_fake = rng.uniform(0, 1, 20000)
    labels = (rng.uniform(0, 1, 20000) < p_fake).astype(int)  # fake with probability p_fake: calibrated
    overconfident = np.where(p_fake >= 0.5, 1.0, 0.0)
    for kind in ("top_label", "p_fake"):
        assert calibration.expected_calibration_error(labels, p_fake, kind=kind) < 0.02
        assert calibration.expected_calibration_error(labels, overconfident, kind=kind) > 0.2
    with pytest.raises(ValueError, match="unknown kind"):
        calibration.expected_calibration_error(labels, p_fake, kind="max")


def test_probability_one_falls_in_the_last_bin():
    diagram = calibration.reliability_diagram([1, 0], [1.0, 0.0], n_bins=4)
    assert diagram["count"] == [1, 0, 0, 1]


def test_apply_temperature_by_hand():
    """logit(0.8) = ln 4; halved: ln 2, so P = 2/3. Temperature 1 changes nothing."""
    assert calibration.apply_temperature([0.8], 2.0)[0] == pytest.approx(2 / 3)
    assert calibration.apply_temperature(np.log(4.0), 2.0, from_logits=True) == pytest.approx(2 / 3)
    np.testing.assert_allclose(calibration.apply_temperature([0.1, 0.5, 0.93], 1.0), [0.1, 0.5, 0.93])
    with pytest.raises(ValueError, match="positive"):
        calibration.apply_temperature([0.5], 0.0)


def test_fitted_temperature_undoes_overconfidence_and_keeps_the_ranking():
    """Labels drawn from sigmoid(z) make z calibrated logits; a detector reporting 3 z is overconfident by
    a temperature of 3, which the fit recovers; the log loss falls and the AUC stays."""
    rng = np.random.default_rng(2)
    logits = rng.normal(0, 2, 20000)
    labels = (rng.uniform(0, 1, 20000) < 1 / (1 + np.exp(-logits))).astype(int)
    overconfident = 1 / (1 + np.exp(-3 * logits))
    temperature = calibration.fit_temperature(labels, overconfident)
    assert temperature == pytest.approx(3.0, rel=0.05)
    assert calibration.fit_temperature(labels, 3 * logits, from_logits=True) == pytest.approx(
        temperature, rel=1e-3
    )
    calibrated = calibration.apply_temperature(overconfident, temperature)
    assert skm.log_loss(labels, calibrated) < skm.log_loss(labels, overconfident) - 0.05
    assert skm.roc_auc_score(labels, calibrated) == pytest.approx(skm.roc_auc_score(labels, overconfident))
    assert calibration.expected_calibration_error(labels, calibrated) < 0.02


def test_fitted_temperature_minimises_the_log_loss():
    labels = np.array([0, 1, 1, 0, 1])
    p_fake = np.array([0.2, 0.7, 0.95, 0.6, 0.4])
    best = calibration.fit_temperature(labels, p_fake)
    loss = lambda t: skm.log_loss(labels, calibration.apply_temperature(p_fake, t))
    assert loss(best) <= min(loss(best * 0.98), loss(best * 1.02))


def test_a_perfectly_separated_validation_set_puts_the_threshold_midway_between_the_classes():
    """Val reals at most 0.1, fakes from 0.99989 (a confident model on easy data): any threshold between
    them separates val, and the middle one, not the lowest fake's score, still calls a test fake at 0.9
    fake."""
    labels = [0, 0, 1, 1]
    scores = [0.05, 0.1, 0.99989, 0.9999]
    for choose in (calibration.eer_threshold, calibration.balanced_accuracy_threshold):
        threshold = choose(labels, scores)
        assert threshold == pytest.approx((0.1 + 0.99989) / 2)
        assert 0.9 >= threshold > 0.1


def overconfident_toy_model(scale):
    """A one-feature model ending as every model here ends (a sigmoid Dense named ``p_fake``) that outputs
    sigmoid(``scale`` x), with frames whose calibrated logit is x: labels drawn from sigmoid(x).
    Returns ``(model, frames)``, ``frames`` one row per frame (``label``, ``p_fake``, ``x``)."""
    import keras
    import pandas as pd

    from common.models.classifier import OUTPUT_LAYER_NAME

    inputs = keras.Input(shape=(1,))
    output = keras.layers.Dense(1, activation="sigmoid", name=OUTPUT_LAYER_NAME)(inputs)
    model = keras.Model(inputs, output)
    model.get_layer(OUTPUT_LAYER_NAME).set_weights([np.array([[scale]]), np.array([0.0])])
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1.5, 4000)
    labels = (rng.uniform(0, 1, x.size) < 1 / (1 + np.exp(-x))).astype(int)
    p_fake = model.predict(x[:, None], verbose=0).reshape(-1)
    return model, pd.DataFrame({"label": labels, "p_fake": p_fake, "x": x})


def test_temperature_scaling_of_a_mis_scaled_model_lowers_its_val_ece_and_keeps_its_auc():
    from common.training.temperature import calibrate_model

    model, frames = overconfident_toy_model(scale=4.0)  # four times too confident
    temperature = calibrate_model(model, frames)
    assert temperature == pytest.approx(4.0, rel=0.1)
    calibrated = model.predict(frames["x"].to_numpy()[:, None], verbose=0).reshape(-1)
    # the model itself now outputs sigmoid(logit / T): its logit was 4 x
    np.testing.assert_allclose(calibrated, 1 / (1 + np.exp(-4.0 * frames["x"] / temperature)), atol=1e-5)
    before = calibration.expected_calibration_error(frames["label"], frames["p_fake"])
    after = calibration.expected_calibration_error(frames["label"], calibrated)
    assert before > 0.1 and after < before / 3
    # the ranking stays; in float32 some of the overconfident fakes tied at 1.0, which the calibrated model
    # tells apart: the AUC moves in its seventh decimal
    auc_before = skm.roc_auc_score(frames["label"], frames["p_fake"])
    assert skm.roc_auc_score(frames["label"], calibrated) == pytest.approx(auc_before, abs=1e-6)


def test_a_saved_temperature_scaled_model_gives_stage_05_the_calibrated_scores(tmp_path):
    from common.core.model_file import load_model, save_model
    from common.models.classifier import build_model, divide_output_logit
    from common.models.methods import method_for

    model = build_model("small_cnn", 32, "none")
    divide_output_logit(model, 1 / 20)  # untrained, it gives about 0.5 to every crop: spread them
    crops = np.random.default_rng(0).integers(0, 255, (12, 40, 40, 3), dtype=np.uint8)  # BGR face crops
    metadata = {"image_size": 32, "preprocess": {"jpeg_quality": 95}}
    method = method_for("small_cnn")  # how stage 05 scores the crops of a video
    raw = method.score_faces(model, crops, [0] * 12, list(range(12)), metadata, 4)
    divide_output_logit(model, 2.5)
    save_model(model, tmp_path / "model.keras", metadata)
    loaded, _ = load_model(tmp_path / "model.keras", float32=True)
    scored = method.score_faces(loaded, crops, [0] * 12, list(range(12)), metadata, 4)
    np.testing.assert_allclose(scored, calibration.apply_temperature(raw, 2.5), atol=1e-5)
    assert not np.allclose(scored, raw, atol=1e-3)  # calibrated: not what it gave before
    assert (np.argsort(scored, kind="stable") == np.argsort(raw, kind="stable")).all()  # the same ranking


def test_temperature_scaling_refuses_a_model_without_a_sigmoid_output_logit():
    import keras

    from common.models.classifier import divide_output_logit

    inputs = keras.Input(shape=(1,))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="other")(inputs))
    with pytest.raises(ValueError, match="no 'p_fake' layer"):
        divide_output_logit(model, 2.0)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="relu", name="p_fake")(inputs))
    with pytest.raises(ValueError, match="not a sigmoid Dense layer"):
        divide_output_logit(model, 2.0)
