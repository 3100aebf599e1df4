"""Stage 05 over every test set a user has, in one command (``--test-sets FILE.yaml --output FOLDER``).

The YAML file maps a test set's name to where it is::

    celebdf: {dataset: celebdf, input: /data/Celeb-DF-v2}   # the official test set of an adapter
    dfd: {dataset: dfd, input: /data/FaceForensics++}
    phones: {input: /data/phones, labels: /data/phones.csv} # a folder, labels from a CSV
    heldout: {input: /data/heldout}                         # a folder, labels from real/ and fake/

``input`` is required; ``dataset`` (an adapter name) and ``labels`` (a CSV) are stage 05's ``--dataset``
and ``--labels``, at most one of them; a relative path is taken from the YAML file's folder. Each set is
scored in turn by ``score_videos`` into ``FOLDER/<name>.csv`` with its outputs beside it
(``<name>_frames.csv``, ``<name>_tracks.csv``, ``<name>_metrics.json``, ``<name>_report.html``, ...), and
named ``<name>`` in the run's cross-dataset table. The whole file is checked before any set is scored.
"""

import json
import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import yaml

from common.core.errors import UserError
from common.core.files import atomic_write_text, file_sha256
from common.core.model_file import resolve_model_path
from common.data.adapters import ADAPTERS
from common.inference.batch_scoring import parts_folder
from common.inference.outputs import exit_code
from common.inference.predict import add_to_run_report, score_videos

log = logging.getLogger(__name__)

SET_KEYS = ("input", "dataset", "labels")
SET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # it names files: FOLDER/<name>.csv and the run's


@dataclass
class ListedSet:
    """One test set of a ``--test-sets`` file: its ``name``, ``input`` folder (or video), and the adapter
    ``dataset`` or the ``labels`` CSV it is read with (both None: the folder layout gives the labels)."""

    name: str
    input: Path
    dataset: str | None = None
    labels: Path | None = None


def read_test_sets(path):
    """The ``ListedSet``s of the YAML file ``path``, in its order; a ``UserError`` (one line naming the file
    and the set) on an unreadable file, a set name that cannot name a file, an unknown key, a missing
    ``input`` or ``labels`` path, an unknown ``dataset``, or both ``dataset`` and ``labels``."""
    path = Path(path)
    where = f"--test-sets {path}"
    if not path.is_file():
        raise UserError(f"{where}: file not found")
    try:
        listed = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark else ""
        raise UserError(f"{where}: not valid YAML{line}") from None
    if not isinstance(listed, dict) or not listed:
        raise UserError(f"{where}: expected a mapping of test set names to {{input, dataset or labels}}")
    sets = []
    for name, entry in listed.items():
        if not isinstance(name, str) or not SET_NAME.fullmatch(name):
            raise UserError(
                f"{where}: test set name {name!r} must be letters, digits, '.', '_' or '-' (it names files)"
            )
        if not isinstance(entry, dict):
            raise UserError(f"{where}: {name}: expected a mapping with input (and dataset or labels)")
        unknown = [str(key) for key in entry if key not in SET_KEYS]
        if unknown:
            raise UserError(
                f"{where}: {name}: unknown key {', '.join(unknown)} (known: {', '.join(SET_KEYS)})"
            )
        if not entry.get("input"):
            raise UserError(f"{where}: {name}: no input (the folder or video to score)")
        root = path.parent / Path(str(entry["input"])).expanduser()
        if not root.exists():
            raise UserError(f"{where}: {name}: input {root} not found")
        dataset, labels = entry.get("dataset"), entry.get("labels")
        if dataset is not None and dataset not in ADAPTERS.names():
            raise UserError(
                f"{where}: {name}: unknown dataset {dataset!r} (known: {', '.join(ADAPTERS.names())})"
            )
        if dataset is not None and labels is not None:
            raise UserError(f"{where}: {name}: give dataset or labels, not both")
        if labels is not None:
            labels = path.parent / Path(str(labels)).expanduser()
            if not labels.is_file():
                raise UserError(f"{where}: {name}: labels {labels} not found")
        sets.append(ListedSet(name, root, dataset, labels))
    return sets


