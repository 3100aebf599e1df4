"""Optional temperature scaling of a trained model (``train.temperature_scaling``, off by default).

Stage 04 fits a temperature T on the validation split's frame P(fake)
(``common.evaluation.calibration.fit_temperature``: the T that minimises their log loss) and divides the
model's output logit by it (``common.models.classifier.divide_output_logit``): the saved model then outputs
sigmoid(logit / T) itself, so stage 05, Grad-CAM and anything else that loads the file score calibrated
P(fake) with no flag and no custom layer. The ranking of the scores, hence every AUC, does not change;
the validation threshold is chosen afterwards, on the scores the model finally outputs.
"""

import logging

from common.evaluation.calibration import TEMPERATURE_BOUNDS, fit_temperature
from common.models.classifier import divide_output_logit

log = logging.getLogger(__name__)

FITTED_ON = "val split, frame P(fake) (a frame's most fake face)"
RULE = "T minimising the val frames' log loss; the output logit divided by T (Guo et al. 2017)"


def calibrate_model(model, val_frames):
    """Fit T on ``val_frames`` (one row per val frame: ``label``, ``p_fake``) and divide ``model``'s output
    logit by it, in place. Returns T."""
    temperature = fit_temperature(val_frames["label"], val_frames["p_fake"])
    divide_output_logit(model, temperature)
    log.info("temperature scaling: T = %.4g fitted on the %s", temperature, FITTED_ON)
    if min(abs(temperature - bound) / bound for bound in TEMPERATURE_BOUNDS) < 1e-3:
        log.warning(
            "temperature scaling: T = %.4g is at the end of its range %s: the val frames' log loss keeps "
            "falling (a val split the model separates perfectly, or one class only): the calibrated P(fake) "
            "is not to be trusted",
            temperature,
            TEMPERATURE_BOUNDS,
        )
    return temperature


def temperature_record(temperature, before, after):
    """What metrics.json and the model file record of temperature scaling: T, where and how it was fitted,
    and the val frames' expected calibration error and log loss ``before`` and ``after`` (their
    ``frame_level`` metrics, ``common.evaluation.evaluate.evaluate``'s)."""
    return {
        "temperature": float(temperature),
        "fitted_on": FITTED_ON,
        "rule": RULE,
        "ece_bins": after["ece_bins"],
        "val_ece_before": before["ece"],
        "val_ece_after": after["ece"],
        "val_log_loss_before": before["log_loss"],
        "val_log_loss_after": after["log_loss"],
    }
