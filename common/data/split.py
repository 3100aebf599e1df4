"""Stage 03: group videos, split by group, balance the train split, and lay out a training-ready dataset.

A group is a real video together with every fake made from it: the whole group lands in one split, so no
person's source video straddles train and test. Videos of an official test list go to the test split whole.
Balancing (``BALANCE_MODES``) touches the train split only: val and test keep every face of every video, so
the metrics of stage 04 are computed on whole videos.
"""

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.core.config import register_choices
from common.core.errors import UserError
from common.core.files import atomic_path, atomic_write_csv, output_lock, safe_name
from common.core.manifest import (
    FACE_COLUMNS,
    FAKE,
    PIPELINE,
    REAL,
    SKIPPED_FRAMES,
    SPLIT,
    SPLIT_COLUMNS,
    SPLITS,
    read_manifest,
    read_table,
    record_pipeline,
)

log = logging.getLogger(__name__)

COUNTS = "split_counts.csv"  # faces and videos per split and label, and what balancing dropped


def deal_groups(sizes, ratios, seed, counts=None):
    """Deal groups to splits: ``{group: split}``.

    ``sizes`` (a Series: videos per group) are shuffled with ``seed`` and dealt one by one to the split
    furthest below its share (``ratios``) of all videos, counting ``counts`` already placed; a split with a
    non-zero share gets at least one group while groups remain.
    """
    counts = dict.fromkeys(SPLITS, 0) | dict(counts or {})
    total = int(sizes.sum()) + sum(counts.values())
    active = [split for split in SPLITS if ratios.get(split, 0) > 0]
    order = np.random.default_rng(seed).permutation(sorted(sizes.index))
    assigned = {}
    for position, group in enumerate(order):
        empty = [split for split in active if counts[split] == 0]
        candidates = empty if empty and len(order) - position <= len(empty) else active
        split = max(candidates, key=lambda name: (ratios[name] * total - counts[name], ratios[name]))
        assigned[group] = split
        counts[split] += int(sizes[group])
    return assigned


def split_protocol(videos, protocol):
    """``official`` or ``ratios``: ``auto`` means official when some video has an official split."""
    if protocol != "auto":
        return protocol
    return "official" if (videos["official_split"] != "").any() else "ratios"


def split_by_video(videos, ratios, seed, protocol="auto"):
    """Assign each video to a split by its group; return a Series video_id -> split.

    ``videos`` has one row per video with ``video_id``, ``group`` and ``official_split``.

    - ``ratios``: groups are dealt to train/val/test in the proportions of ``ratios``; a group holding an
      official test video goes to test whole.
    - ``official``: a video with an official split keeps it, so the test split is exactly the official test
      list (no other video joins it, even one of the same group) and official train/val lists are kept. A
      video without one follows its group's official train/val video, or else its group is dealt to train
      or val in the proportions of ``ratios["train"]`` and ``ratios["val"]``.
    """
    if split_protocol(videos, protocol) == "ratios":
        official = set(videos.loc[videos["official_split"] == "test", "group"])
        sizes = videos.groupby("group").size()
        assigned = dict.fromkeys(official, "test")
        placed = {"test": int(sizes[list(official)].sum())} if official else {}
        assigned |= deal_groups(sizes.drop(list(official)), ratios, seed, placed)
        return videos["group"].map(assigned).set_axis(videos["video_id"])
    split = videos["official_split"].where(videos["official_split"] != "")
    fitting = videos[split.isin(["train", "val"])].groupby("group")["official_split"].first()
    follows = split.isna() & videos["group"].isin(fitting.index)
    split[follows] = videos.loc[follows, "group"].map(fitting)
    free = split.isna()
    placed = split[~free & split.isin(["train", "val"])].value_counts().to_dict()
    share = {"train": ratios["train"], "val": ratios["val"]}
    dealt = deal_groups(videos[free].groupby("group").size(), share, seed, placed)
    split[free] = videos.loc[free, "group"].map(dealt)
    return split.set_axis(videos["video_id"])


def warn_about_ungrouped_fakes(videos):
    """Warn when fakes are their own group: nothing keeps them apart from the video they were made from.
    Fakes of an official test list are left out: they go to test whatever their group (``split_by_video``)."""
    fakes = videos[(videos["label"] == FAKE) & (videos["official_split"] != "test")]
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


def _train_classes(faces):
    """``(train mask, majority label, minority face count)``; the label is ``None`` when there is nothing
    to even out (an empty train split, or only one class in it, which is worth a warning)."""
    train = faces["split"] == "train"
    counts = faces[train].groupby("label").size().reindex([REAL, FAKE], fill_value=0)
    if counts.sum() == 0 or counts[REAL] == counts[FAKE]:
        return train, None, 0
    if counts.min() == 0:
        log.warning("the train split has only one class; it is not balanced")
        return train, None, 0
    return train, int(counts.idxmax()), int(counts.min())