def check_output_folder(folder, sets):
    """``--output`` with ``--test-sets`` is a folder that lies inside no set's input."""
    folder = Path(folder)
    if folder.suffix.lower() == ".csv" or folder.is_file():
        raise UserError(f"--output {folder}: with --test-sets, give a folder (each set is FOLDER/<name>.csv)")
    target = folder.resolve()
    for listed in sets:
        source = listed.input.resolve()
        if target == source or source in target.parents:
            raise UserError(
                f"--output {folder} lies inside the input of test set {listed.name}; stages never write "
                "under their input"
            )


SCORED_WITH = "{}_scored_with.json"  # beside a set's CSV once it is finished: what it was scored with
SCORING_KEYS = ("predict", "preprocess", "video", "seed")  # the config sections a set's scores depend on


def scored_with(model_sha256, listed, request, config):
    """What the scores of test set ``listed`` depend on: the model file, the set's input and labels, stage
    05's perturbation and the config sections ``SCORING_KEYS`` (a JSON round trip, as it is stored)."""
    stamp = {
        "model_sha256": model_sha256,
        "set": {key: None if value is None else str(value) for key, value in vars(listed).items()},
        "perturb": request.perturb,
        "scoring_given": sorted(request.scoring_given),
        "config": {key: config[key] for key in SCORING_KEYS},
    }
    return json.loads(json.dumps(stamp))


def finished(output, stamp):
    """Whether the predictions CSV ``output`` is a finished run scored as ``stamp`` says (``scored_with``):
    it is there, the results it was joined from are gone (removed once every output is written) and the
    stamp written beside it when it finished is this one (another model, other settings or another listing:
    scored again)."""
    stamp_file = Path(output).with_name(SCORED_WITH.format(Path(output).stem))
    if not Path(output).is_file() or parts_folder(output).is_dir() or not stamp_file.is_file():
        return False
    return json.loads(stamp_file.read_text()) == stamp


def score_test_sets(test_sets, request, config, say=print):
    """Stage 05 ``--test-sets``: score every set of the YAML file ``test_sets`` (``read_test_sets``, all
    checked first) with the model and flags of ``request`` (a ``ScoringRequest`` whose ``output`` is the
    folder), one after the other, each by ``score_videos``. A set whose predictions CSV a run of this model
    file finished with the same settings and listing (``finished``) is skipped (with ``add_to_report``, its
    kept metrics and scores are added to the run again); a set that was interrupted resumes as stage 05
    does. Returns the highest exit code of the sets.
    """
    sets = read_test_sets(test_sets)
    check_output_folder(request.output, sets)
    if request.add_to_report and not Path(request.model).is_dir():
        raise UserError("--add-to-report needs --model to be a run directory of 04-train-cnn.py")
    model_sha256 = file_sha256(resolve_model_path(request.model))
    folder = Path(request.output)
    codes = []
    for number, listed in enumerate(sets, 1):
        output = folder / f"{listed.name}.csv"
        stamp = scored_with(model_sha256, listed, request, config)
        if finished(output, stamp):
            say(
                f"test set {listed.name} ({number}/{len(sets)}): already scored by this model with these "
                f"settings in {output}"
            )
            metrics = output.with_name(f"{output.stem}_metrics.json")
            if request.add_to_report and metrics.is_file():
                add_to_run_report(request.model, listed.name, output, json.loads(metrics.read_text()), say)
            codes.append(exit_code(pd.read_csv(output, keep_default_na=False)))
            continue
        say(f"test set {listed.name} ({number}/{len(sets)}): {listed.dataset or 'folder'} {listed.input}")
        one = replace(
            request,
            input=str(listed.input),
            output=str(output),
            dataset=listed.dataset,
            labels=None if listed.labels is None else str(listed.labels),
            name=listed.name,
            report_name=f"{listed.name}_report.html",
        )
        codes.append(score_videos(one, config, say))
        if not parts_folder(output).is_dir():  # finished (a shard that left the joining to another is not)
            atomic_write_text(output.with_name(SCORED_WITH.format(listed.name)), json.dumps(stamp, indent=1))
    return max(codes)
