"""The ``dfdc`` adapter: the Deepfake Detection Challenge, its training parts' ``metadata.json`` files and its
test set's ``labels.csv``.

Layouts, as public code reads them (the challenge's own documentation of the test download was not found):
the training parts, ``dfdc_train_part_N/metadata.json`` (the Kaggle data page: per video ``label`` REAL/FAKE,
``original``, ``split``); the test set, a ``labels.csv`` with columns ``filename`` (``<name>.mp4``) and
``label`` (1 = fake, 0 = real) beside or above its videos: DeepfakeBench's ``preprocessing/rearrange.py``
reads ``<DFDC>/test/labels.csv`` (its ``labels[row["label"]]`` over ``["DFDC_Real", "DFDC_Fake"]``) and finds
the videos anywhere below ``test/`` (``preprocess.py``); the SBI code reads ``labels.csv`` beside a
``videos/`` folder. Other code puts that CSV in a ``validation/`` folder and the test set's labels in a
``metadata.json`` with ``is_fake``: that layout is not read here (the ``is_fake`` entries are refused with a
message). How many videos the file lists is not confirmed here, so ``--check`` counts without an official
number.
"""

import json
from pathlib import Path

import pandas as pd

from common.core.errors import UserError
from common.core.manifest import FAKE, REAL
from common.data.adapters.base import ADAPTERS, GROUPING, VideoRecord, candidate_files
from common.data.adapters.check import CHECKS, Check

DFDC_METADATA = "metadata.json"  # a training part's labels
DFDC_TEST_LABELS = "labels.csv"  # the test set's labels
DFDC_TEST_LABEL_VALUES = {"1": FAKE, "0": REAL}  # labels.csv's label column

GROUPING["dfdc"] = (
    "a real clip with every fake made from it (metadata.json's original); the test set of labels.csv, which "
    "names no original, stays whole in test"
)


@ADAPTERS.register("dfdc")
def dfdc_videos(root, config=None):
    """Deepfake Detection Challenge layout below ``root``: ``metadata.json`` files (any depth) with label
    REAL/FAKE and ``original``, videos without an official split; and ``labels.csv`` files (any depth) of the
    test set (``dfdc_test_list``), videos with ``official_split`` "test", each found by its file name below
    the CSV's folder. Video ids are file stems, as in the challenge. ``UserError`` when neither file is there,
    for a malformed entry or line, and for a listed test video that is not on disk."""
    metadata_files = sorted(root.rglob(DFDC_METADATA))
    label_files = sorted(root.rglob(DFDC_TEST_LABELS))
    if not metadata_files and not label_files:
        raise UserError(
            f"no {DFDC_METADATA} (training parts) or {DFDC_TEST_LABELS} (test set) below {root} "
            "(expected by --dataset dfdc)"
        )
    for metadata_file in metadata_files:
        for name, entry in dfdc_metadata(metadata_file).items():
            label_text = str(entry.get("label", "")).upper()
            original = entry.get("original") or ""
            yield VideoRecord(
                video_id=Path(name).stem,
                path=metadata_file.parent / name,
                label=FAKE if label_text == "FAKE" else REAL,
                source_video=Path(original).stem if label_text == "FAKE" else "",
            )
    for labels_file in label_files:
        on_disk = dfdc_test_videos(labels_file)
        for line_number, name, label in dfdc_test_list(labels_file):
            if name not in on_disk:
                raise UserError(
                    f"{labels_file} line {line_number}: {name} is not below {labels_file.parent}; restore it "
                    "from the DFDC test download (--check lists every missing video)"
                )
            yield VideoRecord(
                video_id=Path(name).stem, path=on_disk[name], label=label, official_split="test"
            )


