"""Input pipelines: decode -> (train only: augment) -> batch -> prefetch, as small pure functions.

Training (stage 04) and inference (stage 05) hand the network the same pixels for the same crop: stage 05
encodes its crops as stage 02 saved the training crops (``encode_jpeg``), and both decode and resize them
with ``decode_jpeg`` (TensorFlow's decoder; OpenCV's differs by a few grey levels).
"""

import logging
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from common.files import encode_jpeg

log = logging.getLogger(__name__)

AUTOTUNE = tf.data.AUTOTUNE


def resize_for_model(images_uint8, image_size):
    """Resize RGB uint8 image(s) to ``image_size`` square, anti-aliased, back to uint8."""
    resized = tf.image.resize(images_uint8, (image_size, image_size), method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def find_unreadable_images(paths):
    """Paths that the training decoder cannot decode. Checked up front because one corrupt JPEG inside a
    tf.data pipeline aborts the whole epoch."""
    bad = []
    for path in tqdm(paths, desc="checking images", unit="img", leave=False):
        try:
            tf.io.decode_jpeg(Path(path).read_bytes(), channels=3)
        except (OSError, tf.errors.InvalidArgumentError):
            bad.append(path)
    return bad


def decode_jpeg(data, image_size):
    """JPEG bytes -> an RGB uint8 tensor of the model's size: the one decoder of training and scoring."""
    return resize_for_model(tf.io.decode_jpeg(data, channels=3), image_size)


def decode_image(path, image_size):
    """Read a JPEG file into an RGB uint8 tensor of the model's size."""
    return decode_jpeg(tf.io.read_file(path), image_size)


def augment(image, seed):
    """Train-time augmentation of one uint8 image: JPEG quality, flip, small shift/zoom, brightness,
    contrast. Returns float32 in [0, 255]."""
    seeds = tf.random.experimental.stateless_split(seed, num=6)
    size = tf.shape(image)[0]
    image = tf.image.stateless_random_jpeg_quality(image, 60, 100, seed=seeds[0])
    image = tf.image.stateless_random_flip_left_right(image, seed=seeds[1])
    crop = tf.cast(tf.cast(size, tf.float32) * tf.random.stateless_uniform([], seeds[2], 0.85, 1.0), tf.int32)
    image = tf.image.stateless_random_crop(image, tf.stack([crop, crop, 3]), seed=seeds[3])
    image = tf.image.resize(image, (size, size), method="bilinear")
    image = tf.image.stateless_random_brightness(image, 0.1 * 255, seed=seeds[4])
    image = tf.image.stateless_random_contrast(image, 0.8, 1.2, seed=seeds[5])
    return tf.clip_by_value(image, 0.0, 255.0)


SHUFFLE_BUFFER = 10_000  # images held by the per-epoch shuffle (after the full, class-interleaved order)


def training_order(labels, seed):
    """A seeded order of all training rows in which both classes are spread evenly from start to end.

    Each class is shuffled on its own, and its k-th member of n gets the key (k + u) / n with u uniform in
    [0, 1): sorted by key, every stretch of the list holds the classes in their overall proportion. A
    shuffle buffer alone cannot do this: ``split.csv`` is sorted by label, so a buffer smaller than the
    list fills batches from one class at a time.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    keys = np.empty(len(labels))
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        keys[members] = (np.arange(len(members)) + rng.uniform(0, 1, len(members))) / len(members)
    return np.argsort(keys, kind="stable")


def make_dataset(paths, labels, image_size, batch_size, training, augment_images=True, cache=True, seed=0):
    """A batched ``tf.data.Dataset`` of (float32 RGB 0..255 images, float32 labels).

    ``training``: the rows enter in ``training_order`` (both classes in every stretch), are reshuffled
    locally every epoch, and are augmented unless ``augment_images`` is False. Evaluation keeps the order
    given. Decoded images are cached (uint8, at model size) before shuffling and augmentation, so later
    epochs skip JPEG decoding while still seeing new augmentations.
    """
    paths, labels = [str(path) for path in paths], np.asarray(labels, np.float32)
    if training:
        order = training_order(labels, seed)
        paths, labels = [paths[index] for index in order], labels[order]
    dataset = tf.data.Dataset.from_tensor_slices((paths, labels))
    dataset = dataset.map(
        lambda path, label: (decode_image(path, image_size), label), num_parallel_calls=AUTOTUNE
    )
    if cache:
        dataset = dataset.cache()
    if training:
        dataset = dataset.shuffle(min(len(paths), SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=True)
    if training and augment_images:
        counter = tf.data.Dataset.counter().map(lambda count: tf.stack([tf.cast(seed, tf.int64), count]))
        dataset = tf.data.Dataset.zip((dataset, counter)).map(
            lambda pair, image_seed: (augment(pair[0], image_seed), pair[1]), num_parallel_calls=AUTOTUNE
        )
    else:
        dataset = dataset.map(
            lambda image, label: (tf.cast(image, tf.float32), label), num_parallel_calls=AUTOTUNE
        )
    return dataset.batch(batch_size).prefetch(AUTOTUNE)


def prepare_crops(crops_bgr, image_size, jpeg_quality):
    """Inference crops (BGR arrays of any size) -> a float32 batch exactly as training saw them: the JPEG
    stage 02 would have saved, decoded and resized by ``decode_jpeg``."""
    batch = [decode_jpeg(encode_jpeg(crop, jpeg_quality), image_size).numpy() for crop in crops_bgr]
    return (
        np.stack(batch).astype(np.float32) if batch else np.zeros((0, image_size, image_size, 3), np.float32)
    )