def balance_by_videos(faces, seed):
    """Down-sample the majority class of the train split by whole videos; val and test keep every face.

    Returns ``(kept, dropped)`` face tables. Majority-class videos are kept in a seeded order that takes one
    video of every group before a second video of any group (so identities stay diverse) until their faces
    come as close as one video allows to the minority class's. A kept video keeps every face, so frames
    with two faces stay whole. Stage 04 weights the classes by what is left, which evens out the rest.
    """
    train, majority, target = _train_classes(faces)
    if majority is None:
        return faces, faces.iloc[:0]
    videos = (
        faces[train & (faces["label"] == majority)]
        .groupby("video_id", sort=True)
        .agg(group=("group", "first"), faces=("path", "size"))
    )
    videos = videos.iloc[np.random.default_rng(seed).permutation(len(videos))]
    videos["round"] = videos.groupby("group").cumcount()
    videos = videos.sort_values("round", kind="stable")
    kept_faces = videos["faces"].cumsum() - videos["faces"] / 2  # keep a video if half of it still fits
    dropped_videos = set(videos.index[kept_faces > target])
    dropped = faces["video_id"].isin(dropped_videos)
    return faces[~dropped], faces[dropped]


def evenly_spaced(count, keep):
    """``keep`` of the positions ``0..count-1``, evenly spaced (the middle of ``keep`` equal stretches)."""
    return [int((index + 0.5) * count / keep) for index in range(keep)]


def balance_by_frames(faces, seed=None):
    """Keep every train video, and take fewer frames from each majority-class video of the train split until
    the classes are even; val and test keep every face. ``seed`` is not used (nothing is random).

    Returns ``(kept, dropped)`` face tables. Each majority-class video keeps a share of its frames
    proportional to its length (the shares rounded so that the kept frames add up to what evens the classes,
    larger remainders first, and never less than one frame, so every video still counts), those frames evenly
    spaced over the frames it has. A kept frame keeps all of its faces, so the classes are even to within
    the faces of the frames that have several.
    """
    train, majority, target = _train_classes(faces)
    if majority is None:
        return faces, faces.iloc[:0]
    rows = faces[train & (faces["label"] == majority)]
    frames = rows.drop_duplicates(["video_id", "frame_index"]).groupby("video_id", sort=True)["frame_index"]
    counts = frames.size()
    share = counts * target / len(rows)  # each video's frames, in proportion, worth the minority's faces
    keep = np.floor(share).astype(int)
    extra = int(round(share.sum())) - int(keep.sum())
    order = (share - keep).sort_values(ascending=False, kind="stable").index
    keep[order[: max(extra, 0)]] += 1
    keep = keep.clip(lower=1, upper=counts)
    kept_frames = {
        (video_id, index)
        for video_id, indices in frames
        for index in np.sort(indices.to_numpy())[evenly_spaced(counts[video_id], keep[video_id])]
    }
    dropped = pd.Series(
        [(video, frame) not in kept_frames for video, frame in zip(rows["video_id"], rows["frame_index"])],
        index=rows.index,
    ).reindex(faces.index, fill_value=False)
    return faces[~dropped], faces[dropped]


BALANCE_MODES = {  # dataset.balance -> what evens the classes of the train split: (kept, dropped) faces
    "videos": balance_by_videos,
    "frames": balance_by_frames,
    "none": lambda faces, seed: (faces, faces.iloc[:0]),  # stage 04's class weights even the loss
}
register_choices("dataset.balance", lambda: tuple(BALANCE_MODES))


def plan_dataset(faces, ratios, balance, seed, protocol="auto"):
    """The split table (one row per face crop, columns ``SPLIT_COLUMNS`` plus ``source_path``) for a faces
    manifest, and the face rows that balancing (``balance``, a key of ``BALANCE_MODES``) left out of the
    train split (``split_by_video`` for the ``protocol``). Pure: writes nothing."""
    faces = faces.copy()
    videos = faces.drop_duplicates("video_id")[["video_id", "label", "group", "official_split"]]
    warn_about_ungrouped_fakes(videos)
    faces["split"] = faces["video_id"].map(split_by_video(videos, ratios, seed, protocol))
    faces, dropped = BALANCE_MODES[balance](faces, seed)
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
    """Videos and faces per split, label and manipulation method (``method``: "" for real videos and for
    datasets that name none), and what balancing dropped from each: ``dropped_videos`` counts the videos
    left out whole, ``dropped_faces`` every face left out (``balance: frames`` drops faces, no video). Every
    split and label has a row, with zeros when it has no video."""
    present = set(zip(*(pd.concat([plan, dropped])[column] for column in ("split", "label_name", "method"))))
    keys = present | {
        (split, label, "")
        for split in SPLITS
        for label in ("real", "fake")
        if not any(key[:2] == (split, label) for key in present)
    }
    keys = sorted(keys, key=lambda key: (SPLITS.index(key[0]), key[1] != "real", key[2]))
    index = pd.MultiIndex.from_tuples(keys, names=["split", "label", "method"])

    def counts(rows):
        table = rows.groupby(["split", "label_name", "method"]).agg(
            videos=("video_id", "nunique"), faces=("path", "size")
        )
        return table.rename_axis(index.names).reindex(index, fill_value=0)

    whole = dropped[~dropped["video_id"].isin(set(plan["video_id"]))]  # videos left out with every face
    table = counts(plan)
    table["dropped_videos"] = counts(whole)["videos"]
    table["dropped_faces"] = counts(dropped)["faces"]
    return table


