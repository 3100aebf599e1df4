"""Fault injection (issue 12): files a user may hand the pipeline by mistake, each refused in one line that
names the file and the reason, with exit code 2 and no traceback."""

import zipfile

import keras
import pandas as pd
import pytest
from conftest import load_script, write_video

from common.checkpoint import METADATA_ENTRY, MODEL_FILE, save_model
from common.config import DEFAULTS
from common.models import build_model

stage05 = load_script("05-predict-video.py")

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
    stage03 = load_script("03-prepare-fake-real-dataset.py")
    output = tmp_path / "dataset"
    code = stage03.main(["--input", str(tmp_path / "faces"), "--output", str(output), "--no-balance"])
    assert code == 1
    split = pd.read_csv(output / "split.csv")
    assert len(split) == len(manifest) - 1
    assert all((output / path).is_file() for path in split["path"])
    assert pd.read_csv(output / "missing_faces.csv")["path"].tolist() == [gone]
    assert "1 face crop(s) listed" in capsys.readouterr().err
