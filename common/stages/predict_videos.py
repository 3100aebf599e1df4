"""Stage 05: score videos with a trained model into a predictions CSV; with labels, video-level metrics too."""

from pathlib import Path

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
from common.core.files import output_lock
from common.core.shard import shard_option
from common.data.adapters import label_options
from common.data.download_check import check_download, check_option
from common.evaluation import evaluate as evaluation
from common.evaluation.review import flag_for_review
from common.evaluation.run_report import add_cross_dataset
from common.inference import (
    analyst_report,
    batch_scoring,
    face_scoring,
    frames_and_faces,
    outputs,
    scorer,
    videos_to_score,
)
from common.io.perturbations import PERTURBATIONS, describe_perturbation, parse_perturbation
from common.io.video import describe_sampling

GRADCAM_TOP = 3  # crops per video with a Grad-CAM overlay under --report-gradcam


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
    check_option(parser, " (needs --dataset celebdf, ffpp or dfd; --model is not read)")
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
    if args.check:  # nothing written, the model not even loaded
        if not args.dataset:
            raise UserError("--check needs --dataset (celebdf, ffpp or dfd)")
        return check_download(args.input, args.dataset, config)
    with output_lock(Path(args.output).parent, Path(args.output).name, args.shard, tree=False):  # one run
        return score(args, config)


def score(args, config):
    if args.add_to_report and not Path(args.model).is_dir():
        raise UserError("--add-to-report needs --model to be a run directory of 04-train-cnn.py")
    perturb = parse_perturbation(args.perturb) if args.perturb else None
    videos, labels, methods = videos_to_score.videos_and_labels(
        args.input, args.output, args.labels, args.dataset, config
    )
    report = args.report or analyst_report.default_report_path(args.output, len(videos), config["predict"])
    if args.report_gradcam and not report:
        raise UserError("--report-gradcam needs a report: pass --report PATH.html")
    settings = dict(config["predict"])
    if perturb:  # in the settings, so results kept by a run without it (or with another) are not mixed in
        settings[face_scoring.PERTURB] = {"name": perturb[0], "level": perturb[1], "seed": config["seed"]}
    if report:  # keep a thumbnail of every face (and Grad-CAM overlays) for the page
        settings.update(
            {
                face_scoring.KEEP_THUMBNAILS: True,
                face_scoring.GRADCAM_FACES: GRADCAM_TOP * args.report_gradcam,
            }
        )
    model, metadata, detector = scorer.load_scorer(args.model, config, args.config is not None, args.workers)
    identity = batch_scoring.scoring_identity(args.model, metadata, {**config, "predict": settings})
    scored = batch_scoring.ScoredVideos(args.output, identity)
    predictions, faces, complete = batch_scoring.score_shard(
        videos, args.shard, model, detector, metadata, settings, labels, methods, scored, args.workers
    )
    if not complete:  # the last shard to finish writes the outputs
        return outputs.exit_code(predictions)
    predictions = flag_for_review(predictions, faces, settings).assign(model_sha256=identity["model_sha256"])
    outputs.write_predictions(predictions, faces, args.output, settings)
    print(evaluation.summary_table(predictions, args.output))
    metrics = None
    if labels is not None:
        data = f"official test set of --dataset {args.dataset}" if args.dataset else "labelled videos"
        data += f" in {args.input}"
        if perturb:
            data += f", {describe_perturbation(*perturb)}"
        sampled = describe_sampling(frames_and_faces.sampling(metadata, settings["frames"]))
        text, metrics = evaluation.report_predictions(
            predictions,
            faces,
            settings,
            args.output,
            data,
            sampled,
            config["evaluation"],
            metadata.get("validation_threshold"),
        )
        print(text)
        if args.add_to_report and metrics is not None:
            name = args.dataset or Path(args.input).name
            print(f"cross-dataset table of {add_cross_dataset(args.model, name, metrics)} updated ({name})")
    if report:
        model_facts = analyst_report.model_facts(args.model, metadata, identity["model_sha256"])
        page = analyst_report.report_data(
            predictions, faces, settings, model_facts, dict(videos), report, metrics, str(args.input)
        )
        print(f"report -> {analyst_report.write_report(report, page)}")
    scored.remove()  # every output is written
    return outputs.exit_code(predictions)


def main(argv=None):
    return run_stage(build_parser(), argv, run)
