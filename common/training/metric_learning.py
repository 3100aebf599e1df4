"""Metric learning (``train.metric.loss``): a triplet or supervised-contrastive loss on the embedding, the
backbone's pooled features, trained beside the binary cross-entropy of P(fake).

Stage 04 then fits a model with two outputs, ``p_fake`` and ``embedding``, that shares every layer with the
classifier; the classifier itself (image -> P(fake)) is what it saves, so stage 05 and the evaluation need no
change. The losses take the labels of a batch (label 1 = fake, 0 = real) and see only pairs inside it: a batch
of one class gives them nothing to separate, and they give it a loss of 0.
"""

import dataclasses
import logging

import keras
import tensorflow as tf
from keras import ops

from common.core.errors import UserError
from common.models.classifier import OUTPUT_LAYER_NAME, get_backbone_layer

log = logging.getLogger(__name__)

EMBEDDING_OUTPUT = "embedding"
SQUARED_DISTANCE_FLOOR = 1e-12  # keeps the gradient of the square root finite at distance 0


def _normalized(embeddings):
    """The rows of ``embeddings`` as float32 unit vectors (mixed precision hands float16 features)."""
    embeddings = ops.cast(embeddings, "float32")
    return embeddings / ops.sqrt(ops.maximum(ops.sum(embeddings**2, axis=1, keepdims=True), 1e-12))


def _pair_masks(labels):
    """``(positives, negatives)``: n x n booleans, same label and not the anchor itself / other label."""
    labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
    same = ops.equal(labels[:, None], labels[None, :])
    itself = ops.cast(ops.eye(ops.shape(labels)[0]), "bool")
    return ops.logical_and(same, ops.logical_not(itself)), ops.logical_not(same)


def _per_anchor(losses, valid):
    """Per-sample losses whose mean over the batch (Keras' reduction) is the mean over the ``valid`` anchors:
    those with a positive and a negative in the batch; 0 when there is none (a batch of one class)."""
    valid = ops.cast(valid, "float32")
    count = ops.sum(valid)
    scale = ops.cast(ops.shape(valid)[0], "float32") / ops.maximum(count, 1.0)
    return ops.where(valid > 0, losses, 0.0) * scale


def triplet_loss(labels, embeddings, margin=0.5):
    """Batch-hard triplet loss (Hermans et al. 2017) on L2-normalised embeddings, per anchor: max(0, distance
    to its farthest positive - distance to its nearest negative + ``margin``). Returns one value per row."""
    embeddings = _normalized(embeddings)
    positives, negatives = _pair_masks(labels)
    squared = 2.0 - 2.0 * ops.matmul(embeddings, ops.transpose(embeddings))
    distances = ops.sqrt(ops.maximum(squared, SQUARED_DISTANCE_FLOOR))
    farthest_positive = ops.max(ops.where(positives, distances, 0.0), axis=1)
    nearest_negative = ops.min(ops.where(negatives, distances, 4.0), axis=1)  # unit vectors: distance <= 2
    losses = ops.relu(farthest_positive - nearest_negative + margin)
    return _per_anchor(losses, ops.logical_and(ops.any(positives, axis=1), ops.any(negatives, axis=1)))


def supcon_loss(labels, embeddings, temperature=0.5):
    """Supervised contrastive loss (Khosla et al. 2020, L_out) on L2-normalised embeddings, per anchor: minus
    the mean over its positives p of log(exp(s_p / t) / sum over every other sample a of exp(s_a / t)), s the
    cosine similarity and t the ``temperature``. Returns one value per row."""
    embeddings = _normalized(embeddings)
    positives, negatives = _pair_masks(labels)
    others = ops.logical_or(positives, negatives)
    logits = ops.matmul(embeddings, ops.transpose(embeddings)) / temperature
    logits = ops.where(others, logits, -1e9)
    log_probabilities = logits - ops.logsumexp(logits, axis=1, keepdims=True)
    positive_count = ops.sum(ops.cast(positives, "float32"), axis=1)
    losses = -ops.sum(ops.where(positives, log_probabilities, 0.0), axis=1) / ops.maximum(positive_count, 1.0)
    return _per_anchor(losses, ops.logical_and(positive_count > 0, ops.any(negatives, axis=1)))


LOSSES = {"triplet": triplet_loss, "supcon": supcon_loss}
PARAMETERS = {"triplet": "margin", "supcon": "temperature"}  # each loss's key under train.metric


def metric_loss(name, margin):
    """The Keras loss ``(labels, embeddings) -> per-sample values`` for ``train.metric.loss`` ``name``;
    ``margin``: the triplet margin, or the supcon temperature (``PARAMETERS``)."""
    loss = LOSSES[name]

    def compute(labels, embeddings):
        return loss(labels, embeddings, margin)

    compute.__name__ = f"{name}_loss"
    return compute


def check_settings(settings):
    """``UserError`` for metric learning with a method that trains on windows of crops (the video models):
    its embedding is not one face's features."""
    from common.models.methods import method_for

    loss = settings["metric"]["loss"]
    if loss != "none" and method_for(settings["model"]).trains_on != "faces":
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
    if name == "none":
        return Fit(
            model,
            train_data,
            val_data,
            class_weight,
            [],
            lambda: {"loss": "binary_crossentropy", "metrics": classifier_metrics()},
        )
    parameter = PARAMETERS[name]
    value, weight = settings["metric"][parameter], settings["metric"]["weight"]
    log.info(
        "metric learning: %s loss (%s %g) on the backbone's features, weight %g",
        name,
        parameter,
        value,
        weight,
    )
    return Fit(
        training_model(model),
        with_two_targets(train_data, class_weight),
        with_two_targets(val_data),
        None,
        [ClassifierLogs()],
        lambda: {
            "loss": {
                OUTPUT_LAYER_NAME: "binary_crossentropy",
                EMBEDDING_OUTPUT: metric_loss(name, value),
            },
            "loss_weights": {OUTPUT_LAYER_NAME: 1.0, EMBEDDING_OUTPUT: weight},
            "metrics": {
                OUTPUT_LAYER_NAME: [
                    *classifier_metrics(),
                    keras.metrics.MeanMetricWrapper(bce, name=BCE_METRIC),
                ],
                EMBEDDING_OUTPUT: [
                    keras.metrics.MeanMetricWrapper(metric_loss(name, value), name=METRIC_LOSS_METRIC)
                ],
            },
        },
    )


def metadata(settings):
    """What a model file records of its metric learning: the loss, and when used its weight and its margin
    (triplet, ``metric_margin``) or temperature (supcon, ``metric_temperature``)."""
    metric = settings["metric"]
    if metric["loss"] == "none":
        return {"metric_learning": "none"}
    parameter = PARAMETERS[metric["loss"]]
    return {
        "metric_learning": metric["loss"],
        "metric_weight": metric["weight"],
        f"metric_{parameter}": metric[parameter],
    }
