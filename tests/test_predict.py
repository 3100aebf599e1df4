"""Stage 05: scoring videos with a saved model, bad files, labels and metrics, crops from the model's metadata."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import keras
import matplotlib
import numpy as np
import pandas as pd
import pytest
from conftest import C0, ROOT, SequenceDetector, count_colour, read_figure, write_video
from sklearn.metrics import roc_auc_score

from common.core.config import DEFAULTS
from common.core.errors import UserError
from common.core.model_file import MODEL_FILE, save_model, update_metadata
from common.data import pipeline as data
from common.data.adapters import parse_label
from common.evaluation import aggregate
from common.evaluation import evaluate as evaluation
from common.evaluation.printed_report import metrics_report
from common.faces.base import Face
from common.faces.detection import faces_with_tracks
from common.inference import batch_scoring, face_scoring, frames_and_faces, outputs, scorer
from common.inference.predict import ScoringRequest, score_videos
from common.models import methods
from common.models.classifier import build_model
from common.stages import predict_videos as stage05

COLUMNS = outputs.PREDICTION_COLUMNS
SETTINGS = {**DEFAULTS["predict"], "frames": 32}  # --frames 32 (evenly spaced), vote, threshold 0.5
BOX = (100, 60, 80, 80)  # in the 320x240 frames of a 160x120 video (stage 01 doubles narrow videos)


class BoxDetector:
    """A stand-in detector: the same confident face in every frame, or none."""

    def __init__(self, box=BOX):
        self.faces = [] if box is None else [Face(box, 0.99)]

    def detect(self, frames_rgb):
        return [list(self.faces) for _ in frames_rgb]


def metadata_with(**preprocess):
    return {
        "model": "small_cnn",
        "image_size": 32,
        "preprocess": {**DEFAULTS["preprocess"], **preprocess},
        "video": dict(DEFAULTS["video"]),
    }


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(7)
    return build_model("small_cnn", 32, "none")


@pytest.fixture(scope="module")
def run_dir(model, tmp_path_factory):
    """A run directory holding model.keras with the default preprocess settings."""
    folder = tmp_path_factory.mktemp("run")
    save_model(model, folder / MODEL_FILE, metadata_with())
    return folder


@pytest.fixture
def stand_in_detector(monkeypatch):
    """Make the script build a ``BoxDetector`` and record the preprocess settings it was asked for."""
    asked = []

    def build(preprocess):
        asked.append(dict(preprocess))
        return BoxDetector()

    monkeypatch.setattr(scorer, "build_detector", build)
    return asked


def write_bad_files(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corrupt.mp4").write_bytes(
        np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    )
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.txt").write_text("not a video")


def stage05_argv(model, input_path, output, *flags):
    """Stage 05's arguments: ``--model``, ``--input``, ``--output`` and any ``flags``."""
    return ["--model", str(model), "--input", str(input_path), "--output", str(output), *flags]


def read_predictions(path):
    return pd.read_csv(path, keep_default_na=False)


# ---------------------------------------------------------------- a batch of good and bad files


def test_bad_files_get_error_rows_and_the_good_video_a_verdict(run_dir, tmp_path, stand_in_detector, capsys):
    videos = tmp_path / "videos"
    write_video(videos / "good.mp4", frames=20)
    write_bad_files(videos)
    output = tmp_path / "out" / "predictions.csv"
    # exit code 1: three files could not be read (the good video's verdict is in the CSV all the same)
    assert stage05.main(stage05_argv(run_dir, videos, output, "--workers", "2", "--frames", "32")) == 1

    table = read_predictions(output)
    assert list(table.columns) == COLUMNS
    rows = table.set_index("video")
    assert sorted(rows.index) == ["corrupt.mp4", "empty.mp4", "good.mp4", "notes.txt"]
    good = rows.loc["good.mp4"]
    assert good["verdict"] in ("FAKE", "REAL") and good["error"] == ""
    assert good["frames_sampled"] == 20 and good["faces_scored"] == 20  # 32 asked, the video has 20
    assert 0 <= good["fake_probability"] <= 1
    frames = pd.read_csv(tmp_path / "out" / "predictions_frames.csv")  # every scored frame, by its index
    assert list(frames.columns) == ["video", "frame_index", "p_fake", "faces"]
    assert frames["frame_index"].tolist() == list(range(20)) and set(frames["video"]) == {"good.mp4"}
    assert good["fake_probability"] == pytest.approx(frames["p_fake"].mean(), abs=1e-6)
    bad = rows.drop("good.mp4")
    assert set(bad["verdict"]) == {"UNKNOWN"} and set(bad["fake_probability"]) == {0.5}
    assert set(bad["frames_sampled"]) == {0} and set(bad["faces_scored"]) == {0}
    assert rows.loc["empty.mp4", "error"] == "empty file"
    assert rows.loc["notes.txt", "error"] and rows.loc["corrupt.mp4", "error"]
    summary = capsys.readouterr().out
    assert "UNKNOWN        3" in summary and str(output) in summary and "s per video" in summary
    assert stand_in_detector == [DEFAULTS["preprocess"]] * 2  # one per worker for the whole batch


def test_stage_05_is_one_library_call_that_writes_what_the_script_writes(
    run_dir, tmp_path, stand_in_detector, capsys
):
    videos = tmp_path / "videos"
    write_video(videos / "good.mp4", frames=8)
    write_bad_files(videos)
    by_script = tmp_path / "script" / "predictions.csv"
    assert stage05.main(stage05_argv(run_dir, videos, by_script, "--frames", "4")) == 1
    capsys.readouterr()
    by_call = tmp_path / "call" / "predictions.csv"
    config = {**DEFAULTS, "predict": {**DEFAULTS["predict"], "frames": 4}}
    request = ScoringRequest(input=str(videos), output=str(by_call), model=str(run_dir))
    said = []
    assert score_videos(request, config, said.append) == 1

    for kind in ("", "_frames", "_tracks"):
        made = by_call.with_name(f"predictions{kind}.csv").read_bytes()
        assert made == by_script.with_name(f"predictions{kind}.csv").read_bytes(), kind
    assert capsys.readouterr().out == ""  # the summary goes where the caller says, not to stdout
    assert any(str(by_call) in text and "UNKNOWN" in text for text in said)


