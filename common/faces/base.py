"""What every face detector shares: the ``Face`` it reports, the ``FaceDetector`` interface, the admission
floor it reports down to, and the ``DETECTORS`` registry (``preprocess.detector``).

A detector module (``common.faces.mtcnn_litert``, ``common.faces.blazeface``) imports this one and nothing
else of ``common.faces``; ``common.faces.detection`` registers the detectors and runs them over frames.
"""

import dataclasses
from typing import Protocol

from common.core.config import register_choices
from common.core.registry import Registry


@dataclasses.dataclass(frozen=True)
class Face:
    box: tuple  # x, y, width, height in pixels of the frame
    confidence: float
    admitted_by: str = ""  # the rule of ADMISSION that kept it; "" = not decided yet


# Which detections become face crops (preprocess section), in this order:
# - "confidence": confidence >= min_confidence (0.95), whatever else the frame holds;
# - "lone_face": the only detection of its frame at confidence >= lone_face_min_confidence. MTCNN gives a
#   plainly visible but dim or small face 0.80-0.97 (the DFDC clip abofeumbvv), while in frames with several
#   such detections the low ones are the doubtful ones, so the lower floor applies to a lone detection only;
# - "track": a detection at confidence >= track_min_confidence that continues a face track (common.faces.tracks)
#   holding a face admitted by the two rules above: the same face, seen at the same place in neighbouring
#   frames. In the dim clip a third of the frames score the face 0.69-0.80 only, always where the confident
#   frames put it. A track of weak detections alone admits nothing, so a faceless clip stays faceless.
ADMISSION = ("confidence", "lone_face", "track")


def describe_admission(preprocess):
    """The ``ADMISSION`` rules of the ``preprocess`` settings in words (report.md)."""
    text = f"confidence >= {preprocess['min_confidence']}"
    if "lone_face_min_confidence" in preprocess:  # a run saved before the lone-face and track rules had one
        text += (
            f", or >= {preprocess['lone_face_min_confidence']} as a frame's only detection, or "
            f">= {preprocess['track_min_confidence']} continuing the track of a face kept"
        )
    return text


def lowest_floor(preprocess):
    """The lowest confidence any ``ADMISSION`` rule admits: detectors report down to it."""
    return min(
        preprocess[key] for key in ("min_confidence", "lone_face_min_confidence", "track_min_confidence")
    )


class FaceDetector(Protocol):
    def detect(self, frames_rgb):
        """Return, for each RGB frame, the list of ``Face``s found in it."""


# name -> class built with the ``preprocess`` config section and a thread count: cls(preprocess, threads);
# heavy imports in __init__
DETECTORS = Registry("face detector", "preprocess.detector", "common.faces.base.DETECTORS")
register_choices("preprocess.detector", DETECTORS.names)
