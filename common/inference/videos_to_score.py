"""Stage 05's inputs: the videos to score, found in a file or folder or listed by a dataset adapter (its
official test set), with their labels when known."""

import logging
from pathlib import Path

from common.core.errors import UserError
from common.data.adapters import candidate_files, folder_labels, list_videos, read_labels

log = logging.getLogger(__name__)


def find_videos(input_path):
    """``[(name, path)]`` to score: one file (named as given) or every candidate file below a folder (named
    by its path relative to the folder). Non-video files are kept, so they show up as error rows."""
    root = Path(input_path)
    if root.is_file():
        return [(str(input_path), root)]
    videos = [(path.relative_to(root).as_posix(), path) for path in candidate_files(root)]
    if not videos:
        raise UserError(f"no files to score in {input_path}")
    return videos


def videos_and_labels(input_path, output, labels_csv=None, dataset=None, config=None):
    """What stage 05 scores: ``(videos, labels, methods)``.

    With ``dataset`` (an adapter name), the official test set of the dataset at ``input_path`` (every video
    when it has no official split, as DeepFakeDetection), named by video id, with the adapter's labels and
    manipulation methods. Else ``find_videos(input_path)`` with
    labels (``{name: label}``) from ``labels_csv`` or the folder layout, or ``None`` when there are none,
    and no methods. ``output`` must be a file path."""
    if Path(output).is_dir():
        raise UserError(f"--output {output} is a folder; give the path of a CSV file")
    if dataset is None:
        labels = read_labels(labels_csv) if labels_csv else folder_labels(input_path)
        return find_videos(input_path), labels, {}
    records = list_videos(input_path, dataset, config=config)
    official = any(record.official_split for record in records)  # else the whole dataset is the test set
    test = [record for record in records if record.official_split == "test" or not official]
    if not test:
        raise UserError(f"--dataset {dataset} finds no official test video in {input_path}")
    log.info(
        "scoring %s of --dataset %s: %d videos",
        "the official test set" if official else "every video (no official split)",
        dataset,
        len(test),
    )
    return (
        [(record.video_id, record.path) for record in test],
        {record.video_id: record.label for record in test},
        {record.video_id: record.method for record in test},
    )
