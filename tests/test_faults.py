"""Fault injection (issue 12): files a user may hand the pipeline by mistake, each refused in one line that
names the file and the reason, with exit code 2 and no traceback."""

import os
import re
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import keras
import pandas as pd
import pytest
from conftest import ROOT, start_interruptible, write_video

from common.core.config import DEFAULTS
from common.core.model_file import METADATA_ENTRY, MODEL_FILE, save_model
from common.models.classifier import build_model
from common.stages import extract_frames, predict_videos, prepare_dataset, train_detector
from common.stages import predict_videos as stage05

METADATA = {
    "model": "small_cnn",
    "image_size": 32,
    "preprocess": dict(DEFAULTS["preprocess"]),
    "video": dict(DEFAULTS["video"]),
}


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("videos") / "grey.mp4")


def refusal(model_path, video, tmp_path, capsys):
    """Stage 05's exit code and standard error for scoring ``video`` with ``model_path``; no CSV written."""
    output = tmp_path / "predictions.csv"
    capsys.readouterr()  # what the test printed before (building models) is not the stage's
    code = stage05.main(["--model", str(model_path), "--input", str(video), "--output", str(output)])
    assert not output.exists()
    return code, capsys.readouterr().err.strip()


def one_line_error(code, err, *words):
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert all(word in lines[0] for word in words), lines[0]


def test_a_text_file_named_model_keras(tmp_path, video, capsys):
    path = tmp_path / MODEL_FILE
    path.write_text("not a model\n")
    one_line_error(*refusal(path, video, tmp_path, capsys), str(path), "not a model saved by 04-train-cnn.py")


def test_a_model_file_cut_short(tmp_path, video, capsys):
    whole = tmp_path / "whole.keras"
    save_model(build_model("small_cnn", 32, None), whole, METADATA)
    path = tmp_path / MODEL_FILE
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    one_line_error(*refusal(path, video, tmp_path, capsys), str(path))


def test_a_model_whose_network_is_not_the_backbone_its_metadata_names(tmp_path, video, capsys):
    path = tmp_path / MODEL_FILE
    save_model(build_model("small_cnn", 32, None), path, {**METADATA, "model": "mesonet4"})
    one_line_error(*refusal(path, video, tmp_path, capsys), str(path), "mesonet4", "small_cnn")


def test_a_model_trained_at_another_image_size_than_its_metadata_says(tmp_path, video, capsys):
    path = tmp_path / MODEL_FILE
    save_model(build_model("small_cnn", 48, None), path, METADATA)
    one_line_error(*refusal(path, video, tmp_path, capsys), "image_size 32", "48 px")


def test_a_model_that_would_run_code_when_loaded_is_refused_by_keras_safe_mode(tmp_path, video, capsys):
    inputs = keras.Input((32, 32, 3), name="image")
    outputs = keras.layers.Lambda(lambda images: images[:, :1, 0, 0], name="p_fake")(inputs)
    path = tmp_path / MODEL_FILE
    save_model(keras.Model(inputs, outputs, name="deepfake_small_cnn"), path, METADATA)
    one_line_error(*refusal(path, video, tmp_path, capsys), str(path), "safe mode")


def test_a_model_without_its_metadata(tmp_path, video, capsys):
    saved = tmp_path / "saved.keras"
    save_model(build_model("small_cnn", 32, None), saved, METADATA)
    path = tmp_path / MODEL_FILE
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            if item.filename != METADATA_ENTRY:
                target.writestr(item, source.read(item))
    one_line_error(*refusal(path, video, tmp_path, capsys), str(path), METADATA_ENTRY)


def test_stage_03_leaves_out_a_face_whose_crop_is_missing_lists_it_and_exits_1(tmp_path, capsys):
    from test_dataset import faces_manifest, write_faces_folder

    manifest = faces_manifest(groups=6, fakes_per_real=1, frames=2)
    write_faces_folder(tmp_path / "faces", manifest)
    gone = manifest["path"].iloc[3]
    (tmp_path / "faces" / gone).unlink()
    from common.stages import prepare_dataset as stage03

    output = tmp_path / "dataset"
    code = stage03.main(["--input", str(tmp_path / "faces"), "--output", str(output), "--no-balance"])
    assert code == 1
    split = pd.read_csv(output / "split.csv")
    assert len(split) == len(manifest) - 1
    assert all((output / path).is_file() for path in split["path"])
    assert pd.read_csv(output / "missing_faces.csv")["path"].tolist() == [gone]
    assert "1 face crop(s) listed" in capsys.readouterr().err


