"""Stage 04: train a CNN on stage 03's dataset; the run directory holds the best model and test metrics."""

from common.cli import config_option, positive_float, positive_int, resume_option, run_stage, stage_parser


def build_parser():
    parser = stage_parser(
        "Train a real/fake face classifier on stage 03's split (stage 04). Writes RUNS_DIR/<date-time>-<model>-"
        "<size>/ with config.yaml, model.keras (best by val_loss, carrying what stage 05 needs), history.csv, "
        "training curves, and test-split metrics.json (frame and video level), confusion matrices and ROC. "
        "The model outputs P(fake).",
        input_help="dataset folder written by 03-prepare-fake-real-dataset.py (with split.csv)",
        output_help="folder that receives one run directory per training run (RUNS_DIR)",
        required=False,
    )
    resume_option(parser)
    config_option(
        parser, "--model", "train.model", "backbone, or video model (*_lstm) over face-track windows"
    )
    config_option(
        parser, "--image-size", "train.image_size", "square input size in pixels", type=positive_int
    )
    config_option(
        parser,
        "--weights",
        "train.weights",
        "imagenet (downloads; needs the internet), none, or PATH to a local copy of the ImageNet weights",
    )
    config_option(
        parser,
        "--pooling",
        "train.pooling",
        "global pooling of efficientnet_b0, xception, inception_resnet_v2: auto = max, but avg for "
        "efficientnet_b0 from scratch (--weights none)",
    )
    config_option(parser, "--epochs", "train.epochs", "fine-tuning epochs, every layer trainable", type=int)
    config_option(
        parser,
        "--head-epochs",
        "train.head_epochs",
        "epochs with a frozen backbone (at --learning-rate) before fine-tuning; 0 skips that phase. With a head "
        "phase, fine-tuning runs at --finetune-learning-rate, not --learning-rate",
        type=int,
    )
    config_option(parser, "--batch-size", "train.batch_size", "images per batch and GPU", type=positive_int)
    config_option(
        parser,
        "--learning-rate",
        "train.learning_rate",
        "Adam learning rate (of the head phase when --head-epochs > 0)",
        type=positive_float,
    )
    config_option(
        parser,
        "--finetune-learning-rate",
        "train.finetune_learning_rate",
        "Adam learning rate of fine-tuning after a head phase (--head-epochs > 0)",
        type=positive_float,
    )
    config_option(
        parser,
        "--patience",
        "train.patience",
        "early-stopping patience in epochs on val_loss",
        type=positive_int,
    )
    config_option(
        parser, "--mixed-precision", "train.mixed_precision", "mixed_float16: auto uses it only with a GPU"
    )
    config_option(
        parser, "--window", "train.video.window", "video models: crops of one face track per window", type=int
    )
    config_option(parser, "--metric-learning", "train.metric.loss", "a metric loss on the embedding too")
    config_option(parser, "--pseudo-fakes", "train.pseudo_fakes", "sbi: self-blended fakes from real faces")
    config_option(
        parser,
        "--pseudo-fakes-mode",
        "train.sbi.mode",
        "sbi: online makes new pairs every epoch (the paper's), once makes one pseudo-fake per real face",
    )
    config_option(
        parser,
        "--val-fakes",
        "train.sbi.val_fakes",
        "sbi: real selects the model on the val split's own fakes, sbi on pseudo-fakes of its real faces",
    )
    config_option(
        parser,
        "--explain",
        "train.explain",
        "after training, Grad-CAM heatmaps and a t-SNE of test faces into <run>/explain/ (as 06-explain-run.py)",
        action="store_true",
    )
    config_option(
        parser,
        "--temperature-scaling",
        "train.temperature_scaling",
        "after training, fit a temperature on the val split's frame P(fake) and divide the model's output "
        "logit by it: the saved model outputs calibrated P(fake), the test metrics are of it",
        action="store_true",
    )
    return parser


def train_model(args, config):
    # not at the top of the module: with common.evaluation imported before TensorFlow, training on this CPU
    # gave other weights (the demo run and the two-worker test differ), so the import order stays as it was
    from common.evaluation.printed_report import shown
    from common.training.train import train  # TensorFlow loads here, after the arguments are known to be good

    run_dir, metrics = train(args.input, args.output, config, args.resume, args.config)
    frame, video = metrics["frame_level"], metrics["video_level"]
    print(
        f"test split: frame accuracy {frame['accuracy']:.3f} AUC {shown(frame['auc'])} ({frame['n']} frames); "
        f"video accuracy {video['accuracy']:.3f} AUC {shown(video['auc'])} ({video['n']} videos) -> {run_dir}"
    )
    if metrics["learned_nothing"]:
        print(f"WARNING: the model learned nothing: {metrics['learned_nothing']} (recorded in metrics.json)")


def main(argv=None):
    return run_stage(build_parser(), argv, train_model)
