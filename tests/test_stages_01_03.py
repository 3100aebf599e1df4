"""Stages 01-03 from the command line: bad input, interruption and resumption, help and errors."""

import hashlib
import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, start_interruptible, write_video

from common.core.manifest import read_pipeline
from common.faces.base import Face
from common.stages import crop_faces, extract_frames

stage01, stage02 = (
    extract_frames,
    crop_faces,
)  # what 01-convert-video-to-image.py and 02-crop-faces-with-mtcnn.py run


def tree_digest(folder):
    """Path -> content hash of every file below ``folder`` except the run's problem lists."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha1(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_corrupt_empty_and_non_video_files_are_recorded_and_the_run_goes_on(
    labelled_videos, tmp_path, capsys
):
    (labelled_videos / "fake" / "corrupt.mp4").write_bytes(
        b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20
    )
    (labelled_videos / "fake" / "empty.mp4").write_bytes(b"")
    (labelled_videos / "real" / "notes.txt").write_text("not a video")
    # exit code 1: something failed (the rest is done)
    assert stage01.main(["--input", str(labelled_videos), "--output", str(tmp_path / "frames")]) == 1
    failed = pd.read_csv(tmp_path / "frames" / "failed.csv")
    assert sorted(failed["video_id"]) == ["fake/corrupt", "fake/empty", "real/notes"]
    assert failed.set_index("video_id").loc["fake/empty", "error"] == "empty file"
    manifest = pd.read_csv(tmp_path / "frames" / "manifest.csv")
    assert sorted(manifest["video_id"].unique()) == ["fake/fake0", "fake/fake1", "real/real0", "real/real1"]
    assert set(manifest.loc[manifest["video_id"].str.startswith("fake/"), "label"]) == {
        1
    }  # fake = 1, in code
    assert "7 videos (0 done before, 3 failed)" in capsys.readouterr().out
    for path in manifest["path"]:
        assert (tmp_path / "frames" / path).is_file()


def test_frame_count_and_resize_of_a_small_video(labelled_videos, tmp_path):
    stage01.main(["--input", str(labelled_videos), "--output", str(tmp_path / "out"), "--fps", "2"])
    manifest = pd.read_csv(tmp_path / "out" / "manifest.csv")
    per_video = manifest.groupby("video_id").size()
    assert per_video["real/real0"] == 4 and per_video["real/real1"] == 5  # 2 s and 2.5 s at 2 frames/s
    assert set(manifest["width"]) == {320} and set(manifest["scale"]) == {2.0}  # 160 px wide: doubled


def test_interrupted_then_resumed_run_equals_an_uninterrupted_one(labelled_videos, tmp_path, monkeypatch):
    whole = tmp_path / "whole"
    assert stage01.main(["--input", str(labelled_videos), "--output", str(whole)]) == 0

    original = stage01.extract_video
    calls = []

    def interrupted_on_third_video(record, **settings):
        calls.append(record.video_id)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(record, **settings)

    resumed = tmp_path / "resumed"
    monkeypatch.setattr(stage01, "extract_video", interrupted_on_third_video)
    assert stage01.main(["--input", str(labelled_videos), "--output", str(resumed), "--workers", "1"]) == 130
    assert not (resumed / "manifest.csv").exists()  # no manifest claims a complete run
    monkeypatch.setattr(stage01, "extract_video", original)
    assert stage01.main(["--input", str(labelled_videos), "--output", str(resumed)]) == 0
    assert tree_digest(resumed) == tree_digest(whole)
    assert not list(resumed.rglob(".*tmp*"))  # no temporary file left behind


def run_cli(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "script, flags",
    [
        ("01-convert-video-to-image.py", ["--fps", "--max-frames", "--dataset"]),
        ("02-crop-faces-with-mtcnn.py", ["--min-confidence", "--margin"]),
        ("03-prepare-fake-real-dataset.py", ["--split", "--balance", "--no-balance", "--seed"]),
    ],
)
def test_help_explains_the_flags(script, flags):
    result = run_cli(script, "--help")
    assert result.returncode == 0
    for flag in ["--input", "--output", "--config", *flags]:
        assert flag in result.stdout


def test_bad_arguments_give_one_line_and_a_non_zero_exit(tmp_path):
    missing = run_cli(
        "01-convert-video-to-image.py", "--input", str(tmp_path / "nowhere"), "--output", str(tmp_path / "o")
    )
    assert missing.returncode != 0 and "input not found" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    (tmp_path / "in").mkdir()
    inside = run_cli(
        "03-prepare-fake-real-dataset.py",
        "--input",
        str(tmp_path / "in"),
        "--output",
        str(tmp_path / "in" / "o"),
    )
    assert inside.returncode != 0 and "inside --input" in inside.stderr
    not_stage01 = run_cli(
        "02-crop-faces-with-mtcnn.py", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "o")
    )
    assert (
        not_stage01.returncode != 0 and "01-convert-video-to-image.py" in not_stage01.stderr.splitlines()[-1]
    )


def test_stage01_does_not_import_tensorflow(labelled_videos, tmp_path):
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); from common.stages import extract_frames; "
        f"extract_frames.main(['--input', {str(labelled_videos)!r}, "
        f"'--output', {str(tmp_path / 'o')!r}]); assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT / "tests", capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture
def celebrity_videos(tmp_path):
    """A folder layout whose file names carry the identity: idA_NNNN (real) and idA_idB_NNNN (fakes of idA)."""
    root = tmp_path / "videos"
    for person in range(4):
        write_video(root / "real" / f"id{person}_0000.mp4", frames=10)
        write_video(root / "fake" / f"id{person}_id{(person + 1) % 4}_0000.mp4", frames=10)
    return root


def test_without_grouping_a_folder_dataset_warns_that_fakes_may_leak(celebrity_videos, tmp_path, capsys):
    assert stage01.main(["--input", str(celebrity_videos), "--output", str(tmp_path / "frames")]) == 0
    assert "4 of 4 fake videos have no known source video or group" in capsys.readouterr().err
    manifest = pd.read_csv(tmp_path / "frames" / "manifest.csv", keep_default_na=False)
    assert (manifest["group"] == manifest["video_id"]).all()


def test_a_group_pattern_keeps_each_identity_in_one_group(celebrity_videos, tmp_path, capsys):
    assert (
        stage01.main(
            [
                "--input",
                str(celebrity_videos),
                "--output",
                str(tmp_path / "frames"),
                "--group-pattern",
                "^(id[0-9]+)_",
            ]
        )
        == 0
    )
    assert "no known source" not in capsys.readouterr().err
    videos = (
        pd.read_csv(tmp_path / "frames" / "manifest.csv").drop_duplicates("video_id").set_index("video_id")
    )
    assert videos.loc["real/id2_0000", "group"] == videos.loc["fake/id2_id3_0000", "group"] == "id2"
    assert videos["group"].nunique() == 4


def test_a_groups_csv_names_videos_by_id_or_file_name_and_must_cover_every_video(celebrity_videos, tmp_path):
    from common.core.errors import UserError
    from common.data.adapters import list_videos

    groups = tmp_path / "groups.csv"
    rows = [f"real/id{p}_0000,person{p}\nid{p}_id{(p + 1) % 4}_0000.mp4,person{p}" for p in range(4)]
    groups.write_text("video,group\n" + "\n".join(rows) + "\n")
    records = {record.video_id: record.group for record in list_videos(celebrity_videos, groups=groups)}
    assert records["real/id1_0000"] == records["fake/id1_id2_0000"] == "person1"
    groups.write_text("video,group\n" + "\n".join(rows[:3]) + "\n")
    with pytest.raises(UserError, match="gives no group for 2 of 8 videos: fake/id3_id0_0000, real/id3_0000"):
        list_videos(celebrity_videos, groups=groups)
    with pytest.raises(UserError, match="gives no group for 8 of 8 videos"):
        list_videos(celebrity_videos, group_pattern="^(person)")


class BrightSquareDetector:
    """A stand-in detector: the bright square of each frame is its face; remembers the frame widths."""

    def __init__(self):
        self.widths = []

    def detect(self, frames_rgb):
        self.widths += [frame.shape[1] for frame in frames_rgb]
        found = []
        for frame in frames_rgb:
            ys, xs = np.nonzero(frame[..., 0] > 200)
            box = (int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)
            found.append([Face(box, 0.99)])
        return found


def write_square_video(path, size=(1280, 720), square=(600, 300, 120, 160), frames=10):
    """An mp4v video: a bright square (the face) on a dark frame."""
    x, y, w, h = square
    frame = np.full((size[1], size[0], 3), 40, np.uint8)
    frame[y : y + h, x : x + w] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, size)
    for _ in range(frames):
        writer.write(frame)
    writer.release()


@pytest.mark.parametrize(("resize", "crop_width"), [("width_rule", 96), ("none", 192)])
def test_with_native_frames_faces_are_cropped_at_full_detail_and_detected_at_the_set_width(
    tmp_path, monkeypatch, resize, crop_width
):
    write_square_video(tmp_path / "videos" / "real" / "clip.mp4")  # 1280 px: the width rule halves it
    frames, faces = tmp_path / "frames", tmp_path / "faces"
    assert (
        stage01.main(
            ["--input", str(tmp_path / "videos"), "--output", str(frames), "--resize", resize, "--fps", "10"]
        )
        == 0
    )
    detector = BrightSquareDetector()
    monkeypatch.setattr(stage02, "build_detector", lambda preprocess: detector)
    assert stage02.main(["--input", str(frames), "--output", str(faces), "--detect-max-width", "640"]) == 0
    assert set(detector.widths) == {640}  # detection at the same size either way
    manifest = pd.read_csv(faces / "manifest.csv")
    assert len(manifest) == 10
    scale = 1.0 if resize == "none" else 0.5
    assert (manifest["box_w"] - 120 * scale).abs().max() <= 2  # boxes in pixels of the saved frame
    crop = cv2.imread(str(faces / manifest["path"].iloc[0]))
    assert abs(crop.shape[1] - crop_width) <= 3  # the box and 30 % on each side


def test_stage_02_with_worker_processes_crops_the_same_faces_as_one_process(tmp_path):
    from tools.demo import make_demo_videos

    make_demo_videos(tmp_path / "videos", n_real=2, seconds=1.0, fps=4.0, seed=3)
    frames = tmp_path / "frames"
    assert (
        stage01.main(["--input", str(tmp_path / "videos"), "--output", str(frames), "--dataset", "dfdc"]) == 0
    )
    assert stage02.main(["--input", str(frames), "--output", str(tmp_path / "faces1"), "--workers", "1"]) == 0
    # as a user runs it: TensorFlow is not loaded in the stage's own process, so its workers are forked
    command = [sys.executable, str(ROOT / "02-crop-faces-with-mtcnn.py"), "--input", str(frames)]
    two = subprocess.run([*command, "--output", str(tmp_path / "faces2"), "--workers", "2"], cwd=ROOT)
    assert two.returncode == 0
    manifests = [
        pd.read_csv(tmp_path / f"faces{workers}" / "manifest.csv").sort_values(["video_id", "frame_index"])
        for workers in ("1", "2")
    ]
    one, two = manifests
    assert len(one) >= 4 and one["video_id"].nunique() == 4  # 2 real, 2 fake videos, faces in each
    pd.testing.assert_frame_equal(one.reset_index(drop=True), two.reset_index(drop=True))
    for path in one["path"]:
        assert (tmp_path / "faces1" / path).read_bytes() == (tmp_path / "faces2" / path).read_bytes()


def test_video_ids_that_differ_only_by_a_path_separator_keep_their_own_frames(tmp_path):
    videos = tmp_path / "videos"
    write_video(videos / "real" / "x__y.mp4", frames=20, size=(160, 120))
    write_video(videos / "real" / "x" / "y.mp4", frames=30, size=(200, 120))
    assert stage01.main(["--input", str(videos), "--output", str(tmp_path / "frames")]) == 0
    manifest = pd.read_csv(tmp_path / "frames" / "manifest.csv")
    assert manifest.groupby("video_id").size().to_dict() == {"real/x/y": 3, "real/x__y": 2}  # 3 s, 2 s
    assert manifest["path"].is_unique
    for row in manifest.itertuples():  # each frame file holds a frame of its own video
        assert cv2.imread(str(tmp_path / "frames" / row.path)).shape[:2] == (row.height, row.width)
    assert set(manifest["width"]) == {320, 400}


def test_shards_run_one_after_the_other_equal_the_unsharded_run_file_for_file(tmp_path, monkeypatch, capsys):
    from common.core.shard import Shard

    videos = tmp_path / "videos"
    ids = []
    for number in range(6):
        label = ("real", "fake")[number % 2]
        square = (100 + 40 * number, 80, 60 + 10 * number, 80)
        write_square_video(videos / label / f"v{number}.mp4", size=(480, 270), square=square, frames=12)
        ids.append(f"{label}/v{number}")
    assert all(any(Shard(k, 2).holds(video_id) for video_id in ids) for k in (0, 1))  # neither is empty
    monkeypatch.setattr(stage02, "build_detector", lambda preprocess: BrightSquareDetector())

    def run_stages(root, shards):
        frames, faces = root / "frames", root / "faces"
        for shard in shards:
            assert stage01.main(["--input", str(videos), "--output", str(frames), "--fps", "5", *shard]) == 0
        for shard in shards:
            assert stage02.main(["--input", str(frames), "--output", str(faces), *shard]) == 0
        return frames, faces

    whole = run_stages(tmp_path / "whole", [[]])
    frames = tmp_path / "sharded" / "frames"
    assert (
        stage01.main(["--input", str(videos), "--output", str(frames), "--fps", "5", "--shard", "0/2"]) == 0
    )
    assert not (frames / "manifest.csv").exists()  # shard 1 has not run: no manifest claims every video
    capsys.readouterr()
    assert stage02.main(["--input", str(frames), "--output", str(tmp_path / "early")]) == 2
    assert "has not finished" in capsys.readouterr().err  # not "is it the output of stage 01?"
    sharded = run_stages(tmp_path / "sharded", [["--shard", "1/2"], ["--shard", "0/2"]])
    for whole_folder, sharded_folder in zip(whole, sharded):
        assert tree_digest(sharded_folder) == tree_digest(whole_folder)
    assert len(pd.read_csv(sharded[1] / "manifest.csv")) == 6 * 12 // 2  # 5 of 10 fps: every face kept


def stage01_on_copies(tmp_path, count, frames, workers):
    """``count`` links to one 640x360 clip of ``frames`` frames in a folder dataset (``videos``: its real/
    folder), and the command line of stage 01 sampling all 30 frames/s of them into ``output``."""
    clip = write_video(tmp_path / "clip.mp4", frames=frames, size=(640, 360), fps=30.0)
    videos = tmp_path / "videos" / "real"
    videos.mkdir(parents=True)
    for number in range(count):
        (videos / f"v{number}.mp4").symlink_to(clip)
    output = tmp_path / "frames"
    command = [sys.executable, str(ROOT / "01-convert-video-to-image.py"), "--input", str(videos.parent)]
    return videos, output, [*command, "--output", str(output), "--fps", "30", "--workers", str(workers)]


def test_ctrl_c_with_worker_processes_stops_soon_and_the_rerun_completes_the_same_tree(tmp_path):
    """SIGINT to the whole process group, as Ctrl-C in a terminal sends it: the videos not yet started are
    dropped at once (they were worked through before the run exited, unrecorded), and nothing is half-written."""
    import os
    import signal
    import time

    videos, output, command = stage01_on_copies(tmp_path, count=12, frames=300, workers=2)
    process = start_interruptible(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while (
        not list((output / "parts").glob("[!.]*.csv"))
        and process.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    assert process.poll() is None, "stage 01 ended before it could be interrupted"
    started = len(list((output / "frames" / "real").iterdir()))
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=120) == 130 and "interrupted" in process.stderr.read().decode()
    done = len(list((output / "parts").glob("[!.]*.csv")))
    assert 1 <= done < 12
    # no video starts after Ctrl-C (one may start between the count and the signal); before, the 3 videos
    # queued ahead to the workers were worked through, unrecorded
    assert len(list((output / "frames" / "real").iterdir())) <= started + 1
    assert not list(output.rglob(".*tmp*")) and not (output / "manifest.csv").exists()

    assert stage01.main(["--input", str(videos.parent), "--output", str(output), "--fps", "30"]) == 0
    whole = tmp_path / "whole"
    assert stage01.main(["--input", str(videos.parent), "--output", str(whole), "--fps", "30"]) == 0
    assert tree_digest(output) == tree_digest(whole)


class TwoPeopleDetector:
    """A stand-in detector: in every frame a large face on the left and a small one on the right (the target
    and a person in the background), the left one drifting 1.5 box widths between the sampled frames."""

    def __init__(self):
        self.calls = 0

    def detect(self, frames_rgb):
        found = []
        for _ in frames_rgb:
            left = 10 + 60 * (self.calls % 2)  # boxes 40 px wide: no overlap between two samples
            found.append([Face((left, 20, 40, 48), 0.99), Face((250, 30, 16, 20), 0.99)])
            self.calls += 1
        return found


@pytest.mark.parametrize(("faces", "tracks"), [("all", 2), ("main", 1)])
def test_stage_02_keeps_every_person_or_only_the_main_face(tmp_path, monkeypatch, faces, tracks):
    write_video(tmp_path / "videos" / "fake" / "two.mp4", frames=40, fps=10.0)
    frames = tmp_path / "frames"
    argv = ["--input", str(tmp_path / "videos"), "--output", str(frames), "--sampling", "frames"]
    assert stage01.main([*argv, "--frames", "6"]) == 0
    assert len(pd.read_csv(frames / "manifest.csv")) == 6  # 6 evenly spaced frames of the 4 s clip
    monkeypatch.setattr(stage02, "build_detector", lambda preprocess: TwoPeopleDetector())
    assert stage02.main(["--input", str(frames), "--output", str(tmp_path / "out"), "--faces", faces]) == 0
    manifest = pd.read_csv(tmp_path / "out" / "manifest.csv")
    assert manifest["track_id"].nunique() == tracks and len(manifest) == 6 * tracks
    target = manifest[manifest["track_id"] == 0]
    assert (
        set(target["box_w"]) == {40} and target["frame_index"].is_unique
    )  # the large face, moving: one track
    assert read_pipeline(tmp_path / "out")["preprocess"]["faces"] == faces  # it travels to the model file
