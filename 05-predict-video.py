#!/usr/bin/env python3
"""Stage 05: score videos with a trained model into a predictions CSV; with labels, video-level metrics too."""

import logging
import sys
import time
from pathlib import Path

from common import evaluation, predict
from common.aggregate import METHODS
from common.checkpoint import load_model
from common.cli import positive_int, run_stage, stage_parser
from common.errors import UserError
from common.faces import build_detector

log = logging.getLogger(__name__)


def build_parser():
    parser = stage_parser(
        "Score videos with a trained model (stage 05): sample frames, crop faces with the preprocess settings "
        "stored in the model, score each face (P(fake)), keep the most fake face per frame and aggregate the "
        "frames into a verdict; a video's fake_probability is its mean frame P(fake) under every rule. Frame "
        "scores go to <output stem>_frames.csv. With labels, also frame- and video-level metrics and plots.",
        input_help="a video file, or a folder searched recursively (real/ and fake/ subfolders give labels)",
        output_help="predictions CSV (must not lie inside --input)",
    )
    parser.add_argument("--model", required=True, help="run directory of 04-train-cnn.py or its model.keras")
    parser.add_argument(
        "--frames", type=positive_int, help="frames sampled evenly per video (config predict.frames, 32)"
    )
    parser.add_argument(
        "--aggregate",
        choices=METHODS,
        help="frames -> verdict: vote = majority of fake frames, mean/max of frame scores; "
        "fake_probability is the mean either way (config predict.aggregate, vote)",
    )
    parser.add_argument(
        "--threshold", type=float, help="frame/video score counted as fake (config predict.threshold, 0.5)"
    )
    parser.add_argument(
        "--batch-size", type=positive_int, help="faces per forward pass (config predict.batch_size, 64)"
    )
    parser.add_argument(
        "--labels",
        help="CSV with columns video (path or file name) and label (fake/real or 1/0); "
        "without it, real/ and fake/ subfolders of --input give the labels",
    )
    return parser


def overrides(args):
    return {
        "predict.frames": args.frames,
        "predict.aggregate": args.aggregate,
        "predict.threshold": args.threshold,
        "predict.batch_size": args.batch_size,
    }


def run(args, config):
    if Path(args.output).is_dir():
        raise UserError(f"--output {args.output} is a folder; give the path of a CSV file")
    videos = predict.find_videos(args.input)
    labels = predict.read_labels(args.labels) if args.labels else predict.layout_labels(args.input)
    started = time.perf_counter()
    model, metadata = load_model(args.model)
    predict.check_metadata(model, metadata)
    if args.config and config["preprocess"] != metadata["preprocess"]:
        log.warning(
            "the config's preprocess section is ignored: faces are cropped as the model's training "
            "faces were (%s)",
            metadata["preprocess"],
        )
    detector = build_detector(metadata["preprocess"])
    log.info(
        "loaded %s (%s, %d px) and the %s detector in %.1f s",
        args.model,
        metadata["model"],
        metadata["image_size"],
        metadata["preprocess"]["detector"],
        time.perf_counter() - started,
    )
    settings = config["predict"]
    predictions, frames = predict.predict_videos(videos, model, detector, metadata, settings)
    if labels is not None:
        predictions = predict.add_labels(predictions, labels)
    predict.write_predictions(predictions, frames, args.output)
    print(predict.summary_table(predictions, args.output))
    if labels is not None:
        evaluated = predict.evaluate(predictions, frames, settings["aggregate"], settings["threshold"])
        if evaluated is None:
            print("no labelled video got a verdict: no metrics")
        else:
            metrics, frames, videos = evaluated
            metrics = {
                "data": f"labelled videos of {args.input}, {settings['frames']} frames per video",
                **metrics,
            }
            prefix = Path(args.output).with_name(f"{Path(args.output).stem}_")
            paths = evaluation.save_evaluation(metrics, frames, videos, prefix, "Stage 05")
            print(evaluation.metrics_report(metrics))
            print(f"metrics -> {paths['metrics']}, plots -> {prefix}{{confusion,roc}}_{{frames,videos}}.png")
    return 1 if predict.all_unknown(predictions) else 0


def main(argv=None):
    return run_stage(build_parser(), argv, overrides, run)


if __name__ == "__main__":
    sys.exit(main())
