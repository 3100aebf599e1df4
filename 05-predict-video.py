#!/usr/bin/env python3
"""Stage 05: score videos with a trained model into a predictions CSV; with labels, video-level metrics too."""

import sys
from pathlib import Path

from common import evaluation, predict
from common.cli import (
    config_option,
    non_negative_int,
    positive_int,
    run_stage,
    stage_parser,
    workers_option,
)
from common.datasets import label_options
from common.errors import UserError
from common.files import output_lock
from common.report import add_cross_dataset
from common.shard import shard_option
from common.video import describe_sampling


def build_parser():
    parser = stage_parser(
        "Score videos with a trained model (stage 05): sample frames as the model's training frames were "
        "sampled (stored in the model, like the preprocess settings faces are cropped with), score each face "
        "(P(fake)), link faces across frames into tracks (one per person) and give each track a verdict by the "
        "aggregation rule. Only tracks seen in predict.track_min_share of a video's frames with a face decide "
        "it; by predict.video_score, track_max: FAKE when any deciding track is, fake_probability the highest "
        "deciding track's P(fake); frame_mean: fake_probability the mean frame P(fake), the verdict by the rule "
        "over the frames. fake_probability never depends on the rule. Frame and track scores go to <output "
        "stem>_frames.csv and _tracks.csv. With labels, also frame- and video-level metrics and plots.",
        input_help="a video file, or a folder searched recursively (real/ and fake/ subfolders give labels)",
        output_help="predictions CSV (must not lie inside --input)",
    )
    parser.add_argument("--model", required=True, help="run directory of 04-train-cnn.py or its model.keras")
    config_option(
        parser,
        "--frames",
        "predict.frames",
        "frames sampled per video, evenly spaced; 0 = as the model's training frames were sampled (so a "
        "test-split video gets the P(fake) stage 04 reported)",
        type=non_negative_int,
    )
    config_option(
        parser,
        "--faces",
        "predict.faces",
        "faces scored: model = as the model's training faces were chosen (preprocess.faces); all = every "
        "person; main = the video's main face track only",
    )
    config_option(
        parser,
        "--aggregate",
        "predict.aggregate",
        "a track's frames -> its verdict: vote = majority of fake frames, mean/max of frame scores; "
        "fake_probability does not depend on it",
    )
    config_option(
        parser,
        "--video-score",
        "predict.video_score",
        "track_max = the most fake deciding track; frame_mean = mean frame P(fake) (DeepfakeBench)",
    )
    config_option(
        parser,
        "--track-min-share",
        "predict.track_min_share",
        "a track decides the video only when seen in this share of its frames with a face",
        type=float,
    )
    config_option(parser, "--threshold", "predict.threshold", "frame/video score counted as fake", type=float)
    config_option(parser, "--batch-size", "predict.batch_size", "faces per forward pass", type=positive_int)
    label_options(parser)
    workers_option(
        parser,
        "videos decoded and searched for faces at once (threads, each with its own detector) while the model "
        "scores the one before; results are the same for any number",
    )
    shard_option(parser)
    parser.add_argument(
        "--add-to-report",
        action="store_true",
        help="add these metrics to the cross-dataset table of the model's run report (report.md); "
        "--model must be a run directory",
    )
    return parser


def run(args, config):
    with output_lock(Path(args.output).parent, Path(args.output).name, args.shard, tree=False):  # one run
        return score(args, config)


def score(args, config):
    if args.add_to_report and not Path(args.model).is_dir():
        raise UserError("--add-to-report needs --model to be a run directory of 04-train-cnn.py")
    videos, labels, methods = predict.videos_and_labels(
        args.input, args.output, args.labels, args.dataset, config
    )
    model, metadata, detector = predict.load_scorer(args.model, config, args.config is not None, args.workers)
    scored = predict.ScoredVideos(args.output, predict.scoring_identity(args.model, metadata, config))
    settings = config["predict"]
    predictions, faces, complete = predict.score_shard(
        videos, args.shard, model, detector, metadata, settings, labels, methods, scored, args.workers
    )
    if not complete:  # the last shard to finish writes the outputs
        return predict.exit_code(predictions)
    predict.write_predictions(predictions, faces, args.output, settings)
    print(evaluation.summary_table(predictions, args.output))
    if labels is not None:
        data = f"official test set of --dataset {args.dataset}" if args.dataset else "labelled videos"
        data += f" in {args.input}"
        sampled = describe_sampling(predict.sampling(metadata, settings["frames"]))
        text, metrics = evaluation.report_predictions(
            predictions, faces, settings, args.output, data, sampled
        )
        print(text)
        if args.add_to_report and metrics is not None:
            name = args.dataset or Path(args.input).name
            print(f"cross-dataset table of {add_cross_dataset(args.model, name, metrics)} updated ({name})")
    scored.remove()  # every output is written
    return predict.exit_code(predictions)


def main(argv=None):
    return run_stage(build_parser(), argv, run)


if __name__ == "__main__":
    sys.exit(main())
