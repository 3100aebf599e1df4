"""The frames and faces stage 05 scores of a video: frames sampled as the model's training frames were (or
evenly spaced), resized as stage 01 did, faces cropped with the ``preprocess`` settings stored in the model
file, so the model sees crops made exactly as its training crops were.

With ``workers`` > 1, that many threads decode upcoming videos and detect their faces, each with its own
detector (``DetectorPool``), in the videos' order (``faces_in_order``)."""

import collections
import concurrent.futures
import itertools
import logging
import queue
from pathlib import Path

from common.core.config import DEFAULTS
from common.core.errors import VideoError
from common.core.files import (
    jpeg_round_trip,
)
from common.faces.detection import DETECT_CHUNK, faces_with_tracks
from common.io.perturbations import perturb_indexed_bgr
from common.io.video import pick_frames, prefetched, scaled_frames

log = logging.getLogger(__name__)


def sampling(metadata, frames):
    """The ``video`` settings stage 05 samples a video's frames by (``common.io.video.pick_frames``): the model's
    training frames' (stage 01's, kept in the model file) when ``frames`` is 0, else ``frames`` evenly
    spaced. A model file saved before a key of that section existed gets the value stage 01 then used: no
    ``sampling`` was ``fps``; no ``video`` section at all, stage 01's defaults."""
    video = {**DEFAULTS["video"], "sampling": "fps", **metadata.get("video", {})}
    return {**video, "sampling": "frames", "frames": frames} if frames else video


def video_frames(path, video, jpeg_quality=None, resize="width_rule"):
    """The frames of a video that the sampling rule of the ``video`` settings picks (``sampling``), as stage
    01 makes them: an iterator of ``(frame_index, frame_bgr)`` that decodes as it goes, frames resized by
    ``resize`` (stage 01's ``video.resize``) and passed through JPEG at ``jpeg_quality`` (stage 01's saved
    frames) when given. Undecodable frames are left out, with one warning naming the file (a truncated file
    reports more frames than it holds). ``VideoError`` at once if the file is no video."""
    picked = []

    def pick(info):
        picked.extend(pick_frames(info, video))
        return picked

    info, _, sampled = scaled_frames(path, pick, resize)

    def decoded():
        missing = []
        for index, frame in sampled:
            if frame is None:
                missing.append(index)
                continue
            yield index, frame if jpeg_quality is None else jpeg_round_trip(frame, jpeg_quality)
        if missing:
            log.warning(
                "%s: %d of the %d sampled frames could not be decoded, the first at frame %d, though the file "
                "reports %d frames (truncated?); scoring the others",
                path,
                len(missing),
                len(picked),
                missing[0],
                info.frame_count,
            )

    return decoded()


def video_faces(path, detector, metadata, frames, perturb=None):
    """Sample a video's frames (``sampling``: as the model's training frames were, or ``frames`` evenly
    spaced) and crop its faces with the model's ``preprocess`` settings. Frames are decoded in a background
    thread while faces are detected in those already decoded.

    Returns ``(frames_sampled, frame_indices, track_ids, crops)``: ``frame_indices[i]`` is the index in the
    video of the frame that face crop ``crops[i]`` (BGR) comes from, ``track_ids[i]`` its face track
    (``common.faces.tracks.link_tracks``). ``VideoError`` if the file is no video or no frame decodes.
    ``perturb`` (``PERTURB``): the sampled frames are perturbed before detection
    (``common.io.perturbations.perturb_indexed_bgr``).
    """
    video = metadata.get("video", {})  # stage 01's settings; models trained before video.resize: width rule
    sampled = video_frames(
        path, sampling(metadata, frames), video.get("jpeg_quality"), video.get("resize", "width_rule")
    )
    if perturb:
        sampled = perturb_indexed_bgr(
            sampled, perturb["name"], perturb["level"], perturb["seed"], Path(path).name
        )
    indices = []

    def frames_in_order():
        for index, frame in prefetched(sampled, DETECT_CHUNK):
            indices.append(index)
            yield frame

    detections, tracks = faces_with_tracks(frames_in_order(), detector, metadata["preprocess"])
    if not indices:
        raise VideoError("no frame could be decoded")
    frame_indices, track_ids, crops = [], [], []
    for index, faces, ids in zip(indices, detections, tracks):
        for (_face, crop), track in zip(faces, ids):
            frame_indices.append(index)
            track_ids.append(track)
            crops.append(crop)
    return len(indices), frame_indices, track_ids, crops


def faces_or_error(path, detector, metadata, frames, perturb=None):
    """What ``video_faces`` returns, or the exception it raised: a detection thread hands either back."""
    try:
        return video_faces(path, detector, metadata, frames, perturb)
    except Exception as error:
        return error


class DetectorPool:
    """Several detectors behind the ``FaceDetector`` interface for threads that detect at once: each call
    borrows one that no other thread is using (a LiteRT interpreter, BlazeFace's, must not run in two
    threads at once; MTCNN's Keras networks are not promised to either)."""

    def __init__(self, detectors):
        self._free = queue.SimpleQueue()
        for detector in detectors:
            self._free.put(detector)

    def detect(self, frames_rgb):
        detector = self._free.get()
        try:
            return detector.detect(frames_rgb)
        finally:
            self._free.put(detector)


def faces_in_order(videos, detector, metadata, frames, workers=1, perturb=None):
    """``(name, faces_or_error)`` for each ``(name, path)`` of ``videos``, in their order.

    With ``workers`` > 1, that many threads decode and detect the next videos while the caller uses the
    current one (OpenCV, PyAV, TensorFlow and LiteRT run without the GIL); at most ``workers`` videos are
    under way or waiting, so memory does not grow with the number of videos. ``detector`` is called from
    that many threads at once (``DetectorPool``). Closing the iterator cancels the videos not started and
    waits for those under way."""
    if workers <= 1:
        for name, path in videos:
            yield name, faces_or_error(path, detector, metadata, frames, perturb)
        return
    videos = iter(videos)
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="faces") as pool:
        ahead = collections.deque()
        try:
            while True:
                for name, path in itertools.islice(videos, workers - len(ahead)):
                    ahead.append(
                        (name, pool.submit(faces_or_error, path, detector, metadata, frames, perturb))
                    )
                if not ahead:
                    return
                name, future = ahead.popleft()
                yield name, future.result()
        finally:
            for _, future in ahead:
                future.cancel()
