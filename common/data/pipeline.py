"""Input pipelines: decode -> (train only: augment) -> batch -> prefetch, as small pure functions.

Training (stage 04) and inference (stage 05) hand the network the same pixels for the same crop: stage 05
encodes its crops as stage 02 saved the training crops (``encode_jpeg``), and both decode and resize them
with ``decode_jpeg`` (TensorFlow's decoder; OpenCV's differs by a few grey levels).
"""

import contextlib
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import tensorflow as tf

from common.core.files import encode_jpeg

log = logging.getLogger(__name__)

AUTOTUNE = tf.data.AUTOTUNE


def resize_for_model(images_uint8, image_size):
    """Resize RGB uint8 image(s) to ``image_size`` square, anti-aliased, back to uint8."""
    resized = tf.image.resize(images_uint8, (image_size, image_size), method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


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


def augment_window(frames, seed):
    """One random transform (``augment`` with one seed) applied to every crop of a window, so the crops
    still differ only as the video does."""
    return tf.map_fn(lambda frame: augment(frame, seed), frames, fn_output_signature=tf.float32)


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


class ReadLog:
    """Which rows of a ``make_dataset`` were read. The pipeline skips a file it cannot read or decode (one
    corrupt JPEG would otherwise abort the epoch) and marks every row it decoded in a variable, an op in
    the pipeline's graph (no Python call per image); after one full pass the unmarked rows are the
    unreadable files."""

    def __init__(self, rows):
        with tf.device("/CPU:0"):
            self.marks = tf.Variable(tf.zeros(rows, tf.bool), trainable=False)

    def mark(self, image, position):
        """``image``, once row ``position`` is marked as read: the mark waits for the image, so a file that
        fails to decode is never marked."""
        with tf.control_dependencies([image]):
            marked = self.marks[position].assign(True)
        with tf.control_dependencies([marked]):
            return tf.identity(image)

    def unread(self):
        """A boolean mask over the rows: True where not read; after a full pass, the unreadable files."""
        return ~self.marks.numpy()


def cache_dataset(dataset, cache):
    """``dataset`` cached as ``cache`` says: "memory", "none" (or False), or a Path: a cache file on disk
    (tf.data writes ``<path>.index`` and ``<path>_*.data-*``)."""
    if cache is False or cache == "none":
        return dataset
    if cache == "memory":
        return dataset.cache()
    if isinstance(cache, Path):
        cache.parent.mkdir(parents=True, exist_ok=True)
        return dataset.cache(str(cache))
    raise ValueError(f"cache must be 'memory', 'none' or a Path, got {cache!r}")


def make_dataset(
    paths,
    labels,
    image_size,
    batch_size,
    training,
    augment_images=True,
    cache="memory",
    seed=0,
    read_log=None,
    generate=None,
):
    """A batched ``tf.data.Dataset`` of (float32 RGB 0..255 images, float32 labels).

    ``paths``: one image file per row, or (rows, window) files: a window of crops per row (video models,
    ``common.models.video``), which becomes one (window, size, size, 3) item transformed alike by augmentation.
    ``training``: the rows enter in ``training_order`` (both classes in every stretch), are reshuffled
    locally every epoch, and are augmented unless ``augment_images`` is False. Evaluation keeps the order
    given. Decoded images are cached (uint8, at model size; ``cache_dataset``) before shuffling and
    augmentation, so later epochs skip JPEG decoding while still seeing new augmentations. With a
    ``ReadLog`` (of ``len(paths)`` rows) unreadable files are skipped and the log says which; without one,
    a corrupt file raises. ``generate``: images made anew every epoch instead of read (single images only):
    ``generate(position)`` returns the JPEG bytes of row ``position`` (called from parallel threads, once
    per row and epoch, after the shuffle; nothing is cached; ``paths`` are then only carried along).
    """
    paths, labels = np.asarray(paths, dtype=object).astype(str), np.asarray(labels, np.float32)
    positions = training_order(labels, seed) if training else np.arange(len(paths))
    dataset = tf.data.Dataset.from_tensor_slices((paths[positions], labels[positions], positions))
    window = paths.shape[1] if paths.ndim == 2 else None

    def decode(path, label, position):
        if window is None:
            image = decode_image(path, image_size)
        else:
            image = tf.stack([decode_image(path[index], image_size) for index in range(window)])
        return (image if read_log is None else read_log.mark(image, position)), label

    def made(path, label, position):
        data = tf.numpy_function(generate, [position], tf.string, stateful=True)
        image = decode_jpeg(tf.ensure_shape(data, []), image_size)
        return (image if read_log is None else read_log.mark(image, position)), label

    if generate is not None:  # shuffled before the images are made: the buffer holds rows, not images
        if training:
            dataset = dataset.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.map(made, num_parallel_calls=AUTOTUNE)
    else:
        dataset = dataset.map(decode, num_parallel_calls=AUTOTUNE)
        if read_log is not None:
            dataset = (
                dataset.ignore_errors()
            )  # a file that fails to read or decode: dropped, its row unmarked
        dataset = cache_dataset(dataset, cache)
        if training:
            dataset = dataset.shuffle(
                min(len(paths), SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=True
            )
    if training and augment_images:
        transform = augment if window is None else augment_window
        counter = tf.data.Dataset.counter().map(lambda count: tf.stack([tf.cast(seed, tf.int64), count]))
        dataset = tf.data.Dataset.zip((dataset, counter)).map(
            lambda pair, image_seed: (transform(pair[0], image_seed), pair[1]), num_parallel_calls=AUTOTUNE
        )
    else:
        dataset = dataset.map(
            lambda image, label: (tf.cast(image, tf.float32), label), num_parallel_calls=AUTOTUNE
        )
    return dataset.batch(batch_size).prefetch(AUTOTUNE)


CACHE_SHARE = 0.5  # of the memory available now that a memory cache may take (the shuffle buffer is apart)
CACHE_MARGIN = 1.1, 1024  # x the pixels, + bytes per image (tf.data 2.21: 1.01-1.07 x, about 400 bytes)
DISK_SHARE = 0.8  # of the free disk space that a disk cache may take
CGROUP_MEMORY = (  # (limit, usage) files of a container's memory limit: cgroup v2, v1
    ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
    ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
)


def cache_bytes(images, image_size):
    """Bytes a cache of ``images`` decoded uint8 RGB images at ``image_size`` takes, with a margin."""
    factor, per_image = CACHE_MARGIN
    return int(images * (image_size * image_size * 3 * factor + per_image))


def available_memory():
    """Bytes of memory available now: /proc/meminfo's MemAvailable (elsewhere: the free physical pages),
    capped by a container's (cgroup) limit; ``None`` when the system says nothing."""
    found = []
    with contextlib.suppress(OSError, ValueError, KeyError):
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        found.append(int(fields["MemAvailable"].split()[0]) * 1024)
    if not found:
        with contextlib.suppress(AttributeError, ValueError, OSError):  # no such name on this system
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    for limit, usage in CGROUP_MEMORY:
        with contextlib.suppress(OSError, ValueError):  # no such cgroup, or "max": no limit
            found.append(int(Path(limit).read_text()) - int(Path(usage).read_text()))
    return min(found) if found else None


def choose_cache(mode, images, image_size, cache_dir, memory=None, disk=None):
    """Where ``make_dataset`` keeps the decoded images: "memory", "disk" (a file under ``cache_dir``) or
    "none", for the ``train.cache`` setting ``mode`` (auto | memory | disk | none), logged with the reason.

    auto: in memory when ``cache_bytes`` fits in ``CACHE_SHARE`` of the memory available now, else on
    disk when it fits in ``DISK_SHARE`` of the free space of ``cache_dir``'s disk, else no cache (every
    epoch decodes again). ``memory`` and ``disk`` (bytes free) default to what the system says now.
    """
    needed = cache_bytes(images, image_size)
    gib = lambda count: f"{count / 2**30:.2f} GiB"
    memory = available_memory() if memory is None else memory
    known = "unknown" if memory is None else gib(memory)
    if mode == "memory" and memory is not None and needed > memory:
        log.warning(
            "image cache: memory as train.cache says, but %s of decoded images > %s available",
            gib(needed),
            known,
        )
    if mode != "auto":
        log.info("image cache: %s (train.cache: %s; %s of decoded images)", mode, mode, gib(needed))
        return mode
    if memory is not None and needed <= CACHE_SHARE * memory:
        log.info("image cache: memory (%s of decoded images, %s available)", gib(needed), gib(memory))
        return "memory"
    cache_dir = Path(cache_dir)
    if disk is None:
        disk = shutil.disk_usage(next(path for path in (cache_dir, *cache_dir.parents) if path.exists())).free
    if needed <= DISK_SHARE * disk:
        log.info(
            "image cache: disk, in %s (%s of decoded images, more than %d %% of the %s memory available)",
            cache_dir,
            gib(needed),
            100 * CACHE_SHARE,
            known,
        )
        return "disk"
    log.warning(
        "image cache: none, every epoch decodes the JPEG files again (%s of decoded images; %s memory "
        "available, %s free on %s's disk)",
        gib(needed),
        known,
        gib(disk),
        cache_dir,
    )
    return "none"


def prepare_crops(crops_bgr, image_size, jpeg_quality):
    """Inference crops (BGR arrays of any size) -> a float32 batch exactly as training saw them: the JPEG
    stage 02 would have saved, decoded and resized by ``decode_jpeg``."""
    batch = [decode_jpeg(encode_jpeg(crop, jpeg_quality), image_size).numpy() for crop in crops_bgr]
    return (
        np.stack(batch).astype(np.float32) if batch else np.zeros((0, image_size, image_size, 3), np.float32)
    )