def test_two_runs_writing_one_output_the_second_is_refused_shards_of_it_are_not(tmp_path):
    from common.core.errors import UserError
    from common.core.files import output_lock
    from common.core.shard import Shard

    folder = tmp_path / "frames"
    with output_lock(folder, "manifest.csv"):
        with (
            pytest.raises(UserError, match=f"another run is writing manifest.csv in {folder}"),
            output_lock(folder, "manifest.csv"),
        ):
            pass
        with output_lock(folder, "split.csv"):  # another output in the same folder
            pass
    with output_lock(folder, "manifest.csv", Shard(0, 2)), output_lock(folder, "manifest.csv", Shard(1, 2)):
        for shard in (Shard(0, 2), None):
            with (
                pytest.raises(UserError, match="another run is writing"),
                output_lock(folder, "manifest.csv", shard),
            ):
                pass
    with output_lock(folder, "manifest.csv"):  # free again once the runs ended
        pass
    assert list(folder.iterdir()) == []  # no lock file left behind


def test_the_lock_of_a_killed_run_is_free_at_once(tmp_path):
    from common.core.files import output_lock

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from common.core.files import output_lock; "
            f"lock = output_lock({str(tmp_path)!r}, 'manifest.csv'); lock.__enter__(); print('held', flush=True); "
            "time.sleep(60)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    with output_lock(tmp_path, "manifest.csv"):
        pass


def test_the_lock_of_a_killed_run_is_free_at_once_while_a_worker_it_forked_lives_on(tmp_path):
    """Stage 01's worker processes are forked: one busy with a video outlives a killed stage for a while."""
    from common.core.files import output_lock

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, time; from common.core.files import output_lock; "
            f"lock = output_lock({str(tmp_path)!r}, 'manifest.csv'); lock.__enter__(); child = os.fork(); "
            # the child names itself: fork() returns in it only after its at-fork hooks ran (the parent
            # naming it could be read, on a loaded machine, before the child was ever scheduled)
            "child or (print(os.getpid(), flush=True), time.sleep(60), os._exit(0)); time.sleep(60)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    worker = int(holder.stdout.readline())
    try:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        os.kill(worker, 0)  # still alive
        with output_lock(tmp_path, "manifest.csv"):
            pass
    finally:
        os.kill(worker, signal.SIGKILL)


def test_stage_03_refuses_an_output_folder_another_run_is_writing(tmp_path, capsys):
    from test_dataset import faces_manifest, write_faces_folder

    from common.core.files import output_lock

    write_faces_folder(tmp_path / "faces", faces_manifest(groups=6, fakes_per_real=1, frames=2))
    from common.stages import prepare_dataset as stage03

    output = tmp_path / "dataset"
    with output_lock(output, "split.csv"):
        code = stage03.main(["--input", str(tmp_path / "faces"), "--output", str(output)])
    assert code == 2 and "another run is writing split.csv" in capsys.readouterr().err
    assert not (output / "split.csv").exists()


def kill_when(process, done, name, seconds=180):
    """SIGKILL ``process`` (a stage) as soon as ``done()`` is true, while it still runs; the stage ``name``
    must not have ended first."""
    import time

    deadline = time.monotonic() + seconds
    while not done() and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    assert process.poll() is None, f"{name} ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()


def finished_parts(output, count):
    """``done`` for ``kill_when``: ``count`` videos of a per-video stage have their part file."""
    return lambda: len(list((output / "parts").glob("[!.]*.csv"))) >= count


