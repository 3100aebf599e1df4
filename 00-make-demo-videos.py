"""Make a small labelled demo video set (real clips and face-swap fakes).

Example:
    python 00-make-demo-videos.py --output demo_work/videos
    python 00-make-demo-videos.py --output demo_work/holdout --seed 1 --prefix holdout --n-real 12
"""

from __future__ import annotations

import argparse
import pathlib
import time

from tqdm import tqdm

from common import demo
from common.cli import non_negative_int, positive_float, positive_int, setup_logging


def build_parser():
    parser = argparse.ArgumentParser(
        description=(
            "Write a demo deepfake dataset: OUTPUT/real/*.mp4 (a virtual camera over a face photo), "
            "OUTPUT/fake/*.mp4 (the same clips with a face swap) and a DFDC-style OUTPUT/metadata.json. "
            "Existing videos are kept."
        ),
    )
    add = parser.add_argument
    add("--output", type=pathlib.Path, required=True, help="folder for real/, fake/ and metadata.json")
    add(
        "--n-real",
        type=positive_int,
        default=24,
        help="number of real clips; each also gets one fake (default: %(default)s)",
    )
    add("--seconds", type=positive_float, default=4.0, help="length of each clip (default: %(default)s)")
    add("--fps", type=positive_float, default=10.0, help="frames per second (default: %(default)s)")
    add(
        "--seed",
        type=non_negative_int,
        default=0,
        help="random seed; another seed gives other clips (default: %(default)s)",
    )
    add(
        "--prefix",
        default="demo",
        help="file-name prefix, e.g. 'holdout' for a held-out set (default: %(default)s)",
    )
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging()  # INFO, "%(levelname)s %(message)s", through tqdm.write
    try:
        demo.validate_demo_arguments(
            n_real=args.n_real,
            fakes_per_real=1,
            seconds=args.seconds,
            fps=args.fps,
            size=demo.DEFAULT_SIZE,
            seed=args.seed,
            prefix=args.prefix,
        )
    except ValueError as error:
        parser.error(str(error))
    total = demo.demo_video_count(args.n_real)
    written = 0
    started = time.perf_counter()
    with tqdm(total=total, unit="video", desc="demo videos") as bar:

        def on_video(path, was_written):
            nonlocal written
            written += was_written
            bar.update()

        metadata_path = demo.make_demo_videos(
            args.output,
            n_real=args.n_real,
            seed=args.seed,
            seconds=args.seconds,
            fps=args.fps,
            prefix=args.prefix,
            progress=on_video,
        )
    elapsed = time.perf_counter() - started
    print(
        f"{args.n_real} real + {args.n_real} fake videos ({written} written, {total - written} already there) "
        f"in {elapsed:.1f} s -> {metadata_path}"
    )


if __name__ == "__main__":
    main()
