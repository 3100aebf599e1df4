"""Stage 07: one table of AUCs with bootstrap intervals across training runs and test sets, paired tests."""

from common.cli import positive_int, run_stage, stage_parser
from common.evaluation.uncertainty import BOOTSTRAP_SEED, N_RESAMPLES
from common.inference.compare_runs import LEVELS, compare_runs
from common.inference.comparison_tables import OUTPUTS
from common.inference.scored_runs import parse_predictions


def build_parser():
    parser = stage_parser(
        "Compare runs of 04-train-cnn.py (stage 07): one table with a row per run (model, config, seed) and a "
        "column per test set, each cell the AUC with its 95 % confidence interval by bootstrap over videos "
        "(stratified by class); for every pair of runs the p-value of their AUC difference on the videos "
        "both scored (paired bootstrap; DeLong at video level); runs whose configs differ only by seed "
        "pooled as mean ± sd. A run's own test split is read from its test_videos.csv and test_frames.csv. "
        "Stage 05 --add-to-report keeps only metrics in the run, so cross-dataset sets are given as "
        "--predictions NAME=PATH (stage 05's predictions CSV; the run is the one whose model.keras scored "
        f"it). Writes {', '.join(OUTPUTS.values())} into --output and prints the Markdown.",
        input_help=None,
        output_help="folder for the Markdown, CSV and plot (not inside a run directory)",
        config=False,
    )
    parser.add_argument("runs", nargs="*", metavar="RUN", help="run directories of 04-train-cnn.py")
    parser.add_argument(
        "--predictions",
        action="append",
        metavar="NAME=PATH",
        help="a cross-dataset test set NAME scored by stage 05 with one of the runs' models: PATH is its "
        "labelled predictions CSV (predictions_frames.csv beside it gives frame level); repeat per run and set",
    )
    parser.add_argument("--level", choices=LEVELS, default="video", help="AUC of videos or of frames")
    parser.add_argument("--resamples", type=positive_int, default=N_RESAMPLES, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=BOOTSTRAP_SEED, help="seed of the bootstrap")
    return parser


def compare(args, config):
    predictions = [parse_predictions(text) for text in args.predictions or []]
    markdown, paths = compare_runs(args.runs, args.output, predictions, args.level, args.resamples, args.seed)
    print(markdown)
    print(
        f"table -> {paths['markdown']}, {paths['cells']}; pairs -> {paths['pairs']}; plot -> {paths['plot']}"
    )


def main(argv=None):
    return run_stage(build_parser(), argv, compare)
