"""Video models (*_lstm): windows over face tracks, training in stage 04, scoring in a fresh stage 05."""

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from test_predict import write_face_video
from test_train import write_dataset

from common.core.config import load_config
from common.core.model_file import read_metadata
from common.data.pipeline import augment_window
from common.models import video as sequence
from common.stages import train_detector as stage04


def tracks_table():
    """Rows of two splits, two videos per split, two tracks per video of lengths 1..7, shuffled."""
    rows = []
    lengths = iter([1, 3, 5, 7, 2, 6, 4, 3])
    for split in ("train", "test"):
        for video in ("a", "b"):
            for track in (0, 1):
                for frame in range(next(lengths)):
                    rows.append(
                        {
                            "split": split,
                            "video_id": f"{split}_{video}",
                            "track_id": track,
                            "frame_index": 2 * frame + track,
                            "label": int(video == "b"),
                        }
                    )
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0).reset_index(drop=True)


def test_windows_stay_in_one_track_in_frame_order_and_cover_every_crop():
    rows = tracks_table()
    windows = sequence.window_table(rows, 3)
    positions = sequence.window_positions(windows, 3)
    for window, held in zip(windows.itertuples(), positions):
        part = rows.iloc[held]
        assert part[["split", "video_id", "track_id"]].nunique().max() == 1  # one track, video, split
        assert (part["split"].iloc[0], part["video_id"].iloc[0]) == (window.split, window.video_id)
        frames = part["frame_index"].to_numpy()
        assert (np.diff(frames) >= 0).all() and (part["label"] == window.label).all()
        assert len(set(frames)) == 3 - window.padded  # only padding repeats a crop
    assert set(positions.reshape(-1)) == set(range(len(rows)))  # every crop is in a window
    per_track = windows.groupby(["split", "video_id", "track_id"]).size().tolist()
    assert per_track == [1, 2, 2, 1, 1, 1, 2, 3]  # test: lengths 2, 6, 4, 3; train: 1, 3, 5, 7


def test_a_short_track_is_padded_with_its_last_crop_and_a_long_one_ends_on_its_last_crops():
    rows = pd.DataFrame(
        {"split": "test", "video_id": "v", "track_id": [0, 0, 1, 1, 1, 1], "label": 0},
    ).assign(frame_index=[5, 1, 0, 1, 2, 3])
    windows = sequence.window_table(rows, 3)
    assert windows["positions"].tolist() == [(1, 0, 0), (2, 3, 4), (3, 4, 5)]
    assert windows["padded"].tolist() == [1, 0, 0]
    assert sequence.window_table(rows, 2, stride=1)["positions"].tolist() == [(1, 0), (2, 3), (3, 4), (4, 5)]
    scores = sequence.face_scores(6, sequence.window_positions(windows, 3), [0.2, 0.4, 0.8])
    np.testing.assert_allclose(scores, [0.2, 0.2, 0.4, 0.6, 0.6, 0.8])  # the mean of the windows holding it


def test_video_model_names_are_valid_models_and_unknown_ones_are_not():
    assert load_config(overrides={"train.model": "mesonet4_lstm"})["train"]["model"] == "mesonet4_lstm"
    assert sequence.frame_model("efficientnet_b0_lstm") == "efficientnet_b0"
    assert sequence.frame_model("mesonet4") == "mesonet4"
    with pytest.raises(Exception, match=r"train\.model"):
        load_config(overrides={"train.model": "resnet_lstm"})


def test_efficientnet_b0_lstm_builds_at_its_minimum_size():
    model = sequence.build_video_model("efficientnet_b0_lstm", 32, 2, "none")
    windows = np.random.default_rng(0).uniform(0, 255, (3, 2, 32, 32, 3)).astype(np.float32)
    p_fake = np.asarray(model(windows, training=False))
    assert p_fake.shape == (3, 1) and np.isfinite(p_fake).all()
    assert ((p_fake >= 0) & (p_fake <= 1)).all()
    assert sequence.model_window(model) == 2


def test_mesonet4_lstm_trains_saves_and_a_fresh_stage_05_scores_a_video_with_it(tmp_path):
    dataset = write_dataset(tmp_path / "dataset", videos_per_class=(3, 1, 1), frames=5)
    split = pd.read_csv(dataset / "split.csv")
    split.assign(track_id=split["frame_index"] % 2).to_csv(dataset / "split.csv", index=False)  # 2 tracks
    runs = tmp_path / "runs"
    argv = ["--input", str(dataset), "--output", str(runs), "--model", "mesonet4_lstm", "--image-size", "32"]
    argv += ["--weights", "none", "--window", "3", "--epochs", "1", "--batch-size", "4"]
    assert stage04.main(argv) == 0
    run = (runs / "latest").resolve()
    assert read_metadata(run)["window"] == 3 and read_metadata(run)["model"] == "mesonet4_lstm"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["frame_level"]["n"] == 10 and metrics["video_level"]["n"] == 2
    faces = pd.read_csv(run / "test_faces.csv")
    assert len(faces) == 10 and faces["p_fake"].between(0, 1).all()
    # a track's faces share their windows' scores: track 1 (2 crops) is one padded window
    assert faces[faces["track_id"] == 1].groupby("video")["p_fake"].nunique().eq(1).all()

    video = write_face_video(tmp_path / "hopper.mp4", frames=4)
    output = tmp_path / "predictions.csv"
    command = [sys.executable, str(ROOT / "05-predict-video.py"), "--model", str(run), "--input", str(video)]
    command += ["--output", str(output), "--frames", "4", "--report-gradcam"]
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    (row,) = pd.read_csv(output, keep_default_na=False).to_dict("records")
    assert row["faces_scored"] == 4 and row["error"] == ""
    assert 0 <= float(row["fake_probability"]) <= 1 and row["verdict"] in ("FAKE", "REAL")
    # the analyst's report (one video: written by default) shows the video model's faces; Grad-CAM, which
    # needs an image model, is left out
    page = (tmp_path / "report.html").read_text()
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', page, re.S).group(1))
    (track,) = data["videos"][0]["tracks"]
    assert (
        len(track["faces"]) == 4 and track["strip"] and not any("gradcam" in face for face in track["faces"])
    )
    assert (
        data["model"]["window"] == 3 and data["model"]["test_auc"]["videos"] == metrics["video_level"]["auc"]
    )


def test_training_augmentation_transforms_every_crop_of_a_window_alike():
    import tensorflow as tf

    frame = np.random.default_rng(0).integers(0, 255, (32, 32, 3)).astype(np.uint8)
    frames = tf.constant(np.stack([frame] * 3))
    augmented = augment_window(frames, tf.constant([1, 5], tf.int64)).numpy()
    assert np.abs(augmented - augmented[0]).max() == 0  # one transform for the window
    assert np.abs(augmented - augment_window(frames, tf.constant([1, 6], tf.int64)).numpy()).max() > 0
