"""Stage 05 at scale: --workers (detection ahead of scoring), --shard, and memory that stays flat."""

import threading
import time
from pathlib import Path

import cv2
import keras
import numpy as np
import pandas as pd
import pytest

from common.core.config import DEFAULTS
from common.core.model_file import MODEL_FILE, save_model
from common.core.shard import parse_shard
from common.faces.base import Face
from common.inference import batch_scoring, face_scoring, frames_and_faces, scorer
from common.models.classifier import build_model
from common.stages import predict_videos as stage05

OUTPUTS = ("p.csv", "p_frames.csv", "p_tracks.csv", "p_metrics.json")


class BrightnessDetector:
    """A stand-in detector whose faces depend on the frame alone, so any thread finds the same: one face
    placed by the frame's brightness, and a second one in bright frames. Dark frames take longer, so with
    several workers later videos finish first."""

    def detect(self, frames_rgb):
        found = []
        for frame in frames_rgb:
            level = int(frame.mean())
            time.sleep(0.05 if level < 100 else 0.0)
            faces = [Face((40 + level // 4, 50, 80, 90), 0.99)]
            if level > 120:
                faces.append(Face((220, 20, 60, 60), 0.97))
            found.append(faces)
        return found


def write_clip(path, first, frames=6, size=(160, 120), step=9):
    """A video whose frame i is a flat grey of ``first + step * i``: faces and scores differ by frame."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, size)
    try:
        for index in range(frames):
            writer.write(np.full((size[1], size[0], 3), min(255, first + step * index), np.uint8))
    finally:
        writer.release()
    return path


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(3)
    return build_model("small_cnn", 32, "none")


@pytest.fixture(scope="module")
def metadata():
    return {
        "model": "small_cnn",
        "image_size": 32,
        "preprocess": dict(DEFAULTS["preprocess"]),
        "video": dict(DEFAULTS["video"]),
    }


@pytest.fixture(scope="module")
def run_dir(model, metadata, tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    save_model(model, folder / MODEL_FILE, metadata)
    return folder


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Eleven labelled clips of different brightness, and a file that is no video."""
    root = tmp_path_factory.mktemp("videos")
    for number in range(11):
        label = "fake" if number % 3 else "real"
        write_clip(root / label / f"clip{number:02d}.mp4", first=20 * number)
    (root / "real" / "notes.txt").write_text("not a video")
    return root


@pytest.fixture
def brightness_detector(monkeypatch):
    """The stage builds ``BrightnessDetector``s; records the videos whose faces were found, as each is done."""
    searched = []
    video_faces = frames_and_faces.video_faces

    def recording(path, *args, **kwargs):
        try:
            return video_faces(path, *args, **kwargs)
        finally:
            searched.append(path.name)

    monkeypatch.setattr(scorer, "build_detector", lambda preprocess: BrightnessDetector())
    monkeypatch.setattr(frames_and_faces, "video_faces", recording)
    return searched


def score(run_dir, videos, output, *flags):
    argv = ["--model", str(run_dir), "--input", str(videos), "--output", str(output), "--frames", "4"]
    argv += ["--threshold", "0.507"]  # the untrained model's scores lie in 0.50-0.52
    return stage05.main([*argv, *flags])


def scores_notes(shard):
    """Stage 05's exit code for a shard that does not finish the run: 1 when it holds notes.txt, the file
    that is no video (a video that cannot be read is a failure), else 0."""
    return int(parse_shard(shard).holds("real/notes.txt"))


def outputs(folder):
    return {name: (folder / name).read_bytes() for name in OUTPUTS}


@pytest.fixture(scope="module")
def one_at_a_time(run_dir, videos, tmp_path_factory):
    """The outputs of a run with --workers 1, the reference every other run must equal byte for byte."""
    folder = tmp_path_factory.mktemp("reference")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scorer, "build_detector", lambda preprocess: BrightnessDetector())
        assert score(run_dir, videos, folder / "p.csv", "--workers", "1") == 1  # notes.txt is unreadable
    table = pd.read_csv(folder / "p.csv")
    assert set(table["verdict"]) == {"FAKE", "REAL", "UNKNOWN"} and set(table["tracks"]) == {0, 1, 2}
    return outputs(folder)


def test_workers_give_the_same_outputs_in_the_same_order_as_one_at_a_time(
    run_dir, videos, tmp_path, one_at_a_time, brightness_detector
):
    assert score(run_dir, videos, tmp_path / "p.csv", "--workers", "3") == 1
    assert outputs(tmp_path) == one_at_a_time
    assert not (tmp_path / "p_parts").exists()
    in_order = [Path(video).name for video in pd.read_csv(tmp_path / "p.csv")["video"]]
    assert sorted(brightness_detector) == sorted(in_order)
    assert brightness_detector != in_order  # later videos were done first, yet the rows keep their order


def test_faces_in_order_detects_at_most_workers_videos_ahead(tmp_path, metadata):
    paths = [write_clip(tmp_path / f"v{number}.mp4", 30 * number, frames=2) for number in range(8)]
    started = []
    detector = BrightnessDetector()

    class Recording:
        def detect(self, frames_rgb):
            started.append(len(started))
            return detector.detect(frames_rgb)

    found = frames_and_faces.faces_in_order(
        [(path.name, path) for path in paths], Recording(), metadata, 2, workers=3
    )
    for consumed, (name, faces) in enumerate(found, start=1):
        assert name == f"v{consumed - 1}.mp4" and faces[0] == 2
        time.sleep(0.05)  # the caller scoring: the workers get ahead, but no further than allowed
        assert len(started) <= consumed + 3
    assert len(started) == 8


def test_shards_run_one_after_the_other_write_what_an_unsharded_run_writes(
    run_dir, videos, tmp_path, one_at_a_time, brightness_detector, capsys
):
    output = tmp_path / "p.csv"
    assert score(run_dir, videos, output, "--shard", "0/2") == scores_notes("0/2")
    first = list(brightness_detector)
    assert 0 < len(first) < 12 and not output.exists()  # not every video scored yet: nothing final
    assert "the last shard to finish, or a run without --shard, writes the outputs" in capsys.readouterr().err
    assert (tmp_path / "p_parts").is_dir()

    assert score(run_dir, videos, output, "--shard", "1/2") == 1  # the last shard: the whole table
    assert sorted(brightness_detector) == sorted(path.name for path in videos.rglob("*.*"))  # each once
    assert outputs(tmp_path) == one_at_a_time
    assert not (tmp_path / "p_parts").exists()


def test_a_run_without_shard_scores_what_the_shards_left_and_writes_the_outputs(
    run_dir, videos, tmp_path, one_at_a_time, brightness_detector
):
    output = tmp_path / "p.csv"
    assert score(run_dir, videos, output, "--shard", "1/3") == scores_notes("1/3")
    first = set(brightness_detector)
    brightness_detector.clear()
    assert score(run_dir, videos, output) == 1
    assert first.isdisjoint(brightness_detector) and len(first) + len(brightness_detector) == 12
    assert outputs(tmp_path) == one_at_a_time


def test_shards_starting_at_once_keep_each_others_results(tmp_path):
    identity = {"model": "m.keras", "predict": {"frames": 4}}
    output = tmp_path / "p.csv"
    faces = pd.DataFrame(columns=face_scoring.FACE_COLUMNS)
    errors = []

    def shard(start):
        start.wait()
        try:
            batch_scoring.ScoredVideos(output, identity).keep(
                threading.current_thread().name, {"n": 1}, faces
            )
        except Exception as error:
            errors.append(error)

    for _ in range(10):
        start = threading.Barrier(6)
        threads = [
            threading.Thread(target=shard, args=(start,), name=f"video{number}") for number in range(6)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        scored = batch_scoring.ScoredVideos(output, identity)
        assert scored.missing([f"video{number}" for number in range(6)]) == []  # none dropped by another
        assert not list(tmp_path.glob(".p_parts*"))  # no half-made folder left behind
        scored.remove()


def test_of_shards_finishing_at_once_one_writes_the_outputs(tmp_path):
    scored = batch_scoring.ScoredVideos(tmp_path / "p.csv", {"model": "m"})
    assert scored.claim_join() and not scored.claim_join()


def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS"))


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads /proc/self/status")
def test_memory_stays_flat_from_the_tenth_video_to_the_hundredth(tmp_path, model, metadata):
    size, frames = (640, 480), 4
    videos = [
        (f"v{number:03d}.mp4", write_clip(tmp_path / f"v{number:03d}.mp4", 100 + number, frames, size))
        for number in range(100)
    ]
    memory = []
    detector = BrightnessDetector()

    class Measuring:
        def detect(self, frames_rgb):
            memory.append(rss_mb())  # one call per video: 4 frames
            return detector.detect(frames_rgb)

    scored = batch_scoring.ScoredVideos(tmp_path / "p.csv", {"model": "tiny"})
    settings = {**DEFAULTS["predict"], "frames": frames}
    pool = frames_and_faces.DetectorPool([Measuring(), Measuring()])
    predictions, faces = batch_scoring.predict_videos(
        videos, model, pool, metadata, settings, scored=scored, workers=2
    )
    assert len(predictions) == 100 and len(faces) >= 400 and len(memory) == 100
    early, late = np.median(memory[10:20]), np.median(memory[90:])  # medians: threads make RSS jitter
    kept_frames_mb = 80 * frames * size[0] * size[1] * 3 / 2**20  # 281 MB: what keeping the frames would add
    assert late - early < kept_frames_mb / 10, memory[::10]