def test_a_runs_face_tracks_are_computed_once_for_the_tracks_csv_the_review_rule_and_the_report(
    run_dir, tmp_path, stand_in_detector, monkeypatch
):
    videos = tmp_path / "videos"
    for index in range(3):
        write_video(videos / f"v{index}.mp4", frames=6)
    whole_tables = []  # the faces each call got
    original = aggregate.track_scores

    def counted(faces, *args, **kwargs):
        whole_tables.append(faces["video"].nunique())
        return original(faces, *args, **kwargs)

    for module in [module for name, module in sys.modules.items() if name.startswith("common.")]:
        if getattr(module, "track_scores", None) is original:
            monkeypatch.setattr(module, "track_scores", counted)
    output = tmp_path / "out" / "predictions.csv"
    assert stage05.main(stage05_argv(run_dir, videos, output, "--frames", "4")) == 0
    assert (tmp_path / "out" / "report.html").is_file() and len(read_predictions(output)) == 3

    # one call per video as it is scored (its verdict), then one for the whole run's tracks
    assert sorted(whole_tables) == [1, 1, 1, 3]
    tracks = pd.read_csv(tmp_path / "out" / "predictions_tracks.csv")
    assert len(tracks) == 3 and tracks["decides"].all()


@pytest.mark.parametrize(
    ("listing", "message"),
    [
        ("good: {input: videos}\nbad: {input: videos, split: test}\n", "bad: unknown key split"),
        ("good: {input: videos}\ngone: {input: nowhere}\n", "gone: input"),
        (
            "good: {input: videos}\nodd: {dataset: celebdf_v3, input: videos}\n",
            "unknown dataset 'celebdf_v3'",
        ),
        ("both: {dataset: dfdc, labels: labels.csv, input: videos}\n", "give dataset or labels, not both"),
        ("good: {input: videos}\nnolabels: {labels: missing.csv, input: videos}\n", "labels"),
        ("good: {input: videos}\nempty: {}\n", "empty: no input"),
        ("../up: {input: videos}\n", "must be letters, digits"),
        ("good: {input: videos\n", "not valid YAML"),
        ("[videos]\n", "expected a mapping of test set names"),
    ],
)
def test_a_bad_test_sets_file_is_one_line_and_exit_2_before_any_work(
    run_dir, tmp_path, stand_in_detector, capsys, listing, message
):
    write_video(tmp_path / "videos" / "a.mp4", frames=4)
    (tmp_path / "labels.csv").write_text("video,label\na.mp4,fake\n")
    (tmp_path / "sets.yaml").write_text(listing)
    out = tmp_path / "out"
    argv = ["--model", str(run_dir), "--test-sets", str(tmp_path / "sets.yaml"), "--output", str(out)]
    assert stage05.main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and str(tmp_path / "sets.yaml") in error and len(error.splitlines()) == 1, error
    assert not out.exists() and stand_in_detector == []  # no set scored, no detector built


def test_test_sets_take_the_place_of_input_and_labels(run_dir, tmp_path, capsys):
    (tmp_path / "sets.yaml").write_text("a: {input: videos}\n")
    (tmp_path / "videos").mkdir()
    sets = ["--model", str(run_dir), "--test-sets", str(tmp_path / "sets.yaml")]
    cases = [
        (sets + ["--output", str(tmp_path / "o"), "--dataset", "dfdc"], "drop --dataset"),
        (sets + ["--output", str(tmp_path / "o"), "--input", str(tmp_path / "videos")], "drop --input"),
        (sets, "--test-sets needs --output FOLDER"),
        (sets + ["--output", str(tmp_path / "o.csv")], "give a folder"),
        (sets + ["--output", str(tmp_path / "videos" / "o")], "inside the input of test set a"),
        (["--model", str(run_dir), "--output", str(tmp_path / "o.csv")], "--input and --output are required"),
    ]
    for argv, message in cases:
        assert stage05.main(argv) == 2
        error = capsys.readouterr().err.strip()
        assert message in error and len(error.splitlines()) == 1, error


def test_a_folder_of_only_bad_files_exits_non_zero(run_dir, tmp_path, stand_in_detector):
    write_bad_files(tmp_path / "videos")
    output = tmp_path / "predictions.csv"
    assert (
        stage05.main(["--model", str(run_dir), "--input", str(tmp_path / "videos"), "--output", str(output)])
        == 1
    )
    table = read_predictions(output)
    assert len(table) == 3 and set(table["verdict"]) == {"UNKNOWN"}


def test_a_faceless_video_is_unknown_with_the_reason(model, tmp_path):
    video = write_video(tmp_path / "grey.mp4", frames=20)
    row, frames = face_scoring.score_video(
        video, model, BoxDetector(None), metadata_with(), SETTINGS, name="grey.mp4"
    )
    assert row == {
        "video": "grey.mp4",
        "verdict": "UNKNOWN",
        "fake_probability": 0.5,
        "fake_frame_share": 0.0,
        "frames_sampled": 20,
        "faces_scored": 0,
        "tracks": 0,
        "error": "no face found in 20 frames",
    }
    assert frames.empty


def test_a_single_faceless_file_from_the_command_line(run_dir, tmp_path, monkeypatch):
    video = write_video(tmp_path / "grey.mp4", frames=12)
    monkeypatch.setattr(scorer, "build_detector", lambda preprocess: BoxDetector(None))
    output = tmp_path / "single.csv"
    assert (
        stage05.main(stage05_argv(str(run_dir / MODEL_FILE), str(video), str(output), "--frames", "5")) == 1
    )  # nothing could be scored
    (row,) = read_predictions(output).to_dict("records")
    assert row["video"] == str(video) and row["verdict"] == "UNKNOWN" and row["frames_sampled"] == 5
    assert row["error"] == "no face found in 5 frames"


