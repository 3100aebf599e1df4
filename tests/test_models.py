"""Tests for common.models.classifier (all with weights=None: no downloads)."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from common.core.errors import UserError  # noqa: E402
from common.models import classifier as models  # noqa: E402
from common.models.backbones import BACKBONES  # noqa: E402

# Keras' TF backend trips numpy 2's __array__(copy=...) deprecation; not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(autouse=True)
def fresh_keras_session():
    """Start every test from a clean Keras graph/name state."""
    keras.backend.clear_session()
    yield
    keras.backend.clear_session()


def random_raw_images(batch, size, seed=0):
    """Random RGB images in the raw 0..255 range the models expect."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, size=(batch, size, size, 3)).astype("float32")


def count_trainable_weights(model):
    """Number of trainable weight tensors."""
    return len(model.trainable_weights)


# ---------------------------------------------------------------- registry


def test_registry_holds_the_three_paper_backbones_mesonet4_and_the_small_one():
    assert {"efficientnet_b0", "xception", "inception_resnet_v2", "mesonet4", "small_cnn"} <= set(BACKBONES)


def test_mesonet4_is_the_papers_network_at_256():
    """Afchar et al. 2018 give Meso-4 27,977 trainable parameters at 256x256: four conv blocks (8, 8, 16,
    16 filters), dense 16, sigmoid."""
    model = models.build_model("mesonet4", image_size=256, weights=None)
    assert sum(int(np.prod(weight.shape)) for weight in model.trainable_weights) == 27977
    assert models.get_backbone_layer(model).output.shape == (None, 16)
    assert [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)] == [1]


def test_a_backbone_without_imagenet_weights_says_so_before_building():
    with pytest.raises(ValueError, match="'mesonet4' has no ImageNet weights"):
        models.check_weights("mesonet4", "imagenet")
    models.check_weights("mesonet4", "none")


def test_build_model_with_an_unknown_name_lists_the_known_ones():
    with pytest.raises(UserError, match="unknown backbone 'nope' for --model; known: efficientnet_b0, "):
        models.build_model("nope", image_size=64, weights=None)


# ---------------------------------------------------------------- building


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_backbone_builds_at_min_size_and_predicts_probabilities(name):
    size = BACKBONES.get(name).min_size
    model = models.build_model(name, image_size=size, weights=None)
    assert model.input_shape == (None, size, size, 3)
    predictions = np.asarray(model(random_raw_images(2, size), training=False))
    assert predictions.shape == (2, 1)
    assert not np.isnan(predictions).any()
    assert ((predictions >= 0) & (predictions <= 1)).all()


def test_small_cnn_builds_at_32_with_none_string():
    model = models.build_model("small_cnn", image_size=32, weights="none")
    assert model.predict(random_raw_images(2, 32), verbose=0).shape == (2, 1)


def test_output_stays_float32_under_mixed_precision():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = models.build_model("small_cnn", image_size=32, weights=None)
        assert model.get_layer(models.OUTPUT_LAYER_NAME).dtype_policy.compute_dtype == "float32"
        assert model.output.dtype == "float32"
    finally:
        keras.config.set_dtype_policy(previous)


@pytest.mark.parametrize("name", ["small_cnn", "efficientnet_b0", "xception"])
def test_too_small_image_size_names_model_and_minimum(name):
    min_size = BACKBONES.get(name).min_size
    with pytest.raises(ValueError, match=f"'{name}'.*min size {min_size}"):
        models.build_model(name, image_size=min_size - 1, weights=None)


def test_missing_weights_path_raises_file_not_found(tmp_path):
    missing = tmp_path / "nowhere" / "w.weights.h5"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        models.build_model("small_cnn", image_size=32, weights=str(missing))


def test_small_cnn_rejects_pretrained_weights():
    with pytest.raises(ValueError, match="small_cnn has no pretrained weights"):
        models.build_model("small_cnn", image_size=32, weights="imagenet")


