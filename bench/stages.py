#!/usr/bin/env python3
"""Throughput of stages 01 (frames/s) and 02 (faces/s) on a folder of videos. Run by hand:

python bench/stages.py --input demo_work/videos --dataset dfdc
python bench/stages.py --input ../shared/data/dfdc_samples --dataset dfdc --fps 5
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.stages import crop_faces, extract_frames  # noqa: E402


def timed(function, *args):
    started = time.perf_counter()
    code = function(*args)
    return code, time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--input", required=True, help="folder of videos")
    parser.add_argument("--dataset", default="folder", help="dataset adapter of stage 01")
    parser.add_argument("--fps", default="1", help="frames sampled per second of video")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        frames, faces = Path(work) / "frames", Path(work) / "faces"
        _, seconds01 = timed(
            extract_frames.main,
            ["--input", args.input, "--output", str(frames), "--dataset", args.dataset, "--fps", args.fps],
        )
        _, seconds02 = timed(crop_faces.main, ["--input", str(frames), "--output", str(faces)])
        frame_rows = pd.read_csv(frames / "manifest.csv")
        face_rows = pd.read_csv(faces / "manifest.csv")
        size = f"{frame_rows['width'].iloc[0]}x{frame_rows['height'].iloc[0]}"
    print(
        f"stage 01: {len(frame_rows)} frames of {frame_rows['video_id'].nunique()} videos in {seconds01:.1f} s "
        f"= {len(frame_rows) / seconds01:.1f} frames/s (saved at {size})"
    )
    print(
        f"stage 02: {len(face_rows)} faces from {len(frame_rows)} frames in {seconds02:.1f} s "
        f"= {len(face_rows) / seconds02:.1f} faces/s, {len(frame_rows) / seconds02:.1f} frames/s "
        f"(includes TensorFlow start-up and MTCNN build)"
    )


if __name__ == "__main__":
    main()
