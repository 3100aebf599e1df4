#!/usr/bin/env python3
"""Stage 05's seconds per video with EfficientNet-B0 (128 px, 32 frames, MTCNN), model loading apart.
Run by hand:

    python bench/predict_speed.py --input ../shared/data/dfdc_samples --copies 3

The network gets random weights (``--weights none``): speed does not depend on what it learned. Each clip
is scored ``--copies`` times, so the first video (which warms MTCNN up) and the steady state show apart.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--input", required=True, help="folder of videos")
    parser.add_argument("--copies", type=int, default=3, help="times each video is scored")
    parser.add_argument("--model", default="efficientnet_b0")
    parser.add_argument("--frames", type=int, default=32)
    args = parser.parse_args()

    from common import predict
    from common.checkpoint import save_model
    from common.config import DEFAULTS
    from common.models import build_model

    videos = predict.find_videos(args.input)  # the files stage 05 would score
    with tempfile.TemporaryDirectory() as work:
        model_file = Path(work) / "model.keras"
        image_size = DEFAULTS["train"]["image_size"]
        metadata = {"model": args.model, "image_size": image_size}
        metadata |= {"preprocess": DEFAULTS["preprocess"], "video": DEFAULTS["video"]}
        save_model(build_model(args.model, image_size, "none"), model_file, metadata)
        started = time.perf_counter()
        model, metadata, detector = predict.load_scorer(model_file, DEFAULTS, False)
        loading = time.perf_counter() - started
    settings = {**DEFAULTS["predict"], "frames": args.frames}
    batch = [(f"{name}#{copy}", path) for copy in range(args.copies) for name, path in videos]
    predictions, _ = predict.predict_videos(batch, model, detector, metadata, settings)
    seconds = predictions["seconds"].tolist()
    print(
        f"model loading ({args.model} file, MTCNN build, first trace; TensorFlow already imported): {loading:.1f} s"
    )
    print(
        predictions[["video", "verdict", "frames_sampled", "faces_scored", "seconds"]].to_string(index=False)
    )
    print(
        f"{len(seconds)} videos, {args.frames} frames each: {statistics.mean(seconds):.2f} s per video "
        f"(first {seconds[0]:.2f} s, then mean {statistics.mean(seconds[1:] or seconds):.2f} s, "
        f"max {max(seconds[1:] or seconds):.2f} s)"
    )


if __name__ == "__main__":
    main()