def dfdc_metadata(metadata_file):
    """``{file name: entry}`` of a training part's ``metadata.json``; ``UserError`` when it cannot be read or
    an entry's label is not REAL or FAKE."""
    try:
        entries = json.loads(metadata_file.read_text())
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read {metadata_file}: {error}") from None
    for name, entry in entries.items():
        label_text = str(entry.get("label", "")).upper()
        if label_text not in ("REAL", "FAKE"):
            hint = (
                " (an is_fake entry: that test-set layout is not read; use the test set's labels.csv)"
                if "is_fake" in entry
                else ""
            )
            raise UserError(
                f"{metadata_file}: '{name}' has label {entry.get('label')!r}, expected REAL or FAKE{hint}"
            )
    return entries


def dfdc_test_list(labels_file):
    """``[(line number, file name, label)]`` of a DFDC test ``labels.csv`` (columns ``filename`` and ``label``,
    1 = fake, 0 = real); ``UserError`` for a missing column, a bad label or a file named twice."""
    try:
        table = pd.read_csv(labels_file, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UserError(f"{labels_file} is not a readable CSV: {error}") from None
    missing = [column for column in ("filename", "label") if column not in table.columns]
    if missing:
        raise UserError(
            f"{labels_file} lacks column(s) {', '.join(missing)}: the DFDC test set's {DFDC_TEST_LABELS} has "
            "filename and label (1 = fake, 0 = real)"
        )
    listed, seen = [], {}
    for line_number, (name, label) in enumerate(zip(table["filename"], table["label"]), start=2):
        name, label = Path(name.strip()).name, label.strip()
        if label not in DFDC_TEST_LABEL_VALUES:
            raise UserError(
                f"{labels_file} line {line_number}: label {label!r} is neither 1 (fake) nor 0 (real)"
            )
        if name in seen:
            raise UserError(f"{labels_file} lines {seen[name]} and {line_number} both name {name}")
        seen[name] = line_number
        listed.append((line_number, name, DFDC_TEST_LABEL_VALUES[label]))
    return listed


def dfdc_test_videos(labels_file):
    """``{file name: path}`` of the files below the folder of ``labels_file`` (``candidate_files``);
    ``UserError`` when two share a name, since ``labels.csv`` names videos by file name alone."""
    found = {}
    for path in candidate_files(labels_file.parent):
        if path.name in found:
            raise UserError(
                f"{found[path.name]} and {path} share a file name below {labels_file.parent}: "
                f"{DFDC_TEST_LABELS} cannot tell them apart; keep one"
            )
        found[path.name] = path
    return found


@CHECKS.register("dfdc")
def check_dfdc(root, config):
    """``--check --dataset dfdc``: each test ``labels.csv`` with its counts (no official number is confirmed
    here) and every listed video on disk; each training part's ``metadata.json`` with every video it lists on
    disk. A missing ``labels.csv`` is MISSING: only it makes an official test set."""
    check = Check(f"DFDC at {root}")
    label_files = sorted(root.rglob(DFDC_TEST_LABELS))
    if not label_files:
        check.lack(f"{DFDC_TEST_LABELS}: the test set's label file is not below {root}")
    for labels_file in label_files:
        listed = dfdc_test_list(labels_file)
        fakes = sum(label == FAKE for _, _, label in listed)
        where = labels_file.relative_to(root)
        check.say(
            f"{where}: {len(listed)} test videos listed ({fakes} fake, {len(listed) - fakes} real); "
            "the official count is not confirmed here"
        )
        on_disk = dfdc_test_videos(labels_file)
        for line_number, name, _ in listed:
            if name not in on_disk:
                check.lack(f"{where} line {line_number}: {name} is not on disk")
    metadata_files = sorted(root.rglob(DFDC_METADATA))
    check.say(f"{DFDC_METADATA} of training parts: {len(metadata_files)}")
    for metadata_file in metadata_files:
        names = list(dfdc_metadata(metadata_file))
        absent = [name for name in names if not (metadata_file.parent / name).is_file()]
        check.say(f"{metadata_file.relative_to(root)}: {len(names)} videos listed")
        if absent:
            check.lack(
                f"{metadata_file.relative_to(root)}: {len(absent)} listed video(s) not on disk: "
                f"{', '.join(absent[:5])}{', ...' if len(absent) > 5 else ''}"
            )
    return check
