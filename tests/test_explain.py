"""Explanations of a trained run (Grad-CAM, t-SNE) on a tiny small_cnn whose fakes carry a bright square."""

import shutil

import keras
import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import read_figure
from test_train import write_dataset

from common.core.config import load_config
from common.core.model_file import load_model
from common.evaluation import explain
from common.models.backbones import BACKBONES
from common.models.classifier import BACKBONE_LAYER_NAME, build_model
from common.stages import explain_run as stage06

SIZE = 32
SQUARE = 10  # side of the bright square that makes a face fake, in pixels of the 40 px images


def fake_face(rng, size=40):
    """A grey noisy face with a bright square somewhere; returns the image and the square's mask."""
    image = np.clip(rng.normal(rng.integers(70, 170), 12, (size, size, 3)), 0, 255).astype(np.uint8)
    top, left = rng.integers(2, size - SQUARE - 2, 2)
    image[top : top + SQUARE, left : left + SQUARE] = 250
    mask = np.zeros((size, size), bool)
    mask[top : top + SQUARE, left : left + SQUARE] = True
    return image, mask


def real_face(rng, size=40):
    return np.clip(rng.normal(rng.integers(70, 170), 12, (size, size, 3)), 0, 255).astype(np.uint8)


def explain_face(rng, label):
    """What the tiny model learns from: a bright square makes a face fake."""
    return fake_face(rng)[0] if label else real_face(rng)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A run directory of stage 04: small_cnn at 32 px from scratch, a few epochs (it separates the test
    faces completely, P(fake) near 0 and 1)."""
    from common.training.train import train

    root = tmp_path_factory.mktemp("explain")
    dataset = write_dataset(root / "dataset", videos_per_class=(8, 2, 2), frames=4, draw=explain_face)
    config = load_config(
        None,
        {
            "train.model": "small_cnn",
            "train.image_size": SIZE,
            "train.weights": "none",
            "train.batch_size": 8,
            "train.epochs": 6,
            "train.learning_rate": 3e-3,
            "train.augment": False,  # learns the square in every run; with augmentation in some
            "seed": 0,
        },
    )
    run_dir, _ = train(dataset, root / "runs", config)
    return run_dir, dataset


@pytest.fixture(scope="module")
def model(trained_run):
    return load_model(trained_run[0])[0]


def squares(count, seed=1):
    """``count`` fake faces at model size (float32 0..255) and the masks of their squares."""
    rng = np.random.default_rng(seed)
    faces, masks = zip(*(fake_face(rng, SIZE) for _ in range(count)))
    return np.stack(faces).astype(np.float32), np.stack(masks)


def test_the_gradcam_path_gives_the_models_own_p_fake(trained_run, model):
    run_dir, dataset = trained_run
    faces = pd.read_csv(run_dir / "test_faces.csv")
    images = explain.load_images([dataset / path for path in faces["path"]], SIZE)
    _, p_fake = explain.gradcam(model, images)
    np.testing.assert_allclose(p_fake, model.predict(images, verbose=0).reshape(-1), atol=1e-5)
    np.testing.assert_allclose(p_fake, faces["p_fake"], atol=1e-4)  # what stage 04 reported
    assert p_fake.std() > 0.05  # the model tells the faces apart: the check means something
    keras.utils.set_random_seed(0)
    untrained = build_model("small_cnn", SIZE, weights="none")  # P(fake) in mid-range, not near 0 or 1
    _, p_fake = explain.gradcam(untrained, images)
    np.testing.assert_allclose(p_fake, untrained.predict(images, verbose=0).reshape(-1), atol=1e-5)
    assert p_fake.min() > 0.05 and p_fake.max() < 0.95


def test_heatmaps_have_the_face_size_and_light_up_the_fake_square(model):
    images, masks = squares(12)
    heatmaps, p_fake = explain.gradcam(model, images)
    assert heatmaps.shape == (12, SIZE, SIZE) and heatmaps.dtype == np.float32
    assert np.isfinite(heatmaps).all() and heatmaps.min() >= 0 and heatmaps.max() <= 1
    caught = p_fake > 0.5
    assert caught.sum() >= 6
    assert all(heatmap.std() > 0.05 and heatmap.max() == pytest.approx(1) for heatmap in heatmaps[caught])
    inside = np.mean([heatmap[mask].mean() for heatmap, mask in zip(heatmaps[caught], masks[caught])])
    outside = np.mean([heatmap[~mask].mean() for heatmap, mask in zip(heatmaps[caught], masks[caught])])
    assert inside > 2 * outside


def test_heatmaps_do_not_change_when_the_backbone_is_frozen(model):
    """A model saved after a head-only phase has a non-trainable backbone; the gradient must still flow."""
    images, _ = squares(4)
    heatmaps, _ = explain.gradcam(model, images)
    backbone = model.get_layer(BACKBONE_LAYER_NAME)
    backbone.trainable = False
    try:
        frozen, _ = explain.gradcam(model, images)
    finally:
        backbone.trainable = True
    np.testing.assert_allclose(frozen, heatmaps, atol=1e-6)


def test_heatmaps_stay_when_p_fake_saturates_at_one(model):
    """The gradient of a sigmoid that outputs exactly 1.0 is 0; the heatmap must not vanish with it."""
    images, _ = squares(4)
    heatmaps, _ = explain.gradcam(model, images)
    output = model.get_layer("p_fake")
    bias = output.bias.numpy()
    output.bias.assign(bias + 40.0)  # the same logit gradient, P(fake) = 1.0 in float32
    try:
        saturated, p_fake = explain.gradcam(model, images)
    finally:
        output.bias.assign(bias)
    assert (p_fake == 1.0).all()
    np.testing.assert_allclose(saturated, heatmaps, atol=1e-6)


def test_a_mixed_precision_model_gives_float32_heatmaps_and_its_own_p_fake():
    """Stage 04 trains under mixed_float16 on a GPU, and a GPU loads the model so."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        network = build_model("small_cnn", SIZE, weights="none")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    images, _ = squares(3)
    heatmaps, p_fake = explain.gradcam(network, images)
    assert heatmaps.dtype == np.float32 and np.isfinite(heatmaps).all()
    np.testing.assert_allclose(p_fake, network.predict(images, verbose=0).reshape(-1), atol=1e-5)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_backbone_has_a_last_feature_map_and_gives_a_heatmap(name):
    size = BACKBONES.get(name).min_size
    keras.utils.set_random_seed(0)
    network = build_model(name, size, weights="none")
    layer = explain.last_feature_map_layer(network.get_layer(BACKBONE_LAYER_NAME))
    assert len(layer.output.shape) == 4 and min(layer.output.shape[1:3]) >= 1
    image = np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype(np.float32)
    heatmaps, p_fake = explain.gradcam(network, image)  # raises if the path differs from the model
    assert heatmaps.shape == (1, size, size) and np.isfinite(heatmaps).all()
    assert 0 <= p_fake[0] <= 1


