#!/usr/bin/env python3
"""Robustness sweep: one model scores one labelled folder of videos with stage 05, clean and under each
DeeperForensics-1.0 perturbation at each level (``05-predict-video.py --perturb NAME:LEVEL``,
``common.io.perturbations``), and the video and frame AUCs go to one table and one plot:

    python bench/robustness.py --model RUN --input LABELLED_FOLDER --output DIR
    python bench/robustness.py --model RUN --input FOLDER --output DIR --perturbations jpeg gaussian_blur --levels 1 5

Writes ``DIR/robustness.csv``, ``DIR/robustness.md`` and ``DIR/robustness.png`` (video AUC against level,
one line per perturbation, the clean video AUC as a dashed line); each stage 05 run keeps its outputs and
log in ``DIR/<perturbation>_<level>/`` (``DIR/clean/``); a run whose predictions are there is not run
again (delete DIR to start over). AUCs are stage 05's (``<output>_metrics.json``):
video AUC over the labelled videos that got a verdict (fake_probability), frame AUC over their scored
frames; the table gives those counts beside each AUC.
"""

import argparse
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.core.errors import UserError  # noqa: E402
from common.core.files import atomic_write_csv, atomic_write_text  # noqa: E402
from common.io.perturbations import PERTURBATIONS, parse_perturbation  # noqa: E402

CLEAN = "clean"
COLUMNS = [
    "perturbation",
    "level",
    "video_auc",
    "videos",
    "fake_videos",
    "real_videos",
    "no_verdict",
    "frame_auc",
    "frames",
]


def run_stage05(model, input_folder, folder, perturbation=None, config=None):
    """Stage 05 on ``input_folder`` into ``folder``, perturbed by ``(name, level)`` or clean; its table row."""
    folder.mkdir(parents=True, exist_ok=True)
    output = folder / "predictions.csv"
    command = [sys.executable, ROOT / "05-predict-video.py", "--model", model, "--input", input_folder]
    command += ["--output", output, "--report", folder / "report.html"]
    command += ["--config", config] if config else []
    command += ["--perturb", f"{perturbation[0]}:{perturbation[1]}"] if perturbation else []
    if not output.is_file():  # a run a killed sweep finished is kept
        with open(folder / "stage05.log", "w") as log:
            done = subprocess.run(list(map(str, command)), stdout=log, stderr=subprocess.STDOUT)
        if done.returncode not in (0, 1) or not output.is_file():  # 1: a video got no verdict
            raise RuntimeError(f"stage 05 failed (exit {done.returncode}), see {folder / 'stage05.log'}")
    metrics_file = folder / "predictions_metrics.json"  # absent when no labelled video got a verdict
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else None
    no_verdict = int((pd.read_csv(output, keep_default_na=False)["verdict"] == "UNKNOWN").sum())
    name, level = perturbation or (CLEAN, 0)
    return row_from_metrics(name, level, metrics, no_verdict), metrics["data"] if metrics else None


def row_from_metrics(name, level, metrics, no_verdict=0):
    """One row of the table (``COLUMNS``) from stage 05's metrics and the number of videos that got no
    verdict (UNKNOWN: no face found, or unreadable); ``metrics`` None (no labelled video got a verdict):
    AUCs missing, counts 0."""
    row = {"perturbation": name, "level": level, "no_verdict": no_verdict}
    if metrics is None:
        missing = float("nan")
        return {
            **row,
            "video_auc": missing,
            "videos": 0,
            "fake_videos": 0,
            "real_videos": 0,
            "frame_auc": missing,
            "frames": 0,
        }
    videos, frames = metrics["video_level"], metrics["frame_level"]
    return {
        **row,
        "video_auc": videos["auc"],
        "videos": videos["n"],
        "fake_videos": videos["n_fake"],
        "real_videos": videos["n_real"],
        "frame_auc": frames["auc"],
        "frames": frames["n"],
    }


def auc(value):
    """An AUC to three decimals, or n/a when missing."""
    return "n/a" if pd.isna(value) else f"{value:.3f}"


