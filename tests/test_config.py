import pytest

from common.core.config import DEFAULTS, load_config
from common.core.errors import ConfigError


def test_defaults_file_and_flags_take_precedence_in_that_order(tmp_path):
    path = tmp_path / "experiment.yaml"
    path.write_text("video:\n  fps: 2.0\n  max_frames: 7\ntrain:\n  model: xception\n")
    config = load_config(path, {"video.fps": 5.0, "video.max_frames": None})
    assert config["video"]["fps"] == 5.0  # the flag beats the file
    assert config["video"]["max_frames"] == 7  # an unset flag (None) leaves the file's value
    assert config["train"]["model"] == "xception"  # the file beats the default
    assert config["preprocess"]["margin"] == DEFAULTS["preprocess"]["margin"]  # untouched default


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("preprocess:\n  min_confidense: 0.9\n", r"preprocess\.min_confidense"),
        ("video:\n  fps: fast\n", r"video\.fps"),
    ],
)
def test_an_unknown_key_or_a_wrong_type_in_a_file_is_an_error_naming_the_key(tmp_path, text, key):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=key):
        load_config(path)


def test_unknown_section_and_override_are_errors():
    with pytest.raises(ConfigError, match="'vidoe'"):
        load_config(None, {"vidoe.fps": 1.0})


def test_int_is_accepted_where_a_float_is_expected():
    assert load_config(None, {"video.fps": 2})["video"]["fps"] == 2.0


@pytest.mark.parametrize(
    "key, value",
    [
        ("preprocess.min_face_size", 30),
        ("preprocess.track_min_confidence", 0.9),  # above the lone-face floor
        ("preprocess.detect_max_width", 20),
        ("dataset.train", 0.9),
        ("predict.aggregate", "median"),
        ("video.fps", 0.0),
    ],
)
def test_out_of_range_values_are_refused(key, value):
    with pytest.raises(ConfigError, match=key):
        load_config(None, {key: value})


def test_shipped_configs_load_and_default_yaml_matches_built_in_defaults():
    from conftest import ROOT

    assert load_config(ROOT / "configs" / "default.yaml") == DEFAULTS
    for path in (ROOT / "configs").glob("*.yaml"):
        load_config(path)


def test_old_boolean_balance_configs_keep_their_meaning_and_a_bad_mode_names_the_new_values(tmp_path):
    for old, meant in (("true", "videos"), ("false", "none")):
        (tmp_path / "old.yaml").write_text(f"dataset:\n  balance: {old}\n")
        assert load_config(tmp_path / "old.yaml")["dataset"]["balance"] == meant
    assert load_config(None, {"dataset.balance": "frames"})["dataset"]["balance"] == "frames"
    with pytest.raises(ConfigError, match=r"'dataset\.balance' must be one of videos, frames, none"):
        load_config(None, {"dataset.balance": "yes"})


def test_deepfakedetection_is_refused_as_an_ffpp_method_pointing_to_its_own_adapter():
    with pytest.raises(ConfigError, match=r"DeepFakeDetection is a dataset of its own.*--dataset dfd"):
        load_config(None, {"datasets.ffpp.methods": ["Deepfakes", "DeepFakeDetection"]})


@pytest.mark.parametrize("compression", ["raw", "c0"])
def test_the_lossless_ffpp_compression_is_raw_or_c0(compression):
    assert (
        load_config(None, {"datasets.ffpp.compression": compression})["datasets"]["ffpp"]["compression"]
        == compression
    )
