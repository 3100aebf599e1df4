"""The ``uadfv`` adapter: UADFV (Yang, Li and Lyu, "Exposing deep fakes using inconsistent head poses", ICASSP
2019), 49 real videos and 49 face swaps, a test-only set in DeepfakeBench.

Layout, as DeepfakeBench's preprocessing reads it (SCLBD/DeepfakeBench, preprocessing/preprocess.py and
rearrange.py): ``real/NNNN.mp4`` and ``fake/NNNN_fake.mp4`` in the dataset folder, ``NNNN`` from ``0000`` to
``0048`` (the ids of a ``UADFV.json`` made by DeepfakeBench's rearrange.py, found in a public fork, which lists
exactly these 49 + 49; 49 + 49 is also DeepfakeBench's README table). DeepfakeBench puts every video in its test
set (and in train and val): there is no official split, so stage 05 ``--dataset uadfv`` scores all 98 videos,
and stage 03 splits by ratios.

Not confirmed from a public source: that ``NNNN_fake`` was made from ``NNNN`` (the names say so, no file read
does); the adapter pairs them by name. Nor the layout of the download itself (a Google form): the folders
``real/`` and ``fake/`` are what DeepfakeBench expects.
"""

import re

from common.core.errors import UserError
from common.core.manifest import FAKE, REAL
from common.data.adapters.base import ADAPTERS, DOWNLOAD_SUFFIX, GROUPING, VideoRecord, download_videos
from common.data.adapters.check import CHECKS, Check

UADFV_FOLDERS = {"real": REAL, "fake": FAKE}  # folder -> label of its videos
UADFV_NAMES = {REAL: re.compile(r"^(\d+)$"), FAKE: re.compile(r"^(\d+)_fake$")}  # the clip NNNN
UADFV_NAMED = {REAL: "NNNN.mp4 (0000.mp4)", FAKE: "NNNN_fake.mp4 (0000_fake.mp4)"}
# 49 real and 49 fake videos, clips 0000 to 0048: DeepfakeBench's README table (UADFV 49 / 49 / 98) and the ids
# of a UADFV.json of its rearrange.py (kaichenchai/DeepfakeBench, preprocessing/dataset_json/UADFV.json).
UADFV_CLIPS = tuple(f"{clip:04d}" for clip in range(49))

GROUPING["uadfv"] = "a clip: its real video NNNN and its fake NNNN_fake (paired by name)"


@ADAPTERS.register("uadfv")
def uadfv_videos(root, config=None):
    """UADFV at ``root``: one ``VideoRecord`` per ``.mp4`` of ``real/`` (``real/NNNN``, label real) and of
    ``fake/`` (``fake/NNNN_fake``, label fake, ``source_video`` ``real/NNNN``, so that a clip's real and fake
    are one group). No official split (see the module docstring). ``UserError`` for a missing folder or a
    video not named ``NNNN.mp4`` directly in ``real/`` or ``NNNN_fake.mp4`` directly in ``fake/``."""
    folders = {name: root / name for name in UADFV_FOLDERS}
    absent = [f"{name}/" for name, folder in folders.items() if not folder.is_dir()]
    if absent:
        raise UserError(
            f"{root} lacks {' and '.join(absent)} (UADFV: real/NNNN.mp4 and fake/NNNN_fake.mp4): pass the "
            "UADFV folder as --input"
        )
    found = download_videos(folders.values(), "UADFV")
    for name, folder in folders.items():
        label = UADFV_FOLDERS[name]
        for path in found[folder]:
            match = UADFV_NAMES[label].match(path.stem)
            if not match or path.parent != folder:
                raise UserError(
                    f"{path}: UADFV videos in {name}/ are named {UADFV_NAMED[label]}, directly in the folder; "
                    "rename or remove the file"
                )
            yield VideoRecord(
                video_id=f"{name}/{path.stem}",
                path=path,
                label=label,
                source_video=f"real/{match[1]}" if label == FAKE else "",
            )


@CHECKS.register("uadfv")
def check_uadfv(root, config):
    """``--check --dataset uadfv``: ``real/`` and ``fake/`` against 49 videos each, and which of the clips
    0000 to 0048 are not on disk. No list ships with UADFV, so only a missing folder is MISSING."""
    check = Check(f"UADFV at {root}")
    for name, label in UADFV_FOLDERS.items():
        videos = check.folder(f"{name}/", root / name, len(UADFV_CLIPS))
        if videos is None:
            continue
        stems = {path.stem for path in videos}
        expected = [clip if label == REAL else f"{clip}_fake" for clip in UADFV_CLIPS]
        absent = [f"{stem}{DOWNLOAD_SUFFIX}" for stem in expected if stem not in stems]
        if absent:
            check.say(f"not in {name}/ of clips 0000-0048: {', '.join(absent)}")
    return check