def markdown_table(table, data):
    """The table as Markdown, under a line naming the data and the AUCs' definitions."""
    lines = [
        "# Robustness to DeeperForensics-1.0 perturbations",
        "",
        f"Data: {data}. Video AUC over the labelled videos with a verdict (stage 05's fake_probability), "
        "frame AUC over their scored frames; level 0 is the clean run; no verdict: videos in which no face "
        "was found (or unreadable), left out of the AUCs; n/a: no video got a verdict.",
        "",
        "| perturbation | level | video AUC | videos (fake/real) | no verdict | frame AUC | frames |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        lines.append(
            f"| {row.perturbation} | {row.level} | {auc(row.video_auc)} | {row.videos} "
            f"({row.fake_videos}/{row.real_videos}) | {row.no_verdict} | {auc(row.frame_auc)} | {row.frames} |"
        )
    return "\n".join(lines) + "\n"


def plot(table, data, path):
    """Video AUC against level, one line per perturbation (each its own marker, as lines may coincide), the
    clean run's as a dashed line; a level where no video got a verdict is an x on the level axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from common.evaluation.metrics import save_figure_atomically

    fig, ax = plt.subplots(figsize=(7, 4.5))
    clean = table[table["perturbation"] == CLEAN]
    perturbed = table[table["perturbation"] != CLEAN].groupby("perturbation", sort=False)
    for (name, rows), marker in zip(perturbed, itertools.cycle("osD^vP*")):
        rows = rows.sort_values("level")
        (line,) = ax.plot(rows["level"], rows["video_auc"], marker=marker, markersize=9, label=name)
        missing = rows[rows["video_auc"].isna()]
        if len(missing):
            ax.plot(missing["level"], [0] * len(missing), "x", color=line.get_color(), markersize=10, mew=2)
    if len(clean):
        ax.axhline(clean["video_auc"].iloc[0], color="black", linestyle="--", label="clean")
    levels = sorted(set(table.loc[table["perturbation"] != CLEAN, "level"]))
    ax.set_xticks(levels or [1, 2, 3, 4, 5])
    ax.set_xlabel("perturbation level (DeeperForensics-1.0)")
    ax.set_ylabel("video AUC (x at 0: no video got a verdict)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"Video AUC under perturbation\n{data}", fontsize=9)
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    return save_figure_atomically(fig, path)


def write_results(rows, data, output):
    """``robustness.csv``, ``robustness.md`` and ``robustness.png`` in ``output`` from the table rows;
    returns the table."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(rows, columns=COLUMNS)
    atomic_write_csv(output / "robustness.csv", table)
    atomic_write_text(output / "robustness.md", markdown_table(table, data))
    plot(table, data, output / "robustness.png")
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="run directory of 04-train-cnn.py or its model.keras")
    parser.add_argument("--input", required=True, help="labelled folder of videos (real/ and fake/)")
    parser.add_argument("--output", required=True, help="folder for the table, plot and each run")
    parser.add_argument("--config", help="config file passed to stage 05 (its seed seeds the perturbations)")
    parser.add_argument(
        "--perturbations", nargs="+", default=PERTURBATIONS.names(), help="default: all seven"
    )
    parser.add_argument("--levels", nargs="+", type=int, default=[1, 3, 5], help="default: 1 3 5")
    args = parser.parse_args(argv)
    try:  # a bad name or level stops the sweep before any run
        [parse_perturbation(f"{name}:{level}") for name in args.perturbations for level in args.levels]
    except UserError as error:
        parser.error(str(error))
    output = Path(args.output)
    row, data = run_stage05(args.model, args.input, output / CLEAN, config=args.config)
    data = data or f"labelled videos in {args.input}"
    rows = [row]
    print(f"clean: video AUC {auc(row['video_auc'])}, frame AUC {auc(row['frame_auc'])}", flush=True)
    for name in args.perturbations:
        for level in args.levels:
            row, _ = run_stage05(
                args.model, args.input, output / f"{name}_{level}", (name, level), args.config
            )
            rows.append(row)
            print(
                f"{name} {level}: video AUC {auc(row['video_auc'])}, frame AUC {auc(row['frame_auc'])}",
                flush=True,
            )
    write_results(rows, f"{data}; model {Path(args.model).resolve()}", output)
    print(f"robustness -> {output / 'robustness.md'}, {output / 'robustness.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