TEST_VIDEOS = "test_videos.csv"  # every video of the test split, with a face or without: what stage 04 counts
TEST_VIDEO_COLUMNS = ["video_id", "label", "method", "faces", "no_face_because"]


def list_test_videos(plan, faces, input_dir, protocol):
    """One row per video of the test split (``TEST_VIDEO_COLUMNS``): the test videos of ``plan`` with their
    number of faces, and the videos of which stage 02 kept no face (every frame of theirs in
    ``input_dir``'s skipped_frames.csv, none in ``faces``) that belong to the test split: those on the
    official test list, and under the ``ratios`` protocol those of a group dealt to test. For these
    ``faces`` is 0 and ``no_face_because`` stage 02's reasons ("no face", "unreadable frame image")."""
    test = plan[plan["split"] == "test"]
    rows = (
        test.groupby("video_id", sort=True)
        .agg(label=("label", "first"), method=("method", "first"), faces=("path", "size"))
        .reset_index()
        .assign(no_face_because="")
    )
    skipped_path = Path(input_dir) / SKIPPED_FRAMES
    if skipped_path.is_file():
        skipped = read_table(skipped_path)
        skipped = skipped[~skipped["video_id"].isin(faces["video_id"])]
        listed = skipped["official_split"] == "test"
        if protocol == "ratios":
            listed |= (skipped["official_split"] == "") & skipped["group"].isin(test["group"])
        faceless = (
            skipped[listed]
            .groupby("video_id", sort=True)
            .agg(
                label=("label", "first"),
                method=("method", "first"),
                no_face_because=("error", lambda errors: "; ".join(sorted(set(errors)))),
            )
            .reset_index()
            .assign(faces=0)
        )
        rows = pd.concat([rows, faceless[rows.columns]], ignore_index=True).sort_values("video_id")
    return rows[TEST_VIDEO_COLUMNS].reset_index(drop=True)


MISSING = "missing_faces.csv"  # in the dataset folder: rows of stage 02's manifest whose crop is not there


def leave_out_missing(faces, input_dir, output):
    """``faces`` without the rows whose crop file is not in ``input_dir`` (deleted or moved since stage 02):
    those are listed in ``output/MISSING`` with one warning (and the file removed when none is missing)."""
    present = np.array([(Path(input_dir) / path).is_file() for path in faces["path"]], bool)
    missing = faces[~present]
    if missing.empty:
        (Path(output) / MISSING).unlink(missing_ok=True)
        return faces
    Path(output).mkdir(parents=True, exist_ok=True)
    atomic_write_csv(Path(output) / MISSING, missing)
    shown = ", ".join(missing["path"].head(3)) + (", ..." if len(missing) > 3 else "")
    log.warning(
        "%d face crop(s) listed in %s/manifest.csv are missing (%s): left out of the split, listed in %s",
        len(missing),
        input_dir,
        shown,
        Path(output) / MISSING,
    )
    return faces[present]


def prepare_dataset(input_dir, output, ratios, balance, seed, overwrite=False, protocol="auto"):
    """Read stage 02's manifest (faces whose crop is missing are left out: ``leave_out_missing``), split it
    (``split_by_video``) and balance its train split, copy the crops into ``output/<split>/<label>/``, write
    ``output/split.csv`` and ``output/split_counts.csv``. Returns the plan, the count table and the protocol
    used (``split_protocol``). Files already in place are not copied again."""
    with output_lock(output, SPLIT):  # a second run into the same folder at the same time is refused
        return _prepare_dataset(Path(input_dir), Path(output), ratios, balance, seed, overwrite, protocol)


def _prepare_dataset(input_dir, output, ratios, balance, seed, overwrite, protocol):
    faces = read_manifest(input_dir, "faces", FACE_COLUMNS)
    faces = leave_out_missing(faces, input_dir, output)
    if faces.empty:
        raise UserError(f"{input_dir}/manifest.csv lists no face: nothing to split")
    protocol = split_protocol(faces.drop_duplicates("video_id"), protocol)
    plan, dropped = plan_dataset(faces, ratios, balance, seed, protocol)
    _check_previous_split(output, plan, overwrite)
    if overwrite:
        (output / PIPELINE).unlink(missing_ok=True)
    settings = {**ratios, "balance": balance, "seed": seed, "protocol": protocol}
    record_pipeline(input_dir, output, {"dataset": settings})
    for source, target in tqdm(
        list(zip(plan["source_path"], plan["path"])), desc="faces -> dataset", unit="img"
    ):
        target = output / target
        if not target.exists():
            with atomic_path(target) as temporary:
                shutil.copyfile(input_dir / source, temporary)
    atomic_write_csv(output / SPLIT, plan.drop(columns="source_path"))
    atomic_write_csv(output / TEST_VIDEOS, list_test_videos(plan, faces, input_dir, protocol))
    table = count_table(plan, dropped)
    atomic_write_csv(output / COUNTS, table.reset_index())
    return plan, table, protocol


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
