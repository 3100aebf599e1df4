#!/usr/bin/env python3
"""The pipeline's throughput against naive baselines measured in the same run, as one table. Run by hand:

    python bench/run.py                          # 5-6 minutes on 2 busy cores
    python bench/run.py --quick                  # tiny inputs, every row in a minute or two (the smoke test)
    python bench/run.py --skip-stage 02 05 --output /tmp/results.md

Inputs: generated clips at 480p, 720p and 1080p (a virtual camera over a face photo, ``tools/demo.py``), plus
the DFDC clips of ``--dfdc`` when that folder exists. Every row is one fresh process (the stage script as users
run it, or a job of ``bench/jobs.py``): its seconds are that process's wall time, start-up included, except
stage 04's input rows, which time their loop over the batches only. Its peak memory is the largest summed RSS
of the process and its children. The table is printed and written as Markdown to ``--output``.
"""

import argparse
import dataclasses
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.jobs import RESULT  # noqa: E402
from bench.peak_rss import PEAK  # noqa: E402
from common.core.files import atomic_write_text  # noqa: E402

STAGES = ("01", "02", "04", "05")
SAMPLE_FPS = 2.0  # stage 01's sampling here: --fps 2, no --max-frames
TARGETS = {"01 vs baseline": 1.5, "01 / decode only": 1.25}


@dataclasses.dataclass(frozen=True)
class Plan:
    """How big the run is: the full bench, or ``--quick``'s tiny version of every row."""

    sizes: tuple  # (width, height) of the generated clips
    seconds: float  # length of each generated clip
    fps: float  # their frame rate
    model: str  # network of stage 05
    predict_frames: int | None  # stage 05 --frames; None = 32 (the published protocols' count)
    images: int  # stage 04 input: face crops per epoch (the crops repeated)
    epochs: int
    use_dfdc: bool


FULL = Plan(((854, 480), (1280, 720), (1920, 1080)), 4.0, 30.0, "efficientnet_b0", None, 1024, 2, True)
QUICK = Plan(((256, 144),), 1.0, 10.0, "small_cnn", 4, 64, 1, False)


@dataclasses.dataclass
class Run:
    """One measured process: its items (frames, faces, images, videos), seconds and peak memory."""

    items: int
    seconds: float
    peak_bytes: int


@dataclasses.dataclass
class Row:
    stage: str
    run: str
    workload: str
    measured: Run
    unit: str
    per_minute: bool = False
    compared: str = ""

    @property
    def rate(self):
        """Items per second (per minute with ``per_minute``); NaN when nothing was timed."""
        seconds = self.measured.seconds
        rate = self.measured.items / seconds if seconds > 0 else float("nan")
        return rate * 60 if self.per_minute else rate


class BenchError(RuntimeError):
    pass


def descendants_rss(pid):
    """Summed resident memory (bytes) of the descendants of ``pid``; 0 once they are gone."""
    total, page = 0, os.sysconf("SC_PAGE_SIZE")
    todo = children(pid)
    while todo:
        current = todo.pop()
        try:
            total += int(Path(f"/proc/{current}/statm").read_text().split()[1]) * page
        except (OSError, ValueError):
            continue
        todo += children(current)
    return total


def children(pid):
    found = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    except (OSError, ValueError):
        pass
    return found


def measure(name, command, log_file):
    """Run ``command`` in a fresh process from the repository root, its output into ``log_file``; print
    ``name`` and its seconds when it ends.

    Seconds: the process's wall time, or the ``seconds`` its result line reports (``bench/jobs.py``). Peak
    memory: the largest summed RSS of the process and its children, polled every 0.1 s, and at least the
    largest single process's peak as the kernel counts it (``bench/peak_rss.py``)."""
    peak = 0
    launcher = [sys.executable, ROOT / "bench" / "peak_rss.py"]
    with open(log_file, "w") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(part) for part in launcher + command], cwd=ROOT, stdout=log, stderr=log
        )
        done = threading.Event()

        def poll():
            nonlocal peak
            while not done.wait(0.1):
                peak = max(peak, descendants_rss(process.pid))

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        code = process.wait()
        seconds = time.perf_counter() - started
        done.set()
        poller.join()
    output = Path(log_file).read_text(errors="replace")
    if code:
        raise BenchError(f"{name}: exit code {code}: {' '.join(map(str, command))}\n{output[-3000:]}")
    lines = output.splitlines()
    results = [json.loads(line[len(RESULT) :]) for line in lines if line.startswith(RESULT)]
    result = results[-1] if results else {}
    peaks = [int(line[len(PEAK) :]) * 1024 for line in lines if line.startswith(PEAK)]
    run = Run(result.get("items", 0), result.get("seconds", seconds), max([peak, *peaks]))
    print(f"  {name}: {run.seconds:.1f} s", flush=True)
    return run


