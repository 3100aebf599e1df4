import pytest

from common.config import DEFAULTS, load_config
from common.errors import ConfigError


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
