#!/usr/bin/env python3
"""Sparse sampling of a long video: seeking (common.io.video.read_frames) against reading through (OpenCV
``grab``, the way stage 01 read before). Run by hand:

    python bench/long_video.py                      # a 10-minute 640x360 H.264 video, 32 frames
    python bench/long_video.py --minutes 60 --frames 32

Writes the video with PyAV's libx264 (a keyframe every 250 frames, x264's default) into a temporary folder,
checks that both ways return the same pixels and prints their times.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.io.video import Timeline, _read_frames_opencv, evenly_spaced


def write_long_video(path, frames, size=(640, 360), fps=30):
    """Moving noise-free content: a gradient that scrolls, and a bar that shows the frame number."""
    width, height = size
    base = np.add.outer(np.arange(height), np.arange(width)).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "g": "250"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            image = np.repeat(np.roll(base, index, axis=1)[..., None], 3, axis=2)
            image[: height // 8, : (index * 7) % width] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--frames", type=int, default=32, help="frames sampled evenly (stage 05 --frames 32)")
    args = parser.parse_args()
    total = round(args.minutes * 60 * 30)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        path = write_long_video(Path(folder) / "long.mp4", total)
        print(
            f"wrote {total} frames ({args.minutes:g} min at 30 fps) in {time.perf_counter() - started:.1f} s"
        )
        wanted = evenly_spaced(total, args.frames)
        started = time.perf_counter()
        timeline = Timeline.of(path)
        seeking = dict(timeline.read(wanted))
        seek_seconds = time.perf_counter() - started
        started = time.perf_counter()
        through = dict(_read_frames_opencv(path, wanted))
        through_seconds = time.perf_counter() - started
    same = all(np.array_equal(seeking[index], through[index]) for index in wanted)
    print(f"{args.frames} frames of {total}: same pixels both ways: {same}")
    print(f"  seeking (PyAV):        {seek_seconds:7.2f} s, {timeline.decoded} frames decoded")
    print(f"  reading through (cv2): {through_seconds:7.2f} s, {wanted[-1] + 1} frames decoded")
    print(f"  ratio: {through_seconds / seek_seconds:.1f}x")


if __name__ == "__main__":
    main()
