"""Tests for tools/demo.py and 00-make-demo-videos.py on a tiny generated set."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2
import numpy as np
import pytest

from common.core.errors import UserError
from common.faces.tracks import iou
from common.stages import make_demo_videos
from tools import demo

N_REAL = 3  # one clip per face photo
SECONDS = 1.0
FPS = 8
SIZE = (256, 256)
N_FRAMES = round(SECONDS * FPS)
MIN_CONFIDENCE = 0.95


def read_frames(path):
    capture = cv2.VideoCapture(str(path))
    try:
        assert capture.isOpened(), path
        frames = []
        while True:
            ok, frame = capture.read()
            if not ok:
                return frames
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()


def make_tiny_set(out_dir, seed=0, prefix="demo"):
    return demo.make_demo_videos(
        out_dir, n_real=N_REAL, seed=seed, seconds=SECONDS, fps=FPS, size=SIZE, prefix=prefix
    )


def confident_faces(detector, rgb):
    return [face for face in detector.detect_faces(rgb) if face["confidence"] >= MIN_CONFIDENCE]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("demo")
    make_tiny_set(out_dir)
    return out_dir


@pytest.fixture(scope="module")
def metadata(demo_dir):
    return json.loads((demo_dir / "metadata.json").read_text())


@pytest.fixture(scope="module")
def detector():
    from mtcnn import MTCNN

    return MTCNN()


def test_layout_and_metadata(demo_dir, metadata):
    reals = sorted(p.name for p in (demo_dir / "real").iterdir())
    fakes = sorted(p.name for p in (demo_dir / "fake").iterdir())
    assert reals == [f"demo_r{i:03d}.mp4" for i in range(N_REAL)]
    assert fakes == [f"demo_f{i:03d}.mp4" for i in range(N_REAL)]
    assert sorted(p.name for p in demo_dir.iterdir()) == ["fake", "metadata.json", "real"]
    assert metadata["real/demo_r000.mp4"] == {"label": "REAL"}
    assert metadata["fake/demo_f000.mp4"] == {"label": "FAKE", "original": "demo_r000.mp4"}
    assert len(metadata) == 2 * N_REAL
    for key, entry in metadata.items():
        assert (demo_dir / key).is_file()
        if entry["label"] == "FAKE":
            assert key.startswith("fake/")
            assert (demo_dir / "real" / entry["original"]).is_file()
        else:
            assert entry == {"label": "REAL"} and key.startswith("real/")


def test_videos_open_with_expected_frames_and_size(demo_dir, metadata):
    for key in metadata:
        frames = read_frames(demo_dir / key)
        assert len(frames) == N_FRAMES, key
        assert frames[0].shape == (SIZE[1], SIZE[0], 3), key


def test_hard_coded_face_boxes_match_mtcnn(detector):
    for photo in demo.load_face_photos():
        faces = confident_faces(detector, photo.image)
        assert len(faces) == 1, photo.name
        assert iou(faces[0]["box"], photo.box) > 0.8, photo.name


ALL_CLIPS = [f"{kind}/demo_{kind[0]}{i:03d}.mp4" for i in range(N_REAL) for kind in ("real", "fake")]


@pytest.mark.parametrize("key", ALL_CLIPS)
def test_mtcnn_finds_one_confident_big_face_per_frame(demo_dir, detector, key):
    frames = read_frames(demo_dir / key)[::2]
    found = [confident_faces(detector, frame) for frame in frames]
    n_single = sum(len(faces) == 1 for faces in found)
    assert n_single >= len(frames) - 1, [[round(float(f["confidence"]), 3) for f in faces] for faces in found]
    assert min(faces[0]["box"][2] for faces in found if faces) >= 60


def test_fake_differs_from_its_real_mostly_inside_the_face(demo_dir, metadata, detector):
    for key, entry in metadata.items():
        if entry["label"] != "FAKE":
            continue
        real = read_frames(demo_dir / "real" / entry["original"])[0].astype(np.float32)
        fake = read_frames(demo_dir / key)[0].astype(np.float32)
        x, y, w, h = confident_faces(detector, real.astype(np.uint8))[0]["box"]
        inside = np.zeros(real.shape[:2], dtype=bool)
        inside[y : y + h, x : x + w] = True
        difference = np.abs(real - fake).mean(axis=2)
        assert difference[inside].mean() > 5.0, key
        assert difference[inside].mean() > 5 * difference[~inside].mean(), key


def test_same_seed_same_frames_other_seed_or_prefix_other_frames(demo_dir, tmp_path):
    make_tiny_set(tmp_path / "again")
    make_tiny_set(tmp_path / "seed1", seed=1)
    make_tiny_set(tmp_path / "holdout", prefix="holdout")
    for kind, name in [("real", "demo_r000.mp4"), ("fake", "demo_f000.mp4")]:
        original = np.stack(read_frames(demo_dir / kind / name))
        assert np.array_equal(original, np.stack(read_frames(tmp_path / "again" / kind / name)))
        other_seed = np.stack(read_frames(tmp_path / "seed1" / kind / name))
        assert np.abs(original.astype(np.int16) - other_seed).mean() > 3.0
    holdout = np.stack(read_frames(tmp_path / "holdout" / "real" / "holdout_r000.mp4"))
    original = np.stack(read_frames(demo_dir / "real" / "demo_r000.mp4"))
    assert np.abs(holdout.astype(np.int16) - original).mean() > 3.0


def test_rerun_skips_existing_videos(demo_dir, metadata):
    videos = sorted(demo_dir.glob("*/*.mp4"))
    stamps = {path: path.stat().st_mtime_ns for path in videos}
    reported = []
    demo.make_demo_videos(
        demo_dir, n_real=N_REAL, seconds=SECONDS, fps=FPS, size=SIZE, progress=lambda p, w: reported.append(w)
    )
    assert reported == [False] * len(videos)
    assert {path: path.stat().st_mtime_ns for path in videos} == stamps
    assert json.loads((demo_dir / "metadata.json").read_text()) == metadata
    assert not list(demo_dir.rglob(".*tmp*"))


def test_missing_fake_is_regenerated_identically(tmp_path):
    make_tiny_set(tmp_path)
    fake = tmp_path / "fake" / "demo_f001.mp4"
    before = np.stack(read_frames(fake))
    fake.unlink()
    make_tiny_set(tmp_path)
    assert np.array_equal(before, np.stack(read_frames(fake)))


def test_another_prefix_in_the_same_folder_keeps_earlier_entries(tmp_path):
    tiny = {"n_real": 1, "seconds": 0.25, "fps": 4, "size": (128, 128)}
    demo.make_demo_videos(tmp_path, prefix="demo", **tiny)
    demo.make_demo_videos(tmp_path, prefix="extra", seed=1, **tiny)
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert sorted(metadata) == [
        "fake/demo_f000.mp4",
        "fake/extra_f000.mp4",
        "real/demo_r000.mp4",
        "real/extra_r000.mp4",
    ]


@pytest.mark.parametrize(
    "kwargs",
    [{"n_real": 0}, {"fps": 0}, {"seconds": 0.01}, {"size": (64, 64)}, {"prefix": "a/b"}, {"seed": -1}],
)
def test_bad_arguments_raise(tmp_path, kwargs):
    with pytest.raises(UserError):
        demo.make_demo_videos(tmp_path, **kwargs)


def load_cli():
    return make_demo_videos


def test_cli_writes_videos_and_prints_summary(tmp_path, capsys):
    cli = load_cli()
    cli.main(
        ["--output", str(tmp_path), "--n-real", "1", "--seconds", "0.5", "--fps", "4", "--prefix", "cli"]
    )
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert "1 real + 1 fake" in summary and str(tmp_path) in summary
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert sorted(metadata) == ["fake/cli_f000.mp4", "real/cli_r000.mp4"]


@pytest.mark.parametrize(
    "argv", [["--n-real", "0"], ["--fps", "-1"], ["--seconds", "abc"], ["--seed", "-3"], ["--fps", "0.1"], []]
)
def test_cli_rejects_bad_arguments(tmp_path, capsys, argv):
    cli = load_cli()
    output = [] if argv == [] else ["--output", str(tmp_path)]
    try:  # argparse rejects a malformed flag, run_stage an inconsistent set: both exit non-zero
        code = cli.main(output + argv)
    except SystemExit as exit_info:
        code = exit_info.code
    assert code != 0
    errors = capsys.readouterr().err.strip().splitlines()
    assert "error:" in errors[-1]
    assert not (tmp_path / "real").exists()


def test_cli_help_explains_flags(capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_cli().main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ["--output", "--n-real", "--seconds", "--fps", "--seed", "--prefix"]:
        assert flag in text
