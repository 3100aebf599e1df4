"""What every dataset adapter shares: ``VideoRecord``, the ``ADAPTERS`` registry, ``list_videos`` with its
groups (``--groups``, ``--group-pattern``), label parsing, the video files of a download, identity groups,
and the stage flags that choose a dataset (``source_options``, ``label_options``)."""

import dataclasses
import logging
import re
from pathlib import Path

import pandas as pd

from common.core.config import DEFAULTS
from common.core.errors import UserError
from common.core.manifest import FAKE, REAL
from common.core.registry import Registry

log = logging.getLogger(__name__)

SIDECAR_SUFFIXES = {".json", ".csv"}  # metadata files that live beside videos and are not videos
LABEL_VALUES = {"fake": FAKE, "1": FAKE, "real": REAL, "0": REAL}  # what a labels CSV may say


@dataclasses.dataclass(frozen=True)
class VideoRecord:
    video_id: str  # unique within the dataset
    path: Path
    label: int  # FAKE or REAL
    source_video: str = ""  # for a fake: the video id of the real video it was made from, when known
    # "train", "val" or "test" when an official protocol puts the video there ("" = no official split):
    # stage 03 keeps an official test set whole and, with --split official, every official assignment.
    official_split: str = ""
    method: str = ""  # the manipulation method of a fake, when the dataset names it (FaceForensics++)
    # Videos of one group never straddle two splits; "" = the group of the source video, or the video itself.
    group: str = ""

    def __post_init__(self):
        if not self.group:
            object.__setattr__(
                self,
                "group",
                self.source_video if self.label == FAKE and self.source_video else self.video_id,
            )


# name -> function(root, config) yielding VideoRecords; each adapter module registers its own
ADAPTERS = Registry("dataset", "--dataset", "common.data.adapters.ADAPTERS")
# name -> what keeps its videos together in one split, in words (report.md says it); each adapter module adds its
# own line, and every registered adapter has one (tests/test_registry.py)
GROUPING = {}


def list_videos(root, dataset="folder", groups=None, group_pattern=None, config=None):
    """Return the ``VideoRecord``s of the dataset at ``root``, sorted by video id.

    Every adapter is called as ``adapter(root, config)``: ``config`` is the resolved config (or ``None`` for
    the built-in defaults), whose ``datasets`` section holds adapter options (FaceForensics++ compression,
    methods, splits folder).

    ``groups`` (a CSV with columns ``video`` and ``group``) or ``group_pattern`` (a regular expression
    whose named group ``group``, or else first group, or else whole match, taken from the file name, names
    the group) replace the adapter's groups: a person's or a source's videos then stay in one split.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"input folder not found: {root}")
    adapter = ADAPTERS.get(dataset)
    records = sorted(
        adapter(root, config if config is not None else DEFAULTS), key=lambda record: record.video_id
    )
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
    ungrouped = [  # an official test video goes to test whatever its group
        record.video_id
        for record in records
        if record.label == FAKE and record.group == record.video_id and record.official_split != "test"
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


def read_video_table(csv_path, column):
    """A user's CSV with columns ``video`` and ``column`` (``group``, ``label``), as text; ``UserError`` when
    it is missing, unreadable or lacks a column."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise UserError(f"{column}s file not found: {csv_path}")
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UserError(f"{column}s file {csv_path} is not a readable CSV: {error}") from None
    missing = [name for name in ("video", column) if name not in table.columns]
    if missing:
        raise UserError(
            f"{column}s file {csv_path} lacks column(s) {', '.join(missing)} (needs video, {column})"
        )
    return table


def read_groups(csv_path):
    """``{video: group}`` from a CSV with columns ``video`` (a video id, or a file name) and ``group``."""
    table = read_video_table(csv_path, "group")
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


DOWNLOAD_SUFFIX = ".mp4"  # every video of the official Celeb-DF v2 and FaceForensics++ downloads


def download_videos(folders, dataset):
    """``{folder: [video paths]}`` for the video folders of an official download: ``candidate_files`` that
    end in ``.mp4``. Anything else there (the temporary ``tmpXXXXXXXX`` files a broken-off FaceForensics++
    download leaves, a stray text file) is no video: it is skipped, with one warning line listing them."""
    videos, skipped = {}, []
    for folder in folders:
        videos[folder] = []
        for path in candidate_files(folder):
            (videos[folder] if path.suffix.lower() == DOWNLOAD_SUFFIX else skipped).append(path)
    if skipped:
        log.warning(
            "%d file(s) in the %s video folders are not %s videos and are skipped (a download broken off "
            "leaves tmpXXXXXXXX files; finish or redo it): %s",
            len(skipped),
            dataset,
            DOWNLOAD_SUFFIX,
            ", ".join(str(path) for path in skipped),
        )
    return videos


