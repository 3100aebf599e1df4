"""Detector methods: one entry per kind of model that ``train.model`` can name, behind one interface.

A method says what it trains on (``trains_on``: single face crops, "faces", or windows of one face track,
"windows"), checks its settings, builds the Keras model, makes stage 04's input datasets, scores stage 04's
split rows and stage 05's face crops, and adds its own entries to the model file's metadata. Stages 04
and 05 ask ``method_for(name)`` and call these; neither tests a model name.

Entries (``METHODS``): ``image`` (this module: a registered backbone and a dense head, one crop at a time)
and ``video`` (``common.models.video``: ``<backbone>_lstm``). ``common.models`` imports both, so any import
of the package knows them. A new method is one module that registers an object with the attributes and
methods of ``ImageMethod`` (see CONTRIBUTING.md, "How to add a detector method").
"""

import functools

import numpy as np

from common.core.config import register_choices
from common.core.errors import UserError
from common.core.registry import Registry
from common.models.backbones import BACKBONES

METHODS = Registry("detector method", "--model", "common.models.methods.METHODS")


def model_names():
    """Every model name a registered method serves (``train.model``): the methods in name order."""
    return tuple(name for kind in METHODS for name in METHODS.get(kind).names())


register_choices("train.model", model_names)


def method_for(name):
    """The registered method whose ``names()`` hold model ``name``; ``UserError`` naming the known models."""
    for kind in METHODS:
        if name in METHODS.get(kind).names():
            return METHODS.get(kind)
    raise UserError(f"unknown model '{name}' for --model; known: {', '.join(model_names())}")


@functools.lru_cache(maxsize=4)
def inference_function(model):
    """``model`` in inference mode as one TensorFlow function for every batch size. Keras'
    ``predict_on_batch`` traces again for each new batch size (the number of faces in a video), 1.5 s a
    time for EfficientNet-B0 on 2 cores."""
    import tensorflow as tf

    size = model.input_shape[1:]
    return tf.function(
        lambda batch: model(batch, training=False),
        input_signature=[tf.TensorSpec((None, *size), tf.float32)],
    )


def score_crops(model, crops_bgr, image_size, jpeg_quality, batch_size):
    """P(fake) of each face crop, scored ``batch_size`` crops at a time."""
    from common.data.pipeline import prepare_crops  # TensorFlow

    scores = []
    for start in range(0, len(crops_bgr), batch_size):
        batch = prepare_crops(crops_bgr[start : start + batch_size], image_size, jpeg_quality)
        scores.append(np.asarray(inference_function(model)(batch), dtype=float).reshape(-1))
    return np.concatenate(scores) if scores else np.zeros(0)


def model_options(settings):
    """The ``train`` settings that every model builder takes besides the name, size and weights."""
    return {key: settings[key] for key in ("batchnorm", "scratch_batchnorm_momentum", "pooling")}


def split_dataset(name, files, labels, settings, batch_size, cache, cache_dir, seed, read_log, generate=None):
    """Stage 04's dataset of split ``name`` (``common.data.pipeline.make_dataset``): the train split is
    shuffled and augmented (``train.augment``) and takes ``generate`` (online pseudo-fakes); a disk cache
    goes to ``cache_dir / name``."""
    from common.data.pipeline import make_dataset

    return make_dataset(
        files,
        labels,
        settings["image_size"],
        batch_size,
        name == "train",
        settings["augment"],
        cache_dir / name if cache == "disk" else cache,
        seed,
        read_log,
        generate if name == "train" else None,
    )


class ImageMethod:
    """A registered backbone with a dense head (``common.models.classifier.build_model``): trains on single
    face crops, scores each crop alone; Grad-CAM explains it."""

    trains_on = "faces"
    gradcam = True  # stage 05's report and 06 can draw Grad-CAM over one crop

    def names(self):
        return BACKBONES.names()

    def backbone(self, name):
        """The registered backbone that scores each crop of model ``name``."""
        return name

    def check(self, settings):
        """``ValueError`` or ``FileNotFoundError`` for a size or weights the backbone cannot take."""
        from common.models.classifier import check_image_size, check_weights

        check_image_size(self.backbone(settings["model"]), settings["image_size"])
        check_weights(self.backbone(settings["model"]), settings["weights"])

    def build(self, settings):
        """The uncompiled model that ``settings`` (the ``train`` section) describes."""
        from common.models.classifier import build_model

        return build_model(
            settings["model"], settings["image_size"], settings["weights"], **model_options(settings)
        )

    def training_inputs(self, parts, settings, batch_size, cache, cache_dir, seed, generate=None):
        """What stage 04 fits on, from ``{"train": rows, "val": rows}`` of ``split.csv``: ``(parts, make,
        labels, images)``: ``{name: (rows, ReadLog)}`` for the unreadable-file notes, ``make(name)`` the
        dataset, the training labels (class weights) and images per epoch. ``generate`` (online pseudo-fakes)
        makes the training images anew every epoch."""
        from common.data.pipeline import ReadLog

        logs = {name: (rows, ReadLog(len(rows))) for name, rows in parts.items()}

        def make(name):
            rows, read_log = logs[name]
            return split_dataset(
                name,
                rows["file"],
                rows["label"],
                settings,
                batch_size,
                cache,
                cache_dir,
                seed,
                read_log,
                generate,
            )

        return logs, make, parts["train"]["label"], len(parts["train"])

    def score_rows(self, model, rows, image_size, batch_size, distribute=lambda data: data):
        """Stage 04's evaluation: ``(read_log, p_fake)``, the ``ReadLog`` over ``rows`` and the P(fake) of
        each read crop in the order of ``rows``; ``distribute`` shards the dataset over the workers."""
        from common.data.pipeline import ReadLog, make_dataset

        read_log = ReadLog(len(rows))
        data = make_dataset(
            rows["file"],
            rows["label"],
            image_size,
            batch_size,
            training=False,
            cache="none",
            read_log=read_log,
        )
        try:
            p_fake = model.predict(distribute(data), verbose=0).reshape(-1)
        except (ValueError, UnboundLocalError):  # Keras 3 on a dataset that yields nothing: say why instead
            if not read_log.unread().all():
                raise
            p_fake = np.zeros(0)
        return read_log, p_fake

    def score_faces(self, model, crops, track_ids, frame_indices, metadata, batch_size):
        """Stage 05's P(fake) of each BGR face crop of one video."""
        return score_crops(
            model, crops, metadata["image_size"], metadata["preprocess"]["jpeg_quality"], batch_size
        )

    def metadata(self, settings):
        """What this method adds to the model file's metadata: nothing beyond the common entries."""
        return {}


METHODS.register("image", ImageMethod())