def test_a_missing_model_is_a_one_line_error(tmp_path, capsys):
    video = write_video(tmp_path / "grey.mp4")
    code = stage05.main(
        ["--model", str(tmp_path / "nowhere"), "--input", str(video), "--output", str(tmp_path / "p.csv")]
    )
    assert code == 2
    assert "no model at" in capsys.readouterr().err


# ---------------------------------------------------------------- labels and metrics


def write_flat_video(path, brightness, frames=6, size=(160, 120)):
    """A video whose every frame is a flat grey of ``brightness``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, size)
    try:
        for _ in range(frames):
            writer.write(np.full((size[1], size[0], 3), brightness, np.uint8))
    finally:
        writer.release()
    return path


@pytest.fixture
def brightness_scores(monkeypatch):
    """Score each face crop by its mean brightness / 255, so verdicts are known in advance."""
    monkeypatch.setattr(
        methods, "score_crops", lambda model, crops, *args: np.array([c.mean() / 255 for c in crops])
    )


def test_real_fake_layout_gives_labels_and_metrics_that_agree_with_the_rows(
    run_dir, tmp_path, stand_in_detector, brightness_scores, capsys
):
    videos = tmp_path / "videos"
    write_flat_video(videos / "fake" / "f1.mp4", 200)
    write_flat_video(videos / "fake" / "f2.mp4", 210)
    write_flat_video(videos / "real" / "r1.mp4", 40)
    write_flat_video(videos / "real" / "hard.mp4", 180)  # a bright real video: called FAKE
    write_bad_files(videos / "fake")
    output = tmp_path / "preds.csv"
    code = stage05.main(
        stage05_argv(str(run_dir), str(videos), str(output), "--aggregate", "mean", "--frames", "4")
    )
    assert code == 1  # the bad files could not be read

    table = read_predictions(output)
    assert list(table.columns) == COLUMNS + ["label"]
    rows = table.set_index("video")
    assert rows.loc["real/r1.mp4", "label"] == "REAL" and rows.loc["fake/notes.txt", "label"] == "FAKE"
    assert rows.loc["real/hard.mp4", "verdict"] == "FAKE"
    assert rows.loc["real/hard.mp4", "fake_probability"] == pytest.approx(180 / 255, abs=0.02)
    everything = json.loads((tmp_path / "preds_metrics.json").read_text())
    for plot in ("confusion_frames", "confusion_videos"):
        cells = read_figure(tmp_path / f"preds_{plot}.png")
        assert (cells[..., 2] > cells[..., 0] + 0.2).mean() > 0.2, plot  # cells shaded by their counts
    for plot in ("roc_frames", "roc_videos"):  # real and fake videos: a curve, not the one-class note
        assert count_colour(read_figure(tmp_path / f"preds_{plot}.png"), C0) > 20, plot
    for plot in ("reliability_frames", "reliability_videos"):  # beside them, and named in the printout
        read_figure(tmp_path / f"preds_{plot}.png", width=(440, 540), height=(440, 540))
    metrics = everything["video_level"]
    assert metrics["n"] == 4 and metrics["unknown_left_out"] == 3
    assert (
        metrics["accuracy"] == 0.75 and metrics["auc"] == 1.0
    )  # ranked right, but 0.5 is too low a threshold
    assert metrics["confusion_matrix"] == [[1, 1], [0, 2]]
    assert everything["frame_level"]["n"] == 16  # 4 frames of each of the 4 videos with a verdict

    scored = table[table["verdict"] != "UNKNOWN"]
    assert metrics["accuracy"] == pytest.approx((scored["verdict"] == scored["label"]).mean())
    assert metrics["auc"] == pytest.approx(
        roc_auc_score(scored["label"] == "FAKE", scored["fake_probability"])
    )
    printed = capsys.readouterr().out
    assert "3 UNKNOWN" in printed and "accuracy 0.750 [" in printed and "log loss" in printed
    assert everything["bootstrap"]["n_resamples"] == 1000 and "1000 resamples, seed 0" in printed
    assert (
        "Reliability diagram of P(fake), videos: labelled videos in " in printed
        and ", 4 videos -> " in printed
    )
    assert everything["frame_level"]["intervals"]["auc"][1] <= 1.0


def test_stage05_reports_the_accuracy_at_the_models_validation_threshold_beside_its_own(
    run_dir, tmp_path, stand_in_detector, brightness_scores, capsys
):
    model = tmp_path / "run" / MODEL_FILE
    model.parent.mkdir()
    shutil.copy(run_dir / MODEL_FILE, model)
    chosen = {"value": 0.75, "split": "val", "level": "frame", "rule": "EER point"}
    update_metadata(model, validation_threshold=chosen)
    videos = tmp_path / "videos"
    write_flat_video(videos / "fake" / "f1.mp4", 200)  # P(fake) about 0.78
    write_flat_video(videos / "fake" / "f2.mp4", 210)
    write_flat_video(videos / "real" / "r1.mp4", 40)
    write_flat_video(videos / "real" / "hard.mp4", 180)  # about 0.71: FAKE at 0.5, REAL at 0.75
    output = tmp_path / "preds.csv"
    assert stage05.main(stage05_argv(str(model.parent), str(videos), str(output), "--frames", "4")) == 0
    assert read_predictions(output).set_index("video").loc["real/hard.mp4", "verdict"] == "FAKE"
    everything = json.loads((tmp_path / "preds_metrics.json").read_text())
    assert everything["video_level"]["accuracy"] == 0.75  # the verdicts, at the configured 0.5
    block = everything["at_validation_threshold"]
    assert block["value"] == 0.75 and block["video_accuracy_at_threshold"] == 1.0
    assert block["frame_accuracy_at_0.5"] == 0.75 and block["frame_accuracy_at_threshold"] == 1.0
    assert "threshold chosen on the val split (EER point): 0.750" in capsys.readouterr().out


def test_metrics_follow_the_verdict_when_a_vote_is_tied():
    # both videos: half their frames fake; the mean frame score called the second one REAL
    table = pd.DataFrame(
        {
            "video": ["a", "b", "c"],
            "verdict": ["FAKE", "REAL", "UNKNOWN"],
            "fake_probability": [0.5, 0.3, 0.5],
            "label": ["FAKE", "REAL", "REAL"],
        }
    )
    frames = pd.DataFrame(
        {
            "video": ["a", "a", "b", "b"],
            "frame_index": [0, 1, 0, 1],
            "p_fake": [0.9, 0.1, 0.55, 0.05],
            "faces": 1,
        }
    )
    metrics, _, videos = evaluation.evaluate_predictions(table, frames, SETTINGS)
    assert videos["verdict"].tolist() == ["FAKE", "REAL"]
    assert metrics["video_level"]["accuracy"] == 1.0 and metrics["video_level"]["confusion_matrix"] == [
        [1, 0],
        [0, 1],
    ]
    assert metrics["video_level"]["n"] == 2 and metrics["video_level"]["unknown_left_out"] == 1
    assert metrics["frame_level"]["n"] == 4 and metrics["frame_level"]["accuracy"] == 0.5
    assert evaluation.evaluate_predictions(table.assign(label=""), frames, SETTINGS) is None


def test_stage05_metrics_count_the_listed_videos_those_scored_and_those_without_a_face():
    table = pd.DataFrame(
        {
            "video": ["a", "b", "c", "d", "e"],
            "verdict": ["FAKE", "REAL", "UNKNOWN", "UNKNOWN", "REAL"],
            "fake_probability": [0.9, 0.1, 0.5, 0.5, 0.2],
            "label": ["FAKE", "REAL", "FAKE", "REAL", ""],  # e: not labelled, not one of the listed videos
            "error": ["", "", "no face found in 32 frames", "cannot open the video", ""],
        }
    )
    frames = pd.DataFrame({"video": ["a", "b", "e"], "frame_index": 0, "p_fake": [0.9, 0.1, 0.2], "faces": 1})
    metrics, _, _ = evaluation.evaluate_predictions(table, frames, DEFAULTS["predict"])
    assert metrics["video_coverage"] == {
        "listed": 4,
        "scored": 2,
        "no_face": 1,
        "not_scored_otherwise": 1,
        "listed_from": "the labelled videos of the input",
    }
    printed = metrics_report(metrics)
    assert "4 videos listed (the labelled videos of the input): 2 scored, 1 without a face" in printed
    assert "the figures cover 2 of the 4 listed videos" in printed


@pytest.mark.parametrize("aggregate", ["vote", "mean", "max"])
def test_the_video_probability_does_not_depend_on_the_aggregation_rule(
    run_dir, tmp_path, stand_in_detector, brightness_scores, aggregate
):
    video = write_flat_video(tmp_path / "v.mp4", 140)
    output = tmp_path / f"{aggregate}.csv"
    assert (
        stage05.main(
            stage05_argv(str(run_dir), str(video), str(output), "--aggregate", aggregate, "--frames", "4")
        )
        == 0
    )
    (row,) = read_predictions(output).to_dict("records")
    assert row["fake_probability"] == pytest.approx(140 / 255, abs=0.02)  # the mean frame score, not a share
    assert row["fake_frame_share"] == 1.0 and row["verdict"] == "FAKE"


def test_labels_csv_matches_paths_or_file_names(run_dir, tmp_path, stand_in_detector):
    videos = tmp_path / "videos"
    for name in ("a", "b", "c"):
        write_video(videos / "clips" / f"{name}.mp4", frames=8)
    labels = tmp_path / "labels.csv"
    labels.write_text("video,label\nclips/a.mp4,fake\nb.mp4,0\nelsewhere.mp4,REAL\n")
    output = tmp_path / "preds.csv"
    assert stage05.main(stage05_argv(str(run_dir), str(videos), str(output), "--labels", str(labels))) == 0
    table = read_predictions(output)
    labels_by_video = dict(zip(table["video"], table["label"]))
    assert labels_by_video == {"clips/a.mp4": "FAKE", "clips/b.mp4": "REAL", "clips/c.mp4": ""}
    metrics = json.loads((tmp_path / "preds_metrics.json").read_text())["video_level"]
    assert metrics["n"] == 2 and metrics["unlabelled_left_out"] == 1


@pytest.mark.parametrize(
    "value, label", [("fake", 1), ("FAKE", 1), ("1", 1), ("real", 0), (" REAL ", 0), ("0", 0)]
)
def test_label_spellings(value, label):
    assert parse_label(value) == label


def test_a_bad_label_names_its_line(run_dir, tmp_path, capsys):
    video = write_video(tmp_path / "v.mp4")
    labels = tmp_path / "labels.csv"
    labels.write_text("video,label\nv.mp4,maybe\n")
    code = stage05.main(
        stage05_argv(str(run_dir), str(video), str(tmp_path / "p.csv"), "--labels", str(labels))
    )
    assert code == 2
    assert "labels.csv line 2: label 'maybe'" in capsys.readouterr().err


# ---------------------------------------------------------------- the model file decides how faces are cropped


def test_crops_follow_the_margin_in_the_model_metadata(tmp_path):
    video = write_video(tmp_path / "v.mp4", frames=10)  # 160x120, doubled to 320x240 as stage 01 does
    for margin, side in ((0.0, 80), (0.3, 128)):  # 80 px box, plus 24 px on each side at 0.3
        sampled, frame_ids, track_ids, crops = frames_and_faces.video_faces(
            video, BoxDetector(), metadata_with(margin=margin), 4
        )
        assert sampled == 4 and frame_ids == [1, 3, 6, 8]  # evenly spaced over 10 frames
        assert track_ids == [0, 0, 0, 0]  # the same box in every frame: one person
        assert {crop.shape for crop in crops} == {(side, side, 3)}


def test_the_script_crops_with_the_model_metadata_not_the_config(
    model, tmp_path, stand_in_detector, monkeypatch, capsys
):
    model_file = tmp_path / "margin0.keras"
    save_model(model, model_file, metadata_with(margin=0.0, min_confidence=0.9))
    config = tmp_path / "other.yaml"
    config.write_text("preprocess:\n  margin: 0.5\n  min_confidence: 0.99\n")
    shapes = []
    score_crops = methods.score_crops

    def recording(model, crops, *args):
        shapes.extend(crop.shape for crop in crops)
        return score_crops(model, crops, *args)

    monkeypatch.setattr(methods, "score_crops", recording)
    video = write_video(tmp_path / "v.mp4", frames=10)
    assert (
        stage05.main(
            [
                "--model",
                str(model_file),
                "--config",
                str(config),
                "--input",
                str(video),
                "--output",
                str(tmp_path / "p.csv"),
                "--frames",
                "3",
            ]
        )
        == 0
    )
    assert stand_in_detector[0]["margin"] == 0.0 and stand_in_detector[0]["min_confidence"] == 0.9
    assert set(shapes) == {(80, 80, 3)} and len(shapes) == 3
    assert "preprocess section is ignored" in capsys.readouterr().err


def test_metadata_without_crop_settings_is_refused(model):
    with pytest.raises(UserError, match=r"preprocess\.margin"):
        scorer.check_metadata(
            model, {"model": "small_cnn", "image_size": 32, "preprocess": {"detector": "mtcnn"}}
        )
    with pytest.raises(UserError, match="image_size 64"):
        scorer.check_metadata(model, {**metadata_with(), "image_size": 64})


# ---------------------------------------------------------------- the saved model in a fresh process


def write_face_video(path, frames=4):
    """A short video of a real face (Grace Hopper, shipped with matplotlib), drifting a few pixels."""
    photo = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    height, width = photo.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (width, height))
    try:
        for index in range(frames):
            writer.write(np.roll(photo, 3 * index, axis=1))
    finally:
        writer.release()
    return path


def test_a_fresh_process_scores_like_this_one_with_real_mtcnn(model, run_dir, tmp_path, mtcnn_detector):
    video = write_face_video(tmp_path / "hopper.mp4")
    settings = {**SETTINGS, "aggregate": "mean", "frames": 4}
    here, _ = face_scoring.score_video(
        video, model, mtcnn_detector, metadata_with(), settings, name="hopper.mp4"
    )
    assert here["faces_scored"] == 4 and here["error"] == ""

    output = tmp_path / "fresh.csv"
    command = [sys.executable, str(ROOT / "05-predict-video.py")]
    command += stage05_argv(run_dir, video, output, "--aggregate", "mean", "--frames", "4")
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    (there,) = read_predictions(output).to_dict("records")
    assert there["verdict"] == here["verdict"] and there["faces_scored"] == here["faces_scored"]
    assert there["fake_probability"] == pytest.approx(here["fake_probability"], abs=1e-5)


def test_a_dataset_official_test_set_is_scored_from_its_raw_folder(
    run_dir, tmp_path, stand_in_detector, brightness_scores
):
    from test_protocols import ffpp_tree

    def video(path):  # Deepfakes fakes are bright (caught), Face2Face fakes dark like the originals (missed)
        return write_flat_video(path, 230 if "Deepfakes" in path.parts else 30)

    root = ffpp_tree(tmp_path / "ffpp", methods=("Deepfakes", "Face2Face"), make=video)
    config = tmp_path / "two_methods.yaml"
    config.write_text("datasets:\n  ffpp:\n    methods: [Deepfakes, Face2Face]\n")
    output = tmp_path / "cross" / "ffpp.csv"
    argv = ["--model", str(run_dir), "--dataset", "ffpp", "--input", str(root), "--output", str(output)]
    assert stage05.main([*argv, "--config", str(config), "--frames", "2"]) == 0
    table = pd.read_csv(output, keep_default_na=False).set_index("video")
    assert sorted(table.index) == [
        "Deepfakes/008_009",
        "Deepfakes/009_008",
        "Face2Face/008_009",
        "Face2Face/009_008",
        "original/008",
        "original/009",
    ]  # the official test pair only, ids unique across methods
    assert table.loc["original/008", "label"] == "REAL" and table.loc["Face2Face/009_008", "label"] == "FAKE"
    assert table.loc["Deepfakes/008_009", "method"] == "Deepfakes"
    metrics = json.loads((tmp_path / "cross" / "ffpp_metrics.json").read_text())
    assert metrics["data"].startswith("official test set of --dataset ffpp")
    assert metrics["by_method"]["Deepfakes"]["video_auc"] == 1.0
    assert metrics["by_method"]["Face2Face"]["video_auc"] == 0.5
    assert metrics["video_level"]["n"] == 6 and metrics["sampling"] == "2 evenly spaced frames per video"
    assert metrics["frames_per_video"]["max"] == 2


class FaceWhereLit:
    """A stand-in detector: a confident face in every frame that is not black."""

    def detect(self, frames_rgb):
        return [[Face(BOX, 0.99)] if frame.mean() > 5 else [] for frame in frames_rgb]


def test_a_dataset_official_test_video_without_a_face_is_counted_as_listed_not_scored(
    run_dir, tmp_path, brightness_scores, monkeypatch
):
    from test_protocols import ffpp_tree

    monkeypatch.setattr(scorer, "build_detector", lambda preprocess: FaceWhereLit())
    root = ffpp_tree(  # original 009 of the test pair is black: no face is found in it
        tmp_path / "ffpp", make=lambda path: write_flat_video(path, 0 if path.name == "009.mp4" else 120)
    )
    config = tmp_path / "two_methods.yaml"
    config.write_text("datasets:\n  ffpp:\n    methods: [Deepfakes, Face2Face]\n")
    output = tmp_path / "cross" / "ffpp.csv"
    argv = ["--model", str(run_dir), "--dataset", "ffpp", "--input", str(root), "--output", str(output)]
    stage05.main([*argv, "--config", str(config), "--frames", "2"])
    metrics = json.loads((tmp_path / "cross" / "ffpp_metrics.json").read_text())
    assert metrics["video_coverage"] == {
        "listed": 6,
        "scored": 5,
        "no_face": 1,
        "not_scored_otherwise": 0,
        "listed_from": f"the labelled videos: official test set of --dataset ffpp in {root}",
    }
    assert metrics["video_level"]["n"] == 5


def test_the_readme_documents_the_prediction_columns_the_csv_has():
    readme = (ROOT / "README.md").read_text()
    documented = re.search(r"`predictions.csv`: `([^`]+)`", readme).group(1)
    assert documented.split(", ") == outputs.PREDICTION_COLUMNS


def test_add_to_report_needs_a_run_directory(run_dir, tmp_path, capsys):
    video = write_video(tmp_path / "v.mp4", frames=4)
    argv = stage05_argv(run_dir / MODEL_FILE, video, tmp_path / "p.csv", "--add-to-report")
    assert stage05.main(argv) == 2
    assert "--add-to-report needs --model to be a run directory" in capsys.readouterr().err


def test_a_model_saved_before_the_lone_face_and_track_rules_crops_as_its_training_did(model):
    metadata = metadata_with()
    for key in ("lone_face_min_confidence", "track_min_confidence", "detect_max_width", "faces"):
        del metadata["preprocess"][key]
    scorer.check_metadata(model, metadata)  # accepted: its faces needed min_confidence, lone or not
    preprocess = metadata["preprocess"]
    assert preprocess["lone_face_min_confidence"] == preprocess["track_min_confidence"] == 0.95
    assert preprocess["detect_max_width"] == 0  # detected on the frame as saved
    assert preprocess["faces"] == "all"  # every face was kept then
    weak_after_strong = [[Face((10, 10, 40, 40), 0.99)], [Face((11, 10, 40, 40), 0.9)]]
    frames = [np.zeros((100, 100, 3), np.uint8)] * 2
    faces, _ = faces_with_tracks(frames, SequenceDetector(weak_after_strong), preprocess)
    assert [len(found) for found in faces] == [1, 0]  # no track rule for it


def test_the_network_is_traced_once_for_every_number_of_faces(model):
    crops = [np.full((40, 30, 3), value, np.uint8) for value in range(0, 250, 25)]
    for count in (3, 7, 10, 1):
        scores = methods.score_crops(model, crops[:count], 32, 95, 64)
        assert scores.shape == (count,)
    assert methods.inference_function(model).experimental_get_tracing_count() == 1
    expected = model.predict_on_batch(data.prepare_crops(crops, 32, 95)).reshape(-1)
    assert np.allclose(methods.score_crops(model, crops, 32, 95, 4), expected, atol=1e-6)


def brightness_videos(folder, count=5):
    """Videos whose one face (the stand-in detector's box) differs in brightness, so scores differ."""
    for number in range(count):
        write_flat_video(folder / f"v{number}.mp4", 40 + 40 * number)
    return folder


def test_an_interrupted_scoring_run_resumes_without_scoring_finished_videos_again(
    run_dir, tmp_path, stand_in_detector, monkeypatch
):
    videos = brightness_videos(tmp_path / "videos")
    whole = tmp_path / "whole.csv"
    assert stage05.main(stage05_argv(run_dir, videos, whole, "--frames", "4")) == 0
    assert not (tmp_path / "whole_parts").exists()  # removed once every output is written

    video_faces = frames_and_faces.video_faces  # runs in the worker threads
    scored = []

    def interrupted_on_third(path, *args, **kwargs):
        if len(scored) == 2:
            raise KeyboardInterrupt
        scored.append(Path(path).name)
        return video_faces(path, *args, **kwargs)

    monkeypatch.setattr(frames_and_faces, "video_faces", interrupted_on_third)
    resumed = tmp_path / "resumed.csv"
    assert stage05.main(stage05_argv(run_dir, videos, resumed, "--frames", "4", "--workers", "2")) == 130
    assert (
        not resumed.exists() and len(list((tmp_path / "resumed_parts").glob("[!.]*.json"))) == 3
    )  # 2 + settings
    scored.clear()

    def recording(path, *args, **kwargs):
        scored.append(Path(path).name)
        return video_faces(path, *args, **kwargs)

    monkeypatch.setattr(frames_and_faces, "video_faces", recording)
    assert stage05.main(stage05_argv(run_dir, videos, resumed, "--frames", "4", "--workers", "2")) == 0
    assert sorted(scored) == ["v2.mp4", "v3.mp4", "v4.mp4"]
    for kind in ("", "_frames", "_tracks"):
        assert (tmp_path / f"resumed{kind}.csv").read_text() == (tmp_path / f"whole{kind}.csv").read_text()


def test_test_sets_skip_a_finished_set_and_resume_an_interrupted_one(
    run_dir, tmp_path, stand_in_detector, monkeypatch, capsys
):
    brightness_videos(tmp_path / "sets" / "a", count=2)
    brightness_videos(tmp_path / "sets" / "b", count=3)
    listing = tmp_path / "sets" / "sets.yaml"
    listing.write_text("a: {input: a}\nb: {input: b}\n")  # paths from the file's folder
    out = tmp_path / "out"
    argv = ["--model", str(run_dir), "--test-sets", str(listing), "--output", str(out), "--frames", "4"]
    video_faces = frames_and_faces.video_faces
    scored = []

    def interrupted_on_fourth(path, *args, **kwargs):  # the second video of set b
        if len(scored) == 3:
            raise KeyboardInterrupt
        scored.append(Path(path).name)
        return video_faces(path, *args, **kwargs)

    monkeypatch.setattr(frames_and_faces, "video_faces", interrupted_on_fourth)
    assert stage05.main(argv) == 130
    assert (out / "a.csv").is_file() and (out / "a_report.html").is_file() and not (out / "b.csv").exists()
    scored.clear()
    capsys.readouterr()

    def recording(path, *args, **kwargs):
        scored.append(f"{Path(path).parent.name}/{Path(path).name}")
        return video_faces(path, *args, **kwargs)

    monkeypatch.setattr(frames_and_faces, "video_faces", recording)
    assert stage05.main(argv) == 0
    assert sorted(scored) == ["b/v1.mp4", "b/v2.mp4"]  # a finished, b resumed after its first video
    assert "test set a (1/2): already scored by this model" in capsys.readouterr().out
    assert list(pd.read_csv(out / "b.csv")["video"]) == ["v0.mp4", "v1.mp4", "v2.mp4"]
    assert not (out / "b_parts").exists()
    scored.clear()
    assert stage05.main([*argv[:-1], "2"]) == 0  # --frames 2: every set's scores would differ
    assert sorted(scored) == ["a/v0.mp4", "a/v1.mp4", "b/v0.mp4", "b/v1.mp4", "b/v2.mp4"]
    assert (pd.read_csv(out / "a.csv")["frames_sampled"] == 2).all()


def test_results_kept_for_other_settings_are_scored_again(run_dir, tmp_path, stand_in_detector, monkeypatch):
    videos = brightness_videos(tmp_path / "videos", count=2)
    output = tmp_path / "p.csv"
    monkeypatch.setattr(
        batch_scoring.ScoredVideos, "remove", lambda self: None
    )  # as if killed at the very end
    assert stage05.main(stage05_argv(run_dir, videos, output, "--frames", "4")) == 0
    first = read_predictions(output)
    assert stage05.main(stage05_argv(run_dir, videos, output, "--frames", "2")) == 0
    assert (read_predictions(output)["frames_sampled"] == 2).all() and (first["frames_sampled"] == 4).all()


def test_stage_05_killed_mid_run_leaves_whole_files_and_the_rerun_scores_only_what_is_left(run_dir, tmp_path):
    """SIGKILL, not an exception: nothing gets to clean up. Real MTCNN in a separate process."""
    import signal
    import time

    videos = tmp_path / "videos"
    videos.mkdir()
    for number in range(12):
        write_face_video(videos / f"v{number:02d}.mp4", frames=20)
    output = tmp_path / "p.csv"
    command = [sys.executable, str(ROOT / "05-predict-video.py")]
    command += stage05_argv(run_dir, videos, output, "--frames", "8")
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parts = tmp_path / "p_parts"
    deadline = time.monotonic() + 240
    while len(list(parts.glob("[!.]*.json"))) < 4 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "stage 05 ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    kept = [path for path in parts.glob("[!.]*.json") if path.name != "settings.json"]
    assert 3 <= len(kept) < 12 and not output.exists()
    for path in parts.glob("[!.]*"):  # a hidden temporary file may be left: the next run sweeps it
        json.loads(path.read_text())  # every file whole: written under a temporary name, then renamed

    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert f"resuming: {len(kept)} videos already scored" in finished.stderr
    predictions = read_predictions(output)
    assert len(predictions) == 12 and (predictions["faces_scored"] == 8).all() and not parts.exists()


def test_a_truncated_video_is_sampled_over_the_frames_it_holds_with_a_warning_naming_it(
    run_dir, tmp_path, stand_in_detector, capsys
):
    whole = tmp_path / "whole.avi"
    writer = cv2.VideoWriter(str(whole), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 120))
    for index in range(60):
        writer.write(np.full((120, 160, 3), 4 * index, np.uint8))
    writer.release()
    truncated = tmp_path / "videos" / "truncated.avi"
    truncated.parent.mkdir()
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 5])  # reports 60, holds 15
    output = tmp_path / "p.csv"
    assert stage05.main(stage05_argv(run_dir, truncated.parent, output, "--frames", "12")) == 0
    (row,) = read_predictions(output).to_dict("records")
    assert (
        row["verdict"] in ("FAKE", "REAL") and row["frames_sampled"] == 12
    )  # not 12 over 60 frames, 4 of them there
    warning = re.search(r"truncated.avi reports 60 frames but holds (\d+)", capsys.readouterr().err)
    assert warning and 12 <= int(warning.group(1)) < 30
    frames = pd.read_csv(tmp_path / "p_frames.csv")
    assert frames["frame_index"].max() < int(warning.group(1))


