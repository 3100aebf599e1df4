#!/usr/bin/env python3
"""Stage 04: train a CNN on stage 03's dataset; the run directory holds the best model and test metrics."""

import sys

from common.cli import positive_float, positive_int, run_stage, stage_parser
from common.backbones import BACKBONES


def build_parser():
    parser = stage_parser(
        "Train a real/fake face classifier on stage 03's split (stage 04). Writes RUNS_DIR/<date-time>-<model>-"
        "<size>/ with config.yaml, model.keras (best by val_loss, carrying what stage 05 needs), history.csv, "
        "training curves, and test-split metrics.json (frame and video level), confusion matrices and ROC. "
        "The model outputs P(fake).",
        input_help="dataset folder written by 03-prepare-fake-real-dataset.py (with split.csv)",
        output_help="folder that receives one run directory per training run (RUNS_DIR)",
    )
    parser.add_argument(
        "--model", choices=sorted(BACKBONES), help="backbone (config train.model, efficientnet_b0)"
    )
    parser.add_argument(
        "--image-size", type=positive_int, help="square input size in pixels (config train.image_size, 128)"
    )
    parser.add_argument(
        "--weights",
        help="imagenet (downloads; needs the internet), none, or PATH to a local "
        "backbone weights file (config train.weights, imagenet)",
    )
    parser.add_argument(
        "--epochs", type=int, help="fine-tuning epochs, every layer trainable (config train.epochs, 20)"
    )
    parser.add_argument(
        "--head-epochs",
        type=int,
        help="epochs with a frozen backbone before fine-tuning; 0 skips that phase (config train.head_epochs)",
    )
    parser.add_argument(
        "--batch-size", type=positive_int, help="images per batch and GPU (config train.batch_size, 32)"
    )
    parser.add_argument(
        "--learning-rate", type=positive_float, help="Adam learning rate (config train.learning_rate, 1e-4)"
    )
    parser.add_argument(
        "--patience",
        type=positive_int,
        help="early-stopping patience in epochs on val_loss (config train.patience)",
    )
    parser.add_argument(
        "--mixed-precision",
        choices=["auto", "on", "off"],
        help="mixed_float16: auto uses it only with a GPU (config train.mixed_precision)",
    )
    return parser


def overrides(args):
    names = [
        "model",
        "image_size",
        "weights",
        "epochs",
        "head_epochs",
        "batch_size",
        "learning_rate",
        "patience",
        "mixed_precision",
    ]
    return {f"train.{name}": getattr(args, name) for name in names}


def train_model(args, config):
    from common.train import train  # TensorFlow loads here, after the arguments are known to be good

    run_dir, metrics = train(args.input, args.output, config)
    frame, video = metrics["frame_level"], metrics["video_level"]
    auc = lambda value: "n/a" if value is None else f"{value:.3f}"
    print(
        f"test split: frame accuracy {frame['accuracy']:.3f} AUC {auc(frame['auc'])} ({frame['n']} frames); "
        f"video accuracy {video['accuracy']:.3f} AUC {auc(video['auc'])} ({video['n']} videos) -> {run_dir}"
    )
    if metrics["learned_nothing"]:
        print(f"WARNING: the model learned nothing: {metrics['learned_nothing']} (recorded in metrics.json)")


def main(argv=None):
    return run_stage(build_parser(), argv, overrides, train_model)


if __name__ == "__main__":
    sys.exit(main())
