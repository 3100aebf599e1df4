"""One table across training runs and test sets (stage 07): AUC with its bootstrap interval over videos,
paired tests of the difference on the videos two runs share, and runs that differ only by seed pooled.

``compare_runs`` reads the runs and their scores (``scored_runs``), computes the AUCs and the paired tests
(``auc_statistics``), pools seeds (``seed_pooling``), writes the tables (``comparison_tables``) and the
figure (``comparison_plot``).
"""

from pathlib import Path

import pandas as pd

from common.core.errors import UserError
from common.core.files import atomic_write_csv, atomic_write_text
from common.evaluation.uncertainty import BOOTSTRAP_SEED, N_RESAMPLES
from common.inference.auc_statistics import auc_cell, paired_tests
from common.inference.comparison_plot import plot
from common.inference.comparison_tables import (
    OUTPUTS,
    PAIR_COLUMNS,
    POOLED_COLUMNS,
    cells_table,
    render_markdown,
)
from common.inference.scored_runs import attach_predictions, name_own_test_sets, read_run
from common.inference.seed_pooling import config_labels, pooled_by_config

LEVELS = ("video", "frame")


def compare_runs(
    run_dirs, output, predictions=(), level="video", n_resamples=N_RESAMPLES, seed=BOOTSTRAP_SEED
):
    """Compare stage 04's runs ``run_dirs`` on their test splits and on stage 05's ``predictions`` (``(name,
    path)`` pairs); write ``OUTPUTS`` into ``output`` and return ``(markdown, paths)``."""
    if not run_dirs:
        raise UserError("no run directory given: 07-compare-runs.py RUN... --output DIR")
    if level not in LEVELS:
        raise UserError(f"--level {level}: expected one of {', '.join(LEVELS)}")
    runs = [read_run(path) for path in run_dirs]
    if len({run.path.resolve() for run in runs}) < len(runs):
        raise UserError("a run directory is given twice")
    for run in runs:
        if run.path.resolve() in [Path(output).resolve(), *Path(output).resolve().parents]:
            raise UserError(
                f"--output {output} lies inside run directory {run.path}; stage 07 never writes there"
            )
    name_own_test_sets(runs)
    attach_predictions(runs, predictions)
    labels, legend = config_labels(runs)
    test_sets = list(dict.fromkeys(name for run in runs for name in run.test_sets))
    cells = {}
    for run in runs:
        for test_set, scores in run.test_sets.items():
            cell = auc_cell(scores, level, n_resamples, seed)
            if cell is not None:
                cells[(run.name, test_set)] = cell
    pairs = [row for test_set in test_sets for row in paired_tests(runs, test_set, level, n_resamples, seed)]
    pooled = pooled_by_config(runs, labels, cells, test_sets)
    markdown = render_markdown(
        runs, labels, legend, test_sets, cells, pairs, pooled, level, n_resamples, seed
    )
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    paths = {key: output / name for key, name in OUTPUTS.items()}
    atomic_write_text(paths["markdown"], markdown)
    atomic_write_csv(paths["cells"], cells_table(runs, labels, test_sets, cells, level))
    atomic_write_csv(paths["pairs"], pd.DataFrame(pairs, columns=PAIR_COLUMNS))
    atomic_write_csv(paths["pooled"], pd.DataFrame(pooled, columns=POOLED_COLUMNS).assign(level=level))
    plot(runs, test_sets, cells, level, n_resamples, seed, paths["plot"])
    return markdown, paths
