#!/usr/bin/env python3
"""Why EfficientNet-B0 from scratch did not learn the demo: short controlled runs, one change each.

    python bench/b0_scratch.py --dataset DEMO/dataset --epochs 4 --variants max avg max-no-head

Every variant trains ``efficientnet_b0`` with ``--weights none`` on the same stage 03 split, with stage 04's
input pipeline (``common.data.pipeline.make_dataset``: the same training order, augmentation and class weights), the
same seed, Adam and binary cross-entropy, and prints the train accuracy (Keras' running mean over the
epoch's batches, dropout and augmentation on) and the val accuracy (inference mode, threshold 0.5) after
every epoch, and after training the share of the head's ReLU units that are 0 for every face of a val batch
(dead). Before training it prints what the head receives: over a batch of val faces (BatchNorm on the
batch's statistics, as in training), the mean pooled feature and its spread between faces (mean over the
features of the standard deviation across faces).
A variant names the pooling (``max`` or ``avg``) and one change to the card's set-up (Dense 512 ReLU,
Dropout 0.5, Dense 128 ReLU, sigmoid; stochastic depth 0.2 as Keras builds B0; Adam 1e-3; BatchNorm
momentum 0.9; inputs scaled to 0..1 by the network itself).
"""

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# name: (pooling, build_model options, learning rate, what else changes)
VARIANTS = {
    "max": ("max", {}, 1e-3, None),
    "avg": ("avg", {}, 1e-3, None),
    "max-no-head": ("max", {"dense_units": (), "dropout": 0.0}, 1e-3, None),
    "max-no-dropout": ("max", {"dropout": 0.0}, 1e-3, None),
    "max-no-stochastic-depth": ("max", {}, 1e-3, "no_drop_connect"),
    "max-lr-1e-4": ("max", {}, 1e-4, None),
    "max-centred-input": ("max", {}, 1e-3, "centred"),
    "max-momentum-0.99": ("max", {"scratch_batchnorm_momentum": 0.99}, 1e-3, None),
    "max-scaled": ("max", {}, 1e-3, "scaled"),
}
CENTRED = "efficientnet_b0_centred"  # B0 fed pixels in [-1, 1] instead of [0, 1]
SCALED = "efficientnet_b0_max_scaled"  # B0 whose max-pooled features are scaled down to avg's size
FEATURE_SCALE = 0.15  # avg / max mean pooled feature at initialisation on the demo (0.179 / 1.200)


def register_centred():
    """B0 with a rescaling before it that makes its own x / 255 give (x - 127.5) / 127.5."""
    from common.models.backbones import BACKBONES

    if CENTRED not in BACKBONES:
        spec = BACKBONES.get("efficientnet_b0")
        BACKBONES.register(CENTRED, dataclasses.replace(spec, input_scale=2.0, input_offset=-255.0))


def register_scaled():
    """B0 with global max pooling followed by x FEATURE_SCALE: max pooling at average pooling's scale."""
    from common.models.backbones import BACKBONES, keras_application

    def build(input_shape, weights, pooling="max"):
        import keras

        base = keras_application("EfficientNetB0")(input_shape, weights, pooling)
        return keras.Model(base.input, keras.layers.Rescaling(FEATURE_SCALE)(base.output))

    if SCALED not in BACKBONES:
        BACKBONES.register(SCALED, dataclasses.replace(BACKBONES.get("efficientnet_b0"), builder=build))


def dead_units(model, images):
    """The share of each head Dense-ReLU layer's units that output 0 for every one of ``images``
    (inference mode), as "dense1 / dense2"; "-" without a head."""
    import keras

    names = [layer.name for layer in model.layers if layer.name.startswith("head_dense")]
    if not names:
        return "-"
    probe = keras.Model(model.input, [model.get_layer(name).output for name in names])
    outputs = probe(images, training=False)
    return " / ".join(f"{float((np.asarray(out).max(axis=0) <= 0).mean()):.2f}" for out in outputs)


def without_drop_connect(model):
    """Stochastic depth off: the rate of every block's drop-connect layer (Dropout named *drop) set to 0."""
    import keras

    from common.models.classifier import get_backbone_layer

    layers = [
        layer
        for layer in get_backbone_layer(model).layers
        if isinstance(layer, keras.layers.Dropout) and layer.name.endswith("drop")
    ]
    for layer in layers:
        layer.rate = 0.0
    return len(layers)


def feature_spread(model, images):
    """(mean pooled feature, mean over features of its standard deviation across ``images``)."""
    from common.models.classifier import get_backbone_layer

    backbone = get_backbone_layer(model)
    names = [layer.name for layer in model.layers]
    inputs = model.get_layer("preprocess")(images) if "preprocess" in names else images
    features = np.asarray(backbone(inputs, training=True))  # batch statistics, as training sees them
    return float(features.mean()), float(features.std(axis=0).mean())


def run_variant(name, split, image_size, batch_size, epochs, seed):
    import keras

    from common.data.pipeline import make_dataset
    from common.models.classifier import build_model
    from common.training.inputs import class_weights

    pooling, options, learning_rate, change = VARIANTS[name]
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model_name = {"centred": CENTRED, "scaled": SCALED}.get(change, "efficientnet_b0")
    model = build_model(model_name, image_size, "none", pooling=pooling, **options)
    if change == "no_drop_connect":
        without_drop_connect(model)
    train_rows, val_rows = split[split["split"] == "train"], split[split["split"] == "val"]
    train = make_dataset(train_rows["file"], train_rows["label"], image_size, batch_size, True, seed=seed)
    val = make_dataset(val_rows["file"], val_rows["label"], image_size, batch_size, False, seed=seed)
    images = next(iter(val))[0]
    mean, spread = feature_spread(model, images)
    model.compile(keras.optimizers.Adam(learning_rate), "binary_crossentropy", metrics=["accuracy"])
    started = time.perf_counter()
    history = model.fit(
        train,
        validation_data=val,
        epochs=epochs,
        class_weight=class_weights(train_rows["label"]),
        shuffle=False,
        verbose=0,
    )
    seconds = time.perf_counter() - started
    dead = dead_units(model, images)
    train_accuracy = " ".join(f"{value:.2f}" for value in history.history["accuracy"])
    val_accuracy = " ".join(f"{value:.2f}" for value in history.history["val_accuracy"])
    print(
        f"| {name} | {mean:.3f} / {spread:.3f} | {train_accuracy} | {val_accuracy} | {dead} | {seconds:.0f} |",
        flush=True,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True, help="a stage 03 dataset folder (split.csv)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=["max", "avg"])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    from common.training.inputs import load_split

    register_centred()
    register_scaled()
    split = load_split(args.dataset)
    counts = split.groupby("split").size().to_dict()
    print(
        f"efficientnet_b0, weights none, {args.image_size} px, batch {args.batch_size}, seed {args.seed}, "
        f"{args.epochs} epochs; faces: {counts}"
    )
    print(
        "| variant | pooled feature mean / spread | train accuracy per epoch | val accuracy per epoch "
        "| dead head units after (dense1 / dense2) | s |"
    )
    print("|---|---|---|---|---|---|")
    for name in args.variants:
        run_variant(name, split, args.image_size, args.batch_size, args.epochs, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
