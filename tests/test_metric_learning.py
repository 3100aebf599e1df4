"""Metric learning: the triplet and supervised-contrastive losses, and stage 04 training with one of them."""

import json
import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from conftest import ROOT, run_without_tensorflow
from test_train import SMALL, write_dataset

from common.core.config import load_config
from common.core.model_file import load_model, read_metadata
from common.data.pipeline import make_dataset
from common.stages import train_detector as stage04
from common.training.metric_learning import ClassifierLogs, metadata, metric_loss, with_two_targets
from common.training.metric_losses import LOSSES, MetricLoss, supcon_loss, triplet_loss


def clusters(rng, fakes_among_reals=0, spread=0.05):
    """Four reals around one unit vector and four fakes around an orthogonal one (distance 1.41), the first
    ``fakes_among_reals`` fakes moved to the reals' cluster."""
    centres = np.eye(8)[[0] * 4 + [1] * 4]
    centres[4 : 4 + fakes_among_reals] = np.eye(8)[0]
    labels = np.array([0] * 4 + [1] * 4, np.float32)
    return labels, (centres + spread * rng.normal(size=centres.shape)).astype(np.float32)


def mean_loss(loss, labels, embeddings, margin):
    return float(np.mean(keras.ops.convert_to_numpy(loss(labels, embeddings, margin))))


def test_triplet_loss_is_zero_beyond_the_margin_and_positive_for_a_fake_among_the_reals():
    rng = np.random.default_rng(0)
    assert mean_loss(triplet_loss, *clusters(rng), margin=0.5) == 0.0
    assert mean_loss(triplet_loss, *clusters(rng, fakes_among_reals=1), margin=0.5) > 0.5
    assert mean_loss(triplet_loss, *clusters(rng), margin=1.5) > 0.0  # classes closer than that margin


def test_supcon_loss_is_lower_for_separated_classes():
    rng = np.random.default_rng(0)
    separated = mean_loss(supcon_loss, *clusters(rng), margin=0.1)
    assert separated == pytest.approx(np.log(3), abs=0.01)  # its floor: log(3 positives per anchor)
    assert mean_loss(supcon_loss, *clusters(rng, fakes_among_reals=1), margin=0.1) > separated + 1.0


@pytest.mark.parametrize("name", LOSSES.names())
def test_a_batch_of_one_class_gives_a_zero_loss_not_nan(name):
    embeddings = np.random.default_rng(0).normal(size=(6, 8)).astype(np.float32)
    loss = LOSSES.get(name).function
    for labels in (np.zeros(6, np.float32), np.ones(6, np.float32)):
        values = keras.ops.convert_to_numpy(loss(labels, embeddings, 0.5))
        assert np.all(values == 0.0)
    variable = tf.Variable(embeddings)
    with tf.GradientTape() as tape:
        total = tf.reduce_mean(loss(np.zeros(6, np.float32), variable, 0.5))
    assert np.all(np.isfinite(tape.gradient(total, variable).numpy()))


def test_a_new_loss_is_one_registry_entry_that_the_config_accepts_and_that_gets_its_own_setting(monkeypatch):
    received = []

    def toy_loss(labels, embeddings, temperature):
        received.append(temperature)
        return keras.ops.zeros_like(labels)

    # as LOSSES.register("toy", MetricLoss(toy_loss, ("temperature",))) in common/training/metric_losses.py
    monkeypatch.setitem(LOSSES._entries, "toy", MetricLoss(toy_loss, ("temperature",)))
    train = load_config(None, {"train.metric.loss": "toy", "train.metric.temperature": 0.2})["train"]
    metric_loss("toy", train["metric"])(np.zeros(2, np.float32), np.ones((2, 3), np.float32))
    assert received == [0.2]
    assert metadata(train) == {"metric_learning": "toy", "metric_weight": 1.0, "metric_temperature": 0.2}
    # an old config's one flat key goes to the loss's own setting
    old = load_config(None, {"train.metric_learning": "toy", "train.metric_margin": 0.3})["train"]["metric"]
    assert (old["temperature"], old["margin"]) == (0.3, 0.5)


def test_the_metric_losses_and_their_settings_are_known_without_tensorflow():
    code = (
        "import sys\n"
        "import common.plugins\n"
        "from common.core.config import DEFAULTS, choices\n"
        "from common.training.metric_losses import LOSSES\n"
        "print(*choices()['train.metric.loss'])\n"
        "assert all(set(LOSSES.get(name).settings) <= set(DEFAULTS['train']['metric']) for name in LOSSES)\n"
    )
    assert run_without_tensorflow(code).stdout.split() == ["none", "supcon", "triplet"]


def same_to_different_distance(labels, embeddings):
    """Mean same-class distance over mean different-class distance, of L2-normalised embeddings."""
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    distances = np.linalg.norm(unit[:, None] - unit[None], axis=2)
    same = labels[:, None] == labels[None]
    np.fill_diagonal(same, False)
    return distances[same].mean() / distances[labels[:, None] != labels[None]].mean()