@pytest.mark.parametrize("workers", ["1", "2"])
def test_stage_01_killed_mid_run_then_rerun_equals_an_uninterrupted_run_file_for_file(tmp_path, workers):
    """SIGKILL: nothing gets to clean up; the temporary files of the killed run are swept by the next."""

    from test_stages_01_03 import stage01_on_copies, tree_digest

    _, output, command = stage01_on_copies(tmp_path, count=8, frames=150, workers=workers)
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(process, finished_parts(output, 2), "stage 01")
    assert not (output / "manifest.csv").exists()

    rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    whole = tmp_path / "whole"
    assert subprocess.run([*command[:4], "--output", str(whole), "--fps", "30"], cwd=ROOT).returncode == 0
    assert tree_digest(output) == tree_digest(whole)


def test_temporary_files_of_a_killed_run_are_swept_those_of_live_runs_and_other_hosts_kept(tmp_path):
    import socket

    from common.core.files import sweep_temporaries

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    host = socket.gethostname()
    folder = tmp_path / "frames" / "real" / "v1"
    folder.mkdir(parents=True)
    left = folder / f".f000001_0.{host}.{dead.stdout.strip()}.tmp.jpg"  # what SIGKILL mid-write leaves
    live = folder / f".f000002_0.{host}.{os.getpid()}.tmp.jpg"
    other = folder / f".f000003_0.other-host.{dead.stdout.strip()}.tmp.jpg"
    for path in (left, live, other):
        path.write_bytes(b"half a jpeg")
    assert sweep_temporaries(tmp_path / "frames") == 1
    assert not left.exists() and live.exists() and other.exists()


def test_stage_01_sweeps_the_temporary_files_a_killed_run_left(labelled_videos, tmp_path):
    """A killed run leaves its lock file and maybe a temporary file; the next run finds the lock file and
    sweeps (a run after a clean one, which removed its lock file, walks nothing)."""
    import socket

    from common.stages import extract_frames as stage01

    output = tmp_path / "frames"
    assert stage01.main(["--input", str(labelled_videos), "--output", str(output)]) == 0
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    left = output / "frames" / "real" / f".f000001.{socket.gethostname()}.{dead.stdout.strip()}.tmp.jpg"
    left.parent.mkdir(parents=True, exist_ok=True)
    left.write_bytes(b"half a jpeg")
    (output / ".manifest.csv.lock").write_text(f"pid {dead.stdout.strip()}\n")  # a killed run leaves its lock
    assert stage01.main(["--input", str(labelled_videos), "--output", str(output)]) == 0
    assert not left.exists()