def test_small_cnn_is_explained_at_its_last_convolution_block_not_after_its_pooling():
    network = build_model("small_cnn", 64, weights="none")
    layer = explain.last_feature_map_layer(network.get_layer(BACKBONE_LAYER_NAME))
    assert layer.name == "block4_relu" and tuple(layer.output.shape[1:3]) == (8, 8)


def test_tsne_works_with_a_handful_of_faces():
    rng = np.random.default_rng(0)
    embeddings = np.concatenate([rng.normal(0, 1, (4, 16)), rng.normal(5, 1, (4, 16))])
    points = explain.tsne_2d(embeddings, seed=0)
    assert points.shape == (8, 2) and np.isfinite(points).all()
    assert explain.tsne_2d(np.zeros((3, 16)), seed=0).shape == (3, 2)  # identical points (a dead head)
    assert all(explain.tsne_perplexity(count) < count for count in range(3, 200))
    with pytest.raises(ValueError, match="at least 3"):
        explain.tsne_2d(embeddings[:2], seed=0)


def test_faces_are_sampled_across_outcome_groups():
    faces = pd.DataFrame(
        {"label": [0] * 6 + [1] * 6, "p_fake": [0.1] * 5 + [0.9] + [0.8] * 4 + [0.2] * 2}
    )  # 5 correct real, 1 wrong real, 4 correct fake, 2 wrong fake
    chosen = explain.sample_faces(faces, 7, seed=0)
    assert chosen["group"].value_counts().to_dict() == {
        "correct real": 2,
        "correct fake": 2,
        "wrong real": 1,
        "wrong fake": 2,
    }
    assert list(dict.fromkeys(chosen["group"])) == [
        "correct real",
        "correct fake",
        "wrong real",
        "wrong fake",
    ]
    assert len(explain.sample_faces(faces, 50, seed=0)) == 12
    assert explain.sample_faces(faces, 7, seed=0).index.equals(chosen.index)


