"""Atomic writes: a file appears under its final name complete, or not at all."""

import contextlib
import os
from pathlib import Path

import cv2


@contextlib.contextmanager
def atomic_path(target):
    """Yield a temporary path next to ``target``; rename it onto ``target`` if the block succeeds.

    The temporary name keeps every suffix (writers choose the format from them: ``.jpg``, ``.weights.h5``)
    and starts with a dot, so listings that skip hidden files never see it.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    base, dot, suffixes = target.name.partition(".")
    temporary = target.with_name(f".{base}.{os.getpid()}.tmp{dot}{suffixes}")
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


def write_jpeg(target, image_bgr, quality):
    """Encode a BGR image as JPEG and write it atomically."""
    ok, encoded = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"could not encode {target} as JPEG")
    atomic_write_bytes(target, encoded.tobytes())


def jpeg_round_trip(image_bgr, quality):
    """The image as it reads back after saving it as JPEG at ``quality`` (what a saved frame or crop is)."""
    ok, encoded = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR) if ok else image_bgr


def safe_name(video_id):
    """A file-system name for a video id that may contain '/' (ids are relative paths for some datasets)."""
    return video_id.replace("/", "__").replace("\\", "__")
