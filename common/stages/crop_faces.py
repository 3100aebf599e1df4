"""Stage 02: crop every confident face of stage 01's frames into OUTPUT/faces/ and OUTPUT/manifest.csv."""

import functools

from common.cli import config_option, run_stage, stage_parser, workers_option
from common.core.manifest import FACE_COLUMNS, FRAME_COLUMNS, read_manifest, record_pipeline
from common.core.runner import available_cores, run_per_video
from common.core.shard import shard_option
from common.faces.detection import WorkerDetector, build_detector, crop_video_faces


def build_parser():
    parser = stage_parser(
        "Detect faces with MTCNN in stage 01's frames and save each face with a margin (stage 02). A face is "
        "kept at confidence >= --min-confidence; a frame's only detection from "
        "preprocess.lone_face_min_confidence; a weaker one that continues the track of a kept face from "
        "preprocess.track_min_confidence (the manifest's admitted_by says which). Settings come from the "
        "config's preprocess section, which stage 05 reuses. Re-running skips videos done.",
        input_help="output folder of 01-convert-video-to-image.py",
        output_help="folder for faces/ and manifest.csv (created; must not lie inside --input)",
    )
    config_option(
        parser,
        "--min-confidence",
        "preprocess.min_confidence",
        "keep faces with at least this detector confidence",
        type=float,
    )
    config_option(
        parser,
        "--margin",
        "preprocess.margin",
        "margin added on each side, as a fraction of the box width/height",
        type=float,
    )
    config_option(
        parser,
        "--detect-max-width",
        "preprocess.detect_max_width",
        "frames wider than this are shrunk for detection only; crops come from the frame as saved by "
        "stage 01; 0 = detect at that size",
        type=int,
    )
    config_option(
        parser,
        "--faces",
        "preprocess.faces",
        "all = every admitted face; main = only the video's main face track (most face area over its frames: "
        "in FF++ and Celeb-DF only that face is manipulated, so a fake video's other faces are not fake)",
    )
    config_option(
        parser, "--jpeg-quality", "preprocess.jpeg_quality", "JPEG quality 1-100 of saved crops", type=int
    )
    workers_option(
        parser,
        "videos processed in parallel processes, each with its own detector; the CPU cores are shared out "
        "among them",
        default=1,
    )
    shard_option(parser)
    return parser


def crop(args, config):
    frames = read_manifest(args.input, "frames", FRAME_COLUMNS)
    record_pipeline(args.input, args.output, {"preprocess": config["preprocess"]})
    if args.workers > 1:
        detector = WorkerDetector(config["preprocess"], threads=max(1, available_cores() // args.workers))
    else:
        detector = build_detector(config["preprocess"])
    jobs = [
        (video_id, rows["video_path"].iloc[0], rows.to_dict("records"))
        for video_id, rows in frames.groupby("video_id", sort=True)
    ]
    process = functools.partial(
        crop_video_faces,
        input_dir=args.input,
        output=args.output,
        detector=detector,
        preprocess=config["preprocess"],
    )
    summary = run_per_video(
        jobs, process, args.output, FACE_COLUMNS, "frames -> faces", workers=args.workers, shard=args.shard
    )
    return summary.report("faces", "frames without a face or unreadable", args.output)


def main(argv=None):
    return run_stage(build_parser(), argv, crop)
