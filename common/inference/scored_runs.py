"""Stage 07's runs and the scores of each of their test sets, read from the files stages 04 and 05 leave.

A run is a run directory of stage 04. Its own test split is read from ``test_videos.csv`` (one row per
video with a face: ``video``, ``fake_probability``, ``label``) and ``test_frames.csv`` (one row per frame
with a face: ``video``, ``frame_index``, ``p_fake``, ``label``). A cross-dataset set comes from stage 05's
predictions CSV (``video``, ``fake_probability``, ``label``, ``verdict``, ``model_sha256``) and the
``_frames.csv`` beside it: the copy that stage 05 ``--add-to-report`` keeps in the run beside the set's
metrics (``cross_dataset/NAME_predictions.csv`` beside ``cross_dataset/NAME.json``), or one given as
``NAME=PATH``, which takes the place of a kept copy of that name; the run that scored it is the one whose
``model.keras`` has the CSV's ``model_sha256``. Metrics kept without scores (by stage 05 before it kept
them) are named as not compared.
"""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from common.core.errors import UserError
from common.core.files import file_sha256
from common.core.model_file import (
    CONFIG_FILE_KEY,
    MODEL_FILE,
    RUN_CONFIG,
    RUN_METRICS,
    read_run_config,
    recorded_config_file,
)
from common.evaluation.aggregate import LABEL_OF_VERDICT, UNKNOWN_VERDICT
from common.evaluation.run_report import CROSS_DIR
from common.inference.outputs import LABEL_COLUMN, beside, kept_predictions

log = logging.getLogger(__name__)


TEST_VIDEOS_FILE, TEST_FRAMES_FILE = (
    "test_videos.csv",
    "test_frames.csv",
)  # stage 04's per-video/per-frame scores


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
