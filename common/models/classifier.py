"""CNN classifiers for deepfake detection: a registered backbone (``common.models.backbones``) and a head.

Every model built here takes RAW RGB images (float, 0..255) of shape
(image_size, image_size, 3) and outputs P(fake) (label 1 = fake, 0 = real).
The backbone-specific input preprocessing lives inside the model as plain
Keras layers, so a saved ``.keras`` file needs no custom objects and inference
needs nothing but the image.
"""

import contextlib
import logging
import os

import keras

from common.core.config import BATCHNORM_MODES, DEFAULTS, POOLING_MODES
from common.models.backbones import BACKBONES, keras_model_name

log = logging.getLogger(__name__)

BACKBONE_LAYER_NAME = "backbone"
PREPROCESS_LAYER_NAME = "preprocess"
OUTPUT_LAYER_NAME = "p_fake"
DENSE_UNITS = (512, 128)  # the head of the paper's backbones: two Dense-ReLU layers before the sigmoid


def _is_no_weights(weights):
    """True for ``None`` or the string ``"none"`` (any case)."""
    return weights is None or (isinstance(weights, str) and weights.lower() == "none")


def _is_imagenet(weights):
    """True for the string ``"imagenet"`` (any case)."""
    return isinstance(weights, str) and weights.lower() == "imagenet"


def resolve_weights(weights):
    """Split ``weights`` into (keras.applications argument, local file path).

    ``None``/``"none"`` -> (None, None); ``"imagenet"`` -> ("imagenet", None);
    anything else is a local file -> (None, path), which must exist.
    """
    if _is_no_weights(weights):
        return None, None
    if _is_imagenet(weights):
        return "imagenet", None
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file not found: {path}")
    return None, path


def check_weights(name, weights):
    """Raise ``ValueError`` when ``weights`` asks for ImageNet weights that backbone ``name`` does not have
    (it trains from scratch), or names a file that does not exist."""
    if _is_imagenet(weights) and not BACKBONES.get(name).imagenet:
        raise ValueError(
            f"model '{name}' has no ImageNet weights: it trains from scratch, with --weights none"
        )
    resolve_weights(weights)


def check_image_size(name, image_size):
    """Raise ``ValueError`` when ``image_size`` is below the minimum of backbone ``name``."""
    min_size = BACKBONES.get(name).min_size
    if image_size < min_size:
        raise ValueError(f"image_size {image_size} is too small for model '{name}' (min size {min_size})")


@contextlib.contextmanager
def _imagenet_download_served_by(path):
    """While active, keras.applications' download of ImageNet weights returns
    the local file ``path`` instead: the network is built exactly as
    ``weights="imagenet"`` builds it and loads ``path`` as it would load the
    download. (Building with ``weights=None`` and loading the file afterwards
    is not the same network: EfficientNet adds an input ``Rescaling`` layer
    only for ``"imagenet"``, without which its inputs are ~2x too small.)"""
    from keras.src.utils import file_utils  # the module every application downloads through

    download = file_utils.get_file

    def serve_local_file(fname=None, origin=None, **kwargs):
        log.info("ImageNet weights %s from the local file %s", fname, path)
        return path

    file_utils.get_file = serve_local_file
    try:
        yield
    finally:
        file_utils.get_file = download


def resolve_pooling(name, pooling, weights):
    """The global pooling ("max" or "avg") that backbone ``name`` ends in for the ``train.pooling`` setting
    ``pooling``; ``None`` for a backbone with a pooling of its own (``Backbone.pooled`` false).

    ``auto``: max with pretrained weights (the paper's head, as it was run); from scratch the backbone's
    ``scratch_pooling``: avg for EfficientNet-B0, which from random weights with global max pooling into the
    Dense 512 head stays at chance on the demo faces where average pooling learns them (README, Models).
    """
    if pooling not in POOLING_MODES:
        raise ValueError(f"unknown pooling '{pooling}'; known: {', '.join(POOLING_MODES)}")
    backbone = BACKBONES.get(name)
    if not backbone.pooled:
        return None
    if pooling == "auto":
        return backbone.scratch_pooling if _is_no_weights(weights) else "max"
    return pooling


