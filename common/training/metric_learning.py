"""Metric learning (``train.metric.loss``): a loss of ``common.training.metric_losses.LOSSES`` (triplet,
supervised contrastive) on the embedding, the backbone's pooled features, trained beside the binary
cross-entropy of P(fake).

Stage 04 then fits a model with two outputs, ``p_fake`` and ``embedding``, that shares every layer with the
classifier; the classifier itself (image -> P(fake)) is what it saves, so stage 05 and the evaluation need no
change.
"""

import dataclasses
import logging

import keras
import tensorflow as tf
from keras import ops

from common.core.errors import UserError
from common.models.classifier import OUTPUT_LAYER_NAME, get_backbone_layer
from common.training.metric_losses import LOSSES, NO_METRIC_LOSS, settings_of

log = logging.getLogger(__name__)

EMBEDDING_OUTPUT = "embedding"


def metric_loss(name, metric):
    """The Keras loss ``(labels, embeddings) -> per-sample values`` of the registered loss ``name``
    (``LOSSES``) with its own settings from ``metric``, the config's ``train.metric``."""
    loss, settings = LOSSES.get(name).function, settings_of(name, metric)

    def compute(labels, embeddings):
        return loss(labels, embeddings, **settings)

    compute.__name__ = f"{name}_loss"
    return compute


def check_settings(settings):
    """``UserError`` for metric learning with a method that trains on windows of crops (the video models):
    its embedding is not one face's features."""
    from common.models.methods import method_for

    loss = settings["metric"]["loss"]
    if loss != NO_METRIC_LOSS and method_for(settings["model"]).trains_on != "faces":
        raise UserError(
            f"--metric-learning {loss} needs an image model, not the video model {settings['model']}"
        )


def embedding_of(model):
    """The backbone's output in ``model``'s graph: the pooled features of each image (an image model's)."""
    if len(model.inputs) != 1 or len(model.inputs[0].shape) != 4:
        raise ValueError(f"metric learning needs an image model; {model.name} takes {model.inputs[0].shape}")
    nodes = get_backbone_layer(model)._inbound_nodes  # the backbone's call in the classifier
    if len(nodes) != 1:
        raise ValueError(f"the backbone of {model.name} is called {len(nodes)} times, expected once")
    return nodes[0].output_tensors[0]


def training_model(model):
    """A model with outputs ``{"p_fake": P(fake), "embedding": backbone features}`` sharing ``model``'s
    layers, made in its distribution strategy's scope: training it trains ``model``."""
    with model.distribute_strategy.scope():
        outputs = {OUTPUT_LAYER_NAME: model.outputs[0], EMBEDDING_OUTPUT: embedding_of(model)}
        return keras.Model(model.inputs, outputs, name=f"{model.name}_metric")


def with_two_targets(dataset, class_weight=None):
    """``(images, labels)`` batches -> ``(images, {output: labels}, {output: weights})``: the labels for both
    outputs, and ``class_weight`` ({label: weight}) as sample weights of both, since Keras' ``class_weight``
    takes one output only."""
    table = None
    if class_weight is not None:
        table = tf.constant([class_weight[label] for label in sorted(class_weight)], tf.float32)

    def targets(images, labels):
        both = {OUTPUT_LAYER_NAME: labels, EMBEDDING_OUTPUT: labels}
        if table is None:
            return images, both
        weights = tf.gather(table, tf.cast(labels, tf.int32))
        return images, both, {OUTPUT_LAYER_NAME: weights, EMBEDDING_OUTPUT: weights}

    return dataset.map(targets, num_parallel_calls=tf.data.AUTOTUNE)


BCE_METRIC = "bce"  # P(fake)'s binary cross-entropy, as a metric (see ``ClassifierLogs``)
METRIC_LOSS_METRIC = "metric"  # the metric loss, as a metric of the embedding output


