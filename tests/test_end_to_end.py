"""The whole pipeline, 01 -> 05, on generated videos: the model must learn to tell the fakes apart."""

import json

import pandas as pd
import pytest

from common.demo import make_demo_videos
from conftest import ROOT, load_script

DEMO = ["--config", str(ROOT / "configs" / "demo.yaml")]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    work = tmp_path_factory.mktemp("pipeline")
    make_demo_videos(work / "videos", n_real=16, seconds=3.0, fps=8.0, seed=0)
    make_demo_videos(work / "heldout", n_real=5, seconds=3.0, fps=8.0, seed=1, prefix="heldout")
    stages = [
        ("01-convert-video-to-image.py", ["--dataset", "dfdc", "--input", work / "videos", "--output", work / "frames"]),
        ("02-crop-faces-with-mtcnn.py", ["--input", work / "frames", "--output", work / "faces"]),
        ("03-prepare-fake-real-dataset.py", ["--input", work / "faces", "--output", work / "dataset"]),
        ("04-train-cnn.py", ["--input", work / "dataset", "--output", work / "runs", "--batch-size", "8"]),
        ("05-predict-video.py", ["--model", work / "runs" / "latest", "--input", work / "heldout",
                                 "--output", work / "predictions.csv", "--frames", "6"]),
    ]
    for script, arguments in stages:
        assert load_script(script).main(DEMO + [str(argument) for argument in arguments]) == 0, script
    return work


def test_held_out_videos_are_scored_clearly_better_than_chance(pipeline):
    predictions = pd.read_csv(pipeline / "predictions.csv", keep_default_na=False)
    assert len(predictions) == 10 and (predictions["error"] == "").all()
    accuracy = (predictions["verdict"] == predictions["label"]).mean()
    assert accuracy >= 0.8, predictions[["video", "verdict", "fake_probability", "label"]]
    metrics = json.loads((pipeline / "predictions_metrics.json").read_text())
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

    assert read_metadata(pipeline / "runs" / "latest")["preprocess"] == read_pipeline(pipeline / "faces")["preprocess"]
