"""Stage 03: group videos, split by group, balance the train split, and lay out a training-ready dataset.

A group is a real video together with every fake made from it: the whole group lands in one split, so no
person's source video straddles train and test. Videos of an official test list go to the test split whole.
Balancing touches the train split only: val and test keep every face of every video, so the metrics of
stage 04 are computed on whole videos.
"""

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.errors import UserError
from common.files import atomic_path, atomic_write_csv, safe_name
from common.manifest import (
    FACE_COLUMNS,
    FAKE,
    PIPELINE,
    REAL,
    SPLIT,
    SPLIT_COLUMNS,
    read_manifest,
    record_pipeline,
)

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
COUNTS = "split_counts.csv"  # faces and videos per split and label, and what balancing dropped


def split_by_video(videos, ratios, seed):
    """Assign each video's group to a split; return a Series video_id -> split.

    ``videos`` has one row per video with ``video_id``, ``group`` and ``official_split``. Groups are shuffled
    with ``seed`` and dealt one by one to the split furthest below its share of videos; a split with a
    non-zero share gets at least one group while groups remain. Groups holding an official test video go
    to test.
    """
    rng = np.random.default_rng(seed)
    sizes = videos.groupby("group").size()
    official = set(videos.loc[videos["official_split"] == "test", "group"])
    order = [group for group in rng.permutation(sorted(sizes.index)) if group not in official]
    assigned = dict.fromkeys(official, "test")
    counts = dict.fromkeys(SPLITS, 0)
    counts["test"] = int(sizes[list(official)].sum()) if official else 0
    total = int(sizes.sum())
    active = [split for split in SPLITS if ratios[split] > 0]
    for position, group in enumerate(order):
        empty = [split for split in active if counts[split] == 0]
        candidates = empty if empty and len(order) - position <= len(empty) else active
        split = max(candidates, key=lambda name: (ratios[name] * total - counts[name], ratios[name]))
        assigned[group] = split
        counts[split] += int(sizes[group])
    return videos["group"].map(assigned).set_axis(videos["video_id"])


def warn_about_ungrouped_fakes(videos):
    """Warn when fakes are their own group: nothing keeps them apart from the video they were made from."""
    fakes = videos[videos["label"] == FAKE]
    alone = fakes[fakes["group"] == fakes["video_id"]]
    if len(alone):
        log.warning(
            "%d of %d fake videos have no known source video or group (%s%s): each is its own group and "
            "may land in another split than the real video it was made from; group them with stage 01's "
            "--groups or --group-pattern",
            len(alone),
            len(fakes),
            ", ".join(alone["video_id"][:3]),
            ", ..." if len(alone) > 3 else "",
        )


def balance_train(faces, seed):
    """Down-sample the majority class of the train split by whole videos; val and test keep every face.

    Returns ``(kept, dropped)`` face tables. Majority-class videos are kept in a seeded order that takes one
    video of every group before a second video of any group (so identities stay diverse) until their faces
    come as close as one video allows to the minority class's. A kept video keeps every face, so frames
    with two faces stay whole. Stage 04 weights the classes by what is left, which evens out the rest.
    """
    train = faces["split"] == "train"
    counts = faces[train].groupby("label").size().reindex([REAL, FAKE], fill_value=0)
    if counts.sum() == 0:
        return faces, faces.iloc[:0]
    if counts.min() == 0:
        log.warning("the train split has only one class; it is not balanced")
        return faces, faces.iloc[:0]
    majority = int(counts.idxmax())
    videos = (
        faces[train & (faces["label"] == majority)]
        .groupby("video_id", sort=True)
        .agg(group=("group", "first"), faces=("path", "size"))
    )
    videos = videos.iloc[np.random.default_rng(seed).permutation(len(videos))]
    videos["round"] = videos.groupby("group").cumcount()
    videos = videos.sort_values("round", kind="stable")
    kept_faces = videos["faces"].cumsum() - videos["faces"] / 2  # keep a video if half of it still fits
    dropped_videos = set(videos.index[kept_faces > counts.min()])
    dropped = faces["video_id"].isin(dropped_videos)
    return faces[~dropped], faces[dropped]


