import pytest

from common.core.config import DEFAULTS, load_config
from common.core.errors import ConfigError
from common.stages import train_detector


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
        ("train:\n  metric_margn: 0.5\n", r"'train\.metric_margn'"),  # a typo of an old key
        ("train:\n  metric:\n    los: triplet\n", r"'train\.metric\.los'"),
        ("train:\n  window: 4\n  video:\n    window: 6\n", r"'train\.window' is 'train\.video\.window' now"),
        ("train:\n  sbi:\n    mode: sometimes\n", r"'train\.sbi\.mode' must be one of online, once"),
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


@pytest.mark.parametrize(
    "old, text, new, value",
    [
        ("train.window", "window: 4", "train.video.window", 4),
        ("train.metric_learning", "metric_learning: triplet", "train.metric.loss", "triplet"),
        ("train.metric_weight", "metric_weight: 0.25", "train.metric.weight", 0.25),
        ("train.metric_margin", "metric_margin: 0.3", "train.metric.margin", 0.3),
        (
            "train.metric_margin",
            "metric_learning: supcon\n  metric_margin: 0.1",
            "train.metric.temperature",
            0.1,
        ),
        ("train.pseudo_fakes_mode", "pseudo_fakes: sbi\n  pseudo_fakes_mode: once", "train.sbi.mode", "once"),
        ("train.val_fakes", "pseudo_fakes: sbi\n  val_fakes: sbi", "train.sbi.val_fakes", "sbi"),
    ],
)
def test_an_old_flat_train_key_is_read_at_its_new_place_with_a_warning_naming_it(
    tmp_path, caplog, old, text, new, value
):
    from common.core.config import config_from, default

    config, path, messages = load_old_file(tmp_path, caplog, text)
    section, group, key = new.split(".")
    assert config[section][group][key] == value
    warnings = [message for message in messages if old in message]
    assert len(warnings) == 1 and f"'{new}'" in warnings[0] and str(path) in warnings[0]
    if new == "train.metric.temperature":  # supcon's temperature, not the triplet margin
        assert config["train"]["metric"]["margin"] == default("train.metric.margin")
    # a run's saved config.yaml from before the move, and an override by the old dotted key
    assert config_from({"train": dict(yaml_mapping(text))})[section][group][key] == value
    overrides = {f"train.{name}": setting for name, setting in yaml_mapping(text).items()}
    assert load_config(None, overrides)[section][group][key] == value


@pytest.mark.parametrize(
    "text, flag, new, untouched",
    [
        ("metric_margin: 0.1", "supcon", "temperature", "margin"),
        ("metric_learning: supcon\n  metric_margin: 0.1", "triplet", "margin", "temperature"),
    ],
)
def test_the_old_flat_margin_of_a_file_goes_to_the_setting_of_the_loss_the_command_line_chose(
    tmp_path, caplog, text, flag, new, untouched
):
    from common.core.config import default

    parser = train_detector.build_parser()
    args = parser.parse_args(["--metric-learning", flag])
    overrides = {key: getattr(args, dest) for dest, key in parser.config_keys.items()}
    config, _, messages = load_old_file(tmp_path, caplog, text, overrides)
    metric = config["train"]["metric"]
    assert (metric["loss"], metric[new]) == (flag, 0.1)
    assert metric[untouched] == default(f"train.metric.{untouched}")
    warnings = [message for message in messages if "train.metric_margin" in message]
    assert len(warnings) == 1 and f"'train.metric.{new}'" in warnings[0]
    # the old key given as an override before the loss goes by that loss too
    overridden = load_config(None, {"train.metric_margin": 0.1, "train.metric.loss": flag})["train"]["metric"]
    assert overridden[new] == 0.1


def load_old_file(tmp_path, caplog, text, overrides=None):
    """``(config, path, logged messages)`` of loading a config file whose train section is ``text``."""
    path = tmp_path / "old.yaml"
    path.write_text(f"train:\n  {text}\n")
    with caplog.at_level("WARNING", logger="common.core.config"):
        config = load_config(path, overrides)
    return config, path, [record.getMessage() for record in caplog.records]


def yaml_mapping(text):
    import yaml

    return yaml.safe_load(text.replace("\n  ", "\n"))
