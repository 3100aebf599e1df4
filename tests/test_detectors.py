"""Each detector of the seed reports (issue 10) as users run it: stage 04 trains it a step on tiny data and
saves it, and stage 05 in a fresh process scores a real face video with it, with no flag of its own."""

import subprocess
import sys

import pandas as pd
import pytest
from conftest import ROOT
from test_predict import write_face_video
from test_train import write_dataset

from common.core.model_file import read_metadata
from common.stages import train_detector as stage04

TINY = ["--image-size", "32", "--weights", "none", "--epochs", "1", "--batch-size", "4"]


@pytest.mark.parametrize(
    "flags, recorded",
    [
        (["--model", "mesonet4"], {"model": "mesonet4"}),
        (["--model", "small_cnn", "--metric-learning", "supcon"], {"metric_learning": "supcon"}),
        (["--model", "small_cnn", "--pseudo-fakes", "sbi"], {"pseudo_fakes": "sbi"}),
    ],
    ids=["mesonet4", "metric-learning", "sbi"],
)
def test_trains_saves_and_a_fresh_stage_05_scores_a_video_with_it(tmp_path, flags, recorded):
    dataset = write_dataset(tmp_path / "dataset", videos_per_class=(2, 1, 1), frames=3)
    runs = tmp_path / "runs"
    assert stage04.main(["--input", str(dataset), "--output", str(runs), *TINY, *flags]) == 0
    run = (runs / "latest").resolve()
    metadata = read_metadata(run)
    assert {key: metadata[key] for key in recorded} == recorded

    video = write_face_video(tmp_path / "hopper.mp4", frames=4)
    output = tmp_path / "predictions.csv"
    command = [sys.executable, str(ROOT / "05-predict-video.py"), "--model", str(run), "--input", str(video)]
    finished = subprocess.run(
        [*command, "--output", str(output), "--frames", "4"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    (row,) = pd.read_csv(output, keep_default_na=False).to_dict("records")
    assert row["faces_scored"] == 4 and row["error"] == ""
    assert 0 <= float(row["fake_probability"]) <= 1 and row["verdict"] in ("FAKE", "REAL")