def test_head_layout_and_no_compile():
    model = models.build_model("small_cnn", image_size=32, weights=None)
    names = [layer.name for layer in model.layers]
    assert names[-4:] == ["head_dense1", "head_dropout", "head_dense2", models.OUTPUT_LAYER_NAME]
    assert model.get_layer("head_dense1").units == 512
    assert model.get_layer("head_dropout").rate == 0.5
    assert model.get_layer("head_dense2").units == 128
    assert getattr(model, "optimizer", None) is None


def test_preprocessing_is_inside_model():
    xception_like = BACKBONES.get("xception")
    assert xception_like.input_scale == pytest.approx(1 / 127.5)
    assert xception_like.input_offset == -1.0
    model = models.build_model("small_cnn", image_size=32, weights=None)
    rescale = model.get_layer(models.PREPROCESS_LAYER_NAME)
    scaled = np.asarray(rescale(np.array([[0.0, 255.0]], dtype="float32")))
    np.testing.assert_allclose(scaled, [[0.0, 1.0]], atol=1e-6)


# ---------------------------------------------------------------- global pooling


def test_from_scratch_efficientnet_pools_by_average_and_with_pretrained_weights_by_max(tmp_path):
    """train.pooling auto: the card's global max pooling where it was run (ImageNet weights); from random
    weights average pooling for B0, which with max pooling into the Dense 512 head stayed at chance, and max
    for Xception and Inception-ResNet-v2, which learn the demo with it."""
    scratch = models.build_model("efficientnet_b0", image_size=32, weights="none")
    assert models.backbone_pooling(scratch) == "avg"
    assert [scratch.get_layer(f"head_dense{index}").units for index in (1, 2)] == [512, 128]
    weights_file = tmp_path / "pretrained.weights.h5"  # a local copy of pretrained weights
    models.get_backbone_layer(scratch).save_weights(weights_file)
    keras.backend.clear_session()
    pretrained = models.build_model("efficientnet_b0", image_size=32, weights=str(weights_file))
    assert models.backbone_pooling(pretrained) == "max"
    from common.evaluation.explain import (
        untrained_copy,  # --explain's t-SNE before training: the same network
    )

    assert models.backbone_pooling(untrained_copy(pretrained, "efficientnet_b0", 32, seed=0)) == "max"
    assert models.resolve_pooling("xception", "auto", "imagenet") == "max"
    assert models.resolve_pooling("inception_resnet_v2", "auto", None) == "max"
    assert models.resolve_pooling("xception", "auto", "none") == "max"


def test_pooling_max_or_avg_is_obeyed_and_backbones_with_their_own_pooling_keep_it():
    assert models.backbone_pooling(models.build_model("efficientnet_b0", 32, "none", pooling="max")) == "max"
    assert models.resolve_pooling("efficientnet_b0", "avg", "imagenet") == "avg"
    assert models.resolve_pooling("small_cnn", "avg", None) is None  # its own max pooling
    assert models.resolve_pooling("mesonet4", "auto", None) is None  # flatten, no global pooling
    with pytest.raises(ValueError, match="unknown pooling 'mean'; known: auto, max, avg"):
        models.resolve_pooling("efficientnet_b0", "mean", None)


# ---------------------------------------------------------------- weights files


@pytest.mark.parametrize("name,size", [("efficientnet_b0", 32), ("small_cnn", 32)])
def test_weights_file_is_loaded_into_backbone(tmp_path, name, size):
    source = models.build_model(name, image_size=size, weights=None)
    weights_file = tmp_path / "w.weights.h5"
    models.get_backbone_layer(source).save_weights(weights_file)
    source_weights = models.get_backbone_layer(source).get_weights()

    keras.backend.clear_session()
    target = models.build_model(name, image_size=size, weights=str(weights_file))
    target_weights = models.get_backbone_layer(target).get_weights()

    assert len(source_weights) == len(target_weights) > 0
    for expected, actual in zip(source_weights, target_weights):
        np.testing.assert_array_equal(expected, actual)


# ---------------------------------------------------------------- freezing


