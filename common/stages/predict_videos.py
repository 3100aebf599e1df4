"""Stage 05: score videos with a trained model into a predictions CSV; with labels, video-level metrics too."""

from pathlib import Path

import yaml

from common.cli import (
    config_option,
    non_negative_int,
    positive_int,
    run_stage,
    stage_parser,
    workers_option,
)
from common.core.config import DEFAULTS
from common.core.errors import UserError
from common.core.shard import shard_option
from common.data.adapters import CHECKS, label_options
from common.data.download_check import check_download, check_option
from common.evaluation.aggregate import SCORING_KEYS
from common.inference.predict import GRADCAM_TOP, ScoringRequest, score_videos
from common.inference.test_sets import score_test_sets
from common.io.perturbations import PERTURBATIONS

TEST_SETS_EXCLUDE = {  # flags a --test-sets file gives per set, or that name one output
    "--input": "input",
    "--labels": "labels",
    "--dataset": "dataset",
    "--report": "report",
    "--check": "check",
}


def build_parser():
    parser = stage_parser(
        "Score videos with a trained model (stage 05): sample frames as the model's training frames were "
        "sampled (stored in the model, like the preprocess settings faces are cropped with), score each face "
        "(P(fake)), link faces across frames into tracks (one per person) and give each track a verdict by the "
        "aggregation rule. Only tracks seen in predict.track_min_share of a video's frames with a face decide "
        "it; by predict.video_score, track_max: FAKE when any deciding track is, fake_probability the highest "
        "deciding track's P(fake); frame_mean: fake_probability the mean frame P(fake), the verdict by the rule "
        "over the frames. fake_probability never depends on the rule. These settings (aggregate, threshold, "
        "video_score, track_min_share) are those the model's run scored its test videos by, kept in the model, "
        "unless a flag or --config sets them. Frame and track scores go to <output "
        "stem>_frames.csv and _tracks.csv. With labels, also frame- and video-level metrics and plots.",
        input_help="a video file, or a folder searched recursively (real/ and fake/ subfolders give labels)",
        output_help="predictions CSV (must not lie inside --input); with --test-sets, a folder",
        required=False,
    )
    parser.add_argument(
        "--test-sets",
        metavar="FILE.yaml",
        help="score every test set this YAML file lists instead of --input, one after the other, each into "
        "--output FOLDER/<name>.csv with its outputs beside it: a mapping of names to {input: ROOT, "
        "dataset: ADAPTER or labels: CSV} (paths relative to the file). A set this model already finished "
        "is skipped, an interrupted one resumes; with --add-to-report each goes into the run's "
        "cross-dataset table under its name",
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
    check_option(parser, "; --model is not read")
    workers_option(
        parser,
        "videos decoded and searched for faces at once (threads, each with its own detector) while the model "
        "scores the one before; results are the same for any number",
    )
    shard_option(parser)
    parser.add_argument(
        "--report",
        metavar="PATH.html",
        help="write the analyst's report there: one self-contained HTML page (overview, a table of videos, "
        "each video's face crops and P(fake) timeline per track). Without it, report.html is written beside "
        f"the CSVs when fewer than predict.report_max_videos ({DEFAULTS['predict']['report_max_videos']}) videos "
        "are scored (0: never)",
    )
    parser.add_argument(
        "--report-gradcam",
        action="store_true",
        help=f"Grad-CAM overlays in the report on each video's {GRADCAM_TOP} most fake crops (image models; "
        "a backward pass each)",
    )
    parser.add_argument(
        "--perturb",
        metavar="NAME:LEVEL",
        help="perturb every sampled frame before face detection with one of DeeperForensics-1.0's perturbations "
        f"at level 1-5, e.g. jpeg:3 ({', '.join(PERTURBATIONS.names())}); random ones are seeded by the "
        "config's seed and the video's file name; recorded in the metrics",
    )
    parser.add_argument(
        "--add-to-report",
        action="store_true",
        help="add these metrics to the cross-dataset table of the model's run report (report.md); "
        "--model must be a run directory",
    )
    return parser


def run(args, config):
    if args.test_sets:
        given = [flag for flag, value in TEST_SETS_EXCLUDE.items() if getattr(args, value)]
        if given:
            raise UserError(f"--test-sets lists each set's input and labels: drop {', '.join(given)}")
        if not args.output:
            raise UserError("--test-sets needs --output FOLDER")
    elif not args.input or not args.output:
        raise UserError("--input and --output are required (or --test-sets FILE.yaml and --output FOLDER)")
    if args.check:  # nothing written, the model not even loaded
        if not args.dataset:
            raise UserError(f"--check needs --dataset ({', '.join(CHECKS.names())})")
        return check_download(args.input, args.dataset, config)
    request = ScoringRequest(
        input=args.input,
        output=args.output,
        model=args.model,
        labels=args.labels,
        dataset=args.dataset,
        report=args.report,
        gradcam=args.report_gradcam,
        perturb=args.perturb,
        add_to_report=args.add_to_report,
        workers=args.workers,
        shard=args.shard,
        config_file_given=args.config is not None,
        scoring_given=scoring_given(args),
    )
    if args.test_sets:
        return score_test_sets(args.test_sets, request, config, print)
    return score_videos(request, config, print)


def scoring_given(args):
    """The video-scoring keys (``SCORING_KEYS``) that a flag or the ``--config`` file sets: the others are
    the model's (``common.inference.scorer.scoring_settings``)."""
    flags = {key for dest, key in build_parser().config_keys.items() if getattr(args, dest) is not None}
    given = {key.removeprefix("predict.") for key in flags}
    if args.config:
        given |= set((yaml.safe_load(Path(args.config).read_text()) or {}).get("predict") or {})
    return frozenset(given & set(SCORING_KEYS))


def main(argv=None):
    return run_stage(build_parser(), argv, run)
