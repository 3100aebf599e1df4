"""Stage 05's analyst report: one self-contained HTML page that shows why each video got its verdict.

The page is ``common/inference/analyst_report.html`` (CSS and JavaScript inline, nothing fetched) with one JSON
document embedded: ``report_data`` builds it, one entry per video, per face track of a video and per face
of a track. Each track's face crops travel as one JPEG strip (a data URI: crops side by side in time order,
``predict.report_thumbnail`` px square each): one file to mail or archive, opening from file:// with no
network and no sibling folder, and one JPEG header per track instead of one per crop. Sections are drawn
by the page only when opened, so a large report opens as fast as its table.
"""

import base64
import datetime
import json
import logging
import os
import urllib.parse
from pathlib import Path

import cv2
import numpy as np

from common.core.files import atomic_write_text, encode_jpeg
from common.core.model_file import RUN_METRICS, resolve_model_path
from common.evaluation.aggregate import FAKE_VERDICT, REAL_VERDICT, UNKNOWN_VERDICT
from common.evaluation.figures import FIGURES
from common.inference.face_scoring import GRADCAM_COLUMN, THUMBNAIL_COLUMN
from common.inference.outputs import LABEL_COLUMN

log = logging.getLogger(__name__)

REPORT_NAME = "report.html"  # beside the predictions CSV when stage 05 writes one by default
TEMPLATE = Path(__file__).with_name("analyst_report.html")
DATA_MARK = "/*REPORT_DATA*/"  # where the template takes the JSON
STRIP_QUALITY = 60  # JPEG quality of a track's strip of crops: 530 bytes a 48 px face (bench/report_scale.py)
HISTOGRAM_BINS = 10


def default_report_path(output, video_count, settings, name=REPORT_NAME):
    """Where stage 05 writes the report when ``--report`` is not given: ``name`` (``report.html``) beside the
    predictions CSV ``output`` when fewer than ``predict.report_max_videos`` videos are scored, else None."""
    if video_count < settings["report_max_videos"]:
        return Path(output).with_name(name)
    return None


def model_facts(model_path, metadata, model_sha256):
    """What the report says of the model: its file and SHA-256, backbone, size, video window, training data
    and date from its metadata, and the test AUC of its run (frames and videos) when the run's
    ``metrics.json`` lies beside the model file."""
    path = resolve_model_path(model_path)
    facts = {
        "file": str(path),
        "sha256": model_sha256,
        "backbone": metadata.get("model", "?"),
        "image_size": metadata.get("image_size"),
        "window": metadata.get("window"),
        "trained_on": metadata.get("trained_on", ""),
        "created": metadata.get("created", ""),
        "test_auc": None,
    }
    metrics_path = path.parent / RUN_METRICS
    if metrics_path.is_file():
        try:
            metrics = json.loads(metrics_path.read_text())
            facts["test_auc"] = {
                "frames": metrics["frame_level"].get("auc"),
                "videos": metrics["video_level"].get("auc"),
                "videos_n": metrics["video_level"].get("n"),
            }
        except (ValueError, KeyError) as error:
            log.warning("%s: no test AUC for the report (%s)", metrics_path, error)
    return facts


def track_strip(thumbnails):
    """One JPEG data URI of base64 JPEG ``thumbnails`` (equal squares) side by side, or None when the
    crops were not kept."""
    if not len(thumbnails) or any(not thumbnail for thumbnail in thumbnails):
        return None
    crops = [
        cv2.imdecode(np.frombuffer(base64.b64decode(thumbnail), np.uint8), cv2.IMREAD_COLOR)
        for thumbnail in thumbnails
    ]
    strip = base64.b64encode(encode_jpeg(np.hstack(crops), STRIP_QUALITY)).decode("ascii")
    return f"data:image/jpeg;base64,{strip}"


def video_link(path, report_path):
    """The video file's URL relative to the report's folder, or None when there is no file."""
    if path is None or not Path(path).is_file():
        return None
    relative = os.path.relpath(Path(path).resolve(), Path(report_path).resolve().parent)
    return urllib.parse.quote(Path(relative).as_posix())


def _text(value):
    """A CSV text cell as a string: "" for a missing one (None, NaN)."""
    return value if isinstance(value, str) else ""


def _round(value, digits=4):
    return None if value is None or value != value else round(float(value), digits)


def video_tracks(faces, tracks, fps):
    """The ``tracks`` entries of one video from its face scores and its rows of the track table (verdict and
    mean P(fake) by the settings' rule): each track with each face (frame index, time in seconds, P(fake),
    Grad-CAM overlay when made) in time order."""
    if not len(faces):
        return []
    summary = tracks.set_index("track_id")
    tracks = []
    for track_id, part in faces.sort_values(["frame_index"], kind="stable").groupby("track_id", sort=True):
        row = summary.loc[track_id]
        entries = []
        for face in part.itertuples():
            entry = {
                "frame": int(face.frame_index),
                "t": round(face.frame_index / fps, 2) if fps else None,
                "p": _round(face.p_fake),
            }
            if getattr(face, GRADCAM_COLUMN, ""):
                entry["gradcam"] = f"data:image/jpeg;base64,{getattr(face, GRADCAM_COLUMN)}"
            entries.append(entry)
        thumbnails = list(part[THUMBNAIL_COLUMN]) if THUMBNAIL_COLUMN in part else []
        tracks.append(
            {
                "id": int(track_id),
                "verdict": row["verdict"],
                "p": _round(row["fake_probability"]),
                "frames": int(row["frames"]),
                "strip": track_strip(thumbnails),
                "faces": entries,
            }
        )
    return tracks


