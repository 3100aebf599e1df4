"""The whole pipeline, 01 -> 05, on generated videos: the model must learn to tell the fakes apart."""

import json
import shutil

import pandas as pd
import pytest
from conftest import ROOT, write_video

from common.faces.base import Face
from common.stages import crop_faces, extract_frames, predict_videos, prepare_dataset, train_detector
from tools.demo import make_demo_videos

DEMO = ["--config", str(ROOT / "configs" / "demo.yaml")]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    work = tmp_path_factory.mktemp("pipeline")
    make_demo_videos(work / "videos", n_real=16, seconds=3.0, fps=8.0, seed=0)
    make_demo_videos(work / "heldout", n_real=5, seconds=3.0, fps=8.0, seed=1, prefix="heldout")
    stages = [
        (
            extract_frames,
            ["--dataset", "dfdc", "--input", work / "videos", "--output", work / "frames"],
        ),
        (crop_faces, ["--input", work / "frames", "--output", work / "faces"]),
        (prepare_dataset, ["--input", work / "faces", "--output", work / "dataset"]),
        (train_detector, ["--input", work / "dataset", "--output", work / "runs", "--batch-size", "8"]),
        (
            predict_videos,
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
        assert script.main(DEMO + [str(argument) for argument in arguments]) == 0, script
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
    from common.core.manifest import read_pipeline
    from common.core.model_file import read_metadata

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
        predict_videos.main(
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


class OneFaceDetector:
    """A stand-in detector: the same confident face in every frame (the stages' crop and scoring code runs,
    only the network finding faces is skipped)."""

    def detect(self, frames_rgb):
        return [[Face((40, 20, 60, 60), 0.99)] for _ in frames_rgb]


PAPER_CONFIGS = [
    "celebdf_efficientnet_b0.yaml",
    "celebdf_efficientnet_b0_triplet.yaml",
    "celebdf_xception.yaml",
    "ffpp_c23_efficientnet_b0.yaml",
    "ffpp_c23_xception.yaml",
    "ffpp_to_celebdf_sbi.yaml",
]


def test_the_paper_configs_sample_score_and_choose_faces_as_deepfakebench_end_to_end():
    from common.core.config import load_config

    for name in PAPER_CONFIGS:
        config = load_config(ROOT / "configs" / name)
        assert (config["video"]["sampling"], config["video"]["frames"]) == ("frames", 32), name
        assert config["predict"]["frames"] == 0 and config["predict"]["faces"] == "model", name  # as trained
        assert config["preprocess"]["faces"] == "main", name
        assert config["predict"]["video_score"] == "frame_mean", name


def test_a_paper_config_scores_a_test_video_in_stage_05_as_stage_04_did(tmp_path, monkeypatch):
    """Stage 01 samples a paper config's frames (the same number, evenly spaced, whatever a video's length),
    the model file keeps that rule, and stage 05 with its defaults samples the same frames of a test-split
    video, so it gets exactly the P(fake) stage 04 reported (tiny data, 12 frames a video, small_cnn at 32 px)."""
    import yaml

    from common.inference import scorer

    paper = yaml.safe_load((ROOT / "configs" / "ffpp_c23_xception.yaml").read_text())
    assert paper["video"]["sampling"] == "frames" and "frames" not in paper["predict"]
    config = tmp_path / "paper_tiny.yaml"
    tiny = {"model": "small_cnn", "image_size": 32, "weights": "none", "epochs": 1, "head_epochs": 0}
    video = {**paper["video"], "frames": 12}  # not stage 05's old 32: it must follow the model file
    sections = {"video": video, "preprocess": paper["preprocess"], "predict": paper["predict"]}
    sections["dataset"] = {"train": 0.5, "val": 0.25, "test": 0.25}
    config.write_text(yaml.safe_dump({**sections, "train": {**tiny, "batch_size": 8}}))
    for number in range(8):  # 4 to 7.5 s at 10 frames/s: 1 frame/s would sample 4 to 8 frames
        label = ("real", "fake")[number % 2]
        write_video(tmp_path / "videos" / label / f"{label}{number}.mp4", frames=40 + 5 * number)
    from common.stages import crop_faces as stage02  # what 02-crop-faces-with-mtcnn.py runs

    monkeypatch.setattr(stage02, "build_detector", lambda preprocess: OneFaceDetector())
    monkeypatch.setattr(scorer, "build_detector", lambda preprocess: OneFaceDetector())
    work = tmp_path / "work"
    stages = [
        (extract_frames, ["--input", tmp_path / "videos", "--output", work / "frames"]),
        (stage02, ["--input", work / "frames", "--output", work / "faces"]),
        (prepare_dataset, ["--input", work / "faces", "--output", work / "dataset"]),
        (train_detector, ["--input", work / "dataset", "--output", work / "runs"]),
    ]
    for script, arguments in stages:
        assert script.main(["--config", str(config), *map(str, arguments)]) == 0, script

    split = pd.read_csv(work / "dataset" / "split.csv", keep_default_na=False)
    test = split[split["split"] == "test"]
    assert test["video_id"].nunique() >= 2 and (test.groupby("video_id").size() == 12).all()
    for video_id in test["video_id"].unique():  # as a user has them: real/ and fake/ folders
        (tmp_path / "scored" / video_id).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "scored" / f"{video_id}.mp4").symlink_to(tmp_path / "videos" / f"{video_id}.mp4")
    output = tmp_path / "scored.csv"
    argv = [
        "--model",
        str(work / "runs" / "latest"),
        "--input",
        str(tmp_path / "scored"),
        "--output",
        str(output),
    ]
    assert predict_videos.main(argv) == 0  # no --frames, no --config: the model's rule

    scored = pd.read_csv(output, keep_default_na=False).assign(video=lambda table: table["video"].str[:-4])
    expected = pd.read_csv(work / "runs" / "latest" / "test_videos.csv", keep_default_na=False)
    both = expected.merge(scored, on="video", suffixes=("_04", "_05"))
    assert len(both) == len(expected) == test["video_id"].nunique()
    assert (both["frames_sampled"] == 12).all() and (both["verdict_04"] == both["verdict_05"]).all()
    assert both["fake_probability_05"].to_numpy() == pytest.approx(both["fake_probability_04"], abs=1e-6)
    frames = pd.read_csv(tmp_path / "scored_frames.csv").assign(video=lambda table: table["video"].str[:-4])
    for video_id, rows in test.groupby("video_id"):  # the very frames stage 01 sampled
        assert sorted(frames.loc[frames["video"] == video_id, "frame_index"]) == sorted(rows["frame_index"])


def held_out_run(pipeline, tmp_path):
    """A copy of the pipeline's run directory, so that what a test adds to it stays in the test."""
    return shutil.copytree((pipeline / "runs" / "latest").resolve(), tmp_path / "run")


def test_stage_05_add_to_report_keeps_the_per_video_scores_that_stage_07_compares(pipeline, tmp_path):
    from sklearn.metrics import roc_auc_score

    from common.inference.compare_runs import compare_runs

    run = held_out_run(pipeline, tmp_path)
    output = tmp_path / "scored" / "predictions.csv"
    argv = ["--model", str(run), "--input", str(pipeline / "heldout"), "--output", str(output)]
    assert predict_videos.main(DEMO + argv + ["--frames", "6", "--add-to-report"]) == 0

    kept = run / "cross_dataset" / "heldout_predictions.csv"
    assert kept.read_bytes() == output.read_bytes()
    assert kept.with_name("heldout_predictions_frames.csv").read_bytes() == (
        output.with_name("predictions_frames.csv").read_bytes()
    )
    markdown, paths = compare_runs([run], tmp_path / "compare", n_resamples=50)  # no --predictions
    cells = pd.read_csv(paths["cells"]).set_index("test_set")
    scored = pd.read_csv(output, keep_default_na=False)
    assert cells.loc["heldout", "auc"] == pytest.approx(
        roc_auc_score(scored["label"] == "FAKE", scored["fake_probability"])
    )
    assert str(kept) in cells.loc["heldout", "scores_from"] and "Not compared" not in markdown


def test_stage_05_scores_every_test_set_a_yaml_file_lists_and_skips_those_it_finished(
    pipeline, tmp_path, capsys
):
    run = held_out_run(pipeline, tmp_path)
    (tmp_path / "sets").mkdir()
    (tmp_path / "sets" / "held").symlink_to(pipeline / "heldout")
    listing = tmp_path / "sets" / "test_sets.yaml"
    listing.write_text(
        f"held: {{input: held}}\nheld_dfdc: {{dataset: dfdc, input: {pipeline / 'heldout'}}}\n"
    )
    out = tmp_path / "out"
    argv = DEMO + ["--model", str(run), "--test-sets", str(listing), "--output", str(out), "--frames", "3"]
    assert predict_videos.main(argv + ["--add-to-report"]) == 0

    for name in ("held", "held_dfdc"):
        scored = pd.read_csv(out / f"{name}.csv", keep_default_na=False)
        assert len(scored) == 10 and set(scored["label"]) == {"FAKE", "REAL"}
        for beside in ("_frames.csv", "_tracks.csv", "_metrics.json", "_report.html"):
            assert (out / f"{name}{beside}").is_file(), beside
        assert (run / "cross_dataset" / f"{name}.json").is_file()
        assert (run / "cross_dataset" / f"{name}_predictions.csv").read_bytes() == (
            out / f"{name}.csv"
        ).read_bytes()
    report = (run / "report.md").read_text()
    assert "held" in report and "held_dfdc" in report
    by_folder, by_adapter = (pd.read_csv(out / f"{name}.csv") for name in ("held", "held_dfdc"))
    assert sorted(by_folder["fake_probability"]) == sorted(by_adapter["fake_probability"])  # the same videos
    capsys.readouterr()

    written = {path: path.stat().st_mtime_ns for path in out.iterdir()}
    assert predict_videos.main(argv) == 0  # again: nothing is scored again
    printed = capsys.readouterr().out
    assert printed.count("already scored by this model") == 2
    assert {path: path.stat().st_mtime_ns for path in out.iterdir()} == written
