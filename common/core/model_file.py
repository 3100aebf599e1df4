"""A model file that carries what inference needs: model name, image size, crop settings, label meaning.

The metadata is one JSON entry added to the ``.keras`` zip archive; Keras ignores it when loading, and
stage 05 needs nothing but the file.
"""

import json
import shutil
import zipfile
from pathlib import Path

from common.core.errors import UserError
from common.core.files import atomic_path, file_sha256

METADATA_ENTRY = "deepfake_detect.json"
MODEL_FILE = "model.keras"
# The other files of a run directory of stage 04 that later tools read back.
RUN_CONFIG = "config.yaml"  # the resolved config, plus dataset_dir and config_file (CONFIG_FILE_KEY)
HISTORY = "history.csv"  # one row per epoch, both phases
RUN_METRICS = "metrics.json"  # test metrics, model selection, validation
TEST_FACES = "test_faces.csv"  # one row per test face with its P(fake); test_frames.csv, test_videos.csv
EXPLAIN_DIR = "explain"  # Grad-CAM and t-SNE figures of stage 04 --explain
GRADCAM_PNG, TSNE_PNG = (
    "gradcam.png",
    "tsne.png",
)  # what common.evaluation.explain writes (there, or to stage 06's --output)
LABEL_MEANING = "output is P(fake): label 1 = fake, 0 = real"
CONFIG_FILE_KEY = "config_file"  # RUN_CONFIG's record of the --config file the run was started with
NO_CONFIG_FILE = "defaults"  # that record for a run started without one: the built-in defaults, then flags
SHORT_SHA256 = 12  # hex digits of a config file's SHA-256 shown in tables


def config_file_record(path):
    """What a run records of the config file it was started with (``--config PATH``): ``{"path": PATH as
    given, "sha256": the SHA-256 of its content}``, or ``NO_CONFIG_FILE`` when ``path`` is None."""
    if path is None:
        return NO_CONFIG_FILE
    return {"path": str(path), "sha256": file_sha256(path)}


def recorded_config_file(run_config):
    """``(path, sha256)`` of the config file recorded in a run's config.yaml: the path as given and its
    SHA-256; ``("defaults", "")`` for a run started without one; ``("not recorded", "")`` for a run from
    before runs recorded it."""
    record = run_config.get(CONFIG_FILE_KEY)
    if isinstance(record, dict):
        return str(record.get("path")), str(record.get("sha256", ""))
    return ("not recorded" if record is None else str(record)), ""


def describe_config_file(path, sha256):
    """``recorded_config_file``'s answer in words: "PATH (sha256 <its first 12 digits>)", or the word."""
    return f"{path} (sha256 {sha256[:SHORT_SHA256]})" if sha256 else path


def read_run_config(run_dir):
    """The resolved config stage 04 saved in ``run_dir`` ({} when there is none)."""
    import yaml

    path = Path(run_dir) / RUN_CONFIG
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def save_model(model, path, metadata):
    """Save ``model`` with ``metadata`` (a JSON-able dict) to ``path`` atomically."""
    with atomic_path(path) as temporary:
        model.save(temporary)
        with zipfile.ZipFile(temporary, "a") as archive:
            archive.writestr(
                METADATA_ENTRY, json.dumps({**metadata, "label_meaning": LABEL_MEANING}, indent=2)
            )


def update_metadata(path, **entries):
    """Add ``entries`` to the metadata of a model file written by ``save_model``, atomically; the model's own
    entries are copied unchanged (no Keras needed)."""
    path = resolve_model_path(path)
    metadata = {**read_metadata(path), **entries}
    with (
        atomic_path(path) as temporary,
        zipfile.ZipFile(path) as source,
        zipfile.ZipFile(temporary, "w") as target,
    ):
        for item in source.infolist():
            if item.filename != METADATA_ENTRY:
                with source.open(item) as reader, target.open(item, "w") as writer:
                    shutil.copyfileobj(reader, writer)
        target.writestr(METADATA_ENTRY, json.dumps(metadata, indent=2))


def resolve_model_path(path):
    """A run directory or a model file -> the model file; a clear error when there is none."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise UserError(f"no model at {path}: pass a run directory of 04-train-cnn.py or its model.keras")
    return path


def read_metadata(path):
    """The metadata stored in a model file by ``save_model``."""
    path = resolve_model_path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read(METADATA_ENTRY))
    except (zipfile.BadZipFile, KeyError):
        raise UserError(
            f"{path} is not a model saved by 04-train-cnn.py (no {METADATA_ENTRY} inside)"
        ) from None


def load_model(path, float32=None):
    """Load a model saved by ``save_model``; returns ``(model, metadata)``.

    A model trained under ``mixed_float16`` keeps that policy in its file. With ``float32`` (by default: when
    no GPU is present) its layers are rebuilt in float32 and get the same weights, which mixed precision
    keeps in float32 anyway: float16 arithmetic is slow on a CPU and shifts the scores. Loading runs in
    Keras safe mode (nothing in the file is unpickled or run as code); a file Keras cannot load is a
    ``UserError`` naming it.
    """
    import keras
    import tensorflow as tf

    metadata = read_metadata(path)
    path = resolve_model_path(path)
    if float32 is None:
        float32 = not tf.config.list_physical_devices("GPU")
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
        if not float32 or not _uses_mixed_precision(config):
            return keras.models.load_model(path, compile=False, safe_mode=True), metadata
        model = keras.saving.deserialize_keras_object(_in_float32(config), safe_mode=True)
        model.load_weights(path)
    except Exception as error:  # Keras raises many kinds: each is "this file is not a model we can load"
        if "safe_mode" in str(error):
            raise UserError(
                f"{path} holds a layer that would run Python code when loaded; Keras safe mode refuses it "
                "(models of 04-train-cnn.py have none)"
            ) from None
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{path} cannot be loaded as a Keras model: {reason}") from None
    return model, metadata


def _is_mixed_policy(node):
    return (
        isinstance(node, dict)
        and node.get("class_name") == "DTypePolicy"
        and str(node.get("config", {}).get("name", "")).startswith("mixed_")
    )


def _uses_mixed_precision(node):
    if _is_mixed_policy(node):
        return True
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    return any(_uses_mixed_precision(child) for child in children)


def _in_float32(node):
    """A copy of a Keras config with every mixed-precision policy replaced by float32."""
    if _is_mixed_policy(node):
        return {**node, "config": {**node["config"], "name": "float32"}}
    if isinstance(node, dict):
        return {key: _in_float32(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_in_float32(value) for value in node]
    return node
