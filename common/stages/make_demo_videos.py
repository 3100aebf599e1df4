"""Stage 00: write a small labelled demo video set (real clips and face-swap fakes) with ``tools.demo``."""

import time

from tqdm import tqdm

from common.cli import non_negative_int, positive_float, positive_int, run_stage, stage_parser
from tools import demo


def build_parser():
    parser = stage_parser(
        "Write a demo deepfake dataset: OUTPUT/real/*.mp4 (a virtual camera over a face photo), "
        "OUTPUT/fake/*.mp4 (the same clips with a face swap) and a DFDC-style OUTPUT/metadata.json. "
        "Existing videos are kept.",
        input_help=None,
        output_help="folder for real/, fake/ and metadata.json",
        config=False,
    )
    parser.add_argument(
        "--n-real", type=positive_int, default=24, help="number of real clips; each also gets one fake"
    )
    parser.add_argument("--seconds", type=positive_float, default=4.0, help="length of each clip")
    parser.add_argument("--fps", type=positive_float, default=10.0, help="frames per second")
    parser.add_argument(
        "--seed", type=non_negative_int, default=0, help="random seed; another seed gives other clips"
    )
    parser.add_argument(
        "--prefix", default="demo", help="file-name prefix, e.g. 'holdout' for a held-out set"
    )
    return parser


def make_videos(args, config):
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
    print(
        f"{args.n_real} real + {args.n_real} fake videos ({written} written, {total - written} already "
        f"there) in {time.perf_counter() - started:.1f} s -> {metadata_path}"
    )


def main(argv=None):
    return run_stage(build_parser(), argv, make_videos)
