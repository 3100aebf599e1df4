"""Import a numbered stage script (its file name starts with a digit) as a module, for tests and benches."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_script(name):
    """The module of ``ROOT/name`` (e.g. "04-train-cnn.py"), imported without running its ``main``."""
    path = ROOT / name
    spec = importlib.util.spec_from_file_location(path.stem.replace("-", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
