"""What stage 04 reads: stage 03's split, the listed test videos, the unreadable images it leaves out (and
records), and the class weights of the training labels.
"""

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from common.core.errors import UserError
from common.core.files import atomic_write_csv
from common.core.manifest import FAKE, REAL, SPLIT, SPLIT_COLUMNS, SPLITS, read_manifest
from common.data.split import TEST_VIDEOS

log = logging.getLogger(__name__)


UNREADABLE = "unreadable_images.csv"  # in the run directory: the rows of split.csv whose image is unreadable


CACHE_DIR = "image-cache"  # in the run directory while training, when the decoded images are cached on disk


def load_split(dataset_dir):
    """The rows of ``split.csv``, with ``file``: the image's path. Unreadable images are not looked for here
    (that would decode the whole dataset once more): the input pipeline skips them as it reads them."""
    dataset_dir = Path(dataset_dir)
    split = read_manifest(dataset_dir, "split", SPLIT_COLUMNS, file_name=SPLIT)
    split["file"] = [dataset_dir / path for path in split["path"]]
    for name in SPLITS:
        part = split[split["split"] == name]
        if part.empty:
            raise UserError(f"the {name} split of {dataset_dir} is empty: re-run stage 03 with more videos")
    if split.loc[split["split"] == "train", "label"].nunique() < 2:
        raise UserError(f"the train split of {dataset_dir} has only one class; it needs real and fake faces")
    return split


def listed_test_videos(dataset_dir, split):
    """``(listed, no_face, listed_from)``: the ids of every video of the test split, with a face or not, and
    of those without one, from stage 03's test_videos.csv; from split.csv's test rows (faceless videos
    unknown) for a dataset written before stage 03 listed them."""
    path = Path(dataset_dir) / TEST_VIDEOS
    if path.is_file():
        listing = pd.read_csv(path, dtype={"video_id": str}, keep_default_na=False)
        return (
            listing["video_id"],
            listing.loc[listing["faces"] == 0, "video_id"],
            f"{TEST_VIDEOS} of stage 03",
        )
    listed = split.loc[split["split"] == "test", "video_id"].unique()
    return listed, [], f"split.csv; videos without a face not known (stage 03 wrote no {TEST_VIDEOS})"


def record_unreadable(run_dir, rows, left_out_of):
    """Add ``rows`` (of ``load_split``) whose image could not be read to the run's unreadable_images.csv
    (the columns of split.csv); one warning counts those not listed before."""
    path = Path(run_dir) / UNREADABLE
    known = pd.read_csv(path, keep_default_na=False) if path.is_file() else None
    if known is not None:
        rows = rows[~rows["path"].isin(known["path"])]
    if rows.empty:
        return
    atomic_write_csv(path, pd.concat([known, rows.drop(columns="file")]))
    shown = ", ".join(rows["path"].head(3)) + (", ..." if len(rows) > 3 else "")
    log.warning(
        "%d unreadable image(s) left out of %s (%s): listed in %s", len(rows), left_out_of, shown, path
    )


def note_unreadable(run_dir, parts, left_out_of):
    """After a full pass over each of ``parts`` ({split name: (rows, ReadLog)}): ``record_unreadable``; a
    split of which no image could be read (a moved or half-copied dataset folder) is a ``UserError``."""
    record_unreadable(run_dir, pd.concat([rows[read.unread()] for rows, read in parts.values()]), left_out_of)
    for name, (rows, read) in parts.items():
        if read.unread().all():
            raise UserError(
                f"none of the {len(rows)} images of the {name} split could be read (missing or corrupt "
                f"files, listed in {Path(run_dir) / UNREADABLE})"
            )


def class_weights(labels):
    """Weights that make both classes count equally; ``None`` when they are already balanced."""
    counts = np.bincount(np.asarray(labels, int), minlength=2)
    if counts[REAL] == counts[FAKE]:
        return None
    return {label: len(labels) / (2.0 * counts[label]) for label in (REAL, FAKE)}
