#!/usr/bin/env python3
"""Share of single-class training batches in the first epoch of stage 04's input pipeline. Run by hand:

    python bench/batch_mix.py --rows 40000 200000

The rows are ordered as ``split.csv`` orders them (all real faces, then all fake faces) and all point at one
tiny image, so the run measures the order of the pipeline and not JPEG decoding.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def single_class_share(rows, fake_share, batch_size, image):
    from common.data.pipeline import make_dataset

    fakes = int(rows * fake_share)
    labels = [0] * (rows - fakes) + [1] * fakes
    data = make_dataset(
        [image] * rows, labels, 8, batch_size, training=True, augment_images=False, cache=False
    )
    single = total = 0
    for _, batch in data.as_numpy_iterator():
        total += 1
        single += len(set(batch.tolist())) == 1
    return single, total


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[40_000, 200_000], help="training rows")
    parser.add_argument("--fake-share", type=float, default=0.5, help="share of fake rows")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        image = str(Path(folder) / "face.jpg")
        cv2.imwrite(image, np.zeros((8, 8, 3), np.uint8))
        for rows in args.rows:
            started = time.perf_counter()
            single, total = single_class_share(rows, args.fake_share, args.batch_size, image)
            print(
                f"{rows:>8} rows, {args.fake_share:.0%} fake, batch {args.batch_size}: {single} of {total} "
                f"batches single-class ({single / total:.1%}) in {time.perf_counter() - started:.1f} s"
            )


if __name__ == "__main__":
    main()