def test_kept_results_follow_the_model_file_content_not_its_path(run_dir, tmp_path):
    """Shards on two machines see one model at two paths: their kept results must count as one model's."""
    import shutil

    metadata, config = metadata_with(), DEFAULTS
    here = batch_scoring.scoring_identity(run_dir, metadata, config)
    copy = tmp_path / "elsewhere" / MODEL_FILE
    copy.parent.mkdir()
    shutil.copy(run_dir / MODEL_FILE, copy)
    assert batch_scoring.scoring_identity(copy.parent, metadata, config) == here
    copy.write_bytes(copy.read_bytes() + b"\0")  # another model file
    assert batch_scoring.scoring_identity(copy.parent, metadata, config) != here


class TwoPeopleDetector:
    """A stand-in detector: the large face of ``BOX`` and a small one in the corner, in every frame."""

    def detect(self, frames_rgb):
        return [[Face((4, 4, 30, 30), 0.99), Face(BOX, 0.99)] for _ in frames_rgb]


@pytest.mark.parametrize(("faces", "tracks", "crop_side"), [("", 1, 128), ("--faces all", 2, None)])
def test_a_model_trained_on_the_main_face_scores_that_face_unless_told_otherwise(
    model, tmp_path, monkeypatch, faces, tracks, crop_side
):
    model_file = tmp_path / "main.keras"
    save_model(model, model_file, metadata_with(faces="main"))
    monkeypatch.setattr(scorer, "build_detector", lambda preprocess: TwoPeopleDetector())
    video = write_video(tmp_path / "two.mp4", frames=10)
    output = tmp_path / "p.csv"
    assert stage05.main(stage05_argv(model_file, video, output, "--frames", "4", *faces.split())) == 0
    (row,) = read_predictions(output).to_dict("records")
    assert row["tracks"] == tracks and row["faces_scored"] == 4 * tracks
    scored = pd.read_csv(tmp_path / "p_tracks.csv")
    assert len(scored) == tracks and scored["decides"].all()
    if crop_side:  # the main face is the large one (80 px, 128 with the margin), not the one in the corner
        _, _, _, crops = frames_and_faces.video_faces(
            video, TwoPeopleDetector(), metadata_with(faces="main"), 4
        )
        assert {crop.shape for crop in crops} == {(crop_side, crop_side, 3)}


