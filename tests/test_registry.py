"""One registry helper for backbones, dataset adapters, face detectors and aggregation rules."""

import pytest
from conftest import run_without_tensorflow

from common.core.errors import UserError
from common.core.registry import Registry
from common.data.adapters import ADAPTERS
from common.evaluation.aggregate import RULES
from common.faces.base import DETECTORS
from common.models.backbones import BACKBONES


def test_a_name_registered_twice_is_refused():
    things = Registry("thing", "--thing", "tests.THINGS")
    things.register("a", 1)
    with pytest.raises(ValueError, match="thing 'a' is already registered"):
        things.register("a", 2)
    assert things.get("a") == 1


def test_a_decorator_registers_what_it_decorates_and_returns_it():
    things = Registry("thing", "--thing", "tests.THINGS")

    @things.register("double")
    def double(x):
        return 2 * x

    assert things.get("double") is double and double(2) == 4


def test_an_unknown_name_lists_the_known_ones_and_says_where_to_add_one():
    things = Registry("thing", "--thing", "tests.THINGS")
    things.register("b", 1)
    things.register("a", 2)
    with pytest.raises(UserError) as error:
        things.get("c")
    assert str(error.value) == (
        "unknown thing 'c' for --thing; known: a, b (a new thing is added with tests.THINGS.register)"
    )


@pytest.mark.parametrize(
    ("registry", "names"),
    [
        (BACKBONES, ("efficientnet_b0", "inception_resnet_v2", "small_cnn", "xception")),
        (ADAPTERS, ("dfdc", "folder")),
        (DETECTORS, ("mtcnn",)),
        (RULES, ("max", "mean", "vote")),
    ],
)
def test_every_pluggable_kind_is_one_registry(registry, names):
    assert isinstance(registry, Registry)
    assert set(names) <= set(registry.names())


def test_the_names_and_stage_04_help_need_no_tensorflow():
    code = (
        "import sys, runpy; sys.argv = ['04-train-cnn.py', '--help']\n"
        "import common.plugins\n"
        "try:\n    runpy.run_path('04-train-cnn.py', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
    )
    result = run_without_tensorflow(code)
    assert "efficientnet_b0" in result.stdout and "inception_resnet_v2" in result.stdout
