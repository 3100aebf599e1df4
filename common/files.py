"""Atomic writes: a file appears under its final name complete, or not at all."""

import contextlib
import os
import socket
from pathlib import Path

import cv2
import numpy as np


@contextlib.contextmanager
def atomic_path(target):
    """Yield a temporary path next to ``target``; rename it onto ``target`` if the block succeeds.

    The temporary name keeps every suffix (writers choose the format from them: ``.jpg``, ``.weights.h5``)
    and starts with a dot, so listings that skip hidden files never see it. It names the host and the process,
    so shards on machines sharing one folder never write to the same temporary file.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    base, dot, suffixes = target.name.partition(".")
    temporary = target.with_name(f".{base}.{socket.gethostname()}.{os.getpid()}.tmp{dot}{suffixes}")
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        if temporary.exists():
            temporary.unlink()


def atomic_write_bytes(target, data):
    with atomic_path(target) as temporary:
        temporary.write_bytes(data)


def atomic_write_text(target, text):
    atomic_write_bytes(target, text.encode("utf-8"))


def atomic_write_csv(target, frame):
    """Write a pandas DataFrame as CSV without its index."""
    with atomic_path(target) as temporary:
        frame.to_csv(temporary, index=False)


def encode_jpeg(image_bgr, quality):
    """The JPEG bytes of a BGR image at ``quality``: the one encoder of saved frames and crops, and of
    stage 05's crops before they are decoded as stage 04 decodes its files."""
    ok, encoded = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"could not encode an image of shape {image_bgr.shape} as JPEG")
    return encoded.tobytes()


def write_jpeg(target, image_bgr, quality):
    """Encode a BGR image as JPEG and write it atomically."""
    atomic_write_bytes(target, encode_jpeg(image_bgr, quality))


def jpeg_round_trip(image_bgr, quality):
    """A frame as stage 02 reads it back (OpenCV) after stage 01 saved it as JPEG at ``quality``."""
    return cv2.imdecode(np.frombuffer(encode_jpeg(image_bgr, quality), np.uint8), cv2.IMREAD_COLOR)


def safe_name(video_id):
    """A file-system name for a video id, which may contain '/' (ids are relative paths for some datasets).
    Distinct ids give distinct names ('real/x__y' and 'real/x/y' once shared one): '%', '/' and '\\' are
    percent-encoded."""
    return video_id.replace("%", "%25").replace("/", "%2F").replace("\\", "%5C")
