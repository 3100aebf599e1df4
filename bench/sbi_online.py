#!/usr/bin/env python3
"""What online SBI costs: the pseudo-fakes and their pairs' real faces made anew every epoch.

    python bench/sbi_online.py --dataset DEMO/dataset --epochs 2

On the train split's real faces of a stage 03 dataset: the one-off face mesh (``OnlineBlends``), then per
epoch the seconds and faces/s of making every training image (each real face's pair: its real and its
pseudo-fake, JPEG-encoded) (a) one after the other in this process, (b) through stage 04's input pipeline
(``make_dataset(generate=...)``: tf.data's parallel map, decoding and augmentation included, no model),
(c) in a pool of worker processes (fork) handing back the JPEG bytes, and, for comparison, the once mode
(``make_pseudo_fakes``: mesh, one pseudo-fake per real face, written to disk).
"""

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BLENDS = None  # the pool workers' copy (inherited by fork)


def made_in_worker(position):
    return BLENDS(position)


def row(how, faces, seconds):
    print(f"| {how} | {faces} | {seconds:.2f} | {faces / seconds:.1f} |", flush=True)


def main(argv=None):
    global BLENDS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True, help="a stage 03 dataset folder (split.csv)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args(argv)

    from common.training.inputs import load_split
    from common.training.sbi import OnlineBlends, make_pseudo_fakes

    split = load_split(args.dataset)
    reals = split[(split["split"] == "train") & (split["label"] == 0)]
    started = time.perf_counter()
    BLENDS = OnlineBlends(reals, seed=0, jpeg_quality=95)
    faces = len(BLENDS.rows)
    print(f"{len(reals)} real train faces -> {faces} training images an epoch; {os.cpu_count()} CPU cores")
    print("| how | images | seconds | images/s |\n|---|---|---|---|")
    row("face mesh, once (OnlineBlends)", len(reals), time.perf_counter() - started)
    for epoch in range(args.epochs):
        started = time.perf_counter()
        for position in range(faces):
            BLENDS(position)
        row(f"(a) one process, epoch {epoch + 1}", faces, time.perf_counter() - started)

    from common.data.pipeline import make_dataset

    data = make_dataset(
        BLENDS.rows["file"], BLENDS.rows["label"], args.image_size, 16, training=True, generate=BLENDS
    )
    for epoch in range(args.epochs):
        started = time.perf_counter()
        count = sum(int(labels.shape[0]) for _, labels in data)
        row(f"(b) tf.data parallel map, epoch {epoch + 1}", count, time.perf_counter() - started)

    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        for epoch in range(args.epochs):
            started = time.perf_counter()
            made = pool.map(made_in_worker, range(faces), chunksize=8)
            row(
                f"(c) {args.workers} worker processes, epoch {epoch + 1}",
                len(made),
                time.perf_counter() - started,
            )

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        made = make_pseudo_fakes(reals, Path(folder) / "pseudo-fakes", 0, 95)
        row(
            "once mode: mesh + one pseudo-fake per real face, to disk",
            len(made),
            time.perf_counter() - started,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
