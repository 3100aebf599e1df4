"""Stage 01: sample frames from labelled videos into OUTPUT/frames/ and OUTPUT/manifest.csv."""

import functools
from pathlib import Path

from common.cli import (
    config_option,
    non_negative_int,
    positive_float,
    positive_int,
    run_stage,
    stage_parser,
    workers_option,
)
from common.core.manifest import FRAME_COLUMNS, record_pipeline
from common.core.runner import run_per_video
from common.core.shard import shard_option
from common.data.adapters import list_videos, source_options
from common.data.download_check import check_download, check_option
from common.io.video import WIDTH_RULE, extract_video


def build_parser():
    parser = stage_parser(
        f"Sample frames from a folder of labelled videos (stage 01). Frames are resized by width: {WIDTH_RULE}. "
        "Re-running skips videos already done.",
        input_help="folder of videos (layout given by --dataset)",
        output_help="folder for frames/ and manifest.csv (created; must not lie inside --input)",
    )
    source_options(parser)
    check_option(parser)
    config_option(
        parser,
        "--sampling",
        "video.sampling",
        "fps = --fps frames per second of video (at most --max-frames); frames = --frames per video, evenly "
        "spaced. The model file keeps the rule, and stage 05 samples the same way",
    )
    config_option(parser, "--fps", "video.fps", "frames sampled per second of video", type=positive_float)
    config_option(
        parser,
        "--max-frames",
        "video.max_frames",
        "with --sampling fps: at most this many frames per video, spread evenly; 0 = no cap",
        type=non_negative_int,
    )
    config_option(
        parser, "--frames", "video.frames", "with --sampling frames: frames per video", type=positive_int
    )
    config_option(
        parser, "--jpeg-quality", "video.jpeg_quality", "JPEG quality 1-100 of saved frames", type=int
    )
    config_option(
        parser,
        "--resize",
        "video.resize",
        "width_rule = the width rule above; none = frames at native size (sharper face crops in stage 02, "
        "which detects on a copy no wider than preprocess.detect_max_width)",
    )
    workers_option(parser, "videos decoded in parallel processes")
    shard_option(parser)
    return parser


def convert(args, config):
    if args.check:  # nothing written, not even the output folder
        return check_download(args.input, args.dataset, config)
    records = list_videos(args.input, args.dataset, args.groups, args.group_pattern, config)
    settings = config["video"]
    source = {"dataset": args.dataset, "input": str(Path(args.input).resolve())}
    record_pipeline(None, args.output, {"source": source, "video": settings})
    extract = functools.partial(extract_video, output=args.output, video=settings)
    jobs = [(record.video_id, record.path, record) for record in records]
    summary = run_per_video(
        jobs, extract, args.output, FRAME_COLUMNS, "videos -> frames", workers=args.workers, shard=args.shard
    )
    return summary.report("frames", "unreadable", args.output)


def main(argv=None):
    return run_stage(build_parser(), argv, convert)
