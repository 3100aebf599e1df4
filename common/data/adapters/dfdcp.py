"""The ``dfdcp`` adapter: the DFDC preview release (DFDC-P), read from its ``dataset.json``.

The layout, as public code reads it (the preview's own documentation was not found): ``original_videos/``,
``method_A/`` and ``method_B/`` (DeepfakeBench's ``preprocessing/preprocess.py``) and ``dataset.json``, whose
keys are the videos' paths below the root (``<folder>/.../<name>.mp4``; DeepfakeBench's ``rearrange.py`` takes
the folder from the key's first part, the name from its last) and whose entries hold ``label`` (real | fake),
``set`` (train | test; DeepfakeBench and the SBI code read the official test set as the entries whose set is
"test") and ``target_id`` and ``swapped_id`` (the DeepFakeChain code reads both for every entry). What the two
ids mean is not documented in a source found here: they are read as the identity filmed and the identity
swapped in. The numbers 1,131 real and 4,119 fake are DeepfakeBench's README table; how many are in the test
set is not confirmed here.
"""

import json
from pathlib import Path

import pandas as pd

from common.core.errors import UserError
from common.core.manifest import FAKE, REAL, SPLITS
from common.data.adapters.base import ADAPTERS, GROUPING, VideoRecord, identity_groups
from common.data.adapters.check import CHECKS, Check

DFDCP_INDEX = "dataset.json"
DFDCP_FOLDERS = ("original_videos", "method_A", "method_B")  # the methods of its fakes are the folder names
DFDCP_LABELS = {"real": REAL, "fake": FAKE}
DFDCP_VIDEOS = {REAL: 1131, FAKE: 4119}  # DeepfakeBench's README, "Deepfake Detection Challenge (Preview)"

GROUPING["dfdcp"] = (
    "identities that share a fake (dataset.json's target_id and swapped_id, and every identity linked to them by "
    "another fake) form one group, unless that made one group of most videos (then each identity is its own "
    "group, and stage 01 warned); the official test set (set: test) stays whole in test"
)


@ADAPTERS.register("dfdcp")
def dfdcp_videos(root, config=None):
    """The DFDC preview at ``root`` (``dfdcp_index``): one ``VideoRecord`` per entry of ``dataset.json``, id
    its key without ``.mp4`` (``method_A/.../name``), label from ``label``, method ``method_A`` or
    ``method_B`` for a fake. ``official_split`` is "test" for the entries whose set is test (the official
    test set) and "" for the training entries, so that stage 03 carves val from them by group. ``group``
    joins the identities a fake links (``target_id``, ``swapped_id``; ``identity_groups``, named
    ``subject_<id>+...``). ``UserError`` for a missing or malformed ``dataset.json`` and for listed videos that
    are not on disk."""
    entries = dfdcp_index(root / DFDCP_INDEX)
    absent = [entry["key"] for entry in entries if not (root / entry["key"]).is_file()]
    if absent:
        raise UserError(
            f"{len(absent)} of the {len(entries)} videos that {root / DFDCP_INDEX} lists are not on disk below "
            f"{root} ({', '.join(absent[:3])}{', ...' if len(absent) > 3 else ''}); restore them from the "
            "DFDC preview download (--check counts what is there)"
        )
    identities = [
        (entry["target"], entry["swapped"])
        if entry["label"] == FAKE and entry["swapped"] and entry["swapped"] != entry["target"]
        else (entry["target"],)
        for entry in entries
    ]
    videos = pd.Series([ids[0] for ids in identities]).value_counts().to_dict()
    group_of = identity_groups(
        [ids for ids in identities if len(ids) == 2], videos, "DFDC preview identities"
    )
    return [
        VideoRecord(
            video_id=Path(entry["key"]).with_suffix("").as_posix(),
            path=root / entry["key"],
            label=entry["label"],
            official_split="" if entry["set"] == "train" else entry["set"],
            method=entry["folder"] if entry["label"] == FAKE else "",
            group=group_of[ids[0]],
        )
        for entry, ids in zip(entries, identities)
    ]


