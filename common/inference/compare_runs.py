"""One table across training runs and test sets (stage 07): AUC with its bootstrap interval over videos,
paired tests of the difference on the videos two runs share, and runs that differ only by seed pooled.

A run is a run directory of stage 04. Its own test split is read from ``test_videos.csv`` (one row per
video with a face: ``video``, ``fake_probability``, ``label``) and ``test_frames.csv`` (one row per frame
with a face: ``video``, ``frame_index``, ``p_fake``, ``label``). A cross-dataset set comes from stage 05's
predictions CSV (``video``, ``fake_probability``, ``label``, ``verdict``, ``model_sha256``) and the
``_frames.csv`` beside it: the copy that stage 05 ``--add-to-report`` keeps in the run beside the set's
metrics (``cross_dataset/NAME_predictions.csv`` beside ``cross_dataset/NAME.json``), or one given as
``NAME=PATH``, which takes the place of a kept copy of that name; the run that scored it is the one whose
``model.keras`` has the CSV's ``model_sha256``. Metrics kept without scores (by stage 05 before it kept
them) are named as not compared.

Every interval and test is ``common.evaluation.uncertainty``'s: ``bootstrap_metric`` (percentile bootstrap over
videos, stratified by class), ``paired_bootstrap_auc`` and, at video level, ``delong_test``. DeLong's test
assumes independent rows, which frames of one video are not, so at frame level only the paired bootstrap
(which resamples videos) is given.
"""

import itertools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from common.core.errors import UserError
from common.core.files import atomic_path, atomic_write_csv, atomic_write_text, file_sha256
from common.core.model_file import (
    CONFIG_FILE_KEY,
    MODEL_FILE,
    RUN_CONFIG,
    RUN_METRICS,
    describe_config_file,
    read_run_config,
    recorded_config_file,
)
from common.evaluation.aggregate import LABEL_OF_VERDICT, UNKNOWN_VERDICT
from common.evaluation.run_report import CROSS_DIR
from common.evaluation.uncertainty import (
    BOOTSTRAP_METHOD,
    BOOTSTRAP_SEED,
    CONFIDENCE,
    N_RESAMPLES,
    auc,
    bootstrap_metric,
    delong_test,
    paired_bootstrap_auc,
)
from common.inference.outputs import LABEL_COLUMN, beside, kept_predictions

log = logging.getLogger(__name__)

LEVELS = ("video", "frame")
TEST_VIDEOS_FILE, TEST_FRAMES_FILE = (
    "test_videos.csv",
    "test_frames.csv",
)  # stage 04's per-video/per-frame scores
OUTPUTS = {  # what stage 07 writes into --output
    "markdown": "compare.md",
    "cells": "compare.csv",
    "pairs": "compare_pairs.csv",
    "pooled": "compare_pooled.csv",
    "plot": "compare.png",
}
# runs whose configs differ only in these keys are seeds of one config (the settings decide, not the file)
NOT_IN_CONFIG = ("seed", CONFIG_FILE_KEY)


@dataclass
class Scores:
    """One run's scores of one test set: ``videos`` (``video``, ``score``, ``label``) and ``frames``
    (``video``, ``score``, ``label``; empty when unknown); ``data`` says what the set is, ``source`` which
    files hold the scores."""

    videos: pd.DataFrame
    frames: pd.DataFrame
    data: str
    source: str


@dataclass
class Run:
    """A run directory of stage 04 with its config (seed apart) and its scores per test set."""

    path: Path
    config: dict
    seed: object
    model: str
    dataset_dir: str
    config_file: tuple = ("not recorded", "")  # (path, sha256) of its --config file: recorded_config_file
    test_sets: dict = field(default_factory=dict)  # test set name -> Scores
    cross_without_scores: list = field(default_factory=list)  # stage 05 sets kept as metrics only

    @property
    def name(self):
        return self.path.name


def _flatten(mapping, prefix=""):
    """``{"train.model": "small_cnn", ...}`` from nested dicts."""
    flat = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _read_scores(path, score, label="label"):
    """The CSV ``path`` with its ``score`` column as ``score`` and 0/1 ``label``, rows without either dropped;
    ``UserError`` when it lacks ``video``, ``score`` or ``label``."""
    table = pd.read_csv(path, dtype={"video": str})
    missing = {"video", score, label} - set(table.columns)
    if missing:
        raise UserError(f"{path}: no {', '.join(sorted(missing))} column; not written by stage 04 or 05?")
    return _labelled(table, score, label)


