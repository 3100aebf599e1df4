#!/usr/bin/env python3
"""The work ``bench/run.py`` times that is not a stage script: the naive baselines, stage 01's bare decoding,
and the set-up of stage 05's model. Each job runs in a fresh process, so that its seconds and memory are its
own, and prints its result as the last line of its output::

    python bench/jobs.py NAME ARG ...    ->    RESULT {"items": ..., "seconds": ...}

``seconds`` is given only by jobs that time themselves (start-up excluded); the others are timed from outside.
"""

import concurrent.futures
import contextlib
import io
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULT = "RESULT "  # the prefix of a job's result line

JOBS = {}


def job(function):
    JOBS[function.__name__] = function
    return function


def sampled_videos(input_dir, fps, max_frames):
    """``[(path, frame indices)]``: the videos stage 01 lists in ``input_dir`` (``--dataset folder``) and the
    frames it samples from each."""
    from common.data.adapters import list_videos
    from common.io.video import probe_video, sample_frame_indices

    return [
        (str(record.path), sample_frame_indices(probe_video(record.path), fps, max_frames))
        for record in list_videos(Path(input_dir), "folder")
    ]


@job
def every_frame_png(input_dir, output, fps, max_frames):
    """Stage 01's baseline: decode every frame with ``VideoCapture.read()`` and write the sampled ones, resized
    by the same width rule, as PNG; one process."""
    from common.io.video import resize_frame, scale_for_width

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    written = 0
    for number, (path, indices) in enumerate(sampled_videos(input_dir, float(fps), int(max_frames))):
        wanted = set(indices)
        capture = cv2.VideoCapture(path)
        index = 0
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                if index in wanted:
                    scale = scale_for_width(frame.shape[1])
                    cv2.imwrite(str(output / f"{number:03d}_{index:06d}.png"), resize_frame(frame, scale))
                    written += 1
                index += 1
        finally:
            capture.release()
    return {"items": written}


def decoded_count(path, indices):
    from common.io.video import read_frames

    return sum(frame is not None for _, frame in read_frames(path, indices))


@job
def decode_only(input_dir, fps, max_frames, workers):
    """Decode the frames stage 01 samples, nothing more (``common.io.video.read_frames``), with stage 01's
    number of worker processes."""
    videos = sampled_videos(input_dir, float(fps), int(max_frames))
    workers = int(workers)
    if workers <= 1:
        return {"items": sum(decoded_count(path, indices) for path, indices in videos)}
    from common.core.runner import worker_context  # workers start as stage 01's do

    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=worker_context()) as pool:
        return {"items": sum(pool.map(decoded_count, *zip(*videos)))}


@job
def original_faces(frames_dir, output):
    """Stage 02's baseline: ``bench/faces_vs_original.py``'s rebuild of the original (an MTCNN built per
    frame, the whole frame, PNG) over stage 01's frames."""
    from faces_vs_original import original_crops

    with contextlib.redirect_stdout(io.StringIO()) as printed:
        original_crops(frames_dir, output)
    kept = json.loads(printed.getvalue().splitlines()[-1])
    return {"items": sum(sum(counts) for counts in kept.values())}


def face_files(faces_dir, images):
    """Stage 02's face crops and labels, the list repeated up to at least ``images`` entries."""
    import pandas as pd

    faces = pd.read_csv(Path(faces_dir) / "manifest.csv", keep_default_na=False)
    if faces.empty:
        raise SystemExit(f"no face in {faces_dir}")
    repeats = -(-int(images) // len(faces))
    paths = [str(Path(faces_dir) / path) for path in faces["path"]] * repeats
    return paths, list(faces["label"]) * repeats


@job
def training_input(faces_dir, images, epochs):
    """Stage 04's input pipeline (``make_dataset``, training order, augmentation and cache as stage 04 runs
    it) iterated without a model; timed from the pipeline's construction, TensorFlow's import excluded."""
    from common.core.config import DEFAULTS
    from common.data.pipeline import make_dataset

    paths, labels = face_files(faces_dir, images)
    started = time.perf_counter()
    settings = DEFAULTS["train"]
    data = make_dataset(paths, labels, settings["image_size"], settings["batch_size"], training=True)
    seen = 0
    for _ in range(int(epochs)):
        for batch, _labels in data:
            seen += int(batch.shape[0])
    return {"items": seen, "seconds": time.perf_counter() - started}


@job
def cv2_batches(faces_dir, images, epochs):
    """Stage 04 input's baseline: a Python loop that reads the JPEGs with OpenCV into float32 RGB batches."""
    from common.core.config import DEFAULTS

    paths, _ = face_files(faces_dir, images)
    size, batch_size = DEFAULTS["train"]["image_size"], DEFAULTS["train"]["batch_size"]
    started = time.perf_counter()
    seen = 0
    for _ in range(int(epochs)):
        for start in range(0, len(paths), batch_size):
            batch = np.stack(
                [
                    cv2.resize(cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB), (size, size))
                    for path in paths[start : start + batch_size]
                ]
            ).astype(np.float32)
            seen += len(batch)
    return {"items": seen, "seconds": time.perf_counter() - started}


@job
def untrained_model(path, name):
    """Save a freshly built network with random weights as stage 05 loads models: speed does not depend on
    what a network learned."""
    from common.core.config import DEFAULTS
    from common.core.model_file import save_model
    from common.models.backbones import BACKBONES
    from common.models.classifier import build_model

    size = BACKBONES.get(name).default_size
    metadata = {
        "model": name,
        "image_size": size,
        "preprocess": DEFAULTS["preprocess"],
        "video": DEFAULTS["video"],
    }
    save_model(build_model(name, size, "none"), path, metadata)
    return {"items": 1}


@job
def one_by_one(model_file, videos_dir, frames):
    """Stage 05's baseline: one video at a time, every frame read up to the last sampled one, the sampled
    frames resized by the width rule, MTCNN (built once) on one frame at a time, the network on one face at a
    time; a video's P(fake) is the mean of its faces'."""
    from mtcnn import MTCNN

    from common.core.model_file import load_model
    from common.faces.detection import crop_with_margin
    from common.inference.videos_to_score import find_videos
    from common.io.video import evenly_spaced, probe_video, resize_frame, scale_for_width

    model, metadata = load_model(model_file)
    size, margin = metadata["image_size"], metadata["preprocess"]["margin"]
    detector = MTCNN()
    scored = 0
    for _, path in find_videos(videos_dir):
        wanted = set(evenly_spaced(probe_video(path).frame_count, int(frames)))
        capture = cv2.VideoCapture(str(path))
        scores = []
        try:
            for index in range(max(wanted) + 1):
                ok, frame = capture.read()
                if not ok:
                    break
                if index not in wanted:
                    continue
                frame = resize_frame(frame, scale_for_width(frame.shape[1]))
                faces = detector.detect_faces(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                for face in faces:
                    if face["confidence"] < 0.95 and len(faces) > 1:
                        continue
                    x0, y0, x1, y1 = crop_with_margin(face["box"], frame.shape, margin)
                    crop = cv2.cvtColor(cv2.resize(frame[y0:y1, x0:x1], (size, size)), cv2.COLOR_BGR2RGB)
                    scores.append(float(model(crop[None].astype(np.float32), training=False)[0, 0]))
        finally:
            capture.release()
        scored += 1
        print(
            f"{path.name}: {len(scores)} faces, P(fake) {np.mean(scores) if scores else 0.5:.3f}",
            file=sys.stderr,
        )
    return {"items": scored}


def main(argv):
    name, *args = argv
    result = JOBS[name](*args)
    print(RESULT + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
