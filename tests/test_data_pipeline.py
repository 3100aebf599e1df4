"""Stage 04's input pipeline at scale: unreadable images found as they are read, and the image cache
(memory, disk or none) chosen from the memory and disk at hand."""

import logging

import cv2
import numpy as np
import pytest

from common.core.config import load_config
from common.core.errors import ConfigError
from common.data.pipeline import ReadLog, available_memory, cache_bytes, choose_cache, make_dataset

GIB = 2**30


def write_faces(folder, count, size=12):
    """``count`` JPEGs, face i a flat grey of brightness 10 * i (read back from the mean), labels 0, 1, ..."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        paths.append(folder / f"{index:03d}.jpg")
        cv2.imwrite(str(paths[-1]), np.full((size, size, 3), 10 * index, np.uint8))
    return paths, [index % 2 for index in range(count)]


def brightness(dataset):
    """Every image of every batch, as its rounded mean brightness, in the order the dataset yields them."""
    return [round(float(image.mean())) for images, _ in dataset.as_numpy_iterator() for image in images]


def spoil(paths):
    """Make three files unreadable: garbage after a JPEG marker, a JPEG cut short, a missing file."""
    paths[1].write_bytes(b"\xff\xd8 not really a jpeg")
    paths[4].write_bytes(paths[4].read_bytes()[:60])
    paths[7].unlink()
    return [1, 4, 7]


@pytest.mark.parametrize("training", [True, False])
def test_unreadable_images_are_skipped_and_named_and_the_epoch_goes_on(tmp_path, training):
    paths, labels = write_faces(tmp_path, 12)
    bad = spoil(paths)
    read_log = ReadLog(len(paths))
    data = make_dataset(
        paths, labels, 12, 4, training, augment_images=False, cache="memory", read_log=read_log, seed=1
    )
    good = [10 * index for index in range(12) if index not in bad]
    first = brightness(data)
    assert sorted(first) == good
    if not training:
        assert first == good  # evaluation keeps the order, so scores line up with the readable rows
    assert np.flatnonzero(read_log.unread()).tolist() == bad
    assert sorted(brightness(data)) == good  # the second epoch, from the cache
    assert np.flatnonzero(read_log.unread()).tolist() == bad


def test_without_a_read_log_an_unreadable_image_still_raises(tmp_path):
    """Callers that line results up with their rows (and give no log) must not lose rows silently."""
    import tensorflow as tf

    paths, labels = write_faces(tmp_path, 4)
    paths[1].write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(tf.errors.InvalidArgumentError):
        brightness(make_dataset(paths, labels, 12, 4, training=False, cache="none"))


@pytest.mark.parametrize("augment_images", [False, True])
def test_a_disk_cache_yields_what_an_uncached_dataset_yields(tmp_path, augment_images):
    paths, labels = write_faces(tmp_path / "faces", 20)
    cache = tmp_path / "cache" / "train"
    epochs = {}
    for name, how in (("none", "none"), ("disk", cache)):
        data = make_dataset(paths, labels, 12, 8, True, augment_images=augment_images, cache=how, seed=5)
        epochs[name] = [
            [images for images, _ in data.as_numpy_iterator()] for _ in range(2)
        ]  # the second epoch of "disk" reads the cache file written by the first
    assert list(cache.parent.glob("train*.index"))  # the cache is a file
    for epoch_none, epoch_disk in zip(epochs["none"], epochs["disk"]):
        np.testing.assert_array_equal(np.concatenate(epoch_none), np.concatenate(epoch_disk))
    assert not np.array_equal(np.concatenate(epochs["disk"][0]), np.concatenate(epochs["disk"][1]))


def test_a_cache_holds_the_decoded_pixels_plus_a_margin():
    pixels = 1000 * 128 * 128 * 3
    assert pixels < cache_bytes(1000, 128) < 1.2 * pixels


@pytest.mark.parametrize(
    "memory, disk, expected",
    [
        (16 * GIB, 100 * GIB, "memory"),  # 1,000 faces at 128 px: 0.05 GiB
        (0.08 * GIB, 100 * GIB, "disk"),  # more than half of the memory available
        (None, 100 * GIB, "disk"),  # memory unknown: do not assume it
        (0.08 * GIB, 0.04 * GIB, "none"),  # neither fits: decode every epoch
    ],
)
def test_auto_caches_in_memory_only_when_the_images_fit_in_a_safe_share_of_it(
    tmp_path, caplog, memory, disk, expected, monkeypatch
):
    if memory is None:
        monkeypatch.setattr("common.data.pipeline.available_memory", lambda: None)
    with caplog.at_level(logging.INFO, logger="common.data.pipeline"):
        assert choose_cache("auto", 1000, 128, tmp_path / "cache", memory=memory, disk=disk) == expected
    assert f"image cache: {expected}" in caplog.text and "GiB of decoded images" in caplog.text


def test_an_explicit_cache_mode_is_kept_and_an_oversized_memory_cache_is_warned_about(tmp_path, caplog):
    for mode in ("memory", "disk", "none"):
        assert choose_cache(mode, 10, 32, tmp_path, memory=16 * GIB, disk=1) == mode
    with caplog.at_level(logging.WARNING, logger="common.data.pipeline"):
        assert choose_cache("memory", 10**6, 299, tmp_path, memory=16 * GIB) == "memory"
    assert "> 16.00 GiB available" in caplog.text


def test_available_memory_is_capped_by_a_container_limit(tmp_path, monkeypatch):
    assert available_memory() > 0
    (tmp_path / "max").write_text("1000000\n")
    (tmp_path / "current").write_text("400000\n")
    (tmp_path / "unlimited").write_text("max\n")
    monkeypatch.setattr(
        "common.data.pipeline.CGROUP_MEMORY",
        [(tmp_path / "unlimited", tmp_path / "current"), (tmp_path / "max", tmp_path / "current")],
    )
    assert available_memory() == 600000


@pytest.mark.parametrize(
    "value, mode", [(True, "auto"), (False, "none"), ("disk", "disk"), ("memory", "memory")]
)
def test_train_cache_takes_a_mode_and_the_old_booleans(tmp_path, value, mode):
    path = tmp_path / "old.yaml"
    path.write_text(f"train:\n  cache: {str(value).lower()}\n")
    assert load_config(path)["train"]["cache"] == mode
    assert load_config(None, {"train.cache": value})["train"]["cache"] == mode


def test_an_unknown_cache_mode_names_the_key():
    with pytest.raises(ConfigError, match=r"train\.cache"):
        load_config(None, {"train.cache": "ram"})


def test_a_disk_cached_run_removes_its_cache_and_lists_an_unreadable_val_image(tmp_path, caplog):
    import pandas as pd
    from test_train import write_dataset

    from common.training.train import train

    dataset = write_dataset(tmp_path / "dataset", videos_per_class=(3, 2, 1), frames=2)
    (dataset / "val" / "real" / "val_real_1__f000001_0.jpg").write_bytes(b"")
    config = load_config(
        None,
        {
            "train.model": "small_cnn",
            "train.image_size": 32,
            "train.weights": "none",
            "train.batch_size": 4,
            "train.head_epochs": 1,
            "train.epochs": 1,
            "train.cache": "disk",
        },
    )
    with caplog.at_level(logging.INFO):
        run_dir, _ = train(dataset, tmp_path / "runs", config)
    assert "image cache: disk" in caplog.text
    assert "1 unreadable image(s) left out of training and validation" in caplog.text
    assert not (run_dir / "image-cache").exists()
    assert len(pd.read_csv(run_dir / "history.csv")) == 2  # both phases read the one cache
    assert pd.read_csv(run_dir / "unreadable_images.csv")["path"].tolist() == [
        "val/real/val_real_1__f000001_0.jpg"
    ]


@pytest.mark.parametrize("split", ["val", "test"])
def test_a_split_without_one_readable_image_stops_the_run_with_a_message(tmp_path, split):
    import pandas as pd
    from test_train import write_dataset

    from common.core.errors import UserError
    from common.training.train import train

    dataset = write_dataset(tmp_path / "dataset", videos_per_class=(2, 1, 1), frames=2)
    for path in pd.read_csv(dataset / "split.csv").query("split == @split")["path"]:
        (dataset / path).unlink()  # a half-copied dataset folder
    config = load_config(
        None,
        {"train.model": "small_cnn", "train.image_size": 32, "train.weights": "none", "train.epochs": 1},
    )
    with pytest.raises(UserError, match=f"none of the 4 images of the {split} split could be read"):
        train(dataset, tmp_path / "runs", config)
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert len(pd.read_csv(run_dir / "unreadable_images.csv")) == 4
