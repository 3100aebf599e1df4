"""Stage 03: split 80:10:10 by video group, balance the train split, into OUTPUT/{train,val,test}/{real,fake}/."""

from pathlib import Path

from common.cli import config_option, run_stage, stage_parser
from common.core.config import default
from common.core.errors import UserError
from common.data.split import MISSING, SPLITS, prepare_dataset


def build_parser():
    parser = stage_parser(
        "Split stage 02's face crops into train/val/test by video group (a fake and the real video it was made "
        "from stay together; no video is in two splits), balance fake vs real in the train split if asked "
        "(--balance; val and test keep every face), and write OUTPUT/split.csv and OUTPUT/split_counts.csv. "
        "The same seed gives the same split.",
        input_help="output folder of 02-crop-faces-with-mtcnn.py",
        output_help="dataset folder: {train,val,test}/{real,fake}/*.jpg and split.csv",
    )
    parser.add_argument(
        "--split",
        nargs="+",
        metavar="official | TRAIN VAL TEST",
        help="'official' keeps the official splits of --dataset celebdf/celebdf_v1/ffpp (test = the official list; val "
        "carved by group from the rest), or ratios by video summing to 1 (config dataset.protocol and "
        "dataset.train/val/test; default: official when the data has official splits, else "
        + " ".join(f"{default(f'dataset.{name}'):g}" for name in SPLITS)
        + ")",
    )
    config_option(
        parser,
        "--balance",
        "dataset.balance",
        "how the train split's classes are evened: none = keep every face (stage 04's class weights even the "
        "loss); frames = keep every video, fewer evenly spaced frames of each majority-class video; videos = "
        "drop whole majority-class videos",
    )
    parser.add_argument(
        "--no-balance", dest="balance", action="store_const", const="none", help="--balance none"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a different split already in --output"
    )
    return parser


def split_overrides(args):
    """``--split official`` sets ``dataset.protocol``; ``--split TRAIN VAL TEST`` the ratios too."""
    if not args.split:
        return {}
    if args.split == ["official"]:
        return {"dataset.protocol": "official"}
    try:
        ratios = [float(value) for value in args.split]
    except ValueError:
        ratios = []
    if len(ratios) != len(SPLITS):
        raise UserError(
            f"--split takes 'official' or three ratios TRAIN VAL TEST, got {' '.join(args.split)}"
        )
    return {"dataset.protocol": "ratios", **{f"dataset.{name}": ratio for name, ratio in zip(SPLITS, ratios)}}


def prepare(args, config):
    settings = config["dataset"]
    ratios = {name: settings[name] for name in SPLITS}
    plan, table, protocol = prepare_dataset(
        args.input,
        args.output,
        ratios,
        settings["balance"],
        config["seed"],
        args.overwrite,
        settings["protocol"],
    )
    print(table.to_string())
    how = "by the official splits" if protocol == "official" else "/".join(f"{r:g}" for r in ratios.values())
    print(
        f"{len(plan)} faces of {plan['video_id'].nunique()} videos split {how} by video group "
        f"(seed {config['seed']}) -> {args.output}/split.csv"
    )
    return 1 if (Path(args.output) / MISSING).is_file() else 0  # some faces were missing


def main(argv=None):
    return run_stage(build_parser(), argv, prepare, split_overrides)
