"""Dataset adapters: turn a dataset's folder into labelled video records.

Each adapter registers under a name (``--dataset NAME``). Celeb-DF v2 and FaceForensics++ adapters plug in
the same way.
"""

import dataclasses
import json
import logging
from pathlib import Path

from common.errors import UserError
from common.manifest import FAKE, REAL

log = logging.getLogger(__name__)

SIDECAR_SUFFIXES = {".json", ".csv"}  # metadata files that live beside videos and are not videos


@dataclasses.dataclass(frozen=True)
class VideoRecord:
    video_id: str  # unique within the dataset
    path: Path
    label: int  # FAKE or REAL
    source_video: str = ""  # for a fake: the video id of the real video it was made from, when known
    official_split: str = ""  # "test" for videos of an official test list, which must stay whole


ADAPTERS = {}


def register_adapter(name):
    def decorate(function):
        ADAPTERS[name] = function
        return function

    return decorate


def list_videos(root, dataset="folder"):
    """Return the ``VideoRecord``s of the dataset at ``root``, sorted by video id."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"input folder not found: {root}")
    if dataset not in ADAPTERS:
        raise UserError(f"unknown dataset '{dataset}'; known datasets: {', '.join(sorted(ADAPTERS))}")
    records = sorted(ADAPTERS[dataset](root), key=lambda record: record.video_id)
    if not records:
        raise UserError(f"no videos found in {root} for --dataset {dataset}")
    seen = set()
    for record in records:
        if record.video_id in seen:
            raise UserError(f"two videos have the id '{record.video_id}' in {root}")
        seen.add(record.video_id)
    return records


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


@register_adapter("folder")
def folder_videos(root):
    """``real/`` and ``fake/`` subfolders (any depth below them). The source of a fake is unknown."""
    label_folders = {name: root / name for name in ("real", "fake") if (root / name).is_dir()}
    if not label_folders:
        raise UserError(f"{root} has neither a real/ nor a fake/ subfolder (expected by --dataset folder)")
    for name, folder in label_folders.items():
        label = FAKE if name == "fake" else REAL
        for path in candidate_files(folder):
            video_id = path.relative_to(root).with_suffix("").as_posix()
            yield VideoRecord(video_id=video_id, path=path, label=label)


@register_adapter("dfdc")
def dfdc_videos(root):
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
                raise UserError(f"{metadata_file}: '{name}' has label {entry.get('label')!r}, expected REAL or FAKE")
            original = entry.get("original") or ""
            yield VideoRecord(
                video_id=Path(name).stem,
                path=metadata_file.parent / name,
                label=FAKE if label_text == "FAKE" else REAL,
                source_video=Path(original).stem if label_text == "FAKE" else "",
            )