def job(name, *args):
    return [sys.executable, ROOT / "bench" / "jobs.py", name, *args]


def stage(script, *args):
    return [sys.executable, ROOT / script, *args]


def machine():
    """Cores, memory, GPU and load: the table's heading line."""
    memory = next(
        int(line.split()[1]) / 2**20
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    gpu = "none"
    if shutil.which("nvidia-smi"):
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout.strip()
        gpu = "; ".join(listed.splitlines()) or "none"
    return (
        f"{len(os.sched_getaffinity(0))} CPU cores usable ({os.cpu_count()} in the machine), "
        f"{memory:.0f} GiB RAM, GPU: {gpu}; {platform.platform()}, Python {platform.python_version()}"
    )


def load():
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def make_inputs(folder, plan, dfdc):
    """``folder/real/`` with the generated clips and ``folder/fake/`` with links to the DFDC clips (stage 01's
    ``--dataset folder``), and ``folder/../score/`` with links to all of them, unlabelled (stage 05). Clips
    already there are kept. Returns a description of the inputs."""
    from tools.demo import make_demo_videos

    described = []
    for width, height in plan.sizes:
        make_demo_videos(
            folder,
            n_real=1,
            fakes_per_real=0,
            seconds=plan.seconds,
            fps=plan.fps,
            size=(width, height),
            prefix=f"generated{height}p",
        )
        described.append(f"{width}x{height}")
    for clip in sorted((folder / "real").glob("generated*.mp4")):
        as_h264(clip)
    described = [f"generated {', '.join(described)} ({plan.seconds:g} s at {plan.fps:g} fps each, H.264)"]
    clips = sorted(Path(dfdc).glob("*.mp4")) if plan.use_dfdc and Path(dfdc).is_dir() else []
    (folder / "fake").mkdir(exist_ok=True)
    for clip in clips:
        link = folder / "fake" / clip.name
        if not link.exists():
            link.symlink_to(clip.resolve())
    if clips:
        described.append(f"{len(clips)} DFDC clips of {dfdc}")
    score = folder.parent / "score"
    score.mkdir(exist_ok=True)
    videos = sorted((folder / "real").glob("*.mp4")) + sorted((folder / "fake").glob("*.mp4"))
    for video in videos:
        link = score / video.name
        if not link.exists():
            link.symlink_to(video.resolve())
        video.read_bytes()  # into the page cache, so the first side timed does not pay for the disk
    return f"{len(videos)} videos: " + "; ".join(described)


def as_h264(path):
    """Re-encode an mp4v clip (what OpenCV writes) in place as H.264 with B-frames (x264 veryfast), as the
    public datasets ship their videos; a clip already in H.264 is left alone."""
    import av

    with av.open(str(path)) as source:
        if source.streams.video[0].codec_context.name == "h264":
            return
        temporary = path.with_name(f".{path.name}")
        with av.open(str(temporary), "w") as target:
            rate = source.streams.video[0].average_rate
            stream = target.add_stream("libx264", rate=rate, options={"preset": "veryfast"})
            stream.width, stream.height, stream.pix_fmt = (
                source.streams.video[0].width,
                source.streams.video[0].height,
                "yuv420p",
            )
            for frame in source.decode(video=0):
                frame = frame.reformat(format="yuv420p")
                frame.pict_type = av.video.frame.PictureType.NONE  # the encoder picks I/P/B, not mp4v's types
                target.mux(stream.encode(frame))
            target.mux(stream.encode())
    temporary.replace(path)


def fresh(folder):
    """An empty ``folder`` for one run's output (the bench's own work folder)."""
    if folder.exists():
        shutil.rmtree(folder)
    return folder


def compared(value, what, target=None, lower_is_better=False):
    """``value`` as the table's comparison cell, with ``target`` and whether it is met."""
    text = f"{value:.2f}x {what}"
    if target is None:
        return text
    met = value <= target if lower_is_better else value >= target
    return f"{text} (target {'<=' if lower_is_better else '>='} {target:g}: {'met' if met else 'NOT met'})"


def default_workers():
    """Stage 01's number of worker processes when run with default flags."""
    from common.stages import extract_frames

    parser = extract_frames.build_parser()
    workers = parser.parse_args(["--input", ".", "--output", "."]).workers
    return workers if isinstance(workers, int) and workers > 0 else os.cpu_count()


def bench_stage01(work, videos, stages):
    frames = fresh(work / "frames")
    command = stage(
        "01-convert-video-to-image.py", "--input", videos, "--output", frames, "--fps", SAMPLE_FPS
    )
    measured = measure("stage 01", command, work / "stage01.log")
    manifest = pd.read_csv(frames / "manifest.csv")
    measured.items = len(manifest)
    if "01" not in stages:
        return frames, []
    workers = default_workers()
    png = job("every_frame_png", videos, fresh(work / "png"), SAMPLE_FPS, 0)
    baseline = measure("stage 01 baseline", png, work / "baseline01.log")
    decoding = measure(
        "decode only", job("decode_only", videos, SAMPLE_FPS, 0, workers), work / "decode01.log"
    )
    workload = f"{manifest['video_id'].nunique()} videos, {SAMPLE_FPS:g} frames/s: {len(manifest)} frames"
    rows = [
        Row("01 frames", "stage 01 (`--fps 2`)", workload, measured, "frames"),
        Row(
            "01 frames", "baseline: `read()` every frame, the sampled ones as PNG", "same", baseline, "frames"
        ),
        Row("01 frames", f"decode only: `read_frames`, {workers} worker(s)", "same", decoding, "frames"),
    ]
    rows[0].compared = compared(
        rows[0].rate / rows[1].rate, "the baseline's frames/s", TARGETS["01 vs baseline"]
    )
    rows[2].compared = "stage 01 takes " + compared(
        measured.seconds / decoding.seconds, "this time", TARGETS["01 / decode only"], lower_is_better=True
    )
    return frames, rows


def bench_stage02(work, frames, stages):
    faces = fresh(work / "faces")
    command = stage("02-crop-faces-with-mtcnn.py", "--input", frames, "--output", faces)
    measured = measure("stage 02", command, work / "stage02.log")
    measured.items = len(pd.read_csv(faces / "manifest.csv"))
    if "02" not in stages:
        return faces, []
    original = job("original_faces", frames, fresh(work / "original"))
    baseline = measure("stage 02 baseline", original, work / "baseline02.log")
    workload = f"{len(pd.read_csv(frames / 'manifest.csv'))} frames of stage 01"
    rows = [
        Row("02 faces", "stage 02 (MTCNN, default config)", workload, measured, "faces"),
        Row("02 faces", "baseline: an MTCNN built per frame, full frame, PNG", "same", baseline, "faces"),
    ]
    rows[0].compared = compared(rows[0].rate / rows[1].rate, "the baseline's faces/s")
    return faces, rows


def bench_stage04(work, faces, plan):
    count = len(pd.read_csv(faces / "manifest.csv"))
    if not count:
        raise BenchError(f"stage 02 kept no face in {faces}: nothing to feed stage 04's input pipeline")
    arguments = (faces, plan.images, plan.epochs)
    measured = measure("stage 04 input", job("training_input", *arguments), work / "input04.log")
    baseline = measure("stage 04 input baseline", job("cv2_batches", *arguments), work / "baseline04.log")
    workload = (
        f"{count} faces of stage 02 repeated to {measured.items // plan.epochs}, {plan.epochs} epoch(s), "
        "batch 32, 128 px"
    )
    rows = [
        Row("04 input", "`make_dataset` (training: augmented, cached)", workload, measured, "images"),
        Row("04 input", "baseline: OpenCV loop into NumPy batches", "same", baseline, "images"),
    ]
    rows[0].compared = compared(rows[0].rate / rows[1].rate, "the baseline's images/s")
    return rows


def bench_stage05(work, score, plan):
    model = work / "model.keras"
    measure("stage 05 model", job("untrained_model", model, plan.model), work / "model05.log")
    count = plan.predict_frames or 32  # the untrained model's video section samples by fps: say how many
    predictions = work / "predictions.csv"
    if predictions.exists():
        predictions.unlink()
    command = stage(
        "05-predict-video.py", "--model", model, "--input", score, "--output", predictions, "--frames", count
    )
    measured = measure("stage 05", command, work / "stage05.log")
    table = pd.read_csv(predictions, keep_default_na=False)
    measured.items = len(table)
    baseline = measure("stage 05 baseline", job("one_by_one", model, score, count), work / "baseline05.log")
    workload = (
        f"{len(table)} videos, {count} frames each, {plan.model} with random weights; "
        f"{int((table['error'] == '').sum())} with a verdict"
    )
    rows = [
        Row("05 videos", "stage 05 (model loading included)", workload, measured, "videos", True),
        Row("05 videos", "baseline: a video, a frame, a face at a time", "same", baseline, "videos", True),
    ]
    rows[0].compared = compared(rows[0].rate / rows[1].rate, "the baseline's videos/min")
    return rows


def markdown(rows):
    lines = [
        "| stage | run | workload | rate | seconds | peak RSS (MiB) | compared |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        unit = f"{row.unit}/min" if row.per_minute else f"{row.unit}/s"
        lines.append(
            f"| {row.stage} | {row.run} | {row.workload} | {row.rate:.2f} {unit} | {row.measured.seconds:.2f} "
            f"| {row.measured.peak_bytes / 2**20:.0f} | {row.compared} |"
        )
    return "\n".join(lines)


def run_bench(args):
    plan = QUICK if args.quick else FULL
    stages = [name for name in STAGES if name not in args.skip_stage]
    with tempfile.TemporaryDirectory(prefix="bench-") as temporary:
        work = Path(args.work or temporary)
        work.mkdir(parents=True, exist_ok=True)
        videos = work / "videos"
        inputs = make_inputs(videos, plan, args.dfdc)
        heading = [f"Machine: {machine()}", f"Load average at start: {load()}", f"Inputs: {inputs}"]
        print("\n".join(heading), flush=True)
        rows = []
        if {"01", "02", "04"} & set(stages):
            frames, found = bench_stage01(work, videos, stages)
            rows += found
            if {"02", "04"} & set(stages):
                faces, found = bench_stage02(work, frames, stages)
                rows += found
                if "04" in stages:
                    rows += bench_stage04(work, faces, plan)
        if "05" in stages:
            rows += bench_stage05(work, work / "score", plan)
    heading.append(f"Load average at the end: {load()}")
    text = "\n".join(
        [
            f"# `bench/run.py{' --quick' if args.quick else ''}`, {datetime.datetime.now():%Y-%m-%d %H:%M}",
            "",
            *[f"- {line}" for line in heading],
            "",
            markdown(rows),
            "",
            "Each row is one fresh process; seconds are its wall time, start-up and imports included, except "
            "for `04 input`, which times its loop over the batches only. Peak RSS: the largest summed resident "
            "memory of the process and its children. Ratios compare rates measured in this run, on the same "
            "inputs: on a shared machine they are steadier than the seconds (see the load averages).",
            "",
        ]
    )
    print("\n" + text)
    atomic_write_text(args.output, text)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny inputs and a tiny network: every row in seconds"
    )
    parser.add_argument(
        "--skip-stage",
        nargs="+",
        default=[],
        choices=STAGES,
        help="stages whose rows are left out (a stage whose output a later row needs still runs)",
    )
    parser.add_argument(
        "--output", default=str(ROOT / "bench" / "results.md"), help="Markdown file of the table"
    )
    parser.add_argument(
        "--dfdc",
        default=str(ROOT.parent / "shared" / "data" / "dfdc_samples"),
        help="folder of DFDC clips (*.mp4) added to the inputs when it exists (default: %(default)s)",
    )
    parser.add_argument("--work", help="folder for inputs and outputs, kept (default: a temporary folder)")
    args = parser.parse_args(argv)
    try:
        run_bench(args)
    except BenchError as error:
        sys.exit(f"bench failed: {error}")


if __name__ == "__main__":
    main()
