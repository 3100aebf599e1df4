"""The library is layered: a package imports only itself and the packages below it, and no modules import
each other in a circle. Imports are read from the source (module level and inside functions alike), so a
lazy import inside a function counts as much as one at the top of a file."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Bottom to top: a package imports only itself and the packages before it (CONTRIBUTING.md, "The map").
LAYERS = (
    "common.core",  # configuration, registries, errors, atomic files, manifests, model-file metadata, runner
    "common.io",  # videos and frames
    "common.faces",  # face detectors behind one interface, cropping, face tracks, face mesh
    "common.data",  # dataset adapters, the stage 03 split, the tf.data input pipeline
    "common.models",  # backbones, classifier and video models, detector methods
    "common.evaluation",  # metrics, face -> video aggregation, review rule, run reports, explanations
    "common.training",  # stage 04: fitting, metric-learning losses, pseudo-fakes
    "common.inference",  # stage 05: scoring videos, the analyst's report
    "common",  # modules directly in common: the stage scripts' glue (cli, plugins)
    "common.stages",  # each stage's parser and main: the numbered scripts and console commands
)


def layer_of(module):
    """The index in ``LAYERS`` of the package holding ``module`` (dotted); -1 when no layer holds it."""
    for position, package in enumerate(LAYERS):
        if package != "common" and (module == package or module.startswith(package + ".")):
            return position
    return LAYERS.index("common") if module.count(".") <= 1 and module.split(".")[0] == "common" else -1


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source, known):
    """The ``common`` modules that ``source`` imports; ``from common.x import name`` names the module
    ``common.x.name`` when that is a module, else ``common.x``."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "common")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "common":
                continue
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in known else node.module)
    return found


def import_graph(root=ROOT):
    paths = sorted((root / "common").rglob("*.py"))
    known = {module_name(path) for path in paths}
    return {
        module_name(path): imported_modules(path.read_text(), known) - {module_name(path)} for path in paths
    }


def upward_edges(graph):
    return sorted(
        (module, target)
        for module, targets in graph.items()
        for target in targets
        if layer_of(target) > layer_of(module)
    )


def circles(graph):
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_of_common_sits_in_a_layer():
    assert all(layer_of(module) >= 0 for module in import_graph())


def test_no_package_imports_a_package_above_it():
    assert upward_edges(import_graph()) == []


def test_no_modules_import_each_other_in_a_circle():
    assert circles(import_graph()) == []


@pytest.mark.parametrize(
    ("module", "source", "edge"),
    [
        ("common.core.config", "from common.models.backbones import BACKBONES", "common.models.backbones"),
        (
            "common.faces.base",
            "def f():\n    from common.inference import scorer",
            "common.inference.scorer",
        ),
    ],
)
def test_an_upward_import_is_caught_even_inside_a_function(module, source, edge):
    graph = import_graph()
    graph[module] = graph[module] | imported_modules(source, set(graph))
    assert upward_edges(import_graph()) == []
    assert upward_edges(graph) == [(module, edge)]


def test_a_circle_is_caught():
    graph = import_graph()
    graph["common.core.errors"] = graph["common.core.errors"] | {"common.core.registry"}
    assert ["common.core.errors", "common.core.registry"] in circles(graph)
