"""A model file that carries what inference needs: model name, image size, crop settings, label meaning.

The metadata is one JSON entry added to the ``.keras`` zip archive; Keras ignores it when loading, and
stage 05 needs nothing but the file.
"""

import json
import zipfile
from pathlib import Path

from common.errors import UserError
from common.files import atomic_path

METADATA_ENTRY = "deepfake_detect.json"
MODEL_FILE = "model.keras"
LABEL_MEANING = "output is P(fake): label 1 = fake, 0 = real"


def save_model(model, path, metadata):
    """Save ``model`` with ``metadata`` (a JSON-able dict) to ``path`` atomically."""
    with atomic_path(path) as temporary:
        model.save(temporary)
        with zipfile.ZipFile(temporary, "a") as archive:
            archive.writestr(METADATA_ENTRY, json.dumps({**metadata, "label_meaning": LABEL_MEANING}, indent=2))


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
        raise UserError(f"{path} is not a model saved by 04-train-cnn.py (no {METADATA_ENTRY} inside)") from None


def load_model(path):
    """Load a model saved by ``save_model``; returns ``(model, metadata)``."""
    import keras

    metadata = read_metadata(path)
    model = keras.models.load_model(resolve_model_path(path), compile=False)
    return model, metadata