def named(path, pattern, naming):
    """The match of ``pattern`` on the file name (without suffix) of the video ``path``; ``UserError`` naming
    the file, the layout's ``naming`` ("FaceForensics++ fakes are named ...") and the fix when it does not
    follow it."""
    match = pattern.match(Path(path).stem)
    if not match:
        raise UserError(f"{path}: {naming}; rename or remove the file")
    return match


def relative_name(path, folder):
    """``path`` below ``folder`` without its suffix, with '/' separators: ``000_003``."""
    return path.relative_to(folder).with_suffix("").as_posix()


def identity_groups(links, videos, what):
    """``{identity: group}`` joining the identities that share a video into one group (connected
    components of the graph whose edges are ``links``, pairs of identities of one fake), so that no identity
    can be in two splits. ``videos`` (``{identity: videos in which it is the main one}``) weighs the groups:
    when one group would hold more than half of all videos, a split by these groups cannot follow any ratio,
    so the groups fall back to the identities themselves, with a warning naming ``what`` (the identities)."""
    parent = {identity: identity for identity in videos}

    def root(identity):
        while parent.setdefault(identity, identity) != identity:
            identity = parent[identity]
        return identity

    for first, second in links:
        a, b = sorted((root(first), root(second)), key=_natural)
        parent[b] = a
    members = {}
    for identity in parent:
        members.setdefault(root(identity), []).append(identity)
    sizes = {top: sum(videos.get(identity, 0) for identity in group) for top, group in members.items()}
    total = sum(sizes.values())
    largest = max(sizes, key=sizes.get, default=None)
    if largest is None:
        return {}
    if len(members[largest]) > 1 and sizes[largest] > total / 2:
        log.warning(
            "grouping the %s that share a fake joins %d of them into one group holding %d of %d videos: "
            "splits by such groups cannot follow the ratios, so the groups are single %s, and the second "
            "identity of a fake may be in another split than its first",
            what,
            len(members[largest]),
            sizes[largest],
            total,
            what,
        )
        return {identity: identity for identity in parent}
    return {identity: "+".join(sorted(members[root(identity)], key=_natural)) for identity in parent}


def _natural(name):
    """Sort key reading the digits of ``name`` as a number: id2 before id10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def parse_label(value):
    """fake/real (any case) or 1/0 -> 1 (fake) / 0 (real); ``ValueError`` otherwise."""
    text = str(value).strip().lower()
    if text not in LABEL_VALUES:
        raise ValueError(f"label {value!r} is none of fake/real, FAKE/REAL, 1/0")
    return LABEL_VALUES[text]


def read_labels(csv_path):
    """``{video: label}`` from a CSV with columns ``video`` and ``label``."""
    table = read_video_table(csv_path, "label")
    labels = {}
    for line, (video, label) in enumerate(zip(table["video"], table["label"]), start=2):
        try:
            labels[video.strip()] = parse_label(label)
        except ValueError as error:
            raise UserError(f"{csv_path} line {line}: {error}") from None
    return labels


def source_options(parser):
    """Stage 01's flags for where labels and groups come from: ``--dataset`` (the adapter) and
    ``--groups`` / ``--group-pattern`` (``list_videos``)."""
    parser.add_argument(
        "--dataset",
        default="folder",
        choices=ADAPTERS.names(),
        help="dataset layout, which gives labels and groups: folder = real/ and fake/ subfolders; each other "
        "name reads that dataset's official download as it ships (the README's protocols section says which "
        "layout each takes)",
    )
    grouping = parser.add_mutually_exclusive_group()
    grouping.add_argument(
        "--groups",
        metavar="CSV",
        help="CSV with columns video (video id such as fake/x, or file name) and group: videos "
        "of a group (a person, a source clip and its fakes) stay in one split",
    )
    grouping.add_argument(
        "--group-pattern",
        metavar="REGEX",
        help="regular expression naming each video's group in its file name (its group "
        "'group', else its first group, else the match), e.g. '^(id[0-9]+)_'",
    )


def label_options(parser):
    """Stage 05's flags for where the labels of the videos it scores come from (``--labels`` CSV or an official
    test set by ``--dataset``; neither: real/ and fake/ subfolders, or none)."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--labels",
        help="CSV with columns video (path or file name) and label (fake/real or 1/0); "
        "without it, real/ and fake/ subfolders of --input give the labels",
    )
    source.add_argument(
        "--dataset",
        choices=ADAPTERS.names(),
        help="score the official test set of this dataset, --input being its raw download folder "
        "(labels and methods from the adapter; e.g. celebdf for a cross-dataset test); a dataset without "
        "an official split (such as dfd or folder) is scored whole",
    )
