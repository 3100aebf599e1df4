"""Stage 04 on a tiny hand-made dataset: run directory contents, corrupt images, devices, class weights."""

import hashlib
import json
import re
import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import C0, C1, ROOT, count_colour, read_figure

from common.core.config import DEFAULTS, load_config
from common.core.manifest import DETECTION_COLUMNS, SPLIT_COLUMNS
from common.core.model_file import read_metadata
from common.evaluation import aggregate
from common.evaluation.printed_report import with_interval
from common.evaluation.run_report import add_cross_dataset
from common.stages import train_detector as stage04


def blob_face(rng, label, size=40):
    """A flat grey face; a fake gets a noisy square in the middle."""
    image = np.full((size, size, 3), rng.integers(60, 200), np.uint8)
    if label:
        image[10:30, 10:30] = rng.integers(0, 255, (20, 20, 3))
    return image


def write_dataset(root, videos_per_class=(6, 2, 2), frames=3, draw=blob_face):
    """split.csv plus JPEG faces as stage 03 writes them: ``draw(rng, label)`` paints each face."""
    rng = np.random.default_rng(0)
    rows = []
    for split, count in zip(("train", "val", "test"), videos_per_class):
        for label, name in ((0, "real"), (1, "fake")):
            for video in range(count):
                video_id = f"{split}_{name}_{video}"
                for frame in range(frames):
                    path = f"{split}/{name}/{video_id}__f{frame:06d}_0.jpg"
                    (root / path).parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(root / path), draw(rng, label), [cv2.IMWRITE_JPEG_QUALITY, 95])
                    rows.append(
                        {
                            **dict.fromkeys(SPLIT_COLUMNS, ""),
                            **dict.fromkeys(DETECTION_COLUMNS[:5], 0),
                            "path": path,
                            "label": label,
                            "label_name": name,
                            "split": split,
                            "video_id": video_id,
                            "group": video_id,
                            "frame_index": frame,
                            "face_index": 0,
                            "track_id": 0,
                        }
                    )
    pd.DataFrame(rows).to_csv(root / "split.csv", index=False)
    return root


SMALL = ["--model", "small_cnn", "--image-size", "32", "--weights", "none", "--batch-size", "8"]


