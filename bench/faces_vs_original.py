#!/usr/bin/env python3
"""Stage 02 against the original DeepFake-Detect's way of cropping faces, on the same frames, in one run.

The original way, rebuilt here from its description: for every frame image a new MTCNN is built, it
detects on the whole frame, a frame's only detection is kept at any confidence (else those above 0.95),
and each face is cut with a 30 % margin and saved as PNG. Stage 02 runs as users run it. Each side runs in a
fresh Python process and is timed from its start, so start-up (TensorFlow's, where it is loaded) counts
for both. Run by hand:

    python bench/faces_vs_original.py --input ../shared/data/dfdc_samples --dataset dfdc --fps 5
    python bench/faces_vs_original.py ... --workers 2    # flags it does not know go to stage 02
    python bench/faces_vs_original.py ... --fps 1 --copies 4 --detectors mtcnn mtcnn_package

``--copies N`` makes each video N videos for both sides (stage 01's manifest rows repeated under the ids
``<video>_copy1`` ...: the same frames, detected again, as copies of the files would give);
``--detectors`` runs stage 02 once with each ``preprocess.detector`` or config file (after the original, in
the same run): ``--detectors mtcnn mtcnn_package configs/blazeface.yaml``.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.core.files import atomic_write_csv, atomic_write_text  # noqa: E402


def original_crops(frames_dir, output):
    """The original way over stage 01's frames; prints the faces kept per video as JSON."""
    import cv2
    import pandas as pd
    from mtcnn import MTCNN

    from common.faces.detection import crop_with_margin

    frames = pd.read_csv(Path(frames_dir) / "manifest.csv", keep_default_na=False)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    kept = {}
    for number, row in enumerate(frames.itertuples()):
        image = cv2.imread(str(Path(frames_dir) / row.path))
        detections = MTCNN().detect_faces(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        if len(detections) > 1:
            detections = [face for face in detections if face["confidence"] > 0.95]
        for index, face in enumerate(detections):
            x0, y0, x1, y1 = crop_with_margin(face["box"], image.shape, 0.3)
            cv2.imwrite(str(output / f"{number:06d}_{index}.png"), image[y0:y1, x0:x1])
        kept.setdefault(row.video_id, []).append(len(detections))
    print(json.dumps(kept))


def copy_videos(manifest_path, copies):
    """Stage 01's manifest with each video's rows ``copies`` times, the copies as ``<video>_copy<k>``."""
    import pandas as pd

    manifest = pd.read_csv(manifest_path, keep_default_na=False)
    repeated = [manifest] + [
        manifest.assign(video_id=manifest["video_id"] + f"_copy{number}") for number in range(1, copies)
    ]
    atomic_write_csv(manifest_path, pd.concat(repeated, ignore_index=True))


def timed_run(command):
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode:
        sys.exit(f"failed: {' '.join(command)}\n{result.stderr[-2000:]}")
    return result.stdout, seconds


def report(name, faces_per_frame, seconds, baseline=None):
    """One line: faces, frames with a face per video, seconds, faces/s and the ratio to ``baseline``."""
    faces = sum(sum(counts) for counts in faces_per_frame.values())
    covered = ", ".join(
        f"{video} {sum(1 for n in counts if n)}/{len(counts)}" for video, counts in faces_per_frame.items()
    )
    rate = faces / seconds
    ratio = f", {rate / baseline:.1f}x the original's faces/s" if baseline else ""
    print(
        f"{name}: {faces} faces in {seconds:.1f} s = {rate:.2f} faces/s{ratio} (frames with a face: {covered})"
    )
    return rate


def main():
    if sys.argv[1:2] == ["--original"]:
        return original_crops(*sys.argv[2:4])
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--input", required=True, help="folder of videos")
    parser.add_argument("--dataset", default="folder", help="dataset adapter of stage 01")
    parser.add_argument("--fps", default="5", help="frames sampled per second of video")
    parser.add_argument("--copies", type=int, default=1, help="times each video is counted (its frames)")
    parser.add_argument(
        "--detectors", nargs="+", default=[""], help="stage 02 runs, one per detector name or YAML config"
    )
    args, stage02_flags = parser.parse_known_args()

    import pandas as pd

    from common.stages import extract_frames

    with tempfile.TemporaryDirectory() as work:
        frames = Path(work) / "frames"
        extract_frames.main(
            ["--input", args.input, "--output", str(frames), "--dataset", args.dataset, "--fps", args.fps]
        )
        if args.copies > 1:
            copy_videos(frames / "manifest.csv", args.copies)
        count = len(pd.read_csv(frames / "manifest.csv"))
        print(f"{count} frames from stage 01 ({args.input}, {args.fps} frames/s, {args.copies} copies)")
        stdout, seconds = timed_run([sys.executable, __file__, "--original", str(frames), f"{work}/original"])
        baseline = report("original (MTCNN per frame, PNG)", json.loads(stdout.splitlines()[-1]), seconds)
        for detector in args.detectors:
            faces = Path(work) / f"faces_{Path(detector).stem}"
            flags = list(stage02_flags)
            if detector.endswith(".yaml"):
                flags += ["--config", str(Path(detector).resolve())]
            elif detector:
                config = Path(work) / f"{detector}.yaml"
                atomic_write_text(config, f"preprocess:\n  detector: {detector}\n")
                flags += ["--config", str(config)]
            script = str(ROOT / "02-crop-faces-with-mtcnn.py")
            _, seconds = timed_run(
                [sys.executable, script, "--input", str(frames), "--output", str(faces), *flags]
            )
            manifest = pd.read_csv(faces / "manifest.csv", keep_default_na=False)
            skipped = faces / "skipped_frames.csv"
            rows = pd.concat(
                [manifest, pd.read_csv(skipped, keep_default_na=False)] if skipped.is_file() else [manifest]
            )
            per_frame = (
                rows.assign(face=rows["path"] != "").groupby(["video_id", "frame_index"])["face"].sum()
            )
            kept = {video: list(counts) for video, counts in per_frame.groupby(level=0)}
            report(f"stage 02 {' '.join(flags)}".rstrip(), kept, seconds, baseline)


if __name__ == "__main__":
    main()
