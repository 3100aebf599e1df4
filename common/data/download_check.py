"""``--check`` of stage 01 (and of stage 05 with ``--dataset``): count an official download on disk against the
official numbers and name what is missing or extra, without any work, so that a user learns that a download is
incomplete in a second, not after hours of preprocessing. Each adapter module registers its own check, with
its official numbers, on ``common.data.adapters.CHECKS``; this module runs it.

The exit status is 1 when a folder, an official list or a video an official list names is missing, else 0. A
folder holding fewer (or more) videos than the official count is reported as such ("N of M expected") but does
not change the exit status: a subset chosen on purpose is no broken download, and only the lists say which
videos a protocol needs.
"""

from pathlib import Path

from common.core.config import DEFAULTS
from common.core.errors import UserError
from common.data.adapters import CHECKS


def check_download(root, dataset, config=None):
    """Print the ``--check`` report of the ``dataset`` download at ``root``; return the exit status (0 when
    nothing an official protocol needs is missing, else 1). ``UserError`` for a dataset without official
    numbers."""
    if dataset not in CHECKS:
        raise UserError(
            f"--check knows the official numbers of {', '.join(CHECKS.names())}, not of --dataset {dataset}"
        )
    check = CHECKS.get(dataset)(Path(root), config if config is not None else DEFAULTS)
    print("\n".join(check.lines))
    print(
        "incomplete: see the MISSING lines" if check.missing else "nothing an official list needs is missing"
    )
    return 1 if check.missing else 0


def check_option(parser, what=""):
    """The ``--check`` flag of a stage (``what``: more on what it needs, such as " and no --model")."""
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"only check the official download at --input (needs --dataset {', '.join(CHECKS.names())}{what}): "
        "count its videos against the official numbers, name missing folders, lists and listed videos, and "
        "exit (1 when something listed is missing) without writing anything",
    )
