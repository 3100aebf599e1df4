"""The registered backbones: what each one needs, known without loading TensorFlow.

A ``Backbone`` is a spec; its ``builder(input_shape, weights)`` imports Keras when called and returns a
``keras.Model`` from a preprocessed image batch to a pooled feature vector (``weights``: ``None`` or
``"imagenet"``); a backbone whose global pooling is a choice (``pooled``) takes ``pooling="max"|"avg"`` too.
``common.models.classifier`` assembles a classifier around it. A new backbone is one
``BACKBONES.register(name, Backbone(...))`` line here.
"""

import dataclasses

from common.core.registry import Registry


@dataclasses.dataclass(frozen=True)
class Backbone:
    min_size: int  # smallest square input, in pixels
    default_size: int
    builder: object  # builder(input_shape, weights) -> keras.Model
    # The Rescaling applied to raw 0..255 pixels before the backbone; None = it takes raw pixels itself.
    input_scale: float | None = None
    input_offset: float = 0.0
    imagenet: bool = False  # keras.applications has ImageNet weights for it
    # The Dense-ReLU units of the classifier head on its features; None = the head of the paper's backbones.
    head_units: tuple | None = None
    # Its builder takes pooling="max"|"avg", the global pooling it ends in (train.pooling); else its own.
    pooled: bool = False
    scratch_pooling: str = "max"  # a pooled backbone's pooling from scratch under train.pooling: auto

    def __post_init__(self):
        if not 0 < self.min_size <= self.default_size:
            raise ValueError(
                f"need 0 < min_size <= default_size, got {self.min_size} and {self.default_size}"
            )


def keras_model_name(name):
    """The Keras name of the built model ``name`` (image or video model): stage 05 checks a file by it."""
    return f"deepfake_{name}"


BACKBONES = Registry("backbone", "--model", "common.models.backbones.BACKBONES")


def keras_application(class_name):
    """A builder for ``keras.applications.<class_name>`` without its top, ending in global ``pooling``
    ("max", the paper's, or "avg")."""

    def build(input_shape, weights, pooling="max"):
        import keras

        application = getattr(keras.applications, class_name)
        return application(include_top=False, weights=weights, input_shape=input_shape, pooling=pooling)

    build.__name__ = f"build_{class_name}"
    return build


SMALL_CNN_FILTERS = (16, 32, 48, 64)


def build_small_cnn(input_shape, weights):
    """A tiny Conv-BN-ReLU-MaxPool network for tests and CPU demos."""
    import keras

    if weights is not None:
        raise ValueError(
            f"small_cnn has no pretrained weights (got weights={weights!r}); "
            "use weights=None or a path to a weights file"
        )
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for block, filters in enumerate(SMALL_CNN_FILTERS, start=1):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"block{block}_conv")(x)
        x = keras.layers.BatchNormalization(name=f"block{block}_bn")(x)
        x = keras.layers.ReLU(name=f"block{block}_relu")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    features = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    return keras.Model(inputs, features, name="small_cnn")


MESONET4_BLOCKS = ((8, 3, 2), (8, 5, 2), (16, 5, 2), (16, 5, 4))  # (filters, kernel, pooling) per block


def build_mesonet4(input_shape, weights):
    """MesoNet-4 (Afchar et al. 2018) up to its last hidden layer: four Conv-ReLU-BatchNorm-MaxPool blocks,
    flatten, dropout 0.5, dense 16 with LeakyReLU(0.1). Its head (dropout 0.5, sigmoid) is ``_add_head``'s
    with no Dense layer, so the 16 features are the embedding that Grad-CAM, t-SNE and metric learning use."""
    import keras

    if weights is not None:
        raise ValueError(f"mesonet4 has no pretrained weights (got weights={weights!r})")
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for block, (filters, kernel, pooling) in enumerate(MESONET4_BLOCKS, start=1):
        x = keras.layers.Conv2D(filters, kernel, padding="same", activation="relu", name=f"meso{block}_conv")(
            x
        )
        x = keras.layers.BatchNormalization(name=f"meso{block}_bn")(x)
        x = keras.layers.MaxPooling2D(pooling, padding="same", name=f"meso{block}_pool")(x)
    x = keras.layers.Flatten(name="meso_flatten")(x)
    x = keras.layers.Dropout(0.5, name="meso_dropout")(x)
    x = keras.layers.Dense(16, name="meso_dense")(x)
    features = keras.layers.LeakyReLU(negative_slope=0.1, name="meso_leaky_relu")(x)
    return keras.Model(inputs, features, name="mesonet4")


# EfficientNetB0 rescales raw 0..255 RGB itself; Xception and InceptionResNetV2 expect pixels in [-1, 1].
# From scratch B0 pools by average: with the card's max pooling it stays at chance on the demo faces, where
# Xception and Inception-ResNet-v2 learn them with it (README, Models).
BACKBONES.register(
    "efficientnet_b0",
    Backbone(32, 128, keras_application("EfficientNetB0"), imagenet=True, pooled=True, scratch_pooling="avg"),
)
BACKBONES.register(
    "xception",
    Backbone(71, 299, keras_application("Xception"), 1 / 127.5, -1.0, imagenet=True, pooled=True),
)
BACKBONES.register(
    "inception_resnet_v2",
    Backbone(75, 299, keras_application("InceptionResNetV2"), 1 / 127.5, -1.0, imagenet=True, pooled=True),
)
BACKBONES.register("small_cnn", Backbone(32, 64, build_small_cnn, 1 / 255.0, 0.0))
BACKBONES.register("mesonet4", Backbone(32, 256, build_mesonet4, 1 / 255.0, 0.0, head_units=()))