@pytest.mark.parametrize("name", LOSSES.names())
def test_gradient_steps_pull_each_class_together(name):
    rng = np.random.default_rng(1)
    labels = np.array([0, 1] * 8, np.float32)
    embeddings = tf.Variable(rng.normal(size=(16, 8)).astype(np.float32))
    before = same_to_different_distance(labels, embeddings.numpy())
    optimizer = keras.optimizers.SGD(1.0)
    for _ in range(50):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(LOSSES.get(name).function(labels, embeddings, 0.5))
        optimizer.apply([tape.gradient(loss, embeddings)], [embeddings])
    assert same_to_different_distance(labels, embeddings.numpy()) < 0.7 * before


def test_class_weights_reach_both_outputs_as_sample_weights():
    data = tf.data.Dataset.from_tensor_slices((np.zeros((4, 2, 2, 3), np.float32), [0.0, 1.0, 1.0, 1.0]))
    _, targets, weights = next(iter(with_two_targets(data.batch(4), {0: 2.0, 1: 0.5})))
    assert targets.keys() == weights.keys() == {"p_fake", "embedding"}
    assert weights["p_fake"].numpy().tolist() == [2.0, 0.5, 0.5, 0.5]
    assert targets["embedding"].numpy().tolist() == [0.0, 1.0, 1.0, 1.0]


def test_epoch_logs_keep_the_names_of_a_plain_run():
    logs = {
        "loss": 1.2,
        "p_fake_loss": 0.69,
        "p_fake_bce": 0.7,
        "embedding_loss": 0.49,
        "embedding_metric": 0.5,
        "p_fake_accuracy": 0.6,
        "p_fake_auc": 0.65,
        "val_loss": 0.9,
        "val_p_fake_loss": 0.79,
        "val_p_fake_bce": 0.8,
        "val_embedding_loss": 0.1,
        "val_embedding_metric": 0.11,
        "val_p_fake_accuracy": 0.5,
        "val_p_fake_auc": 0.55,
        "learning_rate": 1e-3,
    }
    ClassifierLogs().on_epoch_end(0, logs)
    assert logs == {
        "loss": 0.7,
        "accuracy": 0.6,
        "auc": 0.65,
        "val_loss": 0.8,
        "val_accuracy": 0.5,
        "val_auc": 0.55,
        "metric_loss": 0.5,
        "learning_rate": 1e-3,
    }


def test_a_video_model_with_a_metric_loss_is_refused_in_one_line(tmp_path):
    dataset = write_dataset(tmp_path / "dataset", videos_per_class=(2, 1, 1), frames=2)
    arguments = ["--input", str(dataset), "--output", str(tmp_path / "runs"), *SMALL]
    result = subprocess.run(
        [sys.executable, str(ROOT / "04-train-cnn.py"), *arguments, "--model", "small_cnn_lstm"]
        + ["--metric-learning", "triplet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert (
        "needs an image model, not the video model small_cnn_lstm" in result.stderr.strip().splitlines()[-1]
    )
    assert not (tmp_path / "runs").exists()


LOAD_CLASSIFIER = """
import sys
from common.core.model_file import load_model
model, metadata = load_model(sys.argv[1])
print(len(model.outputs), tuple(model.outputs[0].shape), metadata["metric_learning"])
"""


@pytest.mark.parametrize("name", LOSSES.names())
def test_stage04_trains_with_a_metric_loss_and_saves_the_plain_classifier(tmp_path, name):
    dataset = write_dataset(tmp_path / "dataset", videos_per_class=(4, 2, 1), frames=3)  # val: 8 + 4 faces
    runs = tmp_path / "runs"
    arguments = ["--input", str(dataset), "--output", str(runs), *SMALL, "--epochs", "1"]
    assert stage04.main([*arguments, "--metric-learning", name]) == 0
    run = (runs / "latest").resolve()
    history = pd.read_csv(run / "history.csv")
    assert {"loss", "val_loss", "accuracy", "auc", "val_auc", "metric_loss"} <= set(history.columns)
    assert np.isfinite(history[["loss", "val_loss", "metric_loss"]].to_numpy()).all()
    metadata = read_metadata(run)
    parameter = {"triplet": "metric_margin", "supcon": "metric_temperature"}[name]  # each loss's own
    assert (metadata["metric_learning"], metadata[parameter], metadata["metric_weight"]) == (name, 0.5, 1.0)
    assert not ({"metric_margin", "metric_temperature"} - {parameter}) & set(metadata)
    assert json.loads((run / "metrics.json").read_text())["frame_level"]["n"] == 6
    # the logged val_loss is the cross-entropy of the saved model on val, not N/(N+1) of it
    model, _ = load_model(run)
    val = pd.read_csv(dataset / "split.csv").query("split == 'val'")
    images = make_dataset([dataset / path for path in val["path"]], val["label"], 32, 8, training=False)
    p_fake = model.predict(images, verbose=0).reshape(-1)
    val_loss = float(keras.losses.binary_crossentropy(val["label"].to_numpy(np.float32), p_fake))
    assert history["val_loss"].iloc[-1] == pytest.approx(val_loss, abs=1e-4)
    loaded = subprocess.run(
        [sys.executable, "-c", LOAD_CLASSIFIER, str(run / "model.keras")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.split()[-4:] == ["1", "(None,", "1)", name]