def build_backbone(name, image_size, weights=None, pooling="max"):
    """Build the named backbone as a sub-model called ``"backbone"``, ending in global ``pooling`` ("max"
    or "avg"; ignored by a backbone with a pooling of its own).

    A weights file for a backbone with ImageNet weights is a local copy of
    them (Keras' ``*_notop.h5``, or a ``.weights.h5`` saved from a backbone
    built with ImageNet weights): the network is the one ``"imagenet"``
    gives. For other backbones the file is loaded after building.
    """
    check_image_size(name, image_size)
    backbone = BACKBONES.get(name)
    applications_weights, weights_path = resolve_weights(weights)
    shape = (image_size, image_size, 3)
    options = {"pooling": pooling} if backbone.pooled else {}
    if weights_path is not None and backbone.imagenet:
        with _imagenet_download_served_by(weights_path):
            model = backbone.builder(shape, "imagenet", **options)
    else:
        model = backbone.builder(shape, applications_weights, **options)
        if weights_path is not None:
            log.info("loading %s backbone weights from %s", name, weights_path)
            model.load_weights(weights_path)
    model.name = BACKBONE_LAYER_NAME
    return model


def _add_preprocessing(backbone, inputs):
    """Apply the backbone's pixel rescaling (if any) to raw 0..255 inputs."""
    if backbone.input_scale is None:
        return inputs
    rescale = keras.layers.Rescaling(
        scale=backbone.input_scale,
        offset=backbone.input_offset,
        name=PREPROCESS_LAYER_NAME,
    )
    return rescale(inputs)


def _add_head(features, dropout, dense_units):
    """Dense-ReLU stack (dropout after the first layer) ending in a sigmoid P(fake)."""
    x = features
    if not dense_units and dropout > 0:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    for index, units in enumerate(dense_units):
        x = keras.layers.Dense(units, activation="relu", name=f"head_dense{index + 1}")(x)
        if index == 0 and dropout > 0:
            x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    return keras.layers.Dense(1, activation="sigmoid", dtype="float32", name=OUTPUT_LAYER_NAME)(x)


def freezes_batchnorm(batchnorm, weights):
    """Whether the backbone's BatchNorm layers stay frozen during fine-tuning.

    ``auto``: frozen with pretrained weights (the Keras transfer-learning guide: ImageNet statistics are
    kept, as updating them on a small dataset destroys what the network learned), trained from scratch.
    """
    if batchnorm not in BATCHNORM_MODES:
        raise ValueError(f"unknown batchnorm mode '{batchnorm}'; known: {', '.join(BATCHNORM_MODES)}")
    return not _is_no_weights(weights) if batchnorm == "auto" else batchnorm == "frozen"


