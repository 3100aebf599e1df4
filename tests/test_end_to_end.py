"""The whole pipeline, 01 -> 05, on generated videos: the model must learn to tell the fakes apart."""

import json

import pandas as pd
import pytest
from conftest import ROOT, load_script

from tools.demo import make_demo_videos

DEMO = ["--config", str(ROOT / "configs" / "demo.yaml")]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    work = tmp_path_factory.mktemp("pipeline")
    make_demo_videos(work / "videos", n_real=16, seconds=3.0, fps=8.0, seed=0)
    make_demo_videos(work / "heldout", n_real=5, seconds=3.0, fps=8.0, seed=1, prefix="heldout")
    stages = [
        (
            "01-convert-video-to-image.py",
            ["--dataset", "dfdc", "--input", work / "videos", "--output", work / "frames"],
        ),
        ("02-crop-faces-with-mtcnn.py", ["--input", work / "frames", "--output", work / "faces"]),
        ("03-prepare-fake-real-dataset.py", ["--input", work / "faces", "--output", work / "dataset"]),
        ("04-train-cnn.py", ["--input", work / "dataset", "--output", work / "runs", "--batch-size", "8"]),
        (
            "05-predict-video.py",
            [
                "--model",
                work / "runs" / "latest",
                "--input",
                work / "heldout",
                "--output",
                work / "predictions.csv",
                "--frames",
                "6",
            ],
        ),
    ]
    for script, arguments in stages:
        assert load_script(script).main(DEMO + [str(argument) for argument in arguments]) == 0, script
    return work


def test_held_out_videos_are_scored_clearly_better_than_chance(pipeline):
    predictions = pd.read_csv(pipeline / "predictions.csv", keep_default_na=False)
    assert len(predictions) == 10 and (predictions["error"] == "").all()
    accuracy = (predictions["verdict"] == predictions["label"]).mean()
    assert accuracy >= 0.8, predictions[["video", "verdict", "fake_probability", "label"]]
    metrics = json.loads((pipeline / "predictions_metrics.json").read_text())["video_level"]
    assert metrics["accuracy"] == pytest.approx(accuracy)


def test_test_split_metrics_are_on_videos_the_model_never_trained_on(pipeline):
    split = pd.read_csv(pipeline / "dataset" / "split.csv", keep_default_na=False)
    assert (split.groupby("group")["split"].nunique() == 1).all()
    metrics = json.loads((pipeline / "runs" / "latest" / "metrics.json").read_text())
    test_videos = split.loc[split["split"] == "test", "video_id"].nunique()
    assert metrics["video_level"]["n"] == test_videos
    assert metrics["frame_level"]["accuracy"] >= 0.8


def test_the_model_carries_the_crop_settings_of_stage_02(pipeline):
    from common.checkpoint import read_metadata
    from common.manifest import read_pipeline

    assert (
        read_metadata(pipeline / "runs" / "latest")["preprocess"]
        == read_pipeline(pipeline / "faces")["preprocess"]
    )


def test_stage_05_on_the_test_split_videos_agrees_with_the_run_metrics(pipeline, tmp_path):
    """Stage 05 on the videos of the test split, with the frames stage 01 sampled (6 of 24), scores each
    video as stage 04's evaluation did, and its metrics equal those of the run."""
    split = pd.read_csv(pipeline / "dataset" / "split.csv", keep_default_na=False)
    faces = pd.read_csv(pipeline / "faces" / "manifest.csv", keep_default_na=False).drop_duplicates(
        "video_id"
    )
    test_videos = faces[faces["video_id"].isin(split.loc[split["split"] == "test", "video_id"])]
    for row in test_videos.itertuples():
        (tmp_path / "videos" / row.label_name).mkdir(parents=True, exist_ok=True)
        (tmp_path / "videos" / row.label_name / f"{row.video_id}.mp4").symlink_to(row.video_path)
    assert (
        load_script("05-predict-video.py").main(
            DEMO
            + [
                "--model",
                str(pipeline / "runs" / "latest"),
                "--input",
                str(tmp_path / "videos"),
                "--output",
                str(tmp_path / "scored.csv"),
                "--frames",
                "6",
            ]
        )
        == 0
    )

    scored = pd.read_csv(tmp_path / "scored.csv").assign(video=lambda table: table["video"].str[5:-4])
    run = pipeline / "runs" / "latest"
    expected = pd.read_csv(run / "test_videos.csv", keep_default_na=False)
    both = expected.merge(scored, on="video", suffixes=("_run", "_05"))
    assert len(both) == len(expected) == len(test_videos)
    assert (both["verdict_run"] == both["verdict_05"]).all()
    assert both["fake_probability_05"].to_numpy() == pytest.approx(
        both["fake_probability_run"].to_numpy(), abs=1e-5
    )
    run_metrics = json.loads((run / "metrics.json").read_text())
    metrics = json.loads((tmp_path / "scored_metrics.json").read_text())
    for level in ("frame_level", "video_level"):
        assert metrics[level]["confusion_matrix"] == run_metrics[level]["confusion_matrix"], level
        for key in ("n", "n_fake", "accuracy", "auc"):
            assert metrics[level][key] == pytest.approx(run_metrics[level][key]), (level, key)
        assert metrics[level]["log_loss"] == pytest.approx(run_metrics[level]["log_loss"], abs=1e-4)