def labelled_figures(predictions, metrics):
    """With labels: the ROC points of the videos with a verdict and a label, the video-level confusion
    matrix, the number of videos and the figures of ``metrics`` (stage 05's ``predictions_metrics.json``)
    named by ``common.evaluation.figures.FIGURES``, each with its label and its video and frame values (the
    page shows the labels as given); None without."""
    if metrics is None or LABEL_COLUMN not in predictions:
        return None
    from sklearn.metrics import roc_curve

    decided = predictions[(predictions[LABEL_COLUMN] != "") & (predictions["verdict"] != UNKNOWN_VERDICT)]
    truth = decided[LABEL_COLUMN] == FAKE_VERDICT
    roc = None
    if truth.nunique() == 2:
        fpr, tpr, _ = roc_curve(truth, decided["fake_probability"])
        roc = [[_round(x), _round(y)] for x, y in zip(fpr, tpr)]
    level = metrics["video_level"]
    return {
        "roc": roc,
        "confusion": level["confusion_matrix"],
        "n": level["n"],
        # report.md's figures, in its order, with their labels: the page shows these, the label as given
        "figures": [
            {
                "key": figure.key,
                "label": figure.label,
                "videos": _round(level.get(figure.key)),
                "frames": _round(metrics["frame_level"].get(figure.key)),
            }
            for figure in FIGURES
            if figure.key != "n"  # the videos counted in a line of their own
        ],
        "left_out": {
            "unknown": level.get("unknown_left_out", 0),
            "unlabelled": level.get("unlabelled_left_out", 0),
        },
    }


def report_data(
    predictions, faces, tracks, reasons, settings, model, paths, report_path, metrics=None, source=""
):
    """The JSON document the page is built from.

    ``predictions``: stage 05's rows (``PREDICTION_COLUMNS``, ``fps``, ``label`` when known); ``faces``: its
    face scores (``FACE_COLUMNS``, with ``thumbnail`` and ``gradcam`` when kept); ``tracks``: their track
    table (``common.evaluation.aggregate.track_table``); ``reasons``: why each video needs review
    (``common.evaluation.review.review_reasons``); ``settings``: the ``predict`` section; ``model``:
    ``model_facts``; ``paths``: ``{video name: file path}`` for the links; ``metrics``: the labelled figures
    of ``report_predictions`` or None; ``source``: what was scored.
    One entry per video in ``videos``, each with one entry per face track, each with one per face.
    """
    by_video = dict(tuple(faces.groupby("video", sort=False))) if len(faces) else {}
    tracks_by_video = dict(tuple(tracks.groupby("video", sort=False))) if len(tracks) else {}
    videos = []
    for index, row in enumerate(predictions.to_dict("records")):
        name = row["video"]
        video_faces = by_video.get(name, faces.iloc[:0])
        videos.append(
            {
                "id": index,
                "name": name,
                "href": video_link(paths.get(name), report_path),
                "verdict": row["verdict"],
                "p": _round(row["fake_probability"]),
                "label": _text(row.get(LABEL_COLUMN)),
                "frames_sampled": int(row["frames_sampled"]),
                "frames_scored": int(video_faces["frame_index"].nunique()),
                "faces": int(row["faces_scored"]),
                "error": _text(row["error"]),
                "review": reasons[name],
                "sha256": _text(row.get("sha256")),
                "size": int(row.get("size_bytes") or 0)
                if row.get("size_bytes") == row.get("size_bytes")
                else 0,
                "tracks": video_tracks(
                    video_faces, tracks_by_video.get(name, tracks.iloc[:0]), row.get("fps") or 0
                ),
            }
        )
    decided = predictions[predictions["verdict"] != UNKNOWN_VERDICT]["fake_probability"]
    histogram, _ = np.histogram(decided, bins=HISTOGRAM_BINS, range=(0, 1))
    return {
        "title": f"deepfake-detect report: {source}" if source else "deepfake-detect report",
        "generated": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "source": source,
        "model": model,
        "settings": {
            **{
                key: settings[key]
                for key in ("frames", "aggregate", "threshold", "review_band", "review_min_frames")
            },
            "thumbnail": settings["report_thumbnail"],
        },
        "counts": {
            verdict: int((predictions["verdict"] == verdict).sum())
            for verdict in (FAKE_VERDICT, REAL_VERDICT, UNKNOWN_VERDICT)
        },
        "review_count": sum(1 for found in reasons.values() if found),
        "histogram": [int(count) for count in histogram],
        "labelled": labelled_figures(predictions, metrics),
        "videos": videos,
    }


def render(data):
    """The HTML text of the page for ``data`` (``report_data``)."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    text = text.replace("<", "\\u003c")  # nothing in the data can close the script element
    template = TEMPLATE.read_text(encoding="utf-8")
    return template.replace(DATA_MARK, text, 1).replace("{{TITLE}}", _escape(data["title"]), 1)


def _escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_report(path, data):
    """Write the page for ``data`` to ``path`` (atomically); return the path."""
    atomic_write_text(path, render(data))
    return Path(path)