def _labelled(table, score, label):
    """``table`` with ``score`` renamed to ``score`` and 0/1 ``label``, rows without either dropped."""
    table = table.rename(columns={score: "score", label: "label"})
    table = table.dropna(subset=["score", "label"])
    return table.assign(label=table["label"].astype(int))


OWN_TEST_SET = "test"  # a run's own test split until ``name_own_test_sets`` names it by its dataset


def name_own_test_sets(runs):
    """Name each run's own test split ``test: <dataset folder name>``, or by the whole path where two
    datasets share a folder name, so that test splits of different datasets stay different columns."""
    folders = {run.dataset_dir for run in runs}
    names = [Path(folder).name for folder in folders]
    for run in runs:
        name = Path(run.dataset_dir).name
        label = run.dataset_dir if names.count(name) > 1 else name
        run.test_sets = {
            (f"test: {label or 'unknown dataset'}" if key == OWN_TEST_SET else key): value
            for key, value in run.test_sets.items()
        }


def read_run(path):
    """The ``Run`` of stage 04's run directory ``path``, with the scores of its own test split.
    ``UserError`` (one line) when ``path`` is not a run directory or holds no test scores."""
    path = Path(path)
    if not path.is_dir() or not (path / RUN_CONFIG).is_file():
        raise UserError(f"{path}: not a run directory of 04-train-cnn.py (no {RUN_CONFIG})")
    config = read_run_config(path)
    if not (path / TEST_VIDEOS_FILE).is_file():
        raise UserError(f"{path}: no test scores ({TEST_VIDEOS_FILE}); did stage 04 finish?")
    videos = _read_scores(path / TEST_VIDEOS_FILE, "fake_probability")
    frames_path = path / TEST_FRAMES_FILE
    frames = (
        _read_scores(frames_path, "p_fake")
        if frames_path.is_file()
        else pd.DataFrame(columns=["video", "score", "label"])
    )
    if videos.empty:
        raise UserError(f"{path}: no test scores ({TEST_VIDEOS_FILE} has no labelled, scored video)")
    metrics = json.loads((path / RUN_METRICS).read_text()) if (path / RUN_METRICS).is_file() else {}
    data = f"{metrics.get('data', 'test split')} of {config.get('dataset_dir', 'an unrecorded dataset')}"
    source = f"stage 04: {path / TEST_VIDEOS_FILE}"
    run = Run(
        path=path,
        config={key: value for key, value in config.items() if key not in NOT_IN_CONFIG},
        seed=config.get("seed"),
        model=config.get("train", {}).get("model", "unknown"),
        dataset_dir=str(config.get("dataset_dir", "")),
        config_file=recorded_config_file(config),
    )
    run.test_sets[OWN_TEST_SET] = Scores(videos, frames, data, source)
    cross = path / CROSS_DIR
    for name in sorted(item.stem for item in cross.glob("*.json")) if cross.is_dir() else []:
        kept = kept_predictions(path, name)
        if not kept.is_file():
            run.cross_without_scores.append(name)
            continue
        model_hash, scores = read_predictions(kept, cross / f"{name}.json", f"{path.name}: {CROSS_DIR}/")
        if (path / MODEL_FILE).is_file() and file_sha256(path / MODEL_FILE) != model_hash:
            log.warning("%s was scored by another model than %s: left out", kept, path / MODEL_FILE)
            run.cross_without_scores.append(name)
            continue
        run.test_sets[name] = scores
    return run


def parse_predictions(text):
    """``(name, path)`` from ``NAME=PATH``; ``UserError`` otherwise."""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise UserError(f"--predictions {text}: expected NAME=PATH (PATH: a predictions CSV of stage 05)")
    return name, Path(path)