@pytest.mark.parametrize("name", ["small_cnn", "efficientnet_b0"])
def test_set_backbone_trainable_toggles_only_backbone(name):
    size = BACKBONES.get(name).min_size
    model = models.build_model(name, image_size=size, weights=None)
    head_weight_count = 6  # three Dense layers, kernel + bias each
    backbone = models.get_backbone_layer(model)

    models.set_backbone_trainable(model, False)
    assert count_trainable_weights(model) == head_weight_count
    assert not backbone.trainable

    models.set_backbone_trainable(model, True)
    assert count_trainable_weights(model) == head_weight_count + len(backbone.trainable_weights)
    assert len(backbone.trainable_weights) > 0
    assert all(layer.trainable for layer in model.layers)


# ---------------------------------------------------------------- saving


@pytest.mark.parametrize("name", ["small_cnn", "efficientnet_b0"])
def test_saved_model_reloads_without_custom_objects(tmp_path, name):
    size = BACKBONES.get(name).min_size
    model = models.build_model(name, image_size=size, weights=None)
    images = random_raw_images(2, size, seed=1)
    expected = model.predict(images, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)

    keras.backend.clear_session()
    reloaded = keras.models.load_model(path)
    np.testing.assert_array_equal(reloaded.predict(images, verbose=0), expected)
    assert models.get_backbone_layer(reloaded) is not None


def test_a_mixed_precision_model_is_scored_in_float32_on_a_cpu(tmp_path):
    from common.core.model_file import load_model, save_model

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")  # as stage 04 trains on a GPU
    try:
        trained = models.build_model("small_cnn", image_size=32, weights=None)
    finally:
        keras.config.set_dtype_policy(previous)
    save_model(trained, tmp_path / "model.keras", {"model": "small_cnn", "image_size": 32})
    assert trained.get_layer("head_dense1").compute_dtype == "float16"

    loaded, metadata = load_model(tmp_path / "model.keras")  # this machine has no GPU
    assert metadata["model"] == "small_cnn"
    layers = loaded.layers + models.get_backbone_layer(loaded).layers
    assert {layer.compute_dtype for layer in layers} == {"float32"}
    reference = models.build_model("small_cnn", image_size=32, weights=None)
    reference.set_weights(trained.get_weights())
    images = random_raw_images(4, 32)
    np.testing.assert_allclose(
        loaded.predict(images, verbose=0), reference.predict(images, verbose=0), atol=1e-6
    )
    assert (
        load_model(tmp_path / "model.keras", float32=False)[0].get_layer("head_dense1").compute_dtype
        == "float16"
    )


# ---------------------------------------------------------------- BatchNorm


