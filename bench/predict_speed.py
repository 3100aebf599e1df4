#!/usr/bin/env python3
"""Stage 05's videos per minute and peak memory for each ``--workers`` value, measured in the same run.
Run by hand:

    python bench/predict_speed.py --input ../shared/data/dfdc_samples --clips 50 --workers 1 2
    python bench/predict_speed.py --input ../shared/data/dfdc_samples --detector blazeface
    python bench/predict_speed.py --input ../shared/data/real_samples --clips 11 --workers 1 --decode-only

The folder's videos are repeated (symbolic links) until there are ``--clips`` of them. Each ``--workers``
value runs ``05-predict-video.py`` as users run it, in a fresh process started through ``bench/peak_rss.py``
(its peak RSS is its own), on an EfficientNet-B0 file with random weights (speed does not depend on what it
learned). ``scoring`` is the stage's own time from the first video to the last (its summary line), ``wall``
adds start-up (TensorFlow import, model load, detectors). ``--repeat`` alternates the runs that many times,
so that the load of a shared machine falls on each value alike. Each run's CSVs must equal the first's.
``--decode-only`` adds, in a fresh process, the time to decode the clips' sampled frames one after another
as stage 05 decodes them (same frames, size and JPEG round trip), without detecting or scoring: what
scoring costs beyond decoding.
"""

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.peak_rss import PEAK  # noqa: E402

OUTPUTS = ("predictions.csv", "predictions_frames.csv", "predictions_tracks.csv")


def repeated_clips(videos, count, folder):
    """``count`` symbolic links in ``folder`` to ``videos`` in turn (``clip007_<name>``)."""
    folder.mkdir(parents=True)
    for number in range(count):
        _, path = videos[number % len(videos)]
        (folder / f"clip{number:03d}_{path.name}").symlink_to(path.resolve())
    return folder


def save_random_model(path, model_name, detector):
    """A model file with random weights whose crop settings name ``detector`` (configs/blazeface.yaml for
    BlazeFace), since stage 05 detects with the model's settings."""
    from common.core.config import DEFAULTS, load_config
    from common.core.model_file import save_model
    from common.models.classifier import build_model

    config = load_config(ROOT / "configs" / "blazeface.yaml" if detector == "blazeface" else None)
    config["preprocess"]["detector"] = detector
    image_size = config["train"]["image_size"]
    metadata = {"model": model_name, "image_size": image_size}
    metadata |= {"preprocess": config["preprocess"], "video": DEFAULTS["video"]}
    save_model(build_model(model_name, image_size, "none"), path, metadata)
    return path


def run_stage(model_file, clips, output, workers, frames):
    """Run stage 05 once; return wall seconds, its scoring seconds, peak RSS (MiB) and its CSVs."""
    command = [sys.executable, str(ROOT / "bench" / "peak_rss.py"), sys.executable]
    command += [str(ROOT / "05-predict-video.py"), "--model", str(model_file), "--input", str(clips)]
    command += [
        "--output",
        str(output / "predictions.csv"),
        "--workers",
        str(workers),
        "--frames",
        str(frames),
    ]
    started = time.perf_counter()
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if finished.returncode != 0:
        sys.exit(f"stage 05 with --workers {workers} failed:\n{finished.stderr[-3000:]}")
    scoring = float(re.search(r"\d+ videos in ([\d.]+) s", finished.stdout).group(1))
    peak = int(finished.stdout.rsplit(PEAK, 1)[1]) / 1024
    return wall, scoring, peak, {name: (output / name).read_bytes() for name in OUTPUTS}


def decode_seconds(clips, frames):
    """Seconds to decode ``frames`` sampled frames of every clip in ``clips`` as stage 05 does for a model
    saved by ``save_random_model``, one clip after another, in a fresh process."""
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[1])\n"
        "from common.core.config import DEFAULTS\nfrom common.inference.videos_to_score import find_videos\n"
        "from common.inference.frames_and_faces import video_frames\n"
        "started = time.perf_counter()\n"
        "for _, path in find_videos(sys.argv[2]):\n"
        "    list(video_frames(path, int(sys.argv[3]), DEFAULTS['video']['jpeg_quality'], "
        "DEFAULTS['video']['resize']))\n"
        "print(time.perf_counter() - started)\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", code, str(ROOT), str(clips), str(frames)], capture_output=True, text=True
    )
    if finished.returncode != 0:
        sys.exit(f"decoding failed:\n{finished.stderr[-3000:]}")
    return float(finished.stdout.split()[-1])


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--input", required=True, help="folder of videos")
    parser.add_argument("--clips", type=int, default=50, help="videos scored per run")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="values compared")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each value, alternated")
    parser.add_argument("--model", default="efficientnet_b0")
    parser.add_argument("--detector", choices=("mtcnn", "mtcnn_package", "blazeface"), default="mtcnn")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--decode-only", action="store_true", help="also time decoding the sampled frames")
    args = parser.parse_args()

    from common.inference.videos_to_score import find_videos

    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        videos = find_videos(args.input)
        clips = repeated_clips(videos, args.clips, work / "clips")
        model_file = save_random_model(work / "model.keras", args.model, args.detector)
        results, reference = [], None
        for repeat in range(args.repeat):
            for workers in args.workers:
                output = work / f"out{repeat}_{workers}"
                wall, scoring, peak, csvs = run_stage(model_file, clips, output, workers, args.frames)
                reference = reference or csvs
                results.append((workers, wall, scoring, peak, csvs == reference))
                print(f"--workers {workers}: {scoring:.1f} s scoring, {wall:.1f} s wall", flush=True)
        decoding = decode_seconds(clips, args.frames) if args.decode_only else None
    print(
        f"\n{args.clips} clips (of {', '.join(name for name, _ in videos)}), "
        f"{args.frames} frames each, {args.model}, {args.detector}\n"
        f"{'workers':>7} {'scoring s':>9} {'videos/min':>10} {'wall s':>7} {'videos/min':>10} "
        f"{'peak RSS MiB':>12}  same CSVs as the first run"
    )
    for workers, wall, scoring, peak, same in results:
        print(
            f"{workers:>7} {scoring:>9.1f} {60 * args.clips / scoring:>10.1f} {wall:>7.1f} "
            f"{60 * args.clips / wall:>10.1f} {peak:>12.0f}  {'yes' if same else 'NO'}"
        )
    if decoding:
        print(
            f"decoding the sampled frames alone: {decoding:.1f} s ({60 * args.clips / decoding:.1f} videos/min); "
            f"scoring takes {', '.join(f'{scoring / decoding:.2f}x' for _, _, scoring, _, _ in results)} that"
        )


if __name__ == "__main__":
    main()