def read_predictions(path, metrics_path=None, given_as="--predictions "):
    """``(model_sha256, Scores)`` of stage 05's labelled predictions CSV ``path``: its labelled videos with
    a verdict (UNKNOWN: no face, left out), and their frames from the ``_frames.csv`` beside it. What the
    set is comes from its metrics (``metrics_path``, by default the ``_metrics.json`` beside it); errors
    name the CSV after ``given_as``."""
    if not path.is_file():
        raise UserError(f"{given_as}{path}: file not found")
    table = pd.read_csv(path, keep_default_na=False, dtype=str)
    missing = {"video", "fake_probability", LABEL_COLUMN, "verdict", "model_sha256"} - set(table.columns)
    if missing:
        raise UserError(
            f"{given_as}{path}: not a labelled predictions CSV of stage 05 (no {', '.join(sorted(missing))})"
        )
    hashes = set(table["model_sha256"])
    if len(hashes) != 1:
        raise UserError(f"{given_as}{path}: scored by {len(hashes)} models; expected one")
    listed = len(table)
    table["fake_probability"] = pd.to_numeric(table["fake_probability"], errors="coerce")
    table = table[(table["verdict"] != UNKNOWN_VERDICT) & table[LABEL_COLUMN].isin(LABEL_OF_VERDICT)]
    videos = _labelled(
        table.assign(label=table[LABEL_COLUMN].map(LABEL_OF_VERDICT)), "fake_probability", "label"
    )[["video", "score", "label"]]
    frames_path = beside(path, "frames")
    frames = pd.DataFrame(columns=["video", "score", "label"])
    if frames_path.is_file():
        frames = pd.read_csv(frames_path, dtype={"video": str}).merge(videos[["video", "label"]], on="video")
        frames = _labelled(frames, "p_fake", "label")
    metrics_path = metrics_path or path.with_name(f"{path.stem}_metrics.json")
    described = json.loads(metrics_path.read_text()).get("data") if metrics_path.is_file() else None
    data = f"{described or 'labelled videos'} ({len(videos)} of {listed} videos labelled and with a face)"
    return hashes.pop(), Scores(videos, frames, data, f"stage 05: {path}")


def attach_predictions(runs, predictions):
    """Add each ``(name, path)`` of stage 05 predictions to the run whose model scored it (by the model
    file's SHA-256), in place of the copy of that name the run keeps, if any."""
    if not predictions:
        return
    by_hash = {}
    for run in runs:
        model = run.path / MODEL_FILE
        if model.is_file():
            by_hash[file_sha256(model)] = run
    given = set()
    for name, path in predictions:
        model_hash, scores = read_predictions(path)
        run = by_hash.get(model_hash)
        if run is None:
            raise UserError(
                f"--predictions {name}={path}: scored by a model (sha256 {model_hash[:12]}) that is none of "
                "the runs' model.keras"
            )
        if (run.name, name) in given:
            raise UserError(f"--predictions {name}: given twice for run {run.name}")
        given.add((run.name, name))
        if name in run.test_sets:
            log.info(
                "%s: --predictions %s=%s takes the place of the scores kept in the run", run.name, name, path
            )
        run.test_sets[name] = scores
        if name in run.cross_without_scores:
            run.cross_without_scores.remove(name)


def config_labels(runs):
    """``(label of each run, legend)``: runs whose configs are equal but for the seed share a label (A, B,
    ...); the legend says, per label, the settings in which the configs differ."""
    labels, distinct = [], []
    for run in runs:
        if run.config not in distinct:
            distinct.append(run.config)
        labels.append(chr(ord("A") + distinct.index(run.config)))
    flat = [_flatten(config) for config in distinct]
    keys = sorted({key for config in flat for key in config})
    differing = [key for key in keys if len({repr(config.get(key)) for config in flat}) > 1]
    legend = {}
    for index, config in enumerate(flat):
        settings = ", ".join(f"{key}={config.get(key)}" for key in differing)
        legend[chr(ord("A") + index)] = settings or "the only config"
    return labels, legend


def _rows(scores, level):
    """(scores, labels, videos) arrays of one level."""
    table = scores.videos if level == "video" else scores.frames
    return table["score"].to_numpy(float), table["label"].to_numpy(int), table["video"].astype(str).to_numpy()


def auc_cell(scores, level, n_resamples, seed):
    """The bootstrap AUC of one run on one test set at ``level``, with its counts; ``None`` when the level's
    scores are missing, a dict with ``error`` when the AUC is undefined (one class)."""
    values, labels, videos = _rows(scores, level)
    if not values.size:
        return None
    try:
        result = bootstrap_metric(values, labels, videos, metric=auc, n_resamples=n_resamples, seed=seed)
    except ValueError as error:
        return {"error": str(error), "n_rows": int(values.size)}
    return {**result, "n_rows": int(values.size)}


def _format_cell(cell, level):
    if cell is None:
        return ""
    if "error" in cell:
        return f"n/a ({cell['error']})"
    count = f"{cell['n_real_videos']} real + {cell['n_fake_videos']} fake videos"
    if level == "frame":
        count = f"{cell['n_rows']} frames of {count}"
    return f"{cell['estimate']:.3f} [{cell['low']:.3f}, {cell['high']:.3f}] ({count})"


