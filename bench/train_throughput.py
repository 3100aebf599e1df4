#!/usr/bin/env python3
"""Training throughput (images/s) of each registered backbone on random images. Run by hand:

    python bench/train_throughput.py                       # every backbone at its default size
    python bench/train_throughput.py --models efficientnet_b0 --steps 20 --batch-size 64
    python bench/train_throughput.py --pipeline --faces 2000 --repeats 3

``--pipeline`` measures stage 04's input pipeline: ``make_dataset`` over JPEG faces written to a temporary
folder (decoded, cached, shuffled, augmented as stage 04 does) against the same network fed the same
images from memory (a tf.data of in-memory tensors), in the same process. After one epoch of each (the
network traces; the pipeline decodes the JPEG files into its cache), ``--repeats`` pairs of epochs, one of
each feed in alternating order: images/s, CPU time per image, and their ratios (median and range: the
clock is noisy on a shared machine, CPU time less so). efficientnet_b0 (or the first of ``--models``) at
128 px (or ``--image-size``), weights none.

Uses the same device set-up as stage 04 (mixed_float16 and MirroredStrategy only with GPUs).
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def write_faces(folder, count, seed=0):
    """``count`` face-like JPEGs (160 px, quality 95 as stage 02 saves): smooth blobs with some noise, so
    that decoding costs what a real crop costs. Returns the paths and alternating labels."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        coarse = rng.uniform(0, 255, (8, 8, 3)).astype(np.float32)
        image = cv2.resize(coarse, (160, 160), interpolation=cv2.INTER_CUBIC) + rng.normal(
            0, 8, (160, 160, 3)
        )
        paths.append(Path(folder) / f"face_{index:05d}.jpg")
        cv2.imwrite(str(paths[-1]), np.clip(image, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return paths, [index % 2 for index in range(count)]


def epoch_speed(model, data, images):
    """Fit one epoch: images/s, and CPU milliseconds per image (every thread of this process: steadier
    than the clock on a shared machine)."""
    started, cpu = time.perf_counter(), time.process_time()
    model.fit(data, epochs=1, shuffle=False, verbose=0)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return images / seconds, 1000 * cpu / images


def pipeline_against_memory(args, strategy):
    """Stage 04's input pipeline over JPEG files against in-memory tensors, same network, same images."""
    import warnings

    import keras
    import numpy as np
    import tensorflow as tf

    from common.data.pipeline import ReadLog, choose_cache, decode_image, make_dataset
    from common.models.classifier import build_model

    name = (args.models or ["efficientnet_b0"])[0]
    size = args.image_size or 128
    batch = args.batch_size * strategy.num_replicas_in_sync
    with tempfile.TemporaryDirectory() as folder:
        paths, labels = write_faces(folder, args.faces)
        cache = choose_cache(args.cache, len(paths), size, Path(folder) / "cache")
        pixels = np.stack([decode_image(str(path), size).numpy() for path in paths]).astype(np.float32)
        in_memory = (
            tf.data.Dataset.from_tensor_slices((pixels, np.asarray(labels, np.float32)))
            .shuffle(len(paths), seed=0, reshuffle_each_iteration=True)
            .batch(batch)
            .prefetch(tf.data.AUTOTUNE)
        )
        with strategy.scope():
            model = build_model(name, size, weights="none")
            model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="binary_crossentropy")
        read_log = ReadLog(len(paths))
        pipeline = make_dataset(
            paths,
            labels,
            size,
            batch,
            training=True,
            augment_images=args.augment,
            cache=Path(folder) / "cache" / "train" if cache == "disk" else cache,
            read_log=read_log,
        )
        warnings.filterwarnings("ignore", "Your input ran out of data", UserWarning)  # as stage 04
        epoch_speed(model, in_memory, len(paths))  # the network traces
        decoding, _ = epoch_speed(model, pipeline, len(paths))  # the pipeline fills its cache
        assert not read_log.unread().any()
        print(
            f"{name} {size}x{size} batch {batch}, {len(paths)} JPEG faces (160 px), cache {cache}, "
            f"augmentation {'on' if args.augment else 'off'}; first epoch of the pipeline, decoding the "
            f"JPEG files into the cache: {decoding:.1f} img/s"
        )
        ratios, cpu_ratios = [], []
        for repeat in range(args.repeats):
            feeds = [("memory", in_memory), ("pipeline", pipeline)][:: 1 if repeat % 2 == 0 else -1]
            speed = {feed: epoch_speed(model, data, len(paths)) for feed, data in feeds}
            ratios.append(speed["pipeline"][0] / speed["memory"][0])
            cpu_ratios.append(speed["memory"][1] / speed["pipeline"][1])
            print(
                f"epoch pair {repeat + 1}: in memory {speed['memory'][0]:6.1f} img/s "
                f"({speed['memory'][1]:.1f} CPU ms/img), pipeline {speed['pipeline'][0]:6.1f} img/s "
                f"({speed['pipeline'][1]:.1f} CPU ms/img): ratio {ratios[-1]:.3f} (CPU {cpu_ratios[-1]:.3f})"
            )
        print(
            f"pipeline / in memory over {len(ratios)} epoch pairs: images/s median {np.median(ratios):.3f} "
            f"(range {min(ratios):.3f}-{max(ratios):.3f}); CPU time per image (in memory / pipeline) median "
            f"{np.median(cpu_ratios):.3f} (range {min(cpu_ratios):.3f}-{max(cpu_ratios):.3f})"
        )


def main():
    from common.core.config import CACHE_MODES, MIXED_PRECISION_MODES

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="*", help="backbones (default: all registered)")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps after one warm-up step")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, help="default: each backbone's default size")
    parser.add_argument("--mixed-precision", default="auto", choices=MIXED_PRECISION_MODES)
    parser.add_argument(
        "--jit-compile",
        default="auto",
        choices=("auto", "on", "off"),
        help="XLA for the timed networks (auto: Keras's choice, as stage 04: on with one GPU only)",
    )
    parser.add_argument("--pipeline", action="store_true", help="stage 04's input pipeline against memory")
    parser.add_argument("--faces", type=int, default=2000, help="--pipeline: JPEG faces generated")
    parser.add_argument("--repeats", type=int, default=5, help="--pipeline: timed epochs of each feed")
    parser.add_argument("--cache", default="auto", choices=CACHE_MODES, help="--pipeline: as train.cache")
    parser.add_argument(
        "--no-augment", dest="augment", action="store_false", help="--pipeline: as train.augment false"
    )
    args = parser.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    from common.models.backbones import BACKBONES
    from common.models.classifier import build_model
    from common.training.devices import setup_devices

    strategy, devices = setup_devices(args.mixed_precision)
    print(f"devices: {devices}")
    if args.pipeline:
        return pipeline_against_memory(args, strategy)
    for name in args.models or sorted(BACKBONES):
        size = args.image_size or BACKBONES.get(name).default_size
        batch = args.batch_size * strategy.num_replicas_in_sync
        images = np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
        labels = np.random.default_rng(1).integers(0, 2, (batch, 1)).astype(np.float32)
        data = tf.data.Dataset.from_tensors((images, labels)).repeat()
        with strategy.scope():
            model = build_model(name, size, weights="none")
            model.compile(
                optimizer=keras.optimizers.Adam(1e-4),
                loss="binary_crossentropy",
                jit_compile={"auto": "auto", "on": True, "off": False}[args.jit_compile],
            )
        model.fit(data, steps_per_epoch=1, epochs=1, verbose=0)  # build and trace
        started = time.perf_counter()
        model.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)
        seconds = time.perf_counter() - started
        xla = "on" if model.jit_compile else "off"
        print(
            f"{name:>20} {size}x{size} batch {batch}, XLA {xla}: {args.steps * batch / seconds:8.1f} train images/s"
        )
        keras.backend.clear_session()


if __name__ == "__main__":
    main()
