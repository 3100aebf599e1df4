"""Dataset adapters: turn a dataset's folder into labelled video records.

Each adapter registers under a name (``--dataset NAME``): ``folder`` (real/ and fake/ subfolders), ``dfdc``,
``celebdf`` (Celeb-DF v2), ``ffpp`` (FaceForensics++) and ``dfd`` (DeepFakeDetection); an adapter's options
live under ``datasets.<name>`` in the configuration.
"""

import dataclasses
import json
import logging
import re
from pathlib import Path

import pandas as pd

from common.core.config import DEFAULTS, register_choices
from common.core.errors import UserError
from common.core.manifest import FAKE, LABEL_NAMES, REAL, SPLITS
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


# name -> function(root) yielding VideoRecords
ADAPTERS = Registry("dataset", "--dataset", "common.data.adapters.ADAPTERS")


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


@ADAPTERS.register("folder")
def folder_videos(root, config=None):
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
def dfdc_videos(root, config=None):
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
    table = read_video_table(csv_path, "label")
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
    return {record.path.relative_to(root).as_posix(): record.label for record in folder_videos(root, None)}


CELEBDF_FOLDERS = {"Celeb-real": REAL, "YouTube-real": REAL, "Celeb-synthesis": FAKE}  # folder -> label
CELEBDF_TEST_LIST = "List_of_testing_videos.txt"
CELEBDF_LIST_LABELS = {"1": REAL, "0": FAKE}  # the test list's own convention: 1 = real, 0 = fake
CELEBDF_REAL_NAME = re.compile(r"^(id\d+)_(\d+)$")  # Celeb-real/id0_0000: identity, clip
# Celeb-synthesis/id0_id16_0000: target identity (whose clip was manipulated), swapped-in identity, clip
CELEBDF_FAKE_NAME = re.compile(r"^(id\d+)_(id\d+)_(\d+)$")


@ADAPTERS.register("celebdf")
def celebdf_videos(root, config=None):
    """Celeb-DF v2 at ``root`` (``celebdf_release``)."""
    return celebdf_release(root, "Celeb-DF v2")


@ADAPTERS.register("celebdf_v1")
def celebdf_v1_videos(root, config=None):
    """Celeb-DF v1 at ``root``, read as Celeb-DF v2 (``celebdf_release``): issue 24 takes its layout to be
    v2's (``Celeb-real/``, ``YouTube-real/``, ``Celeb-synthesis/``, ``List_of_testing_videos.txt``). Not
    confirmed from a public source here: the Celeb-DF repository's early README describes a pre-release
    with ``Real_1/`` (158 videos), ``Real_2/`` (250), ``deepfake/`` (795) and ``test.txt``; such a download
    must be renamed to the v2 names first. The size of v1's test list is not confirmed either, so nothing
    here assumes one."""
    return celebdf_release(root, "Celeb-DF v1")


def celebdf_release(root, release):
    """Celeb-DF (``release``, "Celeb-DF v2" or "Celeb-DF v1", named in messages) at ``root``:
    ``Celeb-real/idX_NNNN.mp4``, ``YouTube-real/NNNNN.mp4``,
    ``Celeb-synthesis/idA_idB_NNNN.mp4`` and the official test list ``List_of_testing_videos.txt`` (lines
    ``<1 = real | 0 = fake> <folder>/<file>.mp4``).

    Yields one ``VideoRecord`` per file: id ``<folder>/<stem>``, label from the folder, ``official_split``
    "test" for the videos of the test list (every line of it, the first included) and "" for the others.
    A fake ``idA_idB_NNNN`` puts identity ``idB``'s face into identity ``idA``'s video (``source_video``
    ``Celeb-real/idA_NNNN``). ``group`` joins the identities that share a fake (``identity_groups``: ``idA``
    and ``idB``, and every identity linked to them by another fake, named ``id0+id1+...``), so no identity is
    in two of train/val; the official test list stays whole in test whatever its groups (it shares identities
    with the other videos: that is the official protocol, and it is kept). When the fakes link most
    identities into one group, each identity is its own group again, with a warning. A YouTube-real video is
    its own group. ``UserError`` for a missing list, a malformed line, a label that disagrees with the folder, a
    listed video that is not on disk, or a file whose name does not follow the layout.
    """
    present = [name for name in CELEBDF_FOLDERS if (root / name).is_dir()]
    if not present:
        raise UserError(
            f"{root} has none of {', '.join(CELEBDF_FOLDERS)} (expected in {release}): "
            f"pass the {release} folder as --input"
        )
    listed = celebdf_test_list(root / CELEBDF_TEST_LIST, release)
    records = {}
    found = download_videos([root / name for name in present], release)
    for name in present:
        for path in found[root / name]:
            record = _celebdf_record(root, name, path)
            records[record.video_id] = record
    for video_id, line_number in listed.items():
        if video_id not in records:
            raise UserError(
                f"{root / CELEBDF_TEST_LIST} line {line_number}: {video_id} is not on disk below {root}; "
                f"restore the video (or its folder) from the {release} download"
            )
    identities = [_celebdf_identities(record) for record in records.values()]
    videos = pd.Series([ids[0] for ids in identities if ids]).value_counts().to_dict()
    group_of = identity_groups([ids for ids in identities if len(ids) == 2], videos, "Celeb-DF identities")
    for (video_id, record), ids in zip(records.items(), identities):
        yield dataclasses.replace(
            record,
            official_split="test" if video_id in listed else "",
            group=group_of[ids[0]] if ids else record.group,
        )