def blob_images(count, size, seed=0):
    """Real: flat colour; fake: the same with a noisy square in the middle. Labels alternate."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(60, 200, (count, 1, 1, 3)) * np.ones((count, size, size, 3))
    labels = np.arange(count) % 2
    quarter = size // 4
    images[labels == 1, quarter : 3 * quarter, quarter : 3 * quarter] = rng.uniform(
        0, 255, ((labels == 1).sum(), 2 * quarter, 2 * quarter, 3)
    )
    return images.astype("float32"), labels.astype("float32")


def batchnorm_layers(model):
    return [
        layer
        for layer in models.get_backbone_layer(model).layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_from_scratch_every_backbone_gets_a_batchnorm_momentum_that_settles(name):
    model = models.build_model(name, image_size=BACKBONES.get(name).min_size, weights=None)
    layers = batchnorm_layers(model)
    assert layers and {layer.momentum for layer in layers} == {0.9}
    assert all(layer.trainable for layer in layers)


def test_efficientnet_from_scratch_separates_faces_in_inference_mode_after_60_steps():
    """With Keras' momentum 0.99 the network fits its training batches but, in inference mode, outputs
    one value for every image (its moving statistics are still mostly their initial values)."""
    from sklearn.metrics import roc_auc_score

    keras.utils.set_random_seed(0)
    images, labels = blob_images(64, 32)
    model = models.build_model("efficientnet_b0", image_size=32, weights=None)
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    model.fit(images, labels, batch_size=16, epochs=15, verbose=0)
    p_fake = model.predict(images, verbose=0).reshape(-1)
    assert p_fake.max() - p_fake.min() > 0.5
    assert roc_auc_score(labels, p_fake) > 0.95


@pytest.mark.parametrize("batchnorm, frozen", [("auto", True), ("train", False)])
def test_pretrained_batchnorm_stays_in_inference_mode_while_the_rest_is_fine_tuned(
    tmp_path, batchnorm, frozen
):
    source = models.build_model("small_cnn", image_size=32, weights=None)
    weights_file = tmp_path / "pretrained.weights.h5"
    models.get_backbone_layer(source).save_weights(weights_file)
    model = models.build_model("small_cnn", image_size=32, weights=str(weights_file), batchnorm=batchnorm)
    models.set_backbone_trainable(model, False)  # a head phase, then fine-tuning
    models.set_backbone_trainable(model, True, models.freezes_batchnorm(batchnorm, str(weights_file)))
    before = models.get_backbone_layer(model).get_weights()
    model.compile(keras.optimizers.Adam(1e-2), "binary_crossentropy")
    model.fit(*blob_images(16, 32), batch_size=8, epochs=1, verbose=0)
    after = dict(
        zip(
            [w.path for w in models.get_backbone_layer(model).weights],
            models.get_backbone_layer(model).get_weights(),
        )
    )
    before = dict(zip(after, before))
    changed = {path for path in after if not np.array_equal(before[path], after[path])}
    batchnorm_weights = {w.path for layer in batchnorm_layers(model) for w in layer.weights}
    assert any(path.endswith("kernel") for path in changed)  # the convolutions are fine-tuned
    assert (changed & batchnorm_weights == set()) is frozen  # statistics, scale and offset kept


def test_batchnorm_follows_the_weights_unless_told():
    assert models.freezes_batchnorm("auto", "imagenet") and models.freezes_batchnorm("auto", "/w.h5")
    assert not models.freezes_batchnorm("auto", None) and not models.freezes_batchnorm("auto", "none")
    assert models.freezes_batchnorm("frozen", None) and not models.freezes_batchnorm("train", "imagenet")


# ---------------------------------------------------------------- a local copy of the ImageNet weights


def layer_stack(model):
    """Each layer's class and configuration, without the names Keras numbers per session."""
    return [
        (type(layer).__name__, {key: value for key, value in layer.get_config().items() if key != "name"})
        for layer in model.layers
    ]


@pytest.mark.parametrize(
    "name, application", [("efficientnet_b0", "EfficientNetB0"), ("xception", "Xception")]
)
def test_a_local_imagenet_weights_file_gives_the_network_imagenet_gives(
    tmp_path, monkeypatch, name, application
):
    from keras.src.utils import file_utils

    size = BACKBONES.get(name).min_size
    build = getattr(keras.applications, application)
    local = tmp_path / "imagenet_notop.weights.h5"  # stands for the downloaded file
    donor = build(include_top=False, weights=None, input_shape=(size, size, 3), pooling="max")
    donor.set_weights([np.random.default_rng(0).normal(0, 0.1, w.shape) for w in donor.get_weights()])
    donor.save_weights(local)

    ours = models.build_backbone(name, size, weights=str(local))
    with monkeypatch.context() as patch:  # what weights="imagenet" builds, with the download served locally
        patch.setattr(file_utils, "get_file", lambda *args, **kwargs: str(local))
        reference = build(include_top=False, weights="imagenet", input_shape=(size, size, 3), pooling="max")
    assert file_utils.get_file is not None and file_utils.get_file.__name__ == "get_file"  # restored

    assert layer_stack(ours) == layer_stack(reference)
    for ours_weight, reference_weight in zip(ours.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_array_equal(ours_weight, reference_weight)
    images = random_raw_images(2, size)
    np.testing.assert_allclose(
        ours.predict(images, verbose=0), reference.predict(images, verbose=0), rtol=1e-5
    )
