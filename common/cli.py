"""What every stage script shares: common flags, logging through tqdm, seeding, one-line errors."""

import argparse
import logging
import os
import random
import sys
from pathlib import Path

from tqdm import tqdm

from common import plugins  # noqa: F401 (every registry and its config choices, before --help or a config)
from common.core.config import choices, default, load_config
from common.core.errors import UserError
from common.core.quiet import filter_stderr
from common.core.runner import available_cores

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


class _HelpFormatter(argparse.HelpFormatter):
    """Says a flag's default once: config flags name their key and default in their help (``config_option``),
    other flags with a default get "(default: X)"."""

    def _get_help_string(self, action):
        help_text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in help_text:
            return help_text
        return f"{help_text} (default: %(default)s)"


def stage_parser(description, input_help, output_help, config=True, required=True):
    """An argument parser with the flags every stage has; add config flags with ``config_option``.
    Without ``input_help`` there is no ``--input`` (stage 00 makes data); without ``config``, no ``--config``
    and ``--seed`` (the built-in defaults hold); ``required=False``: the stage checks ``--input`` and
    ``--output`` itself (stage 04, which needs neither with ``--resume``)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=_HelpFormatter)
    parser.config_keys = {}  # argument dest -> dotted config key it overrides
    if input_help is not None:
        parser.add_argument("--input", required=required, help=input_help)
    parser.add_argument("--output", required=required, help=output_help)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    if not config:
        return parser
    parser.add_argument(
        "--config", default=None, help="YAML experiment file (see configs/); flags override it"
    )
    config_option(parser, "--seed", "seed", "random seed", type=int)
    return parser


def config_option(parser, flag, key, help, **kwargs):
    """Add ``flag`` overriding config ``key`` (dotted): unset, the config file or the built-in default
    rules. Its help names the key and the default, and its choices are the config's (the registries)."""
    allowed = choices().get(key)
    if allowed:
        kwargs.setdefault("choices", allowed)
    built_in = default(key)
    if isinstance(built_in, bool):
        built_in = str(built_in).lower()
    action = parser.add_argument(
        flag, default=None, help=f"{help} (config {key}; default {built_in})", **kwargs
    )
    parser.config_keys[action.dest] = key
    return action


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


def workers_option(parser, help, default=None):
    """``--workers N``; by default the cores this process may use."""
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=default or available_cores(),
        help=f"{help} (default: {'the cores available, here ' if default is None else ''}%(default)s)",
    )


def settings_given(parser, args):
    """The flags of ``args`` that set a setting: ``--config`` and every ``config_option`` given."""
    given = [f"--{dest.replace('_', '-')}" for dest in parser.config_keys if getattr(args, dest) is not None]
    return (["--config"] if getattr(args, "config", None) else []) + given


def resume_option(parser):
    """``--resume RUN_DIR``; with it the stage takes no ``--input``, ``--output`` or settings: the run's own
    hold (``check_resume``)."""
    parser.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="go on with an interrupted run from its last finished epoch (weights, optimizer state), with the "
        "settings it started with; then no --input, --output or settings flags",
    )


def check_resume(parser, args):
    """``UserError`` unless either ``--resume`` is given alone or ``--input`` and ``--output`` are."""
    if args.resume is None:
        missing = [flag for flag in ("--input", "--output") if getattr(args, flag[2:]) is None]
        if missing:
            raise UserError(f"{' and '.join(missing)} required (or --resume RUN_DIR)")
        return
    extra = [flag for flag in ("--input", "--output") if getattr(args, flag[2:]) is not None]
    extra += settings_given(parser, args)
    if extra:
        raise UserError(f"--resume uses the run's own dataset, folder and settings: drop {', '.join(extra)}")


def run_stage(parser, argv, body, extra_overrides=None):
    """Parse ``argv``, resolve the config, set up logging and the seed, then run ``body(args, config)``.

    The config flags (``config_option``) override their keys; ``extra_overrides(args)`` may add dotted
    keys for flags that set several (stage 03's ``--split``).

    Run from a shell (``argv`` None) without ``--verbose``, TensorFlow's start-up lines are filtered out of
    standard error (``common.core.quiet``). A ``UserError`` (bad input folder, bad config) ends the run with one
    line on stderr and exit code 2, as does an ``OSError`` naming a file (a read-only output folder; with
    ``--verbose`` its traceback). Returns ``body``'s return value (an exit code) or 0.
    """
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    if argv is None and not args.verbose:  # run from a shell (tests call main() with their arguments)
        filter_stderr()
    try:
        if getattr(args, "resume", False) is not False:
            check_resume(parser, args)
        if getattr(args, "input", None) is not None:
            check_input_output(args.input, args.output)
        overrides = {key: getattr(args, dest) for dest, key in parser.config_keys.items()}
        overrides.update(extra_overrides(args) if extra_overrides else {})
        config = load_config(getattr(args, "config", None), overrides)
        seed_everything(config["seed"])
        return body(args, config) or 0
    except UserError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a read-only or full output disk, a path through a file: the file and why
        if args.verbose or error.filename is None:
            raise
        print(
            f"{parser.prog}: error: {error.filename}: {error.strerror} (--verbose shows where)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(
            f"{parser.prog}: interrupted; no half-written file is left, and stages 01-03 and 05 resume "
            "where they stopped",
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
