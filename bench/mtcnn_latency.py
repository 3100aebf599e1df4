#!/usr/bin/env python3
"""Face detectors alone: milliseconds a frame at each batch size, each detector in a fresh process. Run by
hand:

    python bench/mtcnn_latency.py --frames FOLDER --detectors mtcnn mtcnn_package --batch 1 16
    python bench/mtcnn_latency.py --frames FOLDER --detectors mtcnn --profile 16

``FOLDER`` holds JPEG frames (stage 01's output folder, say); the first ``--count`` (sorted by path) are
shrunk to ``preprocess.detect_max_width`` as stages 02 and 05 shrink them. In each detector's process:
``start-up`` is its imports and building the detector, ``first`` its first call (LiteRT interpreters are
made for each input size met; TensorFlow traces), then for each batch size every frame is detected
``--repeat`` times over and the best pass is reported (the least disturbed by other load on a shared
machine), as wall milliseconds a frame and as CPU milliseconds a frame (the process's CPU time, all its
threads). ``--profile B`` prints where the time of one pass at batch B goes (cProfile, by own time).
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_frames(folder, count, max_width):
    """The first ``count`` JPEG frames under ``folder``, RGB, shrunk for detection as stage 02 does."""
    import cv2

    from common.faces.detection import detection_scale
    from common.io.video import resize_frame

    frames = []
    for path in sorted(Path(folder).rglob("*.jpg"))[:count]:
        frame = cv2.imread(str(path))
        frames.append(
            cv2.cvtColor(resize_frame(frame, detection_scale(frame.shape, max_width)), cv2.COLOR_BGR2RGB)
        )
    return frames


def one_pass(detector, frames, batch):
    """Wall and CPU seconds to detect every frame, ``batch`` frames a call; and the faces found."""
    wall, cpu = time.perf_counter(), time.process_time()
    found = 0
    for start in range(0, len(frames), batch):
        found += sum(map(len, detector.detect(frames[start : start + batch])))
    return time.perf_counter() - wall, time.process_time() - cpu, found


def measure(args):
    """In the detector's own process: prints one JSON line of timings."""
    started = time.perf_counter()
    from common.core.config import DEFAULTS
    from common.faces.detection import build_detector

    preprocess = {**DEFAULTS["preprocess"], "detector": args.child}
    detector = build_detector(preprocess, args.threads or None)
    start_up = time.perf_counter() - started
    frames = load_frames(args.frames, args.count, preprocess["detect_max_width"])
    first = time.perf_counter()
    detector.detect(frames[: max(args.batch)])
    result = {"start_up": start_up, "first": time.perf_counter() - first, "frames": len(frames), "batch": {}}
    for batch in args.batch:
        passes = [one_pass(detector, frames, batch) for _ in range(args.repeat)]
        wall, cpu, faces = min(passes)
        result["batch"][batch] = {"wall_ms": 1000 * wall / len(frames), "cpu_ms": 1000 * cpu / len(frames)}
        result["faces"] = faces
    if args.profile:
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.runcall(one_pass, detector, frames, args.profile)
        pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(15)
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", required=True, help="folder of JPEG frames (searched recursively)")
    parser.add_argument("--count", type=int, default=64, help="frames used")
    parser.add_argument("--detectors", nargs="+", default=["mtcnn", "mtcnn_package"])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 16], help="frames per detect call")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the frames per batch size")
    parser.add_argument("--threads", type=int, default=0, help="detector threads; 0 = its default")
    parser.add_argument("--profile", type=int, default=0, help="profile one pass at this batch size")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return measure(args)
    print(
        f"{'detector':<14} {'start-up s':>10} {'first s':>8} {'batch':>5} {'wall ms/frame':>13} {'CPU ms/frame':>12}"
    )
    for name in args.detectors:
        command = [sys.executable, __file__, *sys.argv[1:], "--child", name]
        finished = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        if finished.returncode:
            sys.exit(f"{name} failed")
        result = json.loads(finished.stdout.splitlines()[-1])
        for batch, times in result["batch"].items():
            print(
                f"{name:<14} {result['start_up']:>10.2f} {result['first']:>8.2f} {batch:>5} "
                f"{times['wall_ms']:>13.1f} {times['cpu_ms']:>12.1f}"
            )
        print(f"{'':<14} {result['faces']} faces in {result['frames']} frames")


if __name__ == "__main__":
    main()
