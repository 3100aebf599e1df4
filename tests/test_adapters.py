"""A dataset adapter is one module: it registers its reader, declares its config section with its defaults and
choices, says what keeps its videos together in a split, and registers its ``--check`` with the official
numbers; the configuration, stage 01 and ``--check`` then know it without another file changing."""

import pytest
from test_protocols import touch

from common.core import config as config_module
from common.core.config import DEFAULTS, load_config, register_choices, register_options
from common.core.errors import ConfigError
from common.core.manifest import FAKE, REAL
from common.data.adapters import ADAPTERS, CHECKS, GROUPING, Check, VideoRecord, list_videos

TOY_COUNTS = {"real": 2, "fake": 3}  # the toy dataset's "official" numbers


@pytest.fixture
def registries(monkeypatch):
    """The registries and declared config sections as they are, restored after the test."""
    monkeypatch.setitem(DEFAULTS, "datasets", dict(DEFAULTS["datasets"]))
    monkeypatch.setattr(config_module, "_OPTION_CHECKS", dict(config_module._OPTION_CHECKS))
    monkeypatch.setattr(config_module, "_PROVIDERS", dict(config_module._PROVIDERS))
    for registry in (ADAPTERS, CHECKS):
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    monkeypatch.setitem(GROUPING, "toyset", "")  # removed again after the test


def declare_toyset():
    """What the module of a new adapter, ``toyset``, holds (``<root>/<flavour>/{real,fake}/*.mp4``)."""

    def check_flavour(section):
        if section["flavour"] == "bitter" and section["strict"]:
            raise ConfigError("config key 'datasets.toyset.flavour': bitter needs strict: false")

    register_options("datasets.toyset", {"flavour": "plain", "strict": True}, check_flavour)
    register_choices("datasets.toyset.flavour", lambda: ("plain", "spicy", "bitter"))
    GROUPING["toyset"] = "a video alone"

    @ADAPTERS.register("toyset")
    def toyset_videos(root, config=None):
        flavour = (config or DEFAULTS)["datasets"]["toyset"]["flavour"]
        for label, name in ((REAL, "real"), (FAKE, "fake")):
            for path in sorted((root / flavour / name).glob("*.mp4")):
                yield VideoRecord(video_id=f"{name}/{path.stem}", path=path, label=label)

    @CHECKS.register("toyset")
    def check_toyset(root, config):
        flavour = config["datasets"]["toyset"]["flavour"]
        check = Check(f"toyset at {root}, flavour {flavour}")
        for name, expected in TOY_COUNTS.items():
            check.folder(name, root / flavour / name, expected)
        return check


def test_an_adapter_declares_its_config_section_its_choices_and_their_check(registries):
    declare_toyset()
    assert load_config()["datasets"]["toyset"] == {"flavour": "plain", "strict": True}
    assert load_config(None, {"datasets.toyset.flavour": "spicy"})["datasets"]["toyset"]["flavour"] == "spicy"
    with pytest.raises(ConfigError, match=r"'datasets\.toyset\.flavour' must be one of plain, spicy, bitter"):
        load_config(None, {"datasets.toyset.flavour": "sour"})
    with pytest.raises(ConfigError, match="bitter needs strict: false"):
        load_config(None, {"datasets.toyset.flavour": "bitter"})
    with pytest.raises(ConfigError, match=r"unknown config key 'datasets\.toyset\.colour'"):
        load_config(None, {"datasets.toyset.colour": "red"})


def test_an_adapter_declared_in_its_module_is_read_and_checked_by_stage_01(registries, tmp_path, capsys):
    declare_toyset()
    root = tmp_path / "toy"
    for name in ("spicy/real/a.mp4", "spicy/real/b.mp4", "spicy/fake/c.mp4", "plain/real/d.mp4"):
        touch(root / name)
    records = list_videos(root, "toyset", config=load_config(None, {"datasets.toyset.flavour": "spicy"}))
    assert [(record.video_id, record.label) for record in records] == [
        ("fake/c", FAKE),
        ("real/a", REAL),
        ("real/b", REAL),
    ]
    from common.stages import extract_frames as stage

    args = ["--dataset", "toyset", "--input", str(root), "--output", str(tmp_path / "out"), "--check"]
    assert stage.main(args) == 1  # plain/fake/ is missing
    out = capsys.readouterr().out
    assert "toyset at" in out and "MISSING fake: folder" in out and ": 1 of 2 expected (1 short)" in out
    (tmp_path / "spicy.yaml").write_text("datasets:\n  toyset:\n    flavour: spicy\n")
    assert stage.main([*args, "--config", str(tmp_path / "spicy.yaml")]) == 0  # short, but nothing missing
    assert ": 1 of 3 expected (2 short)" in capsys.readouterr().out and not (tmp_path / "out").exists()


def test_a_config_section_is_declared_once_and_only_under_datasets(registries):
    register_options("datasets.toyset", {"flavour": "plain"})
    with pytest.raises(ValueError, match=r"'datasets\.toyset' is already declared"):
        register_options("datasets.toyset", {"flavour": "plain"})
    with pytest.raises(ValueError, match=r"'train\.toyset' is not one that plug-ins declare"):
        register_options("train.toyset", {"x": 1})
    with pytest.raises(ValueError, match=r"'datasets\.toyset\.colour' takes no registered choices"):
        register_choices("datasets.toyset.colour", lambda: ("red",))


def test_every_adapter_says_what_groups_its_videos_and_every_check_is_an_adapters():
    assert set(GROUPING) == set(ADAPTERS.names())
    assert all(GROUPING.values())
    assert set(CHECKS.names()) <= set(ADAPTERS.names())
    assert {"celebdf", "ffpp", "dfd"} <= set(CHECKS.names())