class ClassifierLogs(keras.callbacks.Callback):
    """Gives each epoch's logs the names of a plain run, for the callbacks after it (model selection, early
    stopping, history.csv): ``loss``/``val_loss`` are P(fake)'s binary cross-entropy, ``accuracy``/``auc``
    its metrics, ``metric_loss`` the training metric loss. The total loss and the validation metric loss
    are left out: the val batches come in evaluation order, mostly one class each.

    The cross-entropy and the metric loss are taken from metrics (``BCE_METRIC``, ``METRIC_LOSS_METRIC``),
    not from Keras' per-output losses (``p_fake_loss``): Keras 3.15 counts those per batch with a weight that
    does not depend on the data, so on the dataset of unknown length that ``ignore_errors`` makes, the step
    that finds the data exhausted still adds one to the count (logged loss N/(N+1) of the true one, N
    batches), and a short last batch weighs as much as a full one. A metric counts the samples it saw."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        total = {key: logs.pop(key) for key in list(logs)}
        for prefix in ("", "val_"):
            for name, logged in (("loss", BCE_METRIC), ("accuracy", "accuracy"), ("auc", "auc")):
                key = f"{prefix}{OUTPUT_LAYER_NAME}_{logged}"
                if key in total:
                    logs[f"{prefix}{name}"] = total.pop(key)
            for left_out in ("loss", f"{OUTPUT_LAYER_NAME}_loss", f"{EMBEDDING_OUTPUT}_loss"):
                total.pop(f"{prefix}{left_out}", None)
        if f"{EMBEDDING_OUTPUT}_{METRIC_LOSS_METRIC}" in total:
            logs["metric_loss"] = total.pop(f"{EMBEDDING_OUTPUT}_{METRIC_LOSS_METRIC}")
        total.pop(f"val_{EMBEDDING_OUTPUT}_{METRIC_LOSS_METRIC}", None)
        logs.update(total)  # anything else (learning rate, ...) as it was


@dataclasses.dataclass
class Fit:
    """What ``common.training.fitting.fit_phases`` compiles and fits: ``compile_args()`` (a fresh loss and metrics,
    to be called in the strategy's scope) and the arguments of ``model.fit``."""

    model: object
    train_data: object
    val_data: object
    class_weight: object
    callbacks: list
    compile_args: object


def bce(labels, p_fake):
    """Per-sample binary cross-entropy of P(fake) (``labels``: one value per sample), as the loss takes it."""
    return keras.losses.binary_crossentropy(ops.reshape(labels, (-1, 1)), p_fake)


def classifier_metrics():
    return ["accuracy", keras.metrics.AUC(name="auc")]


def prepare_fit(model, train_data, val_data, class_weight, settings):
    """The classifier ``model`` as it is without metric learning; with it (``train.metric.loss`` triplet
    or supcon) the two-output ``training_model`` with the loss of each output, weighted
    1 : ``train.metric.weight``, and its data and logs."""
    name = settings["metric"]["loss"]
    if name == NO_METRIC_LOSS:
        return Fit(
            model,
            train_data,
            val_data,
            class_weight,
            [],
            lambda: {"loss": "binary_crossentropy", "metrics": classifier_metrics()},
        )
    own = ", ".join(f"{key} {value:g}" for key, value in settings_of(name, settings["metric"]).items())
    weight = settings["metric"]["weight"]
    log.info("metric learning: %s loss (%s) on the backbone's features, weight %g", name, own, weight)
    return Fit(
        training_model(model),
        with_two_targets(train_data, class_weight),
        with_two_targets(val_data),
        None,
        [ClassifierLogs()],
        lambda: {
            "loss": {
                OUTPUT_LAYER_NAME: "binary_crossentropy",
                EMBEDDING_OUTPUT: metric_loss(name, settings["metric"]),
            },
            "loss_weights": {OUTPUT_LAYER_NAME: 1.0, EMBEDDING_OUTPUT: weight},
            "metrics": {
                OUTPUT_LAYER_NAME: [
                    *classifier_metrics(),
                    keras.metrics.MeanMetricWrapper(bce, name=BCE_METRIC),
                ],
                EMBEDDING_OUTPUT: [
                    keras.metrics.MeanMetricWrapper(
                        metric_loss(name, settings["metric"]), name=METRIC_LOSS_METRIC
                    )
                ],
            },
        },
    )


def metadata(settings):
    """What a model file records of its metric learning: the loss, and when used its weight and its own
    settings, each as ``metric_<key>`` (triplet: ``metric_margin``; supcon: ``metric_temperature``)."""
    metric = settings["metric"]
    if metric["loss"] == NO_METRIC_LOSS:
        return {"metric_learning": NO_METRIC_LOSS}
    own = settings_of(metric["loss"], metric)
    return {
        "metric_learning": metric["loss"],
        "metric_weight": metric["weight"],
        **{f"metric_{key}": value for key, value in own.items()},
    }
