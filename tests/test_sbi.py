"""Self-blended pseudo-fakes (--pseudo-fakes sbi): the face mesh, the blend, and stage 04 training on them."""

import json

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml
from test_train import SMALL, write_dataset

from common.core.config import default
from common.core.model_file import read_metadata
from common.faces.detection import crop_with_margin
from common.faces.facemesh import FaceMesh
from common.stages import train_detector as stage04
from common.training.sbi import (
    FOLDER,
    RECORD,
    VAL_FOLDER,
    OnlineBlends,
    blend_pair,
    ellipse_mask,
    hull_mask,
    pair_real,
    self_blend,
)


@pytest.fixture(scope="module")
def mesh():
    return FaceMesh()


@pytest.fixture(scope="module")
def crop():
    """The astronaut's face (scikit-image's photo, as the demo videos use it), cut as stage 02 cuts it."""
    from tools.demo import load_face_photos

    photo = next(photo for photo in load_face_photos() if photo.name == "astronaut")
    x0, y0, x1, y1 = crop_with_margin(photo.box, photo.image.shape, default("preprocess.margin"))
    return cv2.cvtColor(photo.image[y0:y1, x0:x1], cv2.COLOR_RGB2BGR)


def test_the_mesh_finds_468_points_on_a_face_crop_and_its_mask_covers_the_face_not_the_corners(mesh, crop):
    points, presence = mesh.find(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
    height, width = crop.shape[:2]
    assert presence > 0.9 and points.shape == (468, 2)
    assert (points >= 0).all() and (points[:, 0] < width).all() and (points[:, 1] < height).all()
    # the face fills the middle of a crop with a 30 % margin: the points' centre is near the crop's
    assert np.allclose(points.mean(axis=0), (width / 2, height / 2), atol=0.15 * max(width, height))
    corners = (slice(0, 5), slice(-5, None))
    for seed in range(6):  # every mask variant
        rng = np.random.default_rng(seed)
        for mask in (hull_mask(crop.shape, points, rng), self_blend(crop, points, rng)[1]):
            assert mask[height // 2, width // 2] > 0
            assert all(mask[rows, columns].max() == 0 for rows in corners for columns in corners)


def test_a_crop_without_a_face_gets_the_centred_ellipse(mesh):
    blank = np.full((120, 100, 3), 128, np.uint8)
    points, presence = mesh.find(blank)
    assert points is None and presence < 0.5
    mask = ellipse_mask(blank.shape)
    assert mask[60, 50] == 1 and mask[0, 0] == 0 and mask[-1, -1] == 0


def test_a_pseudo_fake_differs_from_its_source_only_inside_the_blend_mask(mesh, crop):
    points, _ = mesh.find(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
    fake, weights = self_blend(crop, points, np.random.default_rng(7))
    assert fake.shape == crop.shape and fake.dtype == np.uint8
    outside = weights == 0
    assert 0.2 < outside.mean() < 0.9  # the face blended, the background and hair kept
    assert np.array_equal(fake[outside], crop[outside])
    changed = np.abs(fake.astype(int) - crop.astype(int)).max(axis=2)
    assert changed[weights >= 0.25].mean() > 2  # the blend region really changed
    again, _ = self_blend(crop, points, np.random.default_rng(7))
    other, _ = self_blend(crop, points, np.random.default_rng(8))
    assert np.array_equal(fake, again) and not np.array_equal(fake, other)


def test_stage_04_trains_on_pseudo_fakes_made_from_the_real_train_faces_alone(tmp_path):
    dataset = write_dataset(tmp_path / "dataset", videos_per_class=(3, 1, 1), frames=2)
    split = pd.read_csv(dataset / "split.csv")
    train_fakes = split[(split["split"] == "train") & (split["label"] == 1)]
    for path in train_fakes["path"]:  # reading any of these would list it in unreadable_images.csv
        (dataset / path).write_bytes(b"not a face")
    runs = tmp_path / "runs"
    flags = [*SMALL, "--epochs", "1", "--pseudo-fakes", "sbi", "--pseudo-fakes-mode", "once"]
    assert stage04.main(["--input", str(dataset), "--output", str(runs), *flags]) == 0

    run = (runs / "latest").resolve()
    assert (run / "model.keras").is_file() and not (run / "unreadable_images.csv").exists()
    record = pd.read_csv(run / FOLDER / RECORD)
    train_reals = split[(split["split"] == "train") & (split["label"] == 0)]
    assert sorted(record["source_path"]) == sorted(train_reals["path"])  # one per real train face
    assert (record["label"] == 1).all() and len(list((run / FOLDER).glob("*.jpg"))) == len(train_reals)
    assert read_metadata(run)["pseudo_fakes"] == "sbi"
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["pseudo_fakes"] == "sbi"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["frame_level"]["n"] == 4  # the test split's real and fake faces, as they are
    assert metrics["model_selection"]["val_fakes"] == "the val split's own fakes"
    assert "real fakes were seen in model selection" in (run / "report.md").read_text()


def test_the_paper_pairs_change_the_source_or_the_target_and_the_fake_equals_its_real_outside_the_blend(
    mesh, crop
):
    points, _ = mesh.find(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
    target_changed = 0
    for seed in range(8):
        real, fake, weights = blend_pair(crop, points, np.random.default_rng(seed))
        outside = weights == 0
        assert np.array_equal(fake[outside], real[outside])  # the blend shows only inside its mask
        assert np.array_equal(pair_real(crop, np.random.default_rng(seed)), real)
        target_changed += not np.array_equal(real, crop)
    assert 0 < target_changed < 8  # the real face is the crop itself, or the crop changed: at random


def write_faces(folder, crop, count):
    """``count`` copies of the face crop, each shifted in brightness, as rows with ``file``."""
    rows = []
    for index in range(count):
        path = folder / f"real{index}.jpg"
        cv2.imwrite(str(path), np.clip(crop.astype(int) + 10 * index, 0, 255).astype(np.uint8))
        rows.append(
            {"path": path.name, "file": path, "label": 0, "label_name": "real", "video_id": f"v{index}"}
        )
    return pd.DataFrame(rows)


def epochs_of(blends, image_size=64, epochs=2):
    """Each epoch's images of the online rows, as stage 04's input pipeline makes them (row order)."""
    from common.data.pipeline import make_dataset

    rows = blends.rows
    data = make_dataset(rows["file"], rows["label"], image_size, 4, training=False, generate=blends)
    return [np.concatenate([images.numpy() for images, _ in data]) for _ in range(epochs)]


def test_online_pseudo_fakes_are_new_every_epoch_and_the_same_for_a_seed(tmp_path, crop):
    reals = write_faces(tmp_path, crop, 2)
    blends = OnlineBlends(reals, seed=3, jpeg_quality=95)
    assert list(blends.rows["label"]) == [0, 0, 1, 1] and list(blends.rows["file"]) == [*reals["file"]] * 2
    first, second = epochs_of(blends)
    for fake in (2, 3):  # the same source face, two epochs: two different pseudo-fakes
        assert np.abs(first[fake] - second[fake]).mean() > 0.5
    again = epochs_of(OnlineBlends(reals, seed=3, jpeg_quality=95))
    np.testing.assert_array_equal(again[0], first)
    np.testing.assert_array_equal(again[1], second)
    other = epochs_of(OnlineBlends(reals, seed=4, jpeg_quality=95), epochs=1)[0]
    assert not np.array_equal(other[2:], first[2:])


def test_online_sbi_selected_on_val_pseudo_fakes_reads_no_train_or_val_fake_and_tests_on_real_fakes(tmp_path):
    dataset = write_dataset(tmp_path / "dataset", videos_per_class=(3, 1, 1), frames=2)
    split = pd.read_csv(dataset / "split.csv")
    for path in split[(split["split"] != "test") & (split["label"] == 1)]["path"]:
        (dataset / path).write_bytes(b"not a face")  # reading any would list it in unreadable_images.csv
    runs = tmp_path / "runs"
    flags = [*SMALL, "--epochs", "2", "--pseudo-fakes", "sbi", "--val-fakes", "sbi"]
    assert stage04.main(["--input", str(dataset), "--output", str(runs), *flags]) == 0

    run = (runs / "latest").resolve()
    assert (run / "model.keras").is_file() and not (run / "unreadable_images.csv").exists()
    assert not (run / FOLDER).exists()  # online: nothing written, new pairs every epoch
    record = pd.read_csv(run / VAL_FOLDER / RECORD)
    val_reals = split[(split["split"] == "val") & (split["label"] == 0)]
    assert sorted(record["source_path"]) == sorted(val_reals["path"]) and (record["split"] == "val").all()
    config = yaml.safe_load((run / "config.yaml").read_text())["train"]
    assert config["sbi"] == {"mode": "online", "val_fakes": "sbi"}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["frame_level"]["n"] == 4 and metrics["frame_level"]["n_fake"] == 2  # test: real fakes
    assert "pseudo-fakes made once from the val split's real faces" in metrics["model_selection"]["val_fakes"]
    assert "no real fake was seen before the test split" in (run / "report.md").read_text()


def test_val_pseudo_fakes_need_pseudo_fakes_in_training():
    from common.core.config import load_config
    from common.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"'train\.sbi\.val_fakes' sbi needs train\.pseudo_fakes: sbi"):
        load_config(overrides={"train.sbi.val_fakes": "sbi"})