def _batchnorm_layers(model):
    """Every BatchNormalization layer of ``model``, nested models included."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(_batchnorm_layers(layer))
    return found


def build_model(
    name="efficientnet_b0",
    image_size=128,
    weights="imagenet",
    dropout=0.5,
    dense_units=None,
    batchnorm="auto",
    scratch_batchnorm_momentum=DEFAULTS["train"]["scratch_batchnorm_momentum"],
    pooling=DEFAULTS["train"]["pooling"],
):
    """Build an uncompiled P(fake) classifier taking raw 0..255 RGB images.

    ``weights``: ``None``/``"none"`` (random), ``"imagenet"`` (downloaded by
    keras.applications) or a path to a backbone weights file. ``dense_units``: the head's Dense-ReLU
    layers; ``None`` = the backbone's own head (``Backbone.head_units``), else (512, 128).
    ``pooling``: the backbone's global pooling, ``auto`` | ``max`` | ``avg`` (``resolve_pooling``).

    BatchNorm: with pretrained weights the backbone's BatchNorm layers are
    frozen (``batchnorm="auto"`` or ``"frozen"``): they run in inference mode
    with the ImageNet statistics while every other layer is fine-tuned. From
    scratch they train with ``scratch_batchnorm_momentum`` instead of Keras'
    0.99, whose moving statistics need thousands of steps to settle: after a
    few hundred, a network that separates its training batches outputs one
    constant value in inference mode.
    """
    check_image_size(name, image_size)
    backbone = BACKBONES.get(name)
    pooled_by = resolve_pooling(name, pooling, weights)
    feature_extractor = build_backbone(name, image_size, weights, pooled_by)
    if _is_no_weights(weights):
        for layer in _batchnorm_layers(feature_extractor):
            layer.momentum = scratch_batchnorm_momentum
    set_batchnorm_frozen(feature_extractor, freezes_batchnorm(batchnorm, weights))
    inputs = keras.Input(shape=(image_size, image_size, 3), name="image")
    features = feature_extractor(_add_preprocessing(backbone, inputs))
    if dense_units is None:
        dense_units = DENSE_UNITS if backbone.head_units is None else backbone.head_units
    outputs = _add_head(features, dropout, tuple(dense_units))
    model = keras.Model(inputs, outputs, name=keras_model_name(name))
    log.info(
        "built %s at %dx%d (%d parameters%s)",
        name,
        image_size,
        image_size,
        model.count_params(),
        f", global {pooled_by} pooling" if pooled_by else "",
    )
    return model


def get_backbone_layer(model):
    """Return the backbone sub-model of a model made by ``build_model``."""
    layer = model.get_layer(BACKBONE_LAYER_NAME)
    return getattr(layer, "layer", layer)  # a video model's (common.models.video) is inside TimeDistributed


def backbone_pooling(model):
    """The global pooling ("max" or "avg") the backbone of a ``build_model`` model ends in; ``None`` for
    any other last layer."""
    last = get_backbone_layer(model).layers[-1]
    if isinstance(last, keras.layers.GlobalMaxPooling2D):
        return "max"
    return "avg" if isinstance(last, keras.layers.GlobalAveragePooling2D) else None


def set_batchnorm_frozen(backbone, frozen):
    """Freeze (or unfreeze) every BatchNorm layer of ``backbone``.

    A frozen BatchNorm layer runs in inference mode in Keras 3. Calling the
    backbone with ``training=False``, as the transfer-learning guide does, is
    not enough inside a functional model: Keras 3.15 passes ``fit``'s
    ``training=True`` down to the nested backbone regardless.
    """
    for layer in _batchnorm_layers(backbone):
        layer.trainable = not frozen


def set_backbone_trainable(model, trainable, freeze_batchnorm=False):
    """Freeze or unfreeze the backbone, keeping its BatchNorm layers frozen
    when ``freeze_batchnorm``; recompile the model afterwards."""
    backbone = get_backbone_layer(model)
    backbone.trainable = bool(trainable)
    if trainable:
        set_batchnorm_frozen(backbone, freeze_batchnorm)
    log.info("backbone %s", "unfrozen" if trainable else "frozen")


def divide_output_logit(model, temperature):
    """Temperature scaling inside ``model``: its output layer (``OUTPUT_LAYER_NAME``, a one-unit sigmoid
    Dense, as every model here ends) gets its kernel and bias divided by ``temperature``, so the model
    outputs sigmoid(logit / T) (``common.evaluation.calibration.apply_temperature`` of what it gave) and
    anything that loads the saved file gets the calibrated P(fake), with no custom layer. In place; returns
    ``model``. ``ValueError`` for a model that does not end so or a temperature that is not positive."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    layer = output_logit_layer(model)
    for variable in (layer.kernel, layer.bias):
        variable.assign(variable / temperature)
    return model


def output_logit_layer(model):
    """The layer whose logit ``divide_output_logit`` scales: ``model``'s ``OUTPUT_LAYER_NAME``, a sigmoid
    Dense layer; ``ValueError`` naming what is missing otherwise."""
    try:
        layer = model.get_layer(OUTPUT_LAYER_NAME)
    except ValueError:
        raise ValueError(
            f"the model has no '{OUTPUT_LAYER_NAME}' layer whose logit temperature scaling could divide"
        ) from None
    if not isinstance(layer, keras.layers.Dense) or layer.activation is not keras.activations.sigmoid:
        raise ValueError(
            f"the model's '{OUTPUT_LAYER_NAME}' layer is not a sigmoid Dense layer: temperature scaling "
            "cannot divide its logit"
        )
    return layer