def test_a_run_directory_holds_model_history_plots_and_test_metrics(tmp_path):
    dataset = write_dataset(tmp_path / "dataset")
    (dataset / "train" / "fake" / "train_fake_0__f000000_0.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    test_face = dataset / "test" / "real" / "test_real_1__f000002_0.jpg"
    test_face.write_bytes(test_face.read_bytes()[:100])  # cut short
    config_file = tmp_path / "experiment.yaml"
    config_file.write_text("train:\n  patience: 5\n")
    arguments = ["--input", str(dataset), "--output", str(tmp_path / "runs"), "--config", str(config_file)]
    assert stage04.main([*arguments, *SMALL, "--epochs", "2"]) == 0
    run = (tmp_path / "runs" / "latest").resolve()
    # the run names the config file it was started with, as given, and its content's SHA-256
    sha256 = hashlib.sha256(config_file.read_bytes()).hexdigest()
    recorded = yaml.safe_load((run / "config.yaml").read_text())["config_file"]
    assert recorded == {"path": str(config_file), "sha256": sha256}
    assert run.name.endswith("-small_cnn-32")
    for name in (
        "config.yaml",
        "model.keras",
        "history.csv",
        "training_curves.png",
        "metrics.json",
        "confusion_frames.png",
        "confusion_videos.png",
        "roc_frames.png",
        "roc_videos.png",
        "pr_frames.png",
        "pr_videos.png",
        "reliability_frames.png",
        "reliability_videos.png",
        "report.md",
        "test_faces.csv",
        "test_frames.csv",
        "test_videos.csv",
        "unreadable_images.csv",
    ):
        assert (run / name).is_file(), name
    curves = read_figure(run / "training_curves.png", width=(900, 1100), height=(340, 440))  # two panels
    assert count_colour(curves, C0) > 200 and count_colour(curves, C1) > 200  # train and validation
    for name in ("confusion_frames", "confusion_videos"):
        cells = read_figure(run / f"{name}.png")
        assert (cells[..., 2] > cells[..., 0] + 0.2).mean() > 0.2, name  # cells shaded by their counts
    # both classes in the test split: a curve, not the one-class note (short where it runs along the axes)
    for name in ("roc_frames", "roc_videos", "pr_frames", "pr_videos"):
        assert count_colour(read_figure(run / f"{name}.png", width=(440, 540), height=(440, 540)), C0) > 20
    for name in ("reliability_frames", "reliability_videos"):
        read_figure(run / f"{name}.png", width=(440, 540), height=(440, 540))
    assert len(pd.read_csv(run / "history.csv")) == 2
    assert pd.read_csv(run / "unreadable_images.csv")["path"].tolist() == [
        "train/fake/train_fake_0__f000000_0.jpg",
        "test/real/test_real_1__f000002_0.jpg",
    ]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["frame_level"]["n"] == 11 and metrics["video_level"]["n"] == 4  # the test split only
    assert "1 unreadable image(s) left out" in metrics["data"]
    report = (run / "report.md").read_text()
    assert "No test data was used for training or model selection" in report
    frame_auc, video_auc = (
        with_interval(metrics[level], "auc", "{:.4f}") for level in ("frame_level", "video_level")
    )
    assert f"| AUC | {frame_auc} | {video_auc} |" in report and "] |" in report  # value [low, high]
    bootstrap = DEFAULTS["evaluation"]["bootstrap_resamples"]
    assert metrics["bootstrap"]["n_resamples"] == bootstrap and f"{bootstrap} resamples" in report
    assert set(metrics["video_level"]["intervals"]) == {"auc", "eer", "average_precision", "accuracy"}
    assert "intervals" not in metrics["validation"]["frame_level"]  # the test split's figures only
    assert "| samples | 11 | 4 |" in report and "Epochs run: 2" in report
    assert "**Reliability diagram of P(fake), frames: test split, 11 frames**" in report
    assert "![Reliability diagram of P(fake), videos: test split, 4 videos](reliability_videos.png)" in report
    assert "1 unreadable image(s) left out, see unreadable_images.csv" in report
    # every admission rule of preprocess, not only the first
    assert (
        "kept at confidence >= 0.95, or >= 0.8 as a frame's only detection, or >= 0.6 continuing the track"
        in report
    )
    for image in re.findall(r"!\[[^]]*\]\(([^)]+)\)", report):
        assert (run / image).is_file(), image
    other = {**metrics, "data": "official test set of --dataset celebdf in /data/cdf, 32 frames per video"}
    add_cross_dataset(run, "celebdf", other)  # what 05-predict-video.py --add-to-report does
    report = (run / "report.md").read_text()
    assert "## Cross-dataset" in report and "| celebdf: official test set of --dataset celebdf" in report
    metadata = read_metadata(run)
    assert (metadata["model"], metadata["image_size"]) == ("small_cnn", 32)
    predict = load_config()["predict"]  # how its test videos were scored, for stage 05 to score alike
    assert metadata["video_scoring"] == {key: predict[key] for key in aggregate.SCORING_KEYS}
    assert metadata["preprocess"] == load_config()["preprocess"]  # no stage 02 record: this config's
    assert "label 1 = fake" in metadata["label_meaning"]
    chosen = metadata["validation_threshold"]  # the val split's EER point, in the model and the metrics
    assert (chosen["split"], chosen["level"]) == ("val", "frame") and 0 <= chosen["value"] <= 1
    assert metrics["at_validation_threshold"]["value"] == chosen["value"]
    assert "chosen on the val split" in report
    assert f"- Config file: `{config_file} (sha256 {sha256[:12]})`, command-line flags over it" in report
    assert metrics["temperature_scaling"] is None and "temperature_scaling" not in metadata  # off by default
    assert "Temperature scaling" not in report


def test_a_resumed_run_keeps_the_config_file_it_was_started_with(tmp_path):
    from common.core.config import save_config
    from common.training.run_dir import resumed_run

    recorded = {"path": "configs/demo.yaml", "sha256": "ab" * 32}
    config = load_config(None, {"train.epochs": 3})
    save_config(
        {**config, "dataset_dir": "/data/d", "config_file": recorded}, tmp_path / "run" / "config.yaml"
    )
    dataset_dir, runs_dir, resumed, config_file = resumed_run(tmp_path / "run")
    assert (dataset_dir, runs_dir, config_file) == ("/data/d", tmp_path, recorded)
    assert resumed == config


def test_temperature_scaling_calibrates_the_saved_model_and_the_threshold_and_test_figures_are_of_it(
    tmp_path,
):
    from common.core.model_file import load_model
    from common.evaluation.aggregate import frame_scores
    from common.evaluation.calibration import eer_threshold, expected_calibration_error
    from common.models.methods import method_for
    from common.training.inputs import load_split

    dataset = write_dataset(tmp_path / "dataset")
    flags = ["--input", str(dataset), "--output", str(tmp_path / "runs"), *SMALL, "--epochs", "2"]
    assert stage04.main([*flags, "--temperature-scaling"]) == 0
    run = (tmp_path / "runs" / "latest").resolve()
    metrics = json.loads((run / "metrics.json").read_text())
    block, metadata = metrics["temperature_scaling"], read_metadata(run)
    assert block["temperature"] > 0 and block["fitted_on"].startswith("val split, frame P(fake)")
    assert metadata["temperature_scaling"] == block  # in the model file, for whoever loads it
    assert block["val_log_loss_after"] <= block["val_log_loss_before"] + 1e-9  # what the fit minimises
    assert block["val_ece_after"] == metrics["validation"]["frame_level"]["ece"]  # val as finally scored

    # what the saved model outputs (as stage 05 loads it) is what stage 04 evaluated and chose its threshold on
    model, _ = load_model(run)
    split = load_split(dataset)
    method = method_for("small_cnn")
    scored = {}
    for name in ("val", "test"):
        rows = split[split["split"] == name]
        _, p_fake = method.score_rows(model, rows, 32, 8)
        scored[name] = frame_scores(rows.assign(video=rows["video_id"], p_fake=p_fake))
    test_faces = pd.read_csv(run / "test_faces.csv")
    np.testing.assert_allclose(np.sort(test_faces["p_fake"]), np.sort(scored["test"]["p_fake"]), atol=1e-6)
    val = scored["val"]
    assert metadata["validation_threshold"]["value"] == pytest.approx(
        eer_threshold(val["label"], val["p_fake"])
    )
    assert block["val_ece_after"] == pytest.approx(expected_calibration_error(val["label"], val["p_fake"]))
    report = (run / "report.md").read_text()
    assert f"Temperature scaling: T = {block['temperature']:.4g}, fitted on the val split" in report
    assert f"val frame ECE {block['val_ece_before']:.4f} before, {block['val_ece_after']:.4f} after" in report


def test_head_then_finetune_phases_continue_one_history_and_report_both_learning_rates(tmp_path, capfd):
    dataset = write_dataset(tmp_path / "dataset")
    stage04.main(
        [
            "--input",
            str(dataset),
            "--output",
            str(tmp_path / "runs"),
            *SMALL,
            "--head-epochs",
            "1",
            "--epochs",
            "1",
            "--learning-rate",
            "0.002",
            "--finetune-learning-rate",
            "0.0003",
        ]
    )
    run = tmp_path / "runs" / "latest"
    history = pd.read_csv(run / "history.csv")
    assert history["epoch"].tolist() == [0, 1]
    assert "phase finetune: 1 epochs at learning rate 0.0003" in capfd.readouterr().err
    assert json.loads((run / "metrics.json").read_text())["training_phases"] == [
        {"phase": "head", "epochs": 1, "learning_rate": 0.002},
        {"phase": "finetune", "epochs": 1, "learning_rate": 0.0003},
    ]
    report = (run / "report.md").read_text()
    assert "learning rate 0.002 in the head phase (backbone frozen), then 0.0003 in the fine-tuning" in report
    # beside ours, the figures computed DeepfakeBench's way, and what each figure is
    compatible = json.loads((run / "metrics.json").read_text())["deepfakebench"]
    assert compatible["frame_level"]["n"] == 12 and compatible["video_level"]["n"] == 4
    assert "DeepfakeBench-compatible figures" in report
    assert "| equal error rate (nearest ROC point) |" in report and "| accuracy at P(fake) > 0.5 |" in report
    assert "**Equal error rate** (ours)" in report and "700 test videos become 280" in report


def test_the_help_of_head_epochs_says_which_learning_rate_fine_tuning_takes(capsys):
    with pytest.raises(SystemExit):
        stage04.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "fine-tuning runs at --finetune-learning-rate, not --learning-rate" in text
    assert "--finetune-learning-rate FINETUNE_LEARNING_RATE Adam learning rate of fine-tuning" in text
    assert "(config train.finetune_learning_rate; default 1e-05)" in text


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--model", "resnet9"], "invalid choice"),
        (["--model", "xception", "--image-size", "64", "--weights", "none"], "too small"),
        (["--model", "small_cnn", "--image-size", "32", "--weights", "/nowhere/w.h5"], "not found"),
        (["--model", "mesonet4", "--image-size", "32"], "'mesonet4' has no ImageNet weights"),
    ],
)
def test_bad_model_settings_fail_in_one_line_before_training(tmp_path, flags, message):
    dataset = write_dataset(tmp_path / "dataset", videos_per_class=(1, 1, 1), frames=1)
    result = subprocess.run(
        [
            sys.executable,
            "04-train-cnn.py",
            "--input",
            str(dataset),
            "--output",
            str(tmp_path / "runs"),
            *flags,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and message in result.stderr.strip().splitlines()[-1]
    if "invalid choice" not in message:  # TensorFlow was imported: its start-up lines are not shown
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_cpu_trains_in_float32_on_one_replica():
    from common.training.devices import setup_devices

    strategy, description = setup_devices("auto")
    assert strategy.num_replicas_in_sync == 1 and "float32" in description


def test_class_weights_only_when_the_classes_are_unbalanced():
    from common.training.inputs import class_weights

    assert class_weights([0, 1, 0, 1]) is None
    weights = class_weights([0, 0, 0, 1])
    assert weights[1] == 2.0 and weights[0] == pytest.approx(2 / 3)


def test_training_data_is_shuffled_even_without_augmentation(tmp_path):
    from common.data.pipeline import make_dataset

    paths = []
    for index in range(16):
        paths.append(tmp_path / f"{index}.jpg")
        cv2.imwrite(str(paths[-1]), np.full((8, 8, 3), 10 * index, np.uint8))
    data = make_dataset(paths, [0] * 16, 8, 16, training=True, augment_images=False, cache="memory", seed=3)
    epochs = [np.round(next(iter(data))[0].numpy().mean(axis=(1, 2, 3))).tolist() for _ in range(2)]
    assert sorted(epochs[0]) == [10.0 * i for i in range(16)]  # not augmented: every image as it was
    assert epochs[0] != [10.0 * i for i in range(16)] and epochs[0] != epochs[1]  # shuffled, anew each epoch


def test_every_first_epoch_batch_holds_both_classes_on_a_large_label_sorted_split(tmp_path):
    from common.data.pipeline import make_dataset

    image = tmp_path / "face.jpg"  # one tiny image stands for every row: the test is about the order
    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    labels = [0] * 25_000 + [1] * 25_000  # split.csv is sorted by split, then label
    data = make_dataset(
        [image] * 50_000, labels, 8, 32, training=True, augment_images=False, cache=False, seed=0
    )
    batches = [set(batch.tolist()) for _, batch in data.as_numpy_iterator()]
    assert len(batches) == 1563
    assert all(batch == {0.0, 1.0} for batch in batches)


def test_the_training_order_spreads_a_minority_class_over_the_whole_list():
    from common.data.pipeline import training_order

    labels = np.array([0] * 9_000 + [1] * 1_000)
    order = training_order(labels, seed=1)
    assert sorted(order) == list(range(10_000))  # every row once
    fakes_per_window = labels[order].reshape(-1, 100).sum(axis=1)
    assert fakes_per_window.min() >= 9 and fakes_per_window.max() <= 11  # 10 % in every stretch of 100
    assert not np.array_equal(order, training_order(labels, seed=2))


def test_the_saved_model_is_the_best_epoch_of_the_whole_run_across_phases(tmp_path):
    import keras

    from common.core.model_file import load_model
    from common.data.pipeline import make_dataset
    from common.training.train import train

    dataset = write_dataset(tmp_path / "dataset")
    config = load_config(
        None,
        {
            "train.model": "small_cnn",
            "train.image_size": 32,
            "train.weights": "none",
            "train.batch_size": 8,
            "train.head_epochs": 3,
            "train.learning_rate": 1e-3,
            "train.epochs": 2,
            "train.finetune_learning_rate": 50.0,
        },
    )  # fine-tuning wrecks it
    run_dir, _ = train(dataset, tmp_path / "runs", config)
    history = pd.read_csv(run_dir / "history.csv")
    best = history.loc[history["val_loss"].idxmin()]
    assert best["epoch"] < 3  # a head-phase epoch beat every fine-tuning epoch

    model, metadata = load_model(run_dir)
    val = pd.read_csv(dataset / "split.csv").query("split == 'val'")
    images = make_dataset([dataset / path for path in val["path"]], val["label"], 32, 8, training=False)
    p_fake = model.predict(images, verbose=0).reshape(-1)
    val_loss = float(keras.losses.binary_crossentropy(val["label"].to_numpy(np.float32), p_fake))
    assert val_loss == pytest.approx(best["val_loss"], rel=1e-3)
    assert metadata["selected"] == {
        "monitor": "val_loss",
        "value": pytest.approx(best["val_loss"]),
        "epoch": int(best["epoch"]),
        "phase": "head",
    }
    assert not (run_dir / "best.weights.h5").exists()


def test_a_face_crop_reaches_the_model_identically_in_training_and_in_scoring(tmp_path):
    """Stage 02 saves a crop as JPEG and stage 04 decodes the file; stage 05 scores the same crop from
    memory. Both must hand the network the very same pixels."""
    from pathlib import Path

    import matplotlib

    from common.core.files import write_jpeg
    from common.data.pipeline import make_dataset, prepare_crops

    photo = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    crop = photo[60:390, 130:400]  # a face with a margin, as stage 02 cuts it
    write_jpeg(tmp_path / "face.jpg", crop, 95)  # stage 02
    for size in (64, 128, 299):
        ((trained, _),) = make_dataset(
            [tmp_path / "face.jpg"], [0], size, 1, training=False
        ).as_numpy_iterator()
        scored = prepare_crops([crop], size, 95)  # stage 05
        np.testing.assert_array_equal(trained, scored)


def test_a_model_that_learned_nothing_says_so_and_records_it(tmp_path, capsys):
    dataset = write_dataset(tmp_path / "dataset", frames=2)
    split = pd.read_csv(dataset / "split.csv")
    for path in split["path"]:  # real and fake faces all alike: nothing to learn
        cv2.imwrite(str(dataset / path), np.full((40, 40, 3), 128, np.uint8))
    assert (
        stage04.main(["--input", str(dataset), "--output", str(tmp_path / "runs"), *SMALL, "--epochs", "1"])
        == 0
    )
    assert (
        "WARNING: the model learned nothing: it gives every validation face the same P(fake)"
        in capsys.readouterr().out
    )
    metrics = json.loads((tmp_path / "runs" / "latest" / "metrics.json").read_text())
    assert metrics["learned_nothing"].startswith("it gives every validation face the same P(fake)")


def test_a_model_that_learned_says_nothing_of_the_kind(tmp_path, capsys):
    dataset = write_dataset(tmp_path / "dataset")
    assert (
        stage04.main(
            [
                "--input",
                str(dataset),
                "--output",
                str(tmp_path / "runs"),
                *SMALL,
                "--epochs",
                "6",
                "--learning-rate",
                "0.003",
            ]
        )
        == 0
    )
    assert "learned nothing" not in capsys.readouterr().out
    # started without --config: the run records the built-in defaults as its config
    assert (
        yaml.safe_load((tmp_path / "runs" / "latest" / "config.yaml").read_text())["config_file"]
        == "defaults"
    )
    metrics = json.loads((tmp_path / "runs" / "latest" / "metrics.json").read_text())
    assert metrics["learned_nothing"] is None and metrics["validation"]["frame_level"]["auc"] > 0.55
    assert metrics["model_selection"]["monitor"] == "val_loss"


def test_learned_nothing_means_a_constant_output_or_a_chance_validation_auc():
    from common.training.train import learned_nothing

    faces = pd.DataFrame({"p_fake": [0.7, 0.7004, 0.7, 0.7002]})
    assert learned_nothing(faces, {"auc": 0.9}).startswith(
        "it gives every validation face the same P(fake), 0.700"
    )
    faces = pd.DataFrame({"p_fake": [0.1, 0.9, 0.4, 0.6]})
    assert learned_nothing(faces, {"auc": 0.55}) == "its validation frame AUC is 0.550 (<= 0.55)"
    assert learned_nothing(faces, {"auc": 0.56}) is None
    assert learned_nothing(faces, {"auc": None}) is None  # one class in val: no AUC to judge by


def test_a_test_video_without_a_face_is_counted_in_metrics_and_report(tmp_path):
    from test_dataset import RATIOS, faces_manifest, write_faces_folder

    from common.data.split import prepare_dataset

    # Celeb-DF-like official list: real_000, fake_000_0, real_001, fake_001_0; stage 02 found no face in
    # any frame of fake_001_0, so its frames are in skipped_frames.csv and none in the manifest
    manifest = faces_manifest(groups=8, fakes_per_real=1, frames=2, official_test=(0, 1)).assign(track_id=0)
    faceless = manifest["video_id"] == "fake_001_0"
    faces = tmp_path / "faces"
    write_faces_folder(faces, manifest[~faceless])
    manifest[faceless].assign(path="", error="no face").to_csv(faces / "skipped_frames.csv", index=False)
    prepare_dataset(faces, tmp_path / "dataset", RATIOS, balance="none", seed=0, protocol="official")
    listing = pd.read_csv(tmp_path / "dataset" / "test_videos.csv", keep_default_na=False)
    assert listing.set_index("video_id")["faces"].to_dict() == {
        "fake_000_0": 2,
        "fake_001_0": 0,
        "real_000": 2,
        "real_001": 2,
    }
    assert listing.set_index("video_id").loc["fake_001_0", "no_face_because"] == "no face"

    runs = tmp_path / "runs"
    assert (
        stage04.main(["--input", str(tmp_path / "dataset"), "--output", str(runs), *SMALL, "--epochs", "1"])
        == 0
    )
    metrics = json.loads((runs / "latest" / "metrics.json").read_text())
    assert metrics["video_level"]["n"] == 3
    assert metrics["video_coverage"] == {
        "listed": 4,
        "scored": 3,
        "no_face": 1,
        "not_scored_otherwise": 0,
        "listed_from": "test_videos.csv of stage 03",
    }
    report = (runs / "latest" / "report.md").read_text()
    assert "Test videos: 4 videos listed (test_videos.csv of stage 03): 3 scored, 1 without a face" in report
    assert "the figures cover 3 of the 4 listed videos" in report
