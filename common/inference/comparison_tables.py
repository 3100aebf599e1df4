"""What stage 07 writes into ``--output``: the comparison as Markdown (``render_markdown``) and as CSV
tables (``cells_table``, ``PAIR_COLUMNS``, ``POOLED_COLUMNS``), under the names of ``OUTPUTS``."""

import pandas as pd

from common.core.model_file import describe_config_file
from common.evaluation.run_report import CROSS_DIR
from common.evaluation.uncertainty import BOOTSTRAP_METHOD, CONFIDENCE

OUTPUTS = {  # what stage 07 writes into --output
    "markdown": "compare.md",
    "cells": "compare.csv",
    "pairs": "compare_pairs.csv",
    "pooled": "compare_pooled.csv",
    "plot": "compare.png",
}


def _format_cell(cell, level):
    if cell is None:
        return ""
    if "error" in cell:
        return f"n/a ({cell['error']})"
    count = f"{cell['n_real_videos']} real + {cell['n_fake_videos']} fake videos"
    if level == "frame":
        count = f"{cell['n_rows']} frames of {count}"
    return f"{cell['estimate']:.3f} [{cell['low']:.3f}, {cell['high']:.3f}] ({count})"


def _p(value):
    return "n/a" if value is None else f"{value:.3g}"


def render_markdown(runs, labels, legend, test_sets, cells, pairs, pooled, level, n_resamples, seed):
    """The Markdown text of the comparison."""
    unit = "videos" if level == "video" else "frames with a face (grouped by video)"
    counted = "videos" if level == "video" else "frames and videos"
    method = f"{BOOTSTRAP_METHOD}, {n_resamples} resamples, seed {seed}"
    lines = [
        f"# {level.capitalize()}-level AUC across runs",
        "",
        f"Cell: {level}-level AUC on the {unit} of a test set, [{CONFIDENCE * 100:.0f} % confidence interval] "
        f"by {method}; in parentheses the {counted} counted. Score: P(fake).",
        "",
        "Test sets:",
        "",
    ]
    for test_set in test_sets:
        described = sorted({run.test_sets[test_set].data for run in runs if test_set in run.test_sets})
        scorers = sorted(
            {run.test_sets[test_set].source.split(":")[0] for run in runs if test_set in run.test_sets}
        )
        lines.append(f"- `{test_set}`: {'; '.join(described)}; scored by {' and '.join(scorers)}")
    lines += [
        "",
        f"Which file holds each run's scores: the `scores_from` column of {OUTPUTS['cells']}.",
        "",
        "Configs (runs that differ only by seed share one; the column `config file` names the `--config` file "
        "a run of stage 04 was started with, flags over it, or `defaults`):",
        "",
    ]
    lines += [f"- {label}: {settings}" for label, settings in legend.items()]
    header = ["run", "model", "config", "config file", "seed", *test_sets]
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run, label in zip(runs, labels):
        row = [run.name, run.model, label, describe_config_file(*run.config_file), str(run.seed)]
        row += [_format_cell(cells.get((run.name, test_set)), level) for test_set in test_sets]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", f"## Paired tests of the {level}-level AUC difference", ""]
    if pairs:
        lines += [
            f"On the videos both runs scored; paired bootstrap: {method} (the same videos for both runs); "
            + (
                "DeLong: DeLong et al. 1988, one row per video."
                if level == "video"
                else "DeLong's test is not given at frame level (it takes rows as independent; frames of a "
                "video are not)."
            ),
            "",
            f"| test set | run A | run B | shared videos | AUC A | AUC B | A - B [{CONFIDENCE * 100:.0f} % CI] "
            "| p (paired bootstrap) | p (DeLong) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for row in pairs:
            lines.append(
                f"| {row['test_set']} | {row['run_a']} | {row['run_b']} | {row['shared_videos']} "
                f"| {row['auc_a']:.3f} | {row['auc_b']:.3f} "
                f"| {row['difference']:+.3f} [{row['low']:+.3f}, {row['high']:+.3f}] "
                f"| {_p(row['p_bootstrap'])} | {_p(row['p_delong'])} |"
            )
    else:
        lines.append("No two runs share videos of both classes on a test set.")
    lines += ["", f"## Pooled over seeds ({level}-level AUC)", ""]
    if pooled:
        lines += [
            "Mean ± sample standard deviation of the runs' AUCs (point estimates) over the seeds of one config.",
            "",
            "| config | model | test set | seeds | runs | AUC mean ± sd |",
            "|---|---|---|---|---|---|",
        ]
        for row in pooled:
            spread = "n/a" if row["sd_auc"] is None else f"{row['sd_auc']:.3f}"
            lines.append(
                f"| {row['config']} | {row['model']} | {row['test_set']} | {row['seeds']} | {row['runs']} "
                f"| {row['mean_auc']:.3f} ± {spread} |"
            )
    else:
        lines.append("No config was run with more than one seed.")
    notes = [
        f"- {run.name} has stage 05 metrics on {', '.join(run.cross_without_scores)} ({CROSS_DIR}/) but no "
        "per-video scores of its model.keras: run stage 05 --add-to-report again (it keeps them), or pass "
        "--predictions NAME=PATH (stage 05's predictions CSV) to compare them."
        for run in runs
        if run.cross_without_scores
    ]
    if notes:
        lines += ["", "Not compared:", "", *notes]
    return "\n".join(lines) + "\n"


PAIR_COLUMNS = [
    "test_set",
    "level",
    "run_a",
    "run_b",
    "shared_videos",
    "auc_a",
    "auc_b",
    "difference",
    "low",
    "high",
    "p_bootstrap",
    "p_delong",
    "n_resamples",
    "bootstrap_seed",
]


POOLED_COLUMNS = ["config", "model", "test_set", "seeds", "runs", "mean_auc", "sd_auc"]


def cells_table(runs, labels, test_sets, cells, level):
    """One CSV row per run and test set scored."""
    rows = []
    for run, label in zip(runs, labels):
        for test_set in test_sets:
            cell = cells.get((run.name, test_set))
            if cell is None:
                continue
            rows.append(
                {
                    "run": run.name,
                    "path": str(run.path),
                    "model": run.model,
                    "config": label,
                    "config_file": run.config_file[0],
                    "config_sha256": run.config_file[1],
                    "seed": run.seed,
                    "test_set": test_set,
                    "data": run.test_sets[test_set].data,
                    "scores_from": run.test_sets[test_set].source,
                    "level": level,
                    "auc": cell.get("estimate"),
                    "low": cell.get("low"),
                    "high": cell.get("high"),
                    "confidence": CONFIDENCE,
                    "n_rows": cell["n_rows"],
                    "n_real_videos": cell.get("n_real_videos"),
                    "n_fake_videos": cell.get("n_fake_videos"),
                    "n_resamples": cell.get("n_resamples"),
                    "bootstrap_seed": cell.get("seed"),
                    "error": cell.get("error", ""),
                }
            )
    return pd.DataFrame(rows)