@pytest.mark.parametrize(
    "phases, stop_after",
    [(["--epochs", "12"], 2), (["--head-epochs", "3", "--epochs", "9"], 5)],
    ids=["one-phase", "in-the-fine-tuning-phase-after-the-head-phase"],
)
def test_stage_04_interrupted_keeps_its_epochs_and_resume_goes_on_with_the_optimizer_state(
    tmp_path, phases, stop_after
):
    """Ctrl-C (SIGINT to the process group) after ``stop_after`` epochs: the run directory keeps history.csv
    and the best weights, stderr says how to resume; --resume runs only the epochs left (after an ended
    head phase: from the weights it ended with), from the optimizer step where it stopped, and ends as a
    finished run does."""
    import math
    import time

    from test_train import write_dataset

    dataset = write_dataset(tmp_path / "dataset", videos_per_class=(6, 2, 2), frames=8)
    runs = tmp_path / "runs"
    command = [sys.executable, str(ROOT / "04-train-cnn.py"), "--input", str(dataset), "--output", str(runs)]
    command += ["--model", "small_cnn", "--image-size", "32", "--weights", "none", "--batch-size", "8"]
    command += [*phases, "--patience", "12"]
    process = start_interruptible(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    history = None
    while process.poll() is None and time.monotonic() < deadline:
        found = list(runs.glob("*/history.csv"))
        if found and len(found[0].read_text().splitlines()) >= 1 + stop_after:  # a header and the epochs
            history = found[0]
            break
        time.sleep(0.05)
    assert history is not None and process.poll() is None, "stage 04 ended before it could be interrupted"
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=120) == 130
    run = history.parent
    assert f"--resume {run}" in process.stderr.read()
    finished = len(pd.read_csv(history))
    assert stop_after <= finished < 12 and not (run / "model.keras").exists()
    assert (run / "best.weights.h5").is_file() and not list(run.rglob(".*tmp*"))

    resumed = subprocess.run(
        [sys.executable, str(ROOT / "04-train-cnn.py"), "--resume", str(run), "-v"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    steps = math.ceil(6 * 2 * 8 / 8)  # train faces / batch
    step = re.search(rf"resumed at epoch {finished} with the optimizer state of step (\d+)", resumed.stderr)
    if finished > 3 and "--head-epochs" in phases:  # the fine-tuning phase's own optimizer, on from its start
        assert "resuming after the head phase (3 epochs)" in resumed.stderr
        assert step and int(step.group(1)) >= (finished - 3) * steps
    else:
        assert step and int(step.group(1)) >= finished * steps  # Adam's state went on, not from step 0
    assert pd.read_csv(run / "history.csv")["epoch"].tolist() == list(range(12))
    assert (run / "model.keras").is_file() and (run / "metrics.json").is_file()
    assert not (run / "resume").exists() and not (run / "best.weights.h5").exists()
    assert (runs / "latest").resolve() == run.resolve()


def test_stage_01_odd_sizes_and_lengths_a_one_frame_a_64x48_and_a_4k_video(tmp_path):
    """A one-frame video gives its one frame; 64x48 is doubled (under 300 px wide); a 3840x2160 video is
    shrunk to a third (the width rule), every frame whole."""
    from common.stages import extract_frames as stage01

    videos = tmp_path / "videos" / "real"
    write_video(videos / "one.mp4", frames=1)
    write_video(videos / "tiny.mp4", frames=10, size=(64, 48))
    write_video(videos / "uhd.mp4", frames=3, size=(3840, 2160), fps=2.0)
    output = tmp_path / "frames"
    assert stage01.main(["--input", str(videos.parent), "--output", str(output), "--fps", "2"]) == 0
    manifest = pd.read_csv(output / "manifest.csv").set_index("video_id")
    assert manifest.loc[["real/one"], "frame_index"].tolist() == [0]
    assert set(manifest.loc["real/tiny", "width"]) == {128} and set(manifest.loc["real/tiny", "height"]) == {
        96
    }
    assert set(manifest.loc["real/uhd", "width"]) == {1267} and len(manifest.loc["real/uhd"]) == 3
    for path in manifest["path"]:
        image = cv2.imread(str(output / path))
        assert image is not None and image.shape[2] == 3


def test_an_output_that_cannot_be_written_is_one_line_naming_it(labelled_videos, tmp_path, capsys):
    """A path through a regular file (an OSError, as a read-only folder gives a user who is not root)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    from common.stages import extract_frames as stage01

    code = stage01.main(["--input", str(labelled_videos), "--output", str(blocker / "out")])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
    assert str(blocker) in errors[0] and "Not a directory" in errors[0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_one_line_naming_it(labelled_videos, tmp_path, capsys):
    output = tmp_path / "frames"
    output.mkdir()
    output.chmod(0o500)
    try:
        code = extract_frames.main(["--input", str(labelled_videos), "--output", str(output)])
    finally:
        output.chmod(0o700)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert code == 2 and len(errors) == 1 and "Permission denied" in errors[0] and "Traceback" not in err, err


def test_stage_02_with_corrupt_truncated_and_grey_frame_jpegs_records_them_and_goes_on(
    labelled_videos, tmp_path
):
    """A frame file that is not a JPEG is a skipped frame ("unreadable frame image") and the run goes on; a
    truncated JPEG decodes (libjpeg fills the missing rows) and a one-channel JPEG is read as three, each
    searched for faces like any frame."""
    from common.stages import crop_faces as stage02
    from common.stages import extract_frames as stage01

    frames = tmp_path / "frames"
    assert stage01.main(["--input", str(labelled_videos), "--output", str(frames), "--fps", "2"]) == 0
    manifest = pd.read_csv(frames / "manifest.csv")
    garbage, cut, grey = (frames / path for path in manifest["path"].iloc[:3])
    garbage.write_bytes(b"not a jpeg at all")
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    cv2.imwrite(str(grey), cv2.cvtColor(cv2.imread(str(grey)), cv2.COLOR_BGR2GRAY))  # one channel
    faces = tmp_path / "faces"
    assert stage02.main(["--input", str(frames), "--output", str(faces), "--workers", "1"]) == 0
    skipped = pd.read_csv(faces / "skipped_frames.csv").set_index("frame_path")["error"]
    assert skipped[manifest["path"].iloc[0]] == "unreadable frame image"
    for readable in manifest["path"].iloc[1:3]:  # read (as 3 channels), and faceless like the others
        assert skipped[readable] == "no face"
    assert (faces / "manifest.csv").is_file()


@pytest.mark.parametrize("reported", [0.0, float("nan"), 1000.0])
def test_a_container_reporting_a_wrong_frame_rate_is_sampled_by_its_timestamps(
    labelled_videos, tmp_path, monkeypatch, capsys, reported
):
    """The videos are 10 frames/s (2 and 2.5 s long); their container is made to report 0, NaN or 1000
    frames/s. Stage 01 at 2 frames/s samples 4 and 5 frames, as from honest files (before: 30 frames/s was
    assumed for 0 and NaN, and 1000 believed, giving one frame each), with a warning naming the file."""
    import common.io.video

    honest = cv2.VideoCapture

    class Misreporting:
        def __init__(self, *args):
            self.capture = honest(*args)

        def get(self, prop):
            return reported if prop == cv2.CAP_PROP_FPS else self.capture.get(prop)

        def __getattr__(self, name):
            return getattr(self.capture, name)

    monkeypatch.setattr(common.io.video.cv2, "VideoCapture", Misreporting)
    from common.stages import extract_frames as stage01

    output = tmp_path / "frames"
    argv = ["--input", str(labelled_videos), "--output", str(output), "--fps", "2", "--workers", "1"]
    assert stage01.main(argv) == 0
    per_video = pd.read_csv(output / "manifest.csv").groupby("video_id").size()
    assert per_video["real/real0"] == 4 and per_video["real/real1"] == 5
    assert "real0.mp4 reports" in capsys.readouterr().err


def test_stage_02_killed_mid_run_then_rerun_equals_an_uninterrupted_run_file_for_file(tmp_path):

    from test_stages_01_03 import stage01_on_copies, tree_digest

    _, frames, command = stage01_on_copies(tmp_path, count=6, frames=60, workers=1)
    assert subprocess.run([*command[:4], "--output", str(frames), "--fps", "10"], cwd=ROOT).returncode == 0
    faces = tmp_path / "faces"
    stage02 = [sys.executable, str(ROOT / "02-crop-faces-with-mtcnn.py"), "--input", str(frames)]
    process = subprocess.Popen([*stage02, "--output", str(faces), "--workers", "1"], cwd=ROOT)
    kill_when(process, finished_parts(faces, 2), "stage 02")
    assert not (faces / "manifest.csv").exists()

    assert subprocess.run([*stage02, "--output", str(faces), "--workers", "1"], cwd=ROOT).returncode == 0
    whole = tmp_path / "whole"
    assert subprocess.run([*stage02, "--output", str(whole), "--workers", "1"], cwd=ROOT).returncode == 0
    assert tree_digest(faces) == tree_digest(whole)


def test_stage_03_killed_mid_copy_then_rerun_equals_an_uninterrupted_run_file_for_file(tmp_path):

    from test_dataset import faces_manifest, write_faces_folder
    from test_stages_01_03 import tree_digest

    write_faces_folder(tmp_path / "faces", faces_manifest(groups=40, fakes_per_real=3, frames=25))  # 4,000
    stage03 = [
        sys.executable,
        str(ROOT / "03-prepare-fake-real-dataset.py"),
        "--input",
        str(tmp_path / "faces"),
    ]
    dataset = tmp_path / "dataset"
    process = subprocess.Popen([*stage03, "--output", str(dataset)], cwd=ROOT, stdout=subprocess.DEVNULL)
    kill_when(process, lambda: sum(1 for _ in dataset.glob("*/*/*.jpg")) >= 100, "stage 03")
    assert not (dataset / "split.csv").exists()

    assert (
        subprocess.run([*stage03, "--output", str(dataset)], cwd=ROOT, stdout=subprocess.DEVNULL).returncode
        == 0
    )
    whole = tmp_path / "whole"
    assert (
        subprocess.run([*stage03, "--output", str(whole)], cwd=ROOT, stdout=subprocess.DEVNULL).returncode
        == 0
    )
    assert tree_digest(dataset) == tree_digest(whole)


def test_a_directory_symlink_loop_under_the_input_is_listed_once_and_the_run_ends(labelled_videos, tmp_path):
    (labelled_videos / "real" / "again").symlink_to(labelled_videos, target_is_directory=True)
    from common.stages import extract_frames as stage01

    output = tmp_path / "frames"
    assert stage01.main(["--input", str(labelled_videos), "--output", str(output)]) == 0
    videos = pd.read_csv(output / "manifest.csv")["video_id"].unique()
    assert sorted(videos) == ["fake/fake0", "fake/fake1", "real/real0", "real/real1"]


def test_odd_names_a_text_and_an_image_named_mp4_through_stages_01_and_05_and_the_input_untouched(
    tmp_path, monkeypatch
):
    """A name with spaces, unicode and shell characters is processed like any; a text file named .mp4 fails
    in one line ("cannot open as a video") and the run goes on; an image named .mp4 is read as a one-frame
    video (FFmpeg opens it). Nothing under --input is written by either stage."""
    import matplotlib
    from test_predict import BoxDetector
    from test_stages_01_03 import tree_digest

    from common.inference import scorer

    videos = tmp_path / "videos" / "real"
    write_video(videos / "clip 'één' $(rm -rf x) & ;.mp4", frames=20)  # 2 s
    (videos / "text.mp4").write_text("not a video\n")
    photo = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    (videos / "photo.mp4").write_bytes(photo.read_bytes())
    before = tree_digest(videos.parent)

    output = tmp_path / "frames"
    assert extract_frames.main(["--input", str(videos.parent), "--output", str(output)]) == 1
    counts = pd.read_csv(output / "manifest.csv").groupby("video_id").size().to_dict()
    assert counts == {"real/clip 'één' $(rm -rf x) & ;": 2, "real/photo": 1}
    assert pd.read_csv(output / "failed.csv")["error"].tolist() == ["cannot open as a video"]

    run = tmp_path / "run"
    save_model(build_model("small_cnn", 32, None), run / MODEL_FILE, METADATA)
    monkeypatch.setattr(scorer, "build_detector", lambda preprocess: BoxDetector())
    scores = tmp_path / "scores.csv"
    argv = ["--model", str(run), "--input", str(videos.parent), "--output", str(scores), "--frames", "4"]
    assert predict_videos.main(argv) == 1  # text.mp4 could not be read
    rows = pd.read_csv(scores, keep_default_na=False).set_index("video")
    assert rows.loc["real/clip 'één' $(rm -rf x) & ;.mp4", "frames_sampled"] == 4
    assert rows.loc["real/photo.mp4", "frames_sampled"] == 1
    assert rows.loc["real/text.mp4", "verdict"] == "UNKNOWN" and rows.loc["real/text.mp4", "error"]
    assert tree_digest(videos.parent) == before


@pytest.mark.parametrize("stage", ["03", "04"])
def test_a_manifest_missing_a_column_is_one_line_naming_the_file_and_the_column(tmp_path, capsys, stage):
    from test_dataset import faces_manifest, write_faces_folder
    from test_train import write_dataset

    if stage == "03":
        folder, manifest, stage_module = tmp_path / "faces", "manifest.csv", prepare_dataset
        write_faces_folder(folder, faces_manifest(groups=6, fakes_per_real=1, frames=2))
    else:
        folder, manifest, stage_module = tmp_path / "dataset", "split.csv", train_detector
        write_dataset(folder, videos_per_class=(1, 1, 1), frames=1)
    table = pd.read_csv(folder / manifest)
    table.drop(columns="label").to_csv(folder / manifest, index=False)
    capsys.readouterr()
    flags = ["--weights", "none"] if stage == "04" else []
    code = stage_module.main(["--input", str(folder), "--output", str(tmp_path / "out"), *flags])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"{folder / manifest} lacks columns ['label']" in err
