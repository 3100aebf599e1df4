"""Scoring a list of videos with one model: a failed video gets an error row and the batch goes on, each
result is kept as it comes (``ScoredVideos``) so a killed run resumes and shards (``--shard``) share their
results, and the last shard to finish joins them. Results come in the videos' order whatever the number of
workers."""

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from pathlib import Path

import cv2
import pandas as pd
from tqdm import tqdm

from common.core.files import (
    atomic_write_text,
    file_sha256,
    sweep_temporaries,
)
from common.core.shard import WHOLE
from common.inference.face_scoring import FACE_COLUMNS, PERTURB, FaceScores, score_faces, unknown_row
from common.inference.frames_and_faces import faces_in_order
from common.inference.outputs import predictions_table

log = logging.getLogger(__name__)


def scoring_identity(model_path, metadata, config):
    """What a kept video result depends on: the model file's content (its SHA-256, so shards on machines that
    keep copies of one model at other paths share their results), its crop settings and the ``predict``
    section."""
    from common.core.model_file import resolve_model_path

    return {
        "model_sha256": file_sha256(resolve_model_path(model_path)),
        "preprocess": metadata["preprocess"],
        "video": metadata.get("video", {}),
        "predict": config["predict"],
    }


def parts_folder(output):
    """Where ``ScoredVideos`` keeps the results of the run writing the predictions CSV ``output``: present
    until every output is written."""
    output = Path(output)
    return output.with_name(f"{output.stem}_parts")


class ScoredVideos:
    """Stage 05's results kept as each video is scored, one JSON file per video in ``<output stem>_parts/``,
    so that a run killed after N videos resumes at video N+1, and shards (``--shard``) running at once
    share their results. The folder records the model file and the settings its results came from
    (``identity``); results made otherwise are dropped, never mixed in. It is removed once the predictions
    are written."""

    SETTINGS = "settings.json"
    JOINING = "joining"  # made by the one shard that writes the outputs (``claim_join``)

    def __init__(self, output, identity):
        self.folder = parts_folder(output)
        self.identity = json.loads(json.dumps(identity))
        if self.folder.is_dir():
            stamp = self.folder / self.SETTINGS
            recorded = json.loads(stamp.read_text()) if stamp.is_file() else None
            if recorded != self.identity:
                log.warning("%s holds results of another model or other settings: scoring again", self.folder)
                shutil.rmtree(self.folder)
            else:
                sweep_temporaries(self.folder)
                log.info("resuming: %d videos already scored in %s", len(self._files()), self.folder)
        if not self.folder.is_dir():
            self._create()

    def _create(self):
        """Make the folder with its settings in one rename, so a shard starting at the same moment never
        sees it without them (and drops it as another run's); when two race, the first rename wins."""
        building = self.folder.with_name(f".{self.folder.name}.{uuid.uuid4().hex}")
        building.mkdir(parents=True)
        try:
            (building / self.SETTINGS).write_text(json.dumps(self.identity, indent=2))
            os.rename(building, self.folder)
        except OSError:
            if not (self.folder / self.SETTINGS).is_file():
                raise
        finally:
            shutil.rmtree(building, ignore_errors=True)

    def _files(self):
        return [path for path in self.folder.glob("[!.]*.json") if path.name != self.SETTINGS]  # no temporary

    def _path(self, name):
        return self.folder / f"{hashlib.sha1(name.encode()).hexdigest()}.json"

    def get(self, name):
        """The ``(row, faces)`` kept for video ``name``, or None."""
        path = self._path(name)
        if not path.is_file():
            return None
        kept = json.loads(path.read_text())
        faces = pd.DataFrame(kept["faces"])
        return kept["row"], faces.reindex(columns=FACE_COLUMNS + list(faces.columns.difference(FACE_COLUMNS)))

    def keep(self, name, row, faces):
        kept = {"row": row, "faces": faces.to_dict("list")}  # FACE_COLUMNS, and the report's when kept
        atomic_write_text(self._path(name), json.dumps(kept, default=lambda value: value.item()))

    def missing(self, names):
        """The names among ``names`` with no kept result."""
        return [name for name in names if not self._path(name).is_file()]

    def claim_join(self):
        """True for the first caller only: of shards that finish at once, one writes the outputs."""
        try:
            os.close(os.open(self.folder / self.JOINING, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        return True

    def remove(self):
        shutil.rmtree(self.folder, ignore_errors=True)


def predict_videos(
    videos, model, detector, metadata, settings, labels=None, methods=None, scored=None, workers=1
):
    """Score ``[(name, path)]`` with one model and one detector; a video that fails gets an error row and
    the batch goes on. Returns the predictions (``PREDICTION_COLUMNS`` plus ``seconds``, the time from the
    previous video's result to this one's, and a ``label`` column when ``labels`` are given: see
    ``add_labels``, and a ``method`` column with ``methods``) and the face scores of every video
    (``FACE_COLUMNS``), in the order of ``videos`` whatever ``workers`` (``faces_in_order``) is. With
    ``scored`` (``ScoredVideos``) each result is kept as it comes, and videos kept by an earlier run are not
    scored again."""
    missing = set(scored.missing(name for name, _ in videos)) if scored else None
    paths = dict(videos)
    fresh = [missing is None or name in missing for name, _ in videos]
    found = faces_in_order(
        [video for video, new in zip(videos, fresh) if new],
        detector,
        metadata,
        settings["frames"],
        workers,
        settings.get(PERTURB),
    )
    rows, faces = [], FaceScores()
    with contextlib.closing(found), tqdm(total=len(videos), desc="scoring videos", unit="video") as bar:
        started = time.perf_counter()
        for (name, _), new in zip(videos, fresh):
            if not new:
                row, video_faces_scored = scored.get(name)
            else:
                row, video_faces_scored = score_next(found, model, metadata, settings)
                row.update(video_file_facts(paths[name]))  # just read: its blocks are in the page cache
                row["seconds"] = round(time.perf_counter() - started, 3)
                if row["error"]:
                    log.warning("%s: %s", name, row["error"])
                if scored and video_faces_scored is not None:
                    scored.keep(name, row, video_faces_scored)
                started = time.perf_counter()
            rows.append(row)
            if video_faces_scored is not None:
                faces.add(name, video_faces_scored)
            bar.update()
            bar.set_postfix_str(f"{name}: {row['verdict']}", refresh=False)
    return predictions_table(rows, labels, methods), faces.table()


def score_next(found, model, metadata, settings):
    """``score_faces`` for the next video of ``faces_in_order``. An unexpected failure gives an error row
    and no face scores, so the video is not kept and a re-run tries it again."""
    name, faces_found = next(found)
    try:
        return score_faces(name, faces_found, model, metadata, settings)
    except Exception as error:  # one bad video must not end the batch
        log.debug("%s failed", name, exc_info=error)
        return unknown_row(name, f"unexpected {type(error).__name__}: {error}"), None


def video_file_facts(path):
    """What identifies a scored file, read once per file: ``sha256``, ``size_bytes`` and ``fps`` (the frame
    rate its container reports, for frame times; 0 when unknown). Empty for a file that is not there."""
    path = Path(path)
    if not path.is_file():
        return {"sha256": "", "size_bytes": 0, "fps": 0.0}
    capture = cv2.VideoCapture(str(path))
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS)) if capture.isOpened() else 0.0
    finally:
        capture.release()
    return {"sha256": file_sha256(path), "size_bytes": path.stat().st_size, "fps": fps if fps > 0 else 0.0}