def dfdcp_index(index_path):
    """The entries of the DFDC preview's ``dataset.json`` at ``index_path``, in file order, each a dict with
    ``key`` (the path below the root), ``folder`` (its first part), ``label`` (REAL or FAKE), ``set`` (train,
    val or test) and ``target`` and ``swapped`` (``subject_<id>``, "" when there is no id). ``UserError`` for a
    missing or unreadable file, and an entry whose key, label, set or target_id is not as above."""
    if not index_path.is_file():
        raise UserError(
            f"DFDC preview index not found: {index_path} (the preview ships {DFDCP_INDEX} in its root folder, "
            f"beside {', '.join(DFDCP_FOLDERS)}; pass that folder as --input)"
        )
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read {index_path}: {error}") from None
    if not isinstance(index, dict):
        raise UserError(f"{index_path} must hold a JSON object: video path -> its entry")
    entries = []
    for key, entry in index.items():
        problem = _entry_problem(key, entry)
        if problem:
            raise UserError(f"{index_path}: '{key}' {problem}")
        swapped = entry.get("swapped_id")
        entries.append(
            {
                "key": Path(key).as_posix(),
                "folder": Path(key).parts[0],
                "label": DFDCP_LABELS[str(entry["label"]).lower()],
                "set": entry["set"],
                "target": f"subject_{entry['target_id']}",
                "swapped": f"subject_{swapped}" if swapped not in (None, "") else "",
            }
        )
    return entries


def _entry_problem(key, entry):
    """What is wrong with the ``dataset.json`` entry ``entry`` of video ``key``, in words; "" when nothing."""
    parts = Path(key).parts
    if not parts or parts[0] not in DFDCP_FOLDERS or Path(key).suffix.lower() != ".mp4":
        return f"is no .mp4 video in one of the folders {', '.join(DFDCP_FOLDERS)}"
    if not isinstance(entry, dict):
        return f"has the entry {entry!r}, expected an object with label, set and target_id"
    if str(entry.get("label", "")).lower() not in DFDCP_LABELS:
        return f"has label {entry.get('label')!r}, expected real or fake"
    if entry.get("set") not in SPLITS:
        return f"has set {entry.get('set')!r}, expected one of {', '.join(SPLITS)}"
    if entry.get("target_id") in (None, ""):
        return "has no target_id"
    return ""


@CHECKS.register("dfdcp")
def check_dfdcp(root, config):
    """``--check --dataset dfdcp``: ``dataset.json``'s real and fake entries against ``DFDCP_VIDEOS``, its test
    entries counted (no official number confirmed here), and every listed video on disk (a missing folder is
    one MISSING line)."""
    check = Check(f"DFDC preview at {root}")
    if not (root / DFDCP_INDEX).is_file():
        check.lack(f"{DFDCP_INDEX}: the preview's index is not in {root}")
        return check
    entries = dfdcp_index(root / DFDCP_INDEX)
    for label, name in ((REAL, "real"), (FAKE, "fake")):
        check.count(
            f"{DFDCP_INDEX} {name} entries",
            sum(entry["label"] == label for entry in entries),
            DFDCP_VIDEOS[label],
        )
    tested = [entry for entry in entries if entry["set"] == "test"]
    check.say(
        f"{DFDCP_INDEX} test entries (the official test set): {len(tested)} "
        f"({sum(entry['label'] == FAKE for entry in tested)} fake); the official count is not confirmed here"
    )
    for folder in DFDCP_FOLDERS:
        listed = [entry["key"] for entry in entries if entry["folder"] == folder]
        if not (root / folder).is_dir():
            check.lack(f"{folder}/: folder not found ({len(listed)} videos listed in it)")
            continue
        absent = [key for key in listed if not (root / key).is_file()]
        check.say(f"{folder}/: {len(listed) - len(absent)} of the {len(listed)} listed videos on disk")
        for key in absent:
            check.lack(f"{key} is listed in {DFDCP_INDEX} but not on disk")
    return check
