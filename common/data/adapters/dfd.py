"""The ``dfd`` adapter: DeepFakeDetection, shipped with FaceForensics++."""

import dataclasses
import re
from pathlib import Path

import pandas as pd

from common.core.config import DEFAULTS, register_choices, register_options
from common.core.manifest import FAKE, REAL
from common.data.adapters.base import (
    ADAPTERS,
    GROUPING,
    VideoRecord,
    download_videos,
    identity_groups,
    named,
    relative_name,
)
from common.data.adapters.check import CHECKS, Check
from common.data.adapters.ffpp import FFPP_COMPRESSION_FOLDERS, ffpp_folder, ffpp_folder_or_none

DFD_ORIGINALS = Path("original_sequences", "actors")  # then <compression>/videos/<actor>__<scene>.mp4
DFD_FAKES = Path("manipulated_sequences", "DeepFakeDetection")  # then <compression>/videos/<name>.mp4
DFD_METHOD = "DeepFakeDetection"  # the method of its fakes, and the folder names of their video ids
DFD_REAL_NAME = re.compile(r"^(\d+)__(.+)$")  # 01__kitchen_pan: actor, scene
DFD_FAKE_NAME = re.compile(r"^(\d+)_(\d+)__(.+)__(\w+)$")  # 01_02__kitchen_pan__YVGY8LOK: actors, scene, take
# DeepFakeDetection: 363 originals and 3,068 fakes (Table 1 of the Celeb-DF paper, arXiv 1909.12962).
DFD_VIDEOS = {"originals": 363, "fakes": 3068}

# DeepFakeDetection, shipped with FaceForensics++ (--dataset dfd, same root folder)
register_options("datasets.dfd", {"compression": "c23"})  # raw (= c0) | c23 | c40
register_choices("datasets.dfd.compression", lambda: tuple(FFPP_COMPRESSION_FOLDERS))
GROUPING["dfd"] = (
    "actors that share a fake form one group, so no actor is in two splits, unless that made one group of most "
    "videos (then each actor is its own group, and stage 01 warned)"
)


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
            match = named(path, pattern, f"DeepFakeDetection videos here are named {expected}")
            name = relative_name(path, folder)
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


@CHECKS.register("dfd")
def check_dfd(root, config):
    """``--check --dataset dfd``: originals and fakes at the chosen compression against ``DFD_VIDEOS``."""
    compression = config["datasets"]["dfd"]["compression"]
    check = Check(f"DeepFakeDetection at {root}, compression {compression}")
    for base, what in ((root / DFD_ORIGINALS, "originals"), (root / DFD_FAKES, "fakes")):
        folder = ffpp_folder_or_none(base, compression) or base / compression / "videos"
        check.folder(what, folder, DFD_VIDEOS[what])
    return check