def _celebdf_identities(record):
    """The identities of a Celeb-DF record: ``(idX,)`` for Celeb-real, ``(idA, idB)`` for a fake, ``()`` for
    YouTube-real."""
    stem = Path(record.video_id).name
    match = CELEBDF_FAKE_NAME.match(stem) or CELEBDF_REAL_NAME.match(stem)
    if not match or record.video_id.startswith("YouTube-real/"):
        return ()
    return tuple(match.groups()[:-1])


def celebdf_test_list(list_path, release="Celeb-DF v2"):
    """``{video_id: line number}`` of the Celeb-DF test list at ``list_path``; ``UserError`` on any bad line."""
    if not list_path.is_file():
        raise UserError(
            f"Celeb-DF test list not found: {list_path} ({release} ships {CELEBDF_TEST_LIST} in its root "
            "folder; put it there)"
        )
    listed = {}
    # utf-8-sig: a byte-order mark must not spoil the first line, which is a video like every other
    for line_number, line in enumerate(list_path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{list_path} line {line_number}"
        if len(fields) != 2 or fields[0] not in CELEBDF_LIST_LABELS:
            raise UserError(
                f"{where}: expected '<1 = real | 0 = fake> <folder>/<file>.mp4', got {line.strip()!r}"
            )
        label, relative = CELEBDF_LIST_LABELS[fields[0]], Path(fields[1].replace("\\", "/"))
        folder = relative.parts[0] if len(relative.parts) > 1 else ""
        if folder not in CELEBDF_FOLDERS:
            raise UserError(f"{where}: {fields[1]} is in none of the folders {', '.join(CELEBDF_FOLDERS)}")
        if CELEBDF_FOLDERS[folder] != label:
            raise UserError(
                f"{where}: label {fields[0]} says {LABEL_NAMES[label]} but {folder}/ holds "
                f"{LABEL_NAMES[CELEBDF_FOLDERS[folder]]} videos (in this list 1 = real, 0 = fake); "
                "fix the line"
            )
        listed.setdefault(relative.with_suffix("").as_posix(), line_number)
    return listed


def _celebdf_record(root, folder, path):
    """The ``VideoRecord`` of the Celeb-DF file ``path`` in ``folder`` (see ``celebdf_videos``)."""
    video_id = path.relative_to(root).with_suffix("").as_posix()
    label = CELEBDF_FOLDERS[folder]
    if folder == "YouTube-real":
        return VideoRecord(video_id=video_id, path=path, label=label)
    pattern = CELEBDF_REAL_NAME if label == REAL else CELEBDF_FAKE_NAME
    match = pattern.match(path.stem)
    if not match:
        expected = "idX_NNNN" if label == REAL else "idA_idB_NNNN"
        raise UserError(f"{path}: names in {folder}/ must read {expected}.mp4; rename or remove the file")
    if label == REAL:
        return VideoRecord(video_id=video_id, path=path, label=label, group=match[1])
    target, _, clip = match.groups()
    return VideoRecord(
        video_id=video_id, path=path, label=label, source_video=f"Celeb-real/{target}_{clip}", group=target
    )


FFPP_ORIGINALS = Path("original_sequences", "youtube")  # then <compression>/videos/NNN.mp4
# datasets.ffpp.compression -> the folders it may be in: the official download script writes the lossless
# videos to raw/ (its --compression raw), which some tools and papers call c0
FFPP_COMPRESSION_FOLDERS = {"raw": ("raw", "c0"), "c0": ("raw", "c0"), "c23": ("c23",), "c40": ("c40",)}
FFPP_MANIPULATED = Path("manipulated_sequences")  # then <Method>/<compression>/videos/<target>_<source>.mp4
# <target>_<source>: the target video's frames, manipulated with the face (or expressions) of the source video
FFPP_FAKE_NAME = re.compile(r"^(\d+)_(\d+)$")


@ADAPTERS.register("ffpp")
def ffpp_videos(root, config=None):
    """FaceForensics++ at ``root``, with the compression, methods and splits folder of ``config``'s
    ``datasets.ffpp`` section (the built-in defaults when ``None``).

    Returns one ``VideoRecord`` per video of the chosen compression: originals
    ``original_sequences/youtube/<c>/videos/NNN.mp4`` as ``original/NNN`` (real, method ""), fakes
    ``manipulated_sequences/<Method>/<c>/videos/<a>_<b>.mp4`` of the chosen methods as ``<Method>/<a>_<b>``
    (fake, method ``<Method>``, ``source_video`` ``original/<a>``, the target video whose frames were
    manipulated), so the same pair made by two methods gives two videos.

    The official protocol (``train.json``, ``val.json``, ``test.json``: lists of id pairs ``[["953", "974"],
    ...]``) gives ``official_split`` to the originals ``a`` and ``b`` of a listed pair and to its fakes
    ``a_b`` and ``b_a`` of every method; ``group`` is one name per pair (``pair_953_974``, the ids sorted), so
    a pair's originals and fakes stay together. A video in no split file gets ``official_split`` "" (one
    warning line counts them); its group is the pair its fake file names reveal, or else its target video's.
    ``UserError`` for a missing compression or method folder, a missing or malformed split file, a pair in
    two split files, an original in two pairs, or a fake whose name is not ``<target>_<source>``.
    """
    options = (config or DEFAULTS)["datasets"]["ffpp"]
    compression = options["compression"]
    original_folder = ffpp_folder(
        root / FFPP_ORIGINALS,
        compression,
        "FaceForensics++ originals",
        f"download them at {compression} or set datasets.ffpp.compression to a compression that is there",
    )
    method_folders = {}
    for method in options["methods"]:
        method_folders[method] = ffpp_folder(
            root / FFPP_MANIPULATED / method,
            compression,
            "FaceForensics++ method folder",
            f"download it or set datasets.ffpp.compression to one that {method} has"
            if (root / FFPP_MANIPULATED / method).is_dir()
            else f"download it or remove {method} from datasets.ffpp.methods",
        )
    splits_folder = Path(options["splits"]).expanduser() if options["splits"] else root / "splits"
    pair_splits, listed_pair_of = ffpp_official_pairs(splits_folder, SPLITS)

    found = download_videos([original_folder, *method_folders.values()], "FaceForensics++")
    originals = [(_relative_name(path, original_folder), path) for path in found[original_folder]]
    fakes = []  # (method, name, target, source, path)
    for method, folder in method_folders.items():
        for path in found[folder]:
            match = FFPP_FAKE_NAME.match(path.stem)
            if not match:
                raise UserError(
                    f"{path}: FaceForensics++ fakes are named <target>_<source>.mp4 (such as 000_003.mp4); "
                    "rename or remove the file"
                )
            fakes.append((method, _relative_name(path, folder), match[1], match[2], path))
    pair_of = dict(listed_pair_of)  # pairs known only from fake file names keep their originals together too
    for _, _, target, source, _ in fakes:
        if target not in pair_of and source not in pair_of:
            pair_of[target] = pair_of[source] = tuple(sorted((target, source)))

    records = [
        VideoRecord(
            video_id=f"original/{name}",
            path=path,
            label=REAL,
            official_split=pair_splits.get(listed_pair_of.get(name), ""),
            group=_ffpp_group(pair_of, name),
        )
        for name, path in originals
    ]
    for method, name, target, source, path in fakes:
        pair = tuple(sorted((target, source)))
        records.append(
            VideoRecord(
                video_id=f"{method}/{name}",
                path=path,
                label=FAKE,
                source_video=f"original/{target}",
                official_split=pair_splits.get(pair, ""),
                method=method,
                group=_ffpp_group(pair_of, target),  # the target's pair, which is this fake's when listed
            )
        )
    _warn_about_ffpp_coverage(records, pair_splits, method_folders, splits_folder)
    return records


def ffpp_folder(base, compression, what, fix):
    """``base/<compression>/videos`` as the official download script lays it out (``raw`` for ``c0``, either
    name accepted); ``UserError`` naming the folder, ``what`` it should hold and the ``fix`` otherwise."""
    for name in FFPP_COMPRESSION_FOLDERS[compression]:
        if (base / name / "videos").is_dir():
            return base / name / "videos"
    expected = base / FFPP_COMPRESSION_FOLDERS[compression][0] / "videos"
    raise UserError(f"{what} not found: {expected}; {fix}")


def _relative_name(path, folder):
    """``path`` below ``folder`` without its suffix, with '/' separators: ``000_003``."""
    return path.relative_to(folder).with_suffix("").as_posix()


def _ffpp_group(pair_of, original):
    """The group of the FaceForensics++ original ``original``: its pair (``pair_000_003``), else itself."""
    pair = pair_of.get(original)
    return f"pair_{pair[0]}_{pair[1]}" if pair else f"original/{original}"


def ffpp_official_pairs(folder, splits):
    """Read ``<split>.json`` for each of ``splits`` in ``folder``; return ``({pair: split}, {original: pair})``
    where a pair is the tuple of its two original ids, sorted. ``UserError`` when a file is missing or not a
    list of id pairs, a pair is in two files, or an original is in two pairs."""
    pair_splits, pair_file, pair_of = {}, {}, {}
    for split in splits:
        path = folder / f"{split}.json"
        if not path.is_file():
            raise UserError(
                f"FaceForensics++ split file not found: {path}; put the official {', '.join(splits)} .json "
                "files (FaceForensics repository, dataset/splits) there or set datasets.ffpp.splits to their "
                "folder"
            )
        try:
            entries = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise UserError(f"cannot read {path}: {error}") from None
        if not isinstance(entries, list):
            raise UserError(f'{path} must hold a JSON list of id pairs such as [["953", "974"], ...]')
        for number, entry in enumerate(entries, start=1):
            if not (
                isinstance(entry, list)
                and len(entry) == 2
                and all(isinstance(video, str) and video for video in entry)
                and entry[0] != entry[1]
            ):
                raise UserError(
                    f"{path} entry {number}: {entry!r} is not two different video ids written as strings, "
                    'such as ["953", "974"]'
                )
            pair = tuple(sorted(entry))
            if pair_splits.get(pair, split) != split:
                raise UserError(
                    f"pair {list(pair)} is in both {pair_file[pair].name} and {path.name} in {folder}; "
                    "keep it in one split file"
                )
            pair_splits[pair], pair_file[pair] = split, path
            for original in pair:
                other = pair_of.setdefault(original, pair)
                if other != pair:
                    raise UserError(
                        f"original {original} is in two pairs, {list(other)} ({pair_file[other].name}) and "
                        f"{list(pair)} ({path.name}) in {folder}; each original belongs to one pair"
                    )
    return pair_splits, pair_of


def _warn_about_ffpp_coverage(records, pair_splits, method_folders, splits_folder):
    """One warning line for the videos in no split file, one for videos of listed pairs not on disk."""
    unlisted = [record.video_id for record in records if not record.official_split]
    if unlisted:
        log.warning(
            "%d of %d FaceForensics++ videos are in no split file of %s (%s%s): their official split is empty",
            len(unlisted),
            len(records),
            splits_folder,
            ", ".join(unlisted[:3]),
            ", ..." if len(unlisted) > 3 else "",
        )
    found = {record.video_id for record in records}
    expected = []
    for a, b in pair_splits:
        expected += [f"original/{a}", f"original/{b}"]
        expected += [f"{method}/{name}" for method in method_folders for name in (f"{a}_{b}", f"{b}_{a}")]
    missing = [video_id for video_id in expected if video_id not in found]
    if missing:
        log.warning(
            "%d of %d FaceForensics++ videos of the official splits are not on disk (%s%s): those splits are "
            "incomplete",
            len(missing),
            len(expected),
            ", ".join(missing[:3]),
            ", ..." if len(missing) > 3 else "",
        )


DFD_ORIGINALS = Path("original_sequences", "actors")  # then <compression>/videos/<actor>__<scene>.mp4
DFD_FAKES = Path("manipulated_sequences", "DeepFakeDetection")  # then <compression>/videos/<name>.mp4
DFD_METHOD = "DeepFakeDetection"  # the method of its fakes, and the folder names of their video ids
DFD_REAL_NAME = re.compile(r"^(\d+)__(.+)$")  # 01__kitchen_pan: actor, scene
DFD_FAKE_NAME = re.compile(r"^(\d+)_(\d+)__(.+)__(\w+)$")  # 01_02__kitchen_pan__YVGY8LOK: actors, scene, take


@ADAPTERS.register("dfd")
def dfd_videos(root, config=None):
    """DeepFakeDetection (Google/Jigsaw), as the FaceForensics++ download script lays it out beside FF++ at
    ``root``, at ``datasets.dfd.compression`` of ``config``: real ``original_sequences/actors/<c>/videos/
    <actor>__<scene>.mp4`` as ``actors/<actor>__<scene>``, fakes ``manipulated_sequences/DeepFakeDetection/
    <c>/videos/<a>_<b>__<scene>__<take>.mp4`` as ``DeepFakeDetection/<name>`` (method DeepFakeDetection,
    ``source_video`` ``actors/<a>__<scene>``, actor ``a``'s recording of the scene).

    No official split: stage 05 ``--dataset dfd`` scores every video (a cross-dataset test set), and stage 03
    splits by ratios. ``group`` joins the actors that share a fake (``identity_groups``, named
    ``actor_01+actor_02+...``), so no actor is in two splits; when that would make one group of most videos,
    each actor is its own group, with a warning. ``UserError`` for a missing folder or a misnamed video.
    """
    compression = (config or DEFAULTS)["datasets"]["dfd"]["compression"]
    fix = f"download DeepFakeDetection at {compression} or set datasets.dfd.compression to one that is there"
    original_folder = ffpp_folder(root / DFD_ORIGINALS, compression, "DeepFakeDetection originals", fix)
    fake_folder = ffpp_folder(root / DFD_FAKES, compression, "DeepFakeDetection fakes", fix)
    found = download_videos([original_folder, fake_folder], "DeepFakeDetection")
    records, actors = [], []
    for folder, label in ((original_folder, REAL), (fake_folder, FAKE)):
        pattern, expected = (
            (DFD_REAL_NAME, "<actor>__<scene>.mp4 (01__kitchen_pan.mp4)")
            if label == REAL
            else (DFD_FAKE_NAME, "<actor>_<actor>__<scene>__<take>.mp4 (01_02__kitchen_pan__YVGY8LOK.mp4)")
        )
        for path in found[folder]:
            match = pattern.match(path.stem)
            if not match:
                raise UserError(
                    f"{path}: DeepFakeDetection videos here are named {expected}; rename or remove it"
                )
            name = _relative_name(path, folder)
            if label == REAL:
                actors.append((f"actor_{match[1]}",))
                records.append(VideoRecord(video_id=f"actors/{name}", path=path, label=REAL))
            else:
                actors.append((f"actor_{match[1]}", f"actor_{match[2]}"))
                records.append(
                    VideoRecord(
                        video_id=f"{DFD_METHOD}/{name}",
                        path=path,
                        label=FAKE,
                        source_video=f"actors/{match[1]}__{match[3]}",
                        method=DFD_METHOD,
                    )
                )
    videos = pd.Series([ids[0] for ids in actors]).value_counts().to_dict()
    group_of = identity_groups([ids for ids in actors if len(ids) == 2], videos, "DeepFakeDetection actors")
    return [dataclasses.replace(record, group=group_of[ids[0]]) for record, ids in zip(records, actors)]


GROUPING = {  # --dataset -> what keeps videos together in one split (report.md says it)
    "folder": "a video alone, unless stage 01 was given --groups or --group-pattern",
    "dfdc": "a real clip with every fake made from it (metadata.json's original)",
    "celebdf": "identities that share a fake (its target and its swapped-in identity, and every identity linked "
    "to them by another fake) form one group, so no identity is in two of train/val, unless that made one "
    "group of most videos (then each identity is its own group, and stage 01 warned); the official test list "
    "stays whole in test",
    "ffpp": "an official pair: its two originals and all their fakes",
    "celebdf_v1": "as for celebdf (Celeb-DF v2, whose layout it shares)",
    "dfd": "actors that share a fake form one group, so no actor is in two splits, unless that made one group "
    "of most videos (then each actor is its own group, and stage 01 warned)",
}
register_choices("datasets.ffpp.compression", lambda: tuple(FFPP_COMPRESSION_FOLDERS))
register_choices("datasets.dfd.compression", lambda: tuple(FFPP_COMPRESSION_FOLDERS))


def source_options(parser):
    """Stage 01's flags for where labels and groups come from: ``--dataset`` (the adapter) and
    ``--groups`` / ``--group-pattern`` (``list_videos``)."""
    parser.add_argument(
        "--dataset",
        default="folder",
        choices=ADAPTERS.names(),
        help="dataset layout, which gives labels and groups: folder = real/ and fake/ subfolders; "
        "dfdc = metadata.json files; celebdf, celebdf_v1, ffpp, dfd = the official downloads (dfd: DeepFakeDetection, "
        "in the FaceForensics++ folder)",
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
        "an official split (dfd, dfdc, folder) is scored whole",
    )
