"""Detector methods: stages 04 and 05 reach a model only through its method, so a new method is its own
file. The toy method below is that file: registered here, trained by stage 04's normal path and scored by
stage 05's, with nothing else changed."""

import numpy as np
import pytest
from test_train import write_dataset

from common.core.config import DEFAULTS, choices
from common.core.errors import UserError
from common.core.model_file import load_model, read_metadata
from common.inference import face_scoring
from common.models.methods import METHODS, ImageMethod, method_for
from common.stages import train_detector as stage04


class ToyMethod(ImageMethod):
    """``toy_blob``: the small CNN over each crop, and a mark of its own in the model file."""

    def __init__(self):
        self.scored = 0

    def names(self):
        return ("toy_blob",)

    def backbone(self, name):
        return "small_cnn"

    def build(self, settings):
        from common.models.classifier import build_model

        return build_model("small_cnn", settings["image_size"], "none")

    def score_faces(self, model, crops, track_ids, frame_indices, metadata, batch_size):
        self.scored += len(crops)
        return super().score_faces(model, crops, track_ids, frame_indices, metadata, batch_size)

    def metadata(self, settings):
        return {"toy": "one file"}


@pytest.fixture
def toy(monkeypatch):
    method = ToyMethod()
    monkeypatch.setitem(METHODS._entries, "toy", method)  # as METHODS.register("toy", ...) in its own file
    return method


def test_a_toy_method_trains_and_scores_through_the_normal_path(tmp_path, toy):
    assert "toy_blob" in choices()["train.model"] and method_for("toy_blob") is toy
    dataset = write_dataset(tmp_path / "dataset", videos_per_class=(2, 1, 1), frames=2)
    argv = ["--input", str(dataset), "--output", str(tmp_path / "runs"), "--model", "toy_blob"]
    assert (
        stage04.main([*argv, "--image-size", "32", "--weights", "none", "--batch-size", "4", "--epochs", "1"])
        == 0
    )
    run = (tmp_path / "runs" / "latest").resolve()
    model, metadata = load_model(run / "model.keras")
    assert (metadata["model"], metadata["toy"]) == ("toy_blob", "one file") and read_metadata(run) == metadata
    crops = [np.full((40, 40, 3), value, np.uint8) for value in (60, 120, 180)]
    found = (3, [0, 1, 2], [0, 0, 0], crops)
    settings = {**DEFAULTS["predict"], "batch_size": 2}
    row, faces = face_scoring.score_faces("toy.mp4", found, model, metadata, settings)
    assert toy.scored == 3 and len(faces) == 3 and faces["p_fake"].between(0, 1).all()
    assert row["verdict"] in ("FAKE", "REAL")


def test_an_unknown_model_names_the_known_ones():
    with pytest.raises(UserError, match="unknown model 'nope' for --model; known: efficientnet_b0"):
        method_for("nope")
