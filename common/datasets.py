"""Dataset adapters: turn a dataset's folder into labelled video records.

Each adapter registers under a name (``--dataset NAME``). Celeb-DF v2 and FaceForensics++ adapters plug in
the same way.
"""

import dataclasses
import json
import logging
import re
from pathlib import Path

import pandas as pd

from common.errors import UserError
from common.manifest import FAKE, LABEL_NAMES, REAL
from common.registry import Registry

log = logging.getLogger(__name__)

SIDECAR_SUFFIXES = {".json", ".csv"}  # metadata files that live beside videos and are not videos
LABEL_VALUES = {"fake": FAKE, "1": FAKE, "real": REAL, "0": REAL}  # what a labels CSV may say


@dataclasses.dataclass(frozen=True)
class VideoRecord:
    video_id: str  # unique within the dataset
    path: Path
    label: int  # FAKE or REAL
    source_video: str = ""  # for a fake: the video id of the real video it was made from, when known
    official_split: str = ""  # "test" for videos of an official test list, which must stay whole
    # Videos of one group never straddle two splits; "" = the group of the source video, or the video itself.
    group: str = ""

    def __post_init__(self):
        if not self.group:
            object.__setattr__(
                self,
                "group",
                self.source_video if self.label == FAKE and self.source_video else self.video_id,
            )


# name -> function(root) yielding VideoRecords
ADAPTERS = Registry("dataset", "--dataset", "common.datasets.ADAPTERS")


def list_videos(root, dataset="folder", groups=None, group_pattern=None):
    """Return the ``VideoRecord``s of the dataset at ``root``, sorted by video id.

    ``groups`` (a CSV with columns ``video`` and ``group``) or ``group_pattern`` (a regular expression
    whose named group ``group``, or else first group, or else whole match, taken from the file name, names
    the group) replace the adapter's groups: a person's or a source's videos then stay in one split.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"input folder not found: {root}")
    records = sorted(ADAPTERS.get(dataset)(root), key=lambda record: record.video_id)
    if not records:
        raise UserError(f"no videos found in {root} for --dataset {dataset}")
    seen = set()
    for record in records:
        if record.video_id in seen:
            raise UserError(f"two videos have the id '{record.video_id}' in {root}")
        seen.add(record.video_id)
    if groups is not None:
        records = regroup(records, read_groups(groups), f"--groups {groups}")
    elif group_pattern is not None:
        records = regroup(
            records, groups_by_pattern(records, group_pattern), f"--group-pattern {group_pattern}"
        )
    ungrouped = [
        record.video_id for record in records if record.label == FAKE and record.group == record.video_id
    ]
    if ungrouped:
        log.warning(
            "%d of %d fake videos have no known source video or group (%s%s): each will be its own group "
            "and may land in another split than the real video it was made from; pass --groups CSV or "
            "--group-pattern REGEX",
            len(ungrouped),
            sum(record.label == FAKE for record in records),
            ", ".join(ungrouped[:3]),
            ", ..." if len(ungrouped) > 3 else "",
        )
    return records


def read_groups(csv_path):
    """``{video: group}`` from a CSV with columns ``video`` (a video id, or a file name) and ``group``."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise UserError(f"groups file not found: {csv_path}")
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UserError(f"groups file {csv_path} is not a readable CSV: {error}") from None
    missing = [column for column in ("video", "group") if column not in table.columns]
    if missing:
        raise UserError(f"groups file {csv_path} lacks column(s) {', '.join(missing)} (needs video, group)")
    return dict(zip(table["video"].str.strip(), table["group"].str.strip()))


def groups_by_pattern(records, pattern):
    """``{video_id: group}``: what ``pattern`` finds in each video's file name (see ``list_videos``)."""
    try:
        expression = re.compile(pattern)
    except re.error as error:
        raise UserError(f"--group-pattern {pattern!r} is not a regular expression: {error}") from None
    found = {}
    for record in records:
        match = expression.search(Path(record.path).name)
        if match:
            named = match.groupdict().get("group")
            found[record.video_id] = (
                named if named is not None else match.group(1 if expression.groups else 0)
            )
    return found


