"""Input pipelines: decode -> (train only: augment) -> batch -> prefetch, as small pure functions.

Training (stage 04) and inference (stage 05) resize faces with the same ``resize_for_model``, and inference
passes its crops through the same JPEG encoding that stage 02 applied to training crops.
"""

import logging

import cv2
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from common.files import jpeg_round_trip

log = logging.getLogger(__name__)

AUTOTUNE = tf.data.AUTOTUNE


def resize_for_model(images_uint8, image_size):
    """Resize RGB uint8 image(s) to ``image_size`` square, anti-aliased, back to uint8."""
    resized = tf.image.resize(images_uint8, (image_size, image_size), method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def find_unreadable_images(paths):
    """Paths that are not decodable images. Checked up front because one corrupt JPEG inside a tf.data
    pipeline aborts the whole epoch."""
    bad = []
    for path in tqdm(paths, desc="checking images", unit="img", leave=False):
        data = np.fromfile(path, dtype=np.uint8) if path.is_file() else np.empty(0, np.uint8)
        if data.size == 0 or cv2.imdecode(data, cv2.IMREAD_COLOR) is None:
            bad.append(path)
    return bad


def decode_image(path, image_size):
    """Read a JPEG file into an RGB uint8 tensor of the model's size."""
    image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
    return resize_for_model(image, image_size)


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
    dataset = dataset.map(lambda path, label: (decode_image(path, image_size), label), num_parallel_calls=AUTOTUNE)
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
        dataset = dataset.map(lambda image, label: (tf.cast(image, tf.float32), label), num_parallel_calls=AUTOTUNE)
    return dataset.batch(batch_size).prefetch(AUTOTUNE)


def prepare_crops(crops_bgr, image_size, jpeg_quality):
    """Inference crops (BGR arrays of any size) -> a float32 batch exactly as training saw them: JPEG at
    the crop quality of stage 02, RGB, resized by ``resize_for_model``."""
    batch = []
    for crop in crops_bgr:
        rgb = cv2.cvtColor(jpeg_round_trip(crop, jpeg_quality), cv2.COLOR_BGR2RGB)
        batch.append(resize_for_model(rgb, image_size).numpy())
    return np.stack(batch).astype(np.float32) if batch else np.zeros((0, image_size, image_size, 3), np.float32)
