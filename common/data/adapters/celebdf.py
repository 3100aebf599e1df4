"""The ``celebdf`` (Celeb-DF v2) and ``celebdf_v1`` adapters."""

import dataclasses
import re
from pathlib import Path

import pandas as pd

from common.core.errors import UserError
from common.core.manifest import FAKE, LABEL_NAMES, REAL
from common.data.adapters.base import (
    ADAPTERS,
    DOWNLOAD_SUFFIX,
    GROUPING,
    VideoRecord,
    download_videos,
    identity_groups,
    named,
)
from common.data.adapters.check import CHECKS, Check

CELEBDF_FOLDERS = {"Celeb-real": REAL, "YouTube-real": REAL, "Celeb-synthesis": FAKE}  # folder -> label
CELEBDF_TEST_LIST = "List_of_testing_videos.txt"
CELEBDF_LIST_LABELS = {"1": REAL, "0": FAKE}  # the test list's own convention: 1 = real, 0 = fake
CELEBDF_REAL_NAME = re.compile(r"^(id\d+)_(\d+)$")  # Celeb-real/id0_0000: identity, clip
# Celeb-synthesis/id0_id16_0000: target identity (whose clip was manipulated), swapped-in identity, clip
CELEBDF_FAKE_NAME = re.compile(r"^(id\d+)_(id\d+)_(\d+)$")
# Celeb-DF v2: 590 Celeb-real, 300 YouTube-real, 5,639 Celeb-synthesis and 518 videos in the test list, as the
# authors' repository (github.com/yuezunli/celeb-deepfakeforensics, README.md, "Dataset Structure") lists them.
CELEBDF_V2_VIDEOS = {"Celeb-real": 590, "YouTube-real": 300, "Celeb-synthesis": 5639}
CELEBDF_V2_TEST_VIDEOS = 518
# Celeb-DF v1, the same repository's Celeb-DF-v1/README.md: the same four names as v2 ("Dataset Structure"),
# "408 original videos" and "795 DeepFake videos". How the 408 divide between Celeb-real and YouTube-real and
# how many videos the test list names are not said there, so the reals are counted together and the list as is.
CELEBDF_V1_FAKES = 795
CELEBDF_V1_REALS = 408

GROUPING["celebdf"] = (
    "identities that share a fake (its target and its swapped-in identity, and every identity linked to them by "
    "another fake) form one group, so no identity is in two of train/val, unless that made one group of most "
    "videos (then each identity is its own group, and stage 01 warned); the official test list stays whole in "
    "test"
)
GROUPING["celebdf_v1"] = "as for celebdf (Celeb-DF v2, whose layout it shares)"


@ADAPTERS.register("celebdf")
def celebdf_videos(root, config=None):
    """Celeb-DF v2 at ``root`` (``celebdf_release``)."""
    return celebdf_release(root, "Celeb-DF v2")


@ADAPTERS.register("celebdf_v1")
def celebdf_v1_videos(root, config=None):
    """Celeb-DF v1 at ``root``, read as Celeb-DF v2 (``celebdf_release``): its authors' README gives v1 the
    same layout (``Celeb-real/``, ``YouTube-real/``, ``Celeb-synthesis/``, ``List_of_testing_videos.txt``).
    An earlier pre-release of that README described ``Real_1/``, ``Real_2/``, ``deepfake/`` and ``test.txt``
    (the DFF dataset): such a download must be renamed to these names first."""
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
    pattern, expected = (
        (CELEBDF_REAL_NAME, "idX_NNNN") if label == REAL else (CELEBDF_FAKE_NAME, "idA_idB_NNNN")
    )
    match = named(path, pattern, f"names in {folder}/ must read {expected}.mp4")
    if label == REAL:
        return VideoRecord(video_id=video_id, path=path, label=label, group=match[1])
    target, _, clip = match.groups()
    return VideoRecord(
        video_id=video_id, path=path, label=label, source_video=f"Celeb-real/{target}_{clip}", group=target
    )


@CHECKS.register("celebdf")
def check_celebdf(root, config):
    """``--check --dataset celebdf``: the three folders against ``CELEBDF_V2_VIDEOS``, the test list against
    ``CELEBDF_V2_TEST_VIDEOS``, and every listed video on disk."""
    check = Check(f"Celeb-DF v2 at {root}")
    on_disk = set()
    for name, expected in CELEBDF_V2_VIDEOS.items():
        on_disk |= _counted_folder(check, root, name, expected)
    return _check_test_list(check, root, on_disk, CELEBDF_V2_TEST_VIDEOS)


@CHECKS.register("celebdf_v1")
def check_celebdf_v1(root, config):
    """``--check --dataset celebdf_v1``: Celeb-synthesis against ``CELEBDF_V1_FAKES``, the two real folders
    together against ``CELEBDF_V1_REALS``, the test list counted (no official number) and every listed video
    on disk."""
    check = Check(f"Celeb-DF v1 at {root}")
    on_disk = _counted_folder(check, root, "Celeb-synthesis", CELEBDF_V1_FAKES)
    reals = set()
    for name in ("Celeb-real", "YouTube-real"):
        reals |= _counted_folder(check, root, name, None)
    check.count("Celeb-real/ and YouTube-real/ together", len(reals), CELEBDF_V1_REALS)
    return _check_test_list(check, root, on_disk | reals, None)


def _counted_folder(check, root, name, expected):
    """The ids (``<folder>/<stem>``) of the videos in ``root/name``, counted on ``check`` against ``expected``
    (None: counted only); an empty set when the folder is missing."""
    videos = check.folder(f"{name}/", root / name, expected) or ()
    return {path.relative_to(root).with_suffix("").as_posix() for path in videos}


def _check_test_list(check, root, on_disk, expected):
    """The test list of ``root`` counted against ``expected`` (None: counted only) and every listed video looked
    for in ``on_disk``."""
    list_path = root / CELEBDF_TEST_LIST
    if not list_path.is_file():
        check.lack(f"{CELEBDF_TEST_LIST}: the official test list is not in {root}")
        return check
    listed = celebdf_test_list(list_path)
    check.count(f"{CELEBDF_TEST_LIST} entries", len(listed), expected)
    for video_id, line_number in listed.items():
        if video_id not in on_disk:
            check.lack(f"{CELEBDF_TEST_LIST} line {line_number}: {video_id}{DOWNLOAD_SUFFIX} is not on disk")
    return check