def paired_tests(runs, test_set, level, n_resamples, seed):
    """For each pair of runs scored on ``test_set``: the paired bootstrap of AUC_A - AUC_B on the videos both
    scored and, at video level, DeLong's test on them. Pairs sharing no video of each class are skipped."""
    rows = []
    scored = [run for run in runs if test_set in run.test_sets]
    for run_a, run_b in itertools.combinations(scored, 2):
        a, b = (_rows(run.test_sets[test_set], level) for run in (run_a, run_b))
        if not a[0].size or not b[0].size:
            continue
        try:
            bootstrap = paired_bootstrap_auc(a, b, n_resamples=n_resamples, seed=seed)
        except ValueError as error:
            log.info("%s: %s vs %s: no paired test (%s)", test_set, run_a.name, run_b.name, error)
            continue
        row = {
            "test_set": test_set,
            "level": level,
            "run_a": run_a.name,
            "run_b": run_b.name,
            "shared_videos": bootstrap["n_videos"],
            "auc_a": bootstrap["auc_a"],
            "auc_b": bootstrap["auc_b"],
            "difference": bootstrap["difference"],
            "low": bootstrap["low"],
            "high": bootstrap["high"],
            "p_bootstrap": bootstrap["p_value"],
            "p_delong": None,
            "n_resamples": n_resamples,
            "bootstrap_seed": seed,
        }
        if level == "video":
            row["p_delong"] = _delong_on_shared(run_a.test_sets[test_set], run_b.test_sets[test_set])
        rows.append(row)
    return rows


def _delong_on_shared(scores_a, scores_b):
    """DeLong's p-value on the videos both runs scored (``None`` with fewer than two of a class)."""
    shared = scores_a.videos.merge(scores_b.videos, on="video", suffixes=("_a", "_b"))
    try:
        return delong_test(shared["label_a"], shared["score_a"], shared["score_b"])["p_value"]
    except ValueError:
        return None


def pooled_by_config(runs, labels, cells, test_sets):
    """Per config shared by two runs or more (seeds of it): per test set, the mean and the sample standard
    deviation of the runs' AUCs, and how many runs have one."""
    rows = []
    for label in sorted(set(labels)):
        members = [run for run, own in zip(runs, labels) if own == label]
        if len(members) < 2:
            continue
        for test_set in test_sets:
            values = [
                cells[(run.name, test_set)]["estimate"]
                for run in members
                if cells.get((run.name, test_set)) and "estimate" in cells[(run.name, test_set)]
            ]
            if not values:
                continue
            rows.append(
                {
                    "config": label,
                    "model": members[0].model,
                    "test_set": test_set,
                    "seeds": " ".join(str(run.seed) for run in members if (run.name, test_set) in cells),
                    "runs": len(values),
                    "mean_auc": float(np.mean(values)),
                    "sd_auc": float(np.std(values, ddof=1)) if len(values) > 1 else None,
                }
            )
    return rows


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


def plot(runs, test_sets, cells, level, n_resamples, seed, path):
    """AUC with its interval per run (a colour each) per test set, written atomically to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = 0.8 / max(len(runs), 1)
    figure, axes = plt.subplots(figsize=(max(5, 1.8 * len(test_sets) + 2), 4))
    for index, run in enumerate(runs):
        xs, ys, errors = [], [], [[], []]
        for column, test_set in enumerate(test_sets):
            cell = cells.get((run.name, test_set))
            if cell and "estimate" in cell:
                xs.append(column - 0.4 + width * (index + 0.5))
                ys.append(cell["estimate"])
                errors[0].append(cell["estimate"] - cell["low"])
                errors[1].append(cell["high"] - cell["estimate"])
        axes.errorbar(xs, ys, yerr=errors, fmt="o", capsize=3, label=f"{run.name} (seed {run.seed})")
    ticks = []
    for test_set in test_sets:
        counted = [cells.get((run.name, test_set)) or {} for run in runs]
        sizes = sorted(
            {cell["n_real_videos"] + cell["n_fake_videos"] for cell in counted if "estimate" in cell}
        )
        ticks.append(f"{test_set}\n({' / '.join(map(str, sizes))} videos)")
    axes.set_xticks(range(len(test_sets)), ticks)
    axes.set_ylabel(f"{level}-level AUC")
    axes.set_ylim(min(0.0, axes.get_ylim()[0]), 1.02)
    axes.axhline(0.5, color="grey", linewidth=0.5, linestyle="--")
    axes.set_xlim(-0.5, len(test_sets) - 0.5)
    axes.set_title(
        f"{level}-level AUC with its {CONFIDENCE * 100:.0f} % CI\n(bootstrap over videos, {n_resamples} "
        f"resamples, seed {seed})",
        fontsize="medium",
    )
    axes.legend(fontsize="small", loc="lower left")
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=120)
    plt.close(figure)


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
