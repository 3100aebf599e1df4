"""The ``dfdc`` adapter: the Deepfake Detection Challenge's ``metadata.json`` files."""

import json
from pathlib import Path

from common.core.errors import UserError
from common.core.manifest import FAKE, REAL
from common.data.adapters.base import ADAPTERS, GROUPING, VideoRecord

GROUPING["dfdc"] = "a real clip with every fake made from it (metadata.json's original)"


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