def plan_dataset(faces, ratios, do_balance, seed):
    """The split table (one row per face crop, columns ``SPLIT_COLUMNS`` plus ``source_path``) for a faces
    manifest, and the face rows that balancing left out of the train split. Pure: writes nothing."""
    faces = faces.copy()
    videos = faces.drop_duplicates("video_id")[["video_id", "label", "group", "official_split"]]
    warn_about_ungrouped_fakes(videos)
    faces["split"] = faces["video_id"].map(split_by_video(videos, ratios, seed))
    dropped = faces.iloc[:0]
    if do_balance:
        faces, dropped = balance_train(faces, seed)
    faces = faces.sort_values(["split", "label", "video_id", "frame_index", "face_index"])
    faces["source_path"] = faces["path"]
    faces["path"] = [
        f"{split}/{label_name}/{safe_name(video_id)}__f{int(frame):06d}_{int(face)}.jpg"
        for split, label_name, video_id, frame, face in zip(
            faces["split"], faces["label_name"], faces["video_id"], faces["frame_index"], faces["face_index"]
        )
    ]
    return faces[SPLIT_COLUMNS + ["source_path"]].reset_index(drop=True), dropped


def count_table(plan, dropped):
    """Faces and videos per split and label, and what balancing dropped from each, as a DataFrame."""
    index = pd.MultiIndex.from_product([SPLITS, ["real", "fake"]], names=["split", "label"])

    def counts(rows):
        table = rows.groupby(["split", "label_name"]).agg(
            faces=("path", "size"), videos=("video_id", "nunique")
        )
        return table.rename_axis(["split", "label"]).reindex(index, fill_value=0)

    return counts(plan).join(counts(dropped).add_prefix("dropped_"))


def prepare_dataset(input_dir, output, ratios, do_balance, seed, overwrite=False):
    """Read stage 02's manifest, split it and balance its train split, copy the crops into
    ``output/<split>/<label>/`` and write ``output/split.csv`` and ``output/split_counts.csv``. Returns the plan
    and the count table. Files already in place are not copied again."""
    input_dir, output = Path(input_dir), Path(output)
    faces = read_manifest(input_dir, "faces", FACE_COLUMNS)
    if faces.empty:
        raise UserError(f"{input_dir}/manifest.csv lists no face: nothing to split")
    plan, dropped = plan_dataset(faces, ratios, do_balance, seed)
    _check_previous_split(output, plan, overwrite)
    if overwrite:
        (output / PIPELINE).unlink(missing_ok=True)
    record_pipeline(input_dir, output, {"dataset": {**ratios, "balance": do_balance, "seed": seed}})
    for source, target in tqdm(
        list(zip(plan["source_path"], plan["path"])), desc="faces -> dataset", unit="img"
    ):
        target = output / target
        if not target.exists():
            with atomic_path(target) as temporary:
                shutil.copyfile(input_dir / source, temporary)
    atomic_write_csv(output / SPLIT, plan.drop(columns="source_path"))
    table = count_table(plan, dropped)
    atomic_write_csv(output / COUNTS, table.reset_index())
    return plan, table


def _check_previous_split(output, plan, overwrite):
    """Refuse to mix two different splits in one folder unless asked to replace the old one."""
    previous = output / SPLIT
    if not previous.is_file():
        return
    old = pd.read_csv(previous, keep_default_na=False)
    if sorted(old["path"]) == sorted(plan["path"]):
        return
    if not overwrite:
        raise UserError(
            f"{output} holds a different split (other seed, ratios or input); use --overwrite to replace it"
        )
    for split in SPLITS:
        shutil.rmtree(output / split, ignore_errors=True)
    previous.unlink()