def regroup(records, groups, source):
    """``records`` with the groups of ``groups`` (keyed by video id or file name); every video needs one."""

    def group_of(record):
        return groups.get(record.video_id) or groups.get(Path(record.path).name)

    missing = [record.video_id for record in records if not group_of(record)]
    if missing:
        raise UserError(
            f"{source} gives no group for {len(missing)} of {len(records)} videos: "
            f"{', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}"
        )
    return [dataclasses.replace(record, group=group_of(record)) for record in records]


def candidate_files(folder):
    """Every file below ``folder`` that could be a video: not hidden, not a metadata sidecar.

    Files with other suffixes are kept on purpose: a broken or misnamed file must show up as a failure with
    its name, not vanish silently.
    """
    return sorted(
        path
        for path in Path(folder).rglob("*")
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
        and path.suffix.lower() not in SIDECAR_SUFFIXES
    )


@ADAPTERS.register("folder")
def folder_videos(root):
    """``real/`` and ``fake/`` subfolders (any depth below them). The source of a fake is unknown: group
    the videos with ``list_videos``' ``groups`` or ``group_pattern``."""
    label_folders = {label: root / name for label, name in LABEL_NAMES.items() if (root / name).is_dir()}
    if not label_folders:
        raise UserError(f"{root} has neither a real/ nor a fake/ subfolder (expected by --dataset folder)")
    for label, folder in label_folders.items():
        for path in candidate_files(folder):
            video_id = path.relative_to(root).with_suffix("").as_posix()
            yield VideoRecord(video_id=video_id, path=path, label=label)


@ADAPTERS.register("dfdc")
def dfdc_videos(root):
    """Deepfake Detection Challenge layout: ``metadata.json`` files (any depth) with label REAL/FAKE and
    ``original``. Video ids are file stems, as in the challenge."""
    metadata_files = sorted(root.rglob("metadata.json"))
    if not metadata_files:
        raise UserError(f"no metadata.json below {root} (expected by --dataset dfdc)")
    for metadata_file in metadata_files:
        try:
            entries = json.loads(metadata_file.read_text())
        except (OSError, ValueError) as error:
            raise UserError(f"cannot read {metadata_file}: {error}") from None
        for name, entry in entries.items():
            label_text = str(entry.get("label", "")).upper()
            if label_text not in ("REAL", "FAKE"):
                raise UserError(
                    f"{metadata_file}: '{name}' has label {entry.get('label')!r}, expected REAL or FAKE"
                )
            original = entry.get("original") or ""
            yield VideoRecord(
                video_id=Path(name).stem,
                path=metadata_file.parent / name,
                label=FAKE if label_text == "FAKE" else REAL,
                source_video=Path(original).stem if label_text == "FAKE" else "",
            )


def parse_label(value):
    """fake/real (any case) or 1/0 -> 1 (fake) / 0 (real); ``ValueError`` otherwise."""
    text = str(value).strip().lower()
    if text not in LABEL_VALUES:
        raise ValueError(f"label {value!r} is none of fake/real, FAKE/REAL, 1/0")
    return LABEL_VALUES[text]


def read_labels(csv_path):
    """``{video: label}`` from a CSV with columns ``video`` and ``label``."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise UserError(f"labels file not found: {csv_path}")
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UserError(f"labels file {csv_path} is not a readable CSV: {error}") from None
    missing = [column for column in ("video", "label") if column not in table.columns]
    if missing:
        raise UserError(f"labels file {csv_path} lacks column(s) {', '.join(missing)} (needs video, label)")
    labels = {}
    for line, (video, label) in enumerate(zip(table["video"], table["label"]), start=2):
        try:
            labels[video.strip()] = parse_label(label)
        except ValueError as error:
            raise UserError(f"{csv_path} line {line}: {error}") from None
    return labels


def folder_labels(root):
    """``{path relative to root: label}`` for the videos of the ``folder`` layout (``real/``, ``fake/``);
    ``None`` when ``root`` is a file or has neither folder."""
    root = Path(root)
    if not root.is_dir() or not any((root / name).is_dir() for name in LABEL_NAMES.values()):
        return None
    return {record.path.relative_to(root).as_posix(): record.label for record in folder_videos(root)}
