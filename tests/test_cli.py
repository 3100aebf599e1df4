"""--help tells the truth once: defaults and choices come from the config defaults and the registries."""

import re
import runpy
from types import SimpleNamespace

import pytest
from conftest import ROOT

from common.core.config import DEFAULTS, ConfigError, default, load_config
from common.models.backbones import BACKBONES


def load_script(name):
    """The globals of the numbered script ``name`` run as a module (its ``main`` not called): what the
    script gives a user, read from the file itself."""
    return SimpleNamespace(**runpy.run_path(str(ROOT / name)))


STAGES = [
    "01-convert-video-to-image.py",
    "02-crop-faces-with-mtcnn.py",
    "03-prepare-fake-real-dataset.py",
    "04-train-cnn.py",
    "05-predict-video.py",
]


@pytest.mark.parametrize("script", STAGES)
def test_help_states_each_default_once_and_as_the_config_has_it(script):
    parser = load_script(script).build_parser()
    text = " ".join(parser.format_help().split())
    assert "(default: None)" not in text
    assert parser.config_keys, "the stage has config flags"
    for dest, key in parser.config_keys.items():
        built_in = default(key)
        shown = str(built_in).lower() if isinstance(built_in, bool) else str(built_in)
        assert f"(config {key}; default {shown})" in text, key
        assert text.count(f"config {key};") == 1, key
        assert parser.get_default(dest) is None, f"--{dest} must not hide the config file's {key}"


def test_stage_04_offers_exactly_the_registered_backbones_and_their_video_models():
    parser = load_script("04-train-cnn.py").build_parser()
    model = next(action for action in parser._actions if action.dest == "model")
    assert tuple(model.choices) == (*BACKBONES.names(), *(f"{name}_lstm" for name in BACKBONES.names()))


def test_a_config_value_outside_a_registry_names_the_known_ones():
    with pytest.raises(ConfigError, match=re.escape("'train.model' must be one of efficientnet_b0,")):
        load_config(None, {"train.model": "resnet9000"})


def test_an_unset_flag_leaves_the_config_file_value(tmp_path):
    stage = load_script("05-predict-video.py")
    parser = stage.build_parser()
    args = parser.parse_args(["--input", "x", "--output", "y.csv", "--model", "m", "--frames", "3"])
    overrides = {key: getattr(args, dest) for dest, key in parser.config_keys.items()}
    assert overrides["predict.frames"] == 3 and overrides["predict.aggregate"] is None
    config_file = tmp_path / "c.yaml"
    config_file.write_text("predict:\n  aggregate: mean\n")
    config = load_config(config_file, overrides)
    assert config["predict"]["aggregate"] == "mean" and config["predict"]["frames"] == 3
    assert config["predict"]["threshold"] == DEFAULTS["predict"]["threshold"]


def test_each_console_command_of_pyproject_runs_the_main_of_a_numbered_script():
    import importlib

    import tomllib

    commands = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    scripts = sorted(path.name for path in ROOT.glob("0[0-7]-*.py"))
    mains = {}
    for command, target in commands.items():
        module, function = target.split(":")
        mains[command] = getattr(importlib.import_module(module), function)
    assert len(commands) == len(scripts) == 8
    assert {id(load_script(script).main) for script in scripts} == {id(main) for main in mains.values()}
