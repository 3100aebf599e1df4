"""What every stage script shares: common flags, logging through tqdm, seeding, one-line errors."""

import argparse
import logging
import os
import random
import sys
from pathlib import Path

from tqdm import tqdm

from common.config import load_config
from common.errors import UserError

log = logging.getLogger(__name__)


class _TqdmHandler(logging.Handler):
    """Log lines printed with ``tqdm.write`` so they do not tear progress bars."""

    def emit(self, record):
        tqdm.write(self.format(record), file=sys.stderr)


def setup_logging(verbose=False):
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter


def seed_everything(seed):
    """Seed Python and NumPy, and TensorFlow/Keras when they are loaded."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    if "keras" in sys.modules or "tensorflow" in sys.modules:
        import keras

        keras.utils.set_random_seed(seed)


def stage_parser(description, input_help, output_help):
    """An argument parser with the flags every stage has."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--input", required=True, help=input_help)
    parser.add_argument("--output", required=True, help=output_help)
    parser.add_argument(
        "--config", default=None, help="YAML experiment file (see configs/); flags override it"
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: the config's, 42)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def _bounded(convert, minimum, inclusive):
    """An argparse type: ``convert(text)`` that must be > ``minimum`` (or >= with ``inclusive``)."""

    def parse(text):
        value = convert(text)
        if value < minimum or (value == minimum and not inclusive):
            raise argparse.ArgumentTypeError(f"must be {'>=' if inclusive else '>'} {minimum}, got {text}")
        return value

    parse.__name__ = convert.__name__  # argparse names the type in its "invalid value" message
    return parse


positive_float = _bounded(float, 0, inclusive=False)
positive_int = _bounded(int, 0, inclusive=False)
non_negative_int = _bounded(int, 0, inclusive=True)


def run_stage(parser, argv, overrides_from_args, body):
    """Parse ``argv``, resolve the config, set up logging and the seed, then run ``body(args, config)``.

    A ``UserError`` (bad input folder, bad config) ends the run with one line on stderr and exit code 2.
    Returns ``body``'s return value (an exit code) or 0.
    """
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        check_input_output(args.input, args.output)
        overrides = {"seed": args.seed, **overrides_from_args(args)}
        config = load_config(args.config, overrides)
        seed_everything(config["seed"])
        return body(args, config) or 0
    except UserError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"{parser.prog}: interrupted; no half-written file is left, and stages 01-03 resume where they stopped",
            file=sys.stderr,
        )
        return 130


def check_input_output(input_path, output_path):
    """A stage never writes under its input."""
    source, target = Path(input_path).resolve(), Path(output_path).resolve()
    if not source.exists():
        raise UserError(f"input not found: {input_path}")
    if target == source or source in target.parents:
        raise UserError(
            f"--output {output_path} lies inside --input {input_path}; stages never write under their input"
        )
