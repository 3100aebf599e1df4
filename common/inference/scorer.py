"""The model stage 05 scores with: loaded with its metadata checked (backbone, input size, crop settings,
older files given the values their training used) and its face detector built."""

import logging
import time

import numpy as np

from common.core.config import DEFAULTS
from common.core.errors import UserError
from common.evaluation.aggregate import SCORING_KEYS
from common.faces.detection import build_detector
from common.inference.frames_and_faces import DetectorPool
from common.models.backbones import keras_model_name
from common.models.methods import inference_function

log = logging.getLogger(__name__)


def load_scorer(model_path, config, config_file_given, workers=1):
    """The model, its metadata and the face detector built with the model's crop settings: for ``workers``
    > 1 a ``DetectorPool`` of that many, one for each thread of ``predict_videos``."""
    from common.core.model_file import load_model, resolve_model_path

    started = time.perf_counter()
    model, metadata = load_model(model_path)
    try:
        check_metadata(model, metadata)
    except UserError as error:
        raise UserError(f"{resolve_model_path(model_path)}: {error}") from None
    if config_file_given and config["preprocess"] != metadata["preprocess"]:
        log.warning(
            "the config's preprocess section is ignored: faces are cropped as the model's training "
            "faces were (%s)",
            metadata["preprocess"],
        )
    if config["predict"]["faces"] != "model":  # the faces to score, where not those the model trained on
        metadata["preprocess"]["faces"] = config["predict"]["faces"]
    if workers > 1:
        detector = DetectorPool([build_detector(metadata["preprocess"]) for _ in range(workers)])
    else:
        detector = build_detector(metadata["preprocess"])
    # trace the network now, so that loading time holds it and the first video's time does not
    inference_function(model)(np.zeros((1, *model.input_shape[1:]), np.float32))
    log.info(
        "loaded %s (%s, %d px) and %d %s detector%s in %.1f s",
        model_path,
        metadata["model"],
        metadata["image_size"],
        workers,
        metadata["preprocess"]["detector"],
        "s" if workers > 1 else "",
        time.perf_counter() - started,
    )
    return model, metadata, detector


def scoring_settings(settings, metadata, given):
    """The ``predict`` settings ``settings`` with the model's video scoring: for each of ``SCORING_KEYS``
    the value stage 04 computed the run's test figures with (the model file's ``video_scoring``), unless
    the key is in ``given`` (set by a flag or the ``--config`` file: then kept, with a warning where it
    differs from the model's, since the video figures then differ from the run's report). Models saved
    before stage 04 recorded it keep ``settings``. Returns a new dict."""
    recorded = metadata.get("video_scoring", {})
    settings = dict(settings)
    for key in SCORING_KEYS:
        if key not in recorded or settings[key] == recorded[key]:
            continue
        if key in given:
            log.warning(
                "predict.%s = %s as given, while the model's run computed its test figures with %s: video "
                "verdicts and P(fake) follow another rule than its report's",
                key,
                settings[key],
                recorded[key],
            )
        else:
            log.info("predict.%s = %s, as the model's run scored its test videos", key, recorded[key])
            settings[key] = recorded[key]
    return settings


# Crop settings added after models were first saved, and the value that reproduces how those models'
# training faces were cropped: before the lone-face and track rules every face needed min_confidence (the
# track rule at min_confidence admits nothing more), and detection ran on the frame as saved.
LATER_PREPROCESS_KEYS = {
    "lone_face_min_confidence": lambda preprocess: preprocess["min_confidence"],
    "track_min_confidence": lambda preprocess: preprocess["min_confidence"],
    "detect_max_width": lambda preprocess: 0,
    "faces": lambda preprocess: "all",
}


def check_metadata(model, metadata):
    """The model file must say how its training faces were cropped, and which network it holds (backbone and
    input size). Crop settings added later get the value their training used (``LATER_PREPROCESS_KEYS``)."""
    missing = [key for key in ("model", "image_size", "preprocess") if key not in metadata]
    missing += [
        f"preprocess.{key}"
        for key in DEFAULTS["preprocess"]
        if key not in metadata.get("preprocess", {}) and key not in LATER_PREPROCESS_KEYS
    ]
    if missing:
        raise UserError(f"the model's metadata lacks {', '.join(missing)}: re-save it with 04-train-cnn.py")
    preprocess = metadata["preprocess"]
    for key, earlier in LATER_PREPROCESS_KEYS.items():
        preprocess.setdefault(key, earlier(preprocess))
    if model.name != keras_model_name(metadata["model"]):
        raise UserError(
            f"the model's metadata names {metadata['model']} but its network is "
            f"{model.name.removeprefix('deepfake_')}"
        )
    input_size = model.input_shape[-3]  # (batch, [window,] size, size, 3)
    if input_size is not None and input_size != metadata["image_size"]:
        raise UserError(
            f"the model's metadata says image_size {metadata['image_size']} "
            f"but the network takes {input_size} px"
        )
