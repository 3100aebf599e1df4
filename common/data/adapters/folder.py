"""The ``folder`` adapter: ``real/`` and ``fake/`` subfolders."""

from pathlib import Path

from common.core.errors import UserError
from common.core.manifest import LABEL_NAMES
from common.data.adapters.base import ADAPTERS, GROUPING, VideoRecord, candidate_files

GROUPING["folder"] = "a video alone, unless stage 01 was given --groups or --group-pattern"


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


def folder_labels(root):
    """``{path relative to root: label}`` for the videos of the ``folder`` layout (``real/``, ``fake/``);
    ``None`` when ``root`` is a file or has neither folder."""
    root = Path(root)
    if not root.is_dir() or not any((root / name).is_dir() for name in LABEL_NAMES.values()):
        return None
    return {record.path.relative_to(root).as_posix(): record.label for record in folder_videos(root, None)}