# ---------------------------------------------------------------- --perturb: frames perturbed before detection


class FrameRecorder(BoxDetector):
    """A ``BoxDetector`` that keeps a copy of every frame it is asked to search."""

    def __init__(self):
        super().__init__()
        self.frames = []

    def detect(self, frames_rgb):
        self.frames += [frame.copy() for frame in frames_rgb]
        return super().detect(frames_rgb)


def write_textured_video(path, frames=6, size=(160, 120)):
    """A video of random texture (blur and noise change it visibly), a new pattern in each frame."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, size)
    try:
        for _ in range(frames):
            writer.write(
                rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
                .repeat(8, 0)
                .repeat(8, 1)
            )
    finally:
        writer.release()
    return path


def frames_searched(run_dir, videos, output, monkeypatch, *flags):
    """The RGB frames stage 05 hands the face detector (one worker: videos in order), and its exit code."""
    recorder = FrameRecorder()
    monkeypatch.setattr(scorer, "build_detector", lambda preprocess: recorder)
    code = stage05.main(
        stage05_argv(str(run_dir), str(videos), str(output), "--frames", "3", "--workers", "1", *flags)
    )
    return code, recorder.frames


def test_perturb_applies_the_perturbation_to_every_sampled_frame_before_detection(
    run_dir, tmp_path, monkeypatch, capsys
):
    from common.io.perturbations import perturb_frames

    videos = tmp_path / "videos"
    write_textured_video(videos / "fake" / "f.mp4")
    write_textured_video(videos / "real" / "r.mp4", frames=7)
    _, clean = frames_searched(run_dir, videos, tmp_path / "clean.csv", monkeypatch)
    code, blurred = frames_searched(
        run_dir, videos, tmp_path / "blur.csv", monkeypatch, "--perturb", "gaussian_blur:5"
    )
    assert code == 0 and len(clean) == len(blurred) == 6
    assert not np.array_equal(np.stack(clean), np.stack(blurred))
    expected = perturb_frames(clean, "gaussian_blur", 5, None)
    assert all(np.array_equal(got, want) for got, want in zip(blurred, expected))
    metrics = json.loads((tmp_path / "blur_metrics.json").read_text())
    assert "perturbed: gaussian_blur level 5" in metrics["data"]
    assert "perturbed: gaussian_blur level 5" in capsys.readouterr().out

    # a random perturbation: the same seed gives the same frames, another seed others
    _, noisy = frames_searched(
        run_dir, videos, tmp_path / "n1.csv", monkeypatch, "--perturb", "gaussian_noise:2"
    )
    _, again = frames_searched(
        run_dir, videos, tmp_path / "n2.csv", monkeypatch, "--perturb", "gaussian_noise:2"
    )
    config = tmp_path / "seed.yaml"
    config.write_text("seed: 7\n")
    _, other = frames_searched(
        run_dir,
        videos,
        tmp_path / "n3.csv",
        monkeypatch,
        "--perturb",
        "gaussian_noise:2",
        "--config",
        str(config),
    )
    assert np.array_equal(np.stack(noisy), np.stack(again))
    assert not np.array_equal(np.stack(noisy), np.stack(other))


@pytest.mark.parametrize("value", ["blur", "nonsense:3", "jpeg:9"])
def test_a_bad_perturbation_is_a_one_line_error(run_dir, tmp_path, stand_in_detector, capsys, value):
    write_textured_video(tmp_path / "v.mp4")
    code = stage05.main(
        stage05_argv(str(run_dir), str(tmp_path / "v.mp4"), str(tmp_path / "p.csv"), "--perturb", value)
    )
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1 and "error:" in error
    assert not (tmp_path / "p.csv").exists()


def test_stage_05_scores_videos_by_the_rule_the_models_run_computed_its_figures_with_unless_told_otherwise(
    model, tmp_path, stand_in_detector, capsys
):
    recorded = {
        "aggregate": "vote",
        "threshold": 0.999999,
        "video_score": "track_max",
        "track_min_share": 0.25,
    }
    run = tmp_path / "run"
    save_model(model, run / MODEL_FILE, {**metadata_with(), "video_scoring": recorded})
    videos = brightness_videos(tmp_path / "videos", count=3)
    by_model, by_flag, by_file = tmp_path / "model.csv", tmp_path / "flag.csv", tmp_path / "file.csv"
    assert stage05.main(stage05_argv(run, videos, by_model, "--frames", "2")) == 0
    assert (read_predictions(by_model)["verdict"] == "REAL").all()  # the run's threshold: nothing is fake
    assert (
        "predict.threshold = 0.999999, as the model's run scored its test videos" in capsys.readouterr().err
    )
    assert stage05.main(stage05_argv(run, videos, by_flag, "--frames", "2", "--threshold", "1e-06")) == 0
    assert (read_predictions(by_flag)["verdict"] == "FAKE").all()
    assert (
        "predict.threshold = 1e-06 as given, while the model's run computed its test figures with 0.999999"
        in capsys.readouterr().err
    )
    config = tmp_path / "c.yaml"
    config.write_text("predict:\n  threshold: 1.0e-6\n")
    assert stage05.main(stage05_argv(run, videos, by_file, "--frames", "2", "--config", str(config))) == 0
    assert (read_predictions(by_file)["verdict"] == "FAKE").all()
    for output in (by_model, by_flag):  # the rule decides verdicts only: P(fake) is the same
        np.testing.assert_allclose(
            read_predictions(output)["fake_probability"], read_predictions(by_file)["fake_probability"]
        )