def join_shards(videos, scored, shard, labels=None, methods=None):
    """After ``shard`` has scored its videos: the predictions and face scores of every video of ``videos``
    when all are kept in ``scored`` and no other shard is writing them (``ScoredVideos.claim_join``), in the
    order and form an unsharded run gives; else None, and a log line says who writes the outputs."""
    missing = scored.missing(name for name, _ in videos)
    if missing:
        log.info(
            "shard %s is done; %d of the %d videos are not scored yet (other shards'): the last shard to "
            "finish, or a run without --shard, writes the outputs",
            shard,
            len(missing),
            len(videos),
        )
        return None
    if not scored.claim_join():
        log.info(
            "every video is scored and another shard is writing the outputs (if it was stopped, run again "
            "without --shard)"
        )
        return None
    log.info("every one of the %d videos is scored: shard %s writes the outputs", len(videos), shard)
    rows, faces = [], FaceScores()
    for name, _ in videos:
        row, video_faces_scored = scored.get(name)
        rows.append(row)
        faces.add(name, video_faces_scored)
    return predictions_table(rows, labels, methods), faces.table()


def score_shard(videos, shard, model, detector, metadata, settings, labels, methods, scored, workers):
    """``predict_videos`` over ``shard``'s videos of ``videos``. Returns ``(predictions, faces, complete)``:
    with ``complete`` those of every video, ready to write (one machine, or the last shard to finish); else
    only this shard's, the outputs being left to another shard (``join_shards``)."""
    mine = shard.select(videos)
    predictions, faces = predict_videos(
        mine, model, detector, metadata, settings, labels, methods, scored, workers=workers
    )
    if shard == WHOLE:
        return predictions, faces, True
    joined = join_shards(videos, scored, shard, labels, methods)
    return (*joined, True) if joined else (predictions, faces, False)