def test_the_gradcam_figure_has_a_row_per_group_of_square_panels(tmp_path):
    images = np.random.default_rng(0).uniform(0, 255, (5, SIZE, SIZE, 3))
    heatmaps = np.random.default_rng(1).uniform(0, 1, (5, SIZE, SIZE))
    groups = ["correct real"] * 3 + ["wrong fake"] * 2
    path = explain.plot_gradcam(images, heatmaps, [0, 0, 0, 1, 1], [0.1] * 5, groups, tmp_path / "g.png")
    height, width = matplotlib.image.imread(path).shape[:2]
    panel = explain.PANEL_INCHES * 100  # pixels at the 100 dpi figures are saved at
    assert 2.7 * panel <= width <= 3.2 * panel and 1.7 * panel <= height <= 2.2 * panel
    assert not list(tmp_path.glob("*.tmp"))


def test_stage_06_explains_a_run_directory(trained_run, tmp_path):
    run_dir, _ = trained_run
    output = tmp_path / "explain"
    assert stage06.main(["--input", str(run_dir), "--output", str(output), "--samples", "8"]) == 0
    assert sorted(path.name for path in output.iterdir()) == ["gradcam.png", "tsne.png"]

    faces = pd.read_csv(run_dir / "test_faces.csv")
    rows, columns = explain.gradcam_layout(list(explain.sample_faces(faces, 8, seed=0)["group"]))
    height, width = matplotlib.image.imread(output / "gradcam.png").shape[:2]
    panel = explain.PANEL_INCHES * 100
    assert abs(width - columns * panel) <= 0.2 * columns * panel
    assert abs(height - len(rows) * panel) <= 0.25 * len(rows) * panel
    height, width = matplotlib.image.imread(output / "tsne.png").shape[:2]
    assert 900 <= width <= 1200 and 400 <= height <= 560  # two panels side by side


def test_a_moved_dataset_is_found_with_dataset(trained_run, tmp_path, capsys, monkeypatch):
    run_dir, dataset = trained_run
    moved = tmp_path / "run"
    shutil.copytree(run_dir, moved)
    config = yaml.safe_load((moved / "config.yaml").read_text())
    (moved / "config.yaml").write_text(yaml.safe_dump({**config, "dataset_dir": str(tmp_path / "gone")}))
    output = tmp_path / "out"
    assert stage06.main(["--input", str(moved), "--output", str(output)]) == 2
    error = capsys.readouterr().err
    assert "dataset folder not found" in error and "--dataset" in error
    monkeypatch.setattr(explain, "GRADCAM_BATCH", 3)  # 5 faces in two Grad-CAM passes
    paths = explain.explain_run(moved, output, dataset_dir=dataset, samples=5)
    assert all(path.is_file() for path in paths.values())
    assert all(read_figure(path).size for path in paths.values())  # drawn, not blank


@pytest.mark.parametrize("missing", ["model.keras", "test_faces.csv"])
def test_stage_06_says_in_one_line_what_a_run_directory_lacks(trained_run, tmp_path, capsys, missing):
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run[0], run_dir)
    (run_dir / missing).unlink()
    assert stage06.main(["--input", str(run_dir), "--output", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and f"no {missing} in" in error[0]
    assert not (tmp_path / "out").exists()


def test_stage_06_refuses_to_write_inside_the_run_directory(trained_run, capsys):
    run_dir = trained_run[0]
    assert stage06.main(["--input", str(run_dir), "--output", str(run_dir / "explain")]) == 2
    assert "lies inside --input" in capsys.readouterr().err


def test_stage_04_explain_flag_puts_the_figures_in_the_run_and_its_report(tmp_path):
    dataset = write_dataset(tmp_path / "dataset", videos_per_class=(4, 2, 2), frames=2, draw=explain_face)
    from common.stages import train_detector as stage04

    flags = ["--model", "small_cnn", "--image-size", str(SIZE), "--weights", "none", "--epochs", "1"]
    assert (
        stage04.main(["--input", str(dataset), "--output", str(tmp_path / "runs"), *flags, "--explain"]) == 0
    )
    run = (tmp_path / "runs" / "latest").resolve()
    gradcam = read_figure(run / "explain" / "gradcam.png")
    assert gradcam.shape[1] >= 0.8 * explain.PANEL_INCHES * 100  # at least one face panel wide
    read_figure(run / "explain" / "tsne.png", width=(900, 1200), height=(400, 560))  # two panels side by side
    report = (run / "report.md").read_text()
    assert "![Grad-CAM of P(fake) on test faces](explain/gradcam.png)" in report
    assert "(explain/tsne.png)" in report
