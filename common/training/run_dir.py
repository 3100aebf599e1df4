"""Stage 04's run directory: its name, the ``latest`` link, opening it on the chief (a scratch folder on the
other workers), and reading back an interrupted run to resume.
"""

import datetime
import logging
import os
import tempfile
from pathlib import Path

from common.core.config import config_from
from common.core.errors import UserError
from common.core.model_file import CONFIG_FILE_KEY, MODEL_FILE, RUN_CONFIG, read_run_config
from common.training.devices import from_chief, worker_role

log = logging.getLogger(__name__)


def new_run_dir(runs_dir, model_name, image_size):
    """``runs_dir/<date-time>-<model>-<size>/``, never an existing folder."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(runs_dir) / f"{stamp}-{model_name}-{image_size}"
    run_dir, number = base, 1
    while run_dir.exists():
        number += 1
        run_dir = base.with_name(f"{base.name}-{number}")
    run_dir.mkdir(parents=True)
    return run_dir


def point_latest(runs_dir, run_dir):
    """Make ``runs_dir/latest`` a link to the newest run (replaced atomically)."""
    link = Path(runs_dir) / "latest"
    temporary = link.with_name(f".latest.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(run_dir.name, target_is_directory=True)
    os.replace(temporary, link)


def resumed_run(run_dir):
    """``(dataset_dir, runs_dir, config, config_file)`` of the interrupted run in ``run_dir``, from its own
    config.yaml: ``--resume`` trains with the settings the run started with; ``config_file``: its record of
    the config file it was started with (``config_file_record``; None in a run that has none). ``UserError``
    for a folder that is no run of this stage, or a run that finished."""
    run_dir = Path(run_dir)
    saved = read_run_config(run_dir)
    if "dataset_dir" not in saved:
        raise UserError(f"{run_dir} is not a run directory of 04-train-cnn.py (no {RUN_CONFIG} in it)")
    if (run_dir / MODEL_FILE).is_file():
        raise UserError(f"{run_dir} finished training (it holds {MODEL_FILE}): nothing to resume")
    if worker_role()[1] > 1:
        raise UserError("--resume runs on one machine; unset TF_CONFIG")
    dataset_dir, config_file = saved.pop("dataset_dir"), saved.pop(CONFIG_FILE_KEY, None)
    return dataset_dir, run_dir.parent, config_from(saved), config_file


def open_run_dir(strategy, runs_dir, model_name, image_size):
    """``(run_name, output_dir, scratch)``: the run directory's name, the same on every worker, and where
    this worker writes. The chief creates the run directory and writes there (``scratch`` is None); every
    other worker runs the same steps (their collective ops need it) but writes to ``scratch``, a temporary
    folder removed by ``scratch.cleanup()`` (or when it is garbage collected), as the Keras multi-worker
    guide has non-chief workers save: RUNS_DIR only ever holds the chief's run directory."""
    worker, workers = worker_role()
    if worker == 0:
        run_dir = new_run_dir(runs_dir, model_name, image_size)
        return from_chief(strategy, run_dir.name), run_dir, None
    run_name = from_chief(strategy, "")
    scratch = tempfile.TemporaryDirectory(prefix=f"deepfake-worker{worker}-")
    log.info("worker %d of %d writes its copies to %s (removed at the end)", worker, workers, scratch.name)
    return run_name, Path(scratch.name), scratch
