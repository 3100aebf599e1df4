"""Self-blended pseudo-fakes (--pseudo-fakes sbi): the face mesh, the blend, and stage 04 training on them."""

import json

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import load_script
from test_train import SMALL, write_dataset

from common.checkpoint import read_metadata
from common.config import default
from common.facemesh import FaceMesh
from common.faces import crop_with_margin
from common.sbi import FOLDER, RECORD, ellipse_mask, hull_mask, self_blend

stage04 = load_script("04-train-cnn.py")


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
    flags = [*SMALL, "--epochs", "1", "--pseudo-fakes", "sbi"]
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
