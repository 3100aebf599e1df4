"""Scoring one video's faces: P(fake) of every face crop, handed to ``common.evaluation.aggregate`` (most fake
face per frame, tracks, frames to a verdict), the path stage 04 evaluates its test split by, and what the HTML
report keeps of each face. Scores are P(fake). TensorFlow is imported only when the first face is scored, so
bad arguments fail fast."""

import base64
import logging

import cv2
import numpy as np
import pandas as pd

from common.core.errors import VideoError
from common.core.files import (
    encode_jpeg,
)
from common.evaluation.aggregate import (
    NO_FACE_ERROR,
    UNKNOWN_VERDICT,
    scoring,
    video_scores,
)
from common.inference.frames_and_faces import faces_or_error
from common.models.methods import method_for

log = logging.getLogger(__name__)

FACE_COLUMNS = ["video", "frame_index", "track_id", "p_fake"]  # what scoring gives, one row per face crop


# What stage 05 keeps of each face for its HTML report when the predict settings ask for it: a small JPEG of
# the crop (base64), and for the most fake faces of an image model a Grad-CAM overlay (base64 JPEG, else "").
KEEP_THUMBNAILS, GRADCAM_FACES = "keep_thumbnails", "gradcam_faces"  # keys of the settings (not the config)


PERTURB = "perturb"  # settings key too: {"name", "level", "seed"} of stage 05 --perturb, or absent


THUMBNAIL_COLUMN, GRADCAM_COLUMN = "thumbnail", "gradcam"


THUMBNAIL_QUALITY = 90  # the report re-encodes them, a track to one image


def unknown_row(name, error, frames_sampled=0):
    """The row of a video that got no verdict: UNKNOWN, P(fake) 0.5, and the reason."""
    return {
        "video": name,
        "verdict": UNKNOWN_VERDICT,
        "fake_probability": 0.5,
        "fake_frame_share": 0.0,
        "frames_sampled": frames_sampled,
        "faces_scored": 0,
        "tracks": 0,
        "error": error,
    }


def score_video(path, model, detector, metadata, settings, name=None):
    """Score one video; return its row (``PREDICTION_COLUMNS``) and its face scores (``FACE_COLUMNS``).

    ``settings`` is the config's ``predict`` section (frames, aggregate, threshold, batch_size). A video
    that cannot be read, or in which no face is found, gets verdict UNKNOWN, probability 0.5 and the reason
    in ``error``; a ``VideoError`` is turned into such a row, other exceptions propagate.
    """
    name = str(path) if name is None else name
    return score_faces(
        name,
        faces_or_error(path, detector, metadata, settings["frames"], settings.get(PERTURB)),
        model,
        metadata,
        settings,
    )


def score_faces(name, found, model, metadata, settings):
    """``score_video`` from the faces found (``faces_or_error``): a ``VideoError`` or no face gives an
    UNKNOWN row, another exception is raised."""
    no_faces = pd.DataFrame(columns=FACE_COLUMNS)
    if isinstance(found, VideoError):
        return unknown_row(name, str(found)), no_faces
    if isinstance(found, Exception):
        raise found
    sampled, frame_indices, track_ids, crops = found
    if not crops:
        return unknown_row(name, f"{NO_FACE_ERROR} in {sampled} frames", sampled), no_faces
    p_fake = method_for(metadata["model"]).score_faces(
        model, crops, track_ids, frame_indices, metadata, settings["batch_size"]
    )
    faces = pd.DataFrame(
        {"video": name, "frame_index": frame_indices, "track_id": track_ids, "p_fake": p_fake}
    )
    if settings.get(KEEP_THUMBNAILS):
        faces = faces.assign(**report_faces(crops, p_fake, model, metadata, settings))
    (video,) = video_scores(faces, **scoring(settings)).to_dict("records")
    row = {
        **unknown_row(name, ""),
        "verdict": video["verdict"],
        "frames_sampled": sampled,
        "fake_probability": round(video["fake_probability"], 6),
        "fake_frame_share": round(video["fake_frame_share"], 6),
        "faces_scored": len(crops),
        "tracks": video["tracks"],
    }
    return row, faces


def base64_jpeg(image_bgr, quality=THUMBNAIL_QUALITY):
    return base64.b64encode(encode_jpeg(image_bgr, quality)).decode("ascii")


def report_faces(crops, p_fake, model, metadata, settings):
    """The columns the report shows of each face: ``thumbnail``, the crop shrunk to ``report_thumbnail``
    px square, and ``gradcam``, the Grad-CAM heatmap of P(fake) over the ``GRADCAM_FACES`` most fake crops
    (``common.evaluation.explain``; image models only, a backward pass each), "" for the others."""
    size = settings["report_thumbnail"]
    columns = {
        THUMBNAIL_COLUMN: [
            base64_jpeg(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)) for crop in crops
        ]
    }
    top = settings.get(GRADCAM_FACES, 0)
    if top and method_for(metadata["model"]).gradcam:
        from common.data.pipeline import prepare_crops
        from common.evaluation.explain import gradcam

        chosen = np.argsort(-np.asarray(p_fake), kind="stable")[:top]
        images = prepare_crops(
            [crops[i] for i in chosen], metadata["image_size"], metadata["preprocess"]["jpeg_quality"]
        )
        heatmaps, _ = gradcam(model, images)
        overlays = [""] * len(crops)
        for index, image, heatmap in zip(chosen, images, heatmaps):
            colours = cv2.applyColorMap(np.uint8(255 * heatmap), cv2.COLORMAP_VIRIDIS)  # colour-blind safe
            face = cv2.cvtColor(image.astype(np.uint8), cv2.COLOR_RGB2BGR)
            overlays[index] = base64_jpeg(cv2.addWeighted(face, 0.55, colours, 0.45, 0), 85)
        columns[GRADCAM_COLUMN] = overlays
    return columns


class FaceScores:
    """The face scores (``FACE_COLUMNS``) of many videos, held as one small array per column and video
    until ``table()``: a DataFrame per video would cost about 7 KB (100,000 videos: 0.7 GB)."""

    def __init__(self):
        self.names, self.counts = [], []
        self.columns = {column: [] for column in FACE_COLUMNS[1:]}

    def add(self, name, faces):
        if not len(faces):
            return
        for column in faces.columns.difference(FACE_COLUMNS):  # the report's columns, when kept
            self.columns.setdefault(column, [np.full(count, "", dtype=object) for count in self.counts])
        self.names.append(name)
        self.counts.append(len(faces))
        for column, arrays in self.columns.items():
            arrays.append(
                faces[column].to_numpy() if column in faces else np.full(len(faces), "", dtype=object)
            )

    def table(self):
        if not self.names:
            return pd.DataFrame(columns=FACE_COLUMNS)
        videos = np.repeat(np.array(self.names, dtype=object), self.counts)
        return pd.DataFrame(
            {"video": videos, **{column: np.concatenate(arrays) for column, arrays in self.columns.items()}}
        )
