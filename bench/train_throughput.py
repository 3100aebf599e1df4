#!/usr/bin/env python3
"""Training throughput (images/s) of each registered backbone on random images. Run by hand:

    python bench/train_throughput.py                       # every backbone at its default size
    python bench/train_throughput.py --models efficientnet_b0 --steps 20 --batch-size 64

Uses the same device set-up as stage 04 (mixed_float16 and MirroredStrategy only with GPUs).
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main():
    from common.config import MIXED_PRECISION_MODES

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="*", help="backbones (default: all registered)")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps after one warm-up step")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, help="default: each backbone's default size")
    parser.add_argument("--mixed-precision", default="auto", choices=MIXED_PRECISION_MODES)
    args = parser.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    from common.backbones import BACKBONES
    from common.models import build_model
    from common.train import setup_devices

    strategy, devices = setup_devices(args.mixed_precision)
    print(f"devices: {devices}")
    for name in args.models or sorted(BACKBONES):
        size = args.image_size or BACKBONES.get(name).default_size
        batch = args.batch_size * strategy.num_replicas_in_sync
        images = np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
        labels = np.random.default_rng(1).integers(0, 2, (batch, 1)).astype(np.float32)
        data = tf.data.Dataset.from_tensors((images, labels)).repeat()
        with strategy.scope():
            model = build_model(name, size, weights="none")
            model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="binary_crossentropy")
        model.fit(data, steps_per_epoch=1, epochs=1, verbose=0)  # build and trace
        started = time.perf_counter()
        model.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)
        seconds = time.perf_counter() - started
        print(f"{name:>20} {size}x{size} batch {batch}: {args.steps * batch / seconds:8.1f} train images/s")
        keras.backend.clear_session()


if __name__ == "__main__":
    main()
