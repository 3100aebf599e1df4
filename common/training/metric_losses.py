"""The metric losses that ``train.metric.loss`` names, in one registry (``LOSSES``), known without TensorFlow.

An entry (``MetricLoss``) is a loss function ``(labels, embeddings, **settings)`` -> one value per row, and
the keys under ``train.metric`` that it takes by name (``settings``): the triplet loss its ``margin``, the
supervised-contrastive loss its ``temperature``. The functions import Keras when they compute, so the names,
the config's choices and stage 04's ``--help`` load no TensorFlow. The losses take the labels of a batch
(label 1 = fake, 0 = real) and see only pairs inside it: a batch of one class gives them nothing to separate,
and they give it a loss of 0. ``common.training.metric_learning`` trains with them.

A new loss is one ``LOSSES.register`` entry here; its settings are keys under ``train`` ``metric`` in
``common.core.config.DEFAULTS`` and ``configs/default.yaml``.
"""

import dataclasses

from common.core.config import register_choices, register_own_settings
from common.core.registry import Registry

NO_METRIC_LOSS = "none"  # train.metric.loss without metric learning
SETTINGS_SECTION = "train.metric"  # where a loss's settings are
LOSS_KEY = f"{SETTINGS_SECTION}.loss"  # the config key naming the loss
SQUARED_DISTANCE_FLOOR = 1e-12  # keeps the gradient of the square root finite at distance 0


@dataclasses.dataclass(frozen=True)
class MetricLoss:
    """A registered loss: ``function(labels, embeddings, **settings)`` with one keyword argument per key of
    ``settings`` (the keys under ``train.metric`` that it takes, the first the one that the old flat key
    ``train.metric_margin`` meant for it)."""

    function: object
    settings: tuple


LOSSES = Registry("metric loss", "--metric-learning", "common.training.metric_losses.LOSSES")
register_choices(LOSS_KEY, lambda: (NO_METRIC_LOSS, *LOSSES.names()))


def own_settings(name):
    """The dotted config keys of loss ``name``'s settings; none for ``none`` or a name not registered."""
    if name not in LOSSES:
        return ()
    return tuple(f"{SETTINGS_SECTION}.{key}" for key in LOSSES.get(name).settings)


register_own_settings(LOSS_KEY, own_settings)


def settings_of(name, metric):
    """``{key: value}`` of loss ``name``'s own settings in ``metric``, the config's ``train.metric``."""
    return {key: metric[key] for key in LOSSES.get(name).settings}


def _normalized(embeddings):
    """The rows of ``embeddings`` as float32 unit vectors (mixed precision hands float16 features)."""
    from keras import ops

    embeddings = ops.cast(embeddings, "float32")
    return embeddings / ops.sqrt(ops.maximum(ops.sum(embeddings**2, axis=1, keepdims=True), 1e-12))


def _pair_masks(labels):
    """``(positives, negatives)``: n x n booleans, same label and not the anchor itself / other label."""
    from keras import ops

    labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
    same = ops.equal(labels[:, None], labels[None, :])
    itself = ops.cast(ops.eye(ops.shape(labels)[0]), "bool")
    return ops.logical_and(same, ops.logical_not(itself)), ops.logical_not(same)


def _per_anchor(losses, valid):
    """Per-sample losses whose mean over the batch (Keras' reduction) is the mean over the ``valid`` anchors:
    those with a positive and a negative in the batch; 0 when there is none (a batch of one class)."""
    from keras import ops

    valid = ops.cast(valid, "float32")
    count = ops.sum(valid)
    scale = ops.cast(ops.shape(valid)[0], "float32") / ops.maximum(count, 1.0)
    return ops.where(valid > 0, losses, 0.0) * scale


def triplet_loss(labels, embeddings, margin=0.5):
    """Batch-hard triplet loss (Hermans et al. 2017) on L2-normalised embeddings, per anchor: max(0, distance
    to its farthest positive - distance to its nearest negative + ``margin``). Returns one value per row."""
    from keras import ops

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
    from keras import ops

    embeddings = _normalized(embeddings)
    positives, negatives = _pair_masks(labels)
    others = ops.logical_or(positives, negatives)
    logits = ops.matmul(embeddings, ops.transpose(embeddings)) / temperature
    logits = ops.where(others, logits, -1e9)
    log_probabilities = logits - ops.logsumexp(logits, axis=1, keepdims=True)
    positive_count = ops.sum(ops.cast(positives, "float32"), axis=1)
    losses = -ops.sum(ops.where(positives, log_probabilities, 0.0), axis=1) / ops.maximum(positive_count, 1.0)
    return _per_anchor(losses, ops.logical_and(positive_count > 0, ops.any(negatives, axis=1)))


LOSSES.register("triplet", MetricLoss(triplet_loss, ("margin",)))
LOSSES.register("supcon", MetricLoss(supcon_loss, ("temperature",)))
