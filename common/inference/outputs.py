"""Stage 05's outputs: the predictions table and its columns, labels added to it, the CSVs written beside it
(frames, tracks), their copy kept in a run directory (``--add-to-report``) and the exit code."""

import logging
from pathlib import Path

import pandas as pd

from common.core.files import atomic_write_bytes, atomic_write_csv
from common.evaluation.aggregate import (
    TRACK_COLUMNS,
    UNKNOWN_VERDICT,
    VERDICT_OF_LABEL,
    frame_scores,
)
from common.evaluation.run_report import CROSS_DIR

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = [
    "video",
    "verdict",
    "fake_probability",
    "fake_frame_share",
    "frames_sampled",
    "faces_scored",
    "tracks",
    "error",
    "needs_review",  # common.evaluation.review: borderline P(fake), tracks that disagree, or few scored frames
    "sha256",  # of the video file scored, and its size in bytes
    "size_bytes",
    "model_sha256",  # of the model file that scored it
]


RUN_COLUMNS = ["seconds", "fps"]  # kept with each row, not written: time to score it, its frame rate


FRAME_COLUMNS = ["video", "frame_index", "p_fake", "faces"]  # <output stem>_frames.csv: each scored frame


LABEL_COLUMN = "label"  # added when labels are known: FAKE, REAL or empty


def predictions_table(rows, labels=None, methods=None):
    """The predictions DataFrame of ``predict_videos`` from its rows."""
    predictions = pd.DataFrame(rows, columns=PREDICTION_COLUMNS + RUN_COLUMNS)
    if labels is not None:
        predictions = add_labels(predictions, labels)
    if methods:
        predictions = predictions.assign(method=predictions["video"].map(methods).fillna(""))
    return predictions


def add_labels(predictions, labels):
    """Add the ``label`` column (FAKE, REAL, or empty when unknown): a video matches a key of ``labels`` by
    its name or by its file name."""
    names = []
    for video in predictions["video"]:
        label = labels.get(video, labels.get(Path(video).name))
        names.append(VERDICT_OF_LABEL.get(label, ""))
    unlabelled = [video for video, name in zip(predictions["video"], names) if not name]
    if unlabelled:
        log.warning(
            "%d videos have no label: %s%s",
            len(unlabelled),
            ", ".join(unlabelled[:5]),
            " ..." if len(unlabelled) > 5 else "",
        )
    return predictions.assign(**{LABEL_COLUMN: names})


def beside(output, kind):
    """``<stem>_<kind>.csv`` next to the predictions CSV ``output``."""
    output = Path(output)
    return output.with_name(f"{output.stem}_{kind}.csv")


def write_predictions(predictions, faces, tracks, path):
    """Write the predictions CSV (``PREDICTION_COLUMNS``, then ``label`` and ``method`` when present) and,
    next to it, the P(fake) of every scored frame (``_frames.csv``) and the face tracks ``tracks``
    (``_tracks.csv``: ``common.evaluation.aggregate.track_table``, with the verdict of the settings' rule
    and whether it decides its video), atomically."""
    columns = PREDICTION_COLUMNS + [column for column in (LABEL_COLUMN, "method") if column in predictions]
    atomic_write_csv(path, predictions[columns])
    frames = frame_scores(faces) if len(faces) else pd.DataFrame(columns=FRAME_COLUMNS)
    atomic_write_csv(beside(path, "frames"), frames[FRAME_COLUMNS])
    atomic_write_csv(beside(path, "tracks"), tracks[TRACK_COLUMNS])


def kept_predictions(run_dir, name):
    """Where stage 05 ``--add-to-report`` keeps the predictions CSV of test set ``name`` in the run directory
    ``run_dir``, beside its metrics (``cross_dataset/<name>.json``): ``cross_dataset/<name>_predictions.csv``,
    with its ``_frames.csv`` beside it (``beside``)."""
    return Path(run_dir) / CROSS_DIR / f"{name}_predictions.csv"


def keep_predictions(output, run_dir, name):
    """Copy the predictions CSV ``output`` and its ``_frames.csv`` into ``run_dir`` as test set ``name``
    (``kept_predictions``), each atomically; return the kept CSV's path."""
    kept = kept_predictions(run_dir, name)
    for source, target in ((Path(output), kept), (beside(output, "frames"), beside(kept, "frames"))):
        atomic_write_bytes(target, source.read_bytes())
    return kept


def exit_code(predictions):
    """Stage 05's exit code: 1 when a video could not be read at all (an error and not one frame sampled:
    an empty, corrupt or non-video file) or when no video got a verdict, else 0. A readable video in which
    no face was found is UNKNOWN, not a failure."""
    unreadable = (predictions["error"] != "") & (predictions["frames_sampled"] == 0)
    every_unknown = (predictions["verdict"] == UNKNOWN_VERDICT).all()
    return 1 if len(predictions) and (unreadable.any() or every_unknown) else 0
