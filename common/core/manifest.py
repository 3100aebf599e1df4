"""Labels and the manifest CSVs that stages hand to each other.

Label meaning is fixed here, in code: 1 = fake, 0 = real. Every score the project outputs is P(fake).

Stage 01 writes ``frames/manifest.csv``, one row per saved frame (``FRAME_COLUMNS``); ``group`` keeps a fake
with the real video it was made from, ``official_split`` is the split an official protocol gives the video
("" when none), ``method`` the manipulation method of a fake when the dataset names it (FaceForensics++),
``scale`` the resize factor applied to the frame::

    video_id,label,label_name,source_video,group,official_split,method,video_path,frame_index,timestamp,scale,width,height,path
    demo_f000,1,fake,demo_r000,demo_r000,,,/data/videos/fake/demo_f000.mp4,2,0.2,2.0,512,512,frames/fake/demo_f000/f000002.jpg
    demo_r000,0,real,,demo_r000,,,/data/videos/real/demo_r000.mp4,2,0.2,2.0,512,512,frames/real/demo_r000/f000002.jpg

Stage 02 writes ``faces/manifest.csv``, one row per face crop (``FACE_COLUMNS``): the frame's columns, the
frame it came from, the face's track (one person across the video's frames), the detector's box (pixels of
the saved frame), its confidence and the rule that admitted it::

    ...,frame_path,face_index,track_id,box_x,box_y,box_w,box_h,confidence,admitted_by,path
    ...,frames/fake/demo_f000/f000002.jpg,0,0,166,117,185,234,0.99199,confidence,faces/fake/demo_f000/f000002_0.jpg
    ...,frames/real/demo_r000/f000002.jpg,0,0,168,111,183,233,0.99833,confidence,faces/real/demo_r000/f000002_0.jpg

Stage 03 writes ``split.csv``, one row per face copied into the dataset (``SPLIT_COLUMNS``); the box and
confidence trace each face back to its frame::

    path,label,label_name,split,video_id,group,source_video,method,frame_index,face_index,track_id,box_x,box_y,box_w,box_h,confidence,admitted_by
    test/real/demo_r001__f000002_0.jpg,0,real,test,demo_r001,demo_r001,,,2,0,0,178,137,190,232,0.9989,confidence
    train/fake/demo_f000__f000002_0.jpg,1,fake,train,demo_f000,demo_r000,demo_r000,,2,0,0,166,117,185,234,0.99199,confidence
"""

from pathlib import Path

import pandas as pd

from common.core.errors import UserError

REAL = 0
FAKE = 1
LABEL_NAMES = {REAL: "real", FAKE: "fake"}

MANIFEST = "manifest.csv"  # written by stages 01 and 02 into their output folder
FAILED = "failed.csv"  # videos a stage could not process
PARTS = (
    "parts"  # per-video results, joined into the manifest when every video is done (common/core/runner.py)
)
SKIPPED_FRAMES = "skipped_frames.csv"  # frames that gave no output (unreadable, no face)
SPLIT = "split.csv"  # written by stage 03
SPLITS = ("train", "val", "test")  # the split names of split.csv and of official protocols

FRAME_COLUMNS = [
    "video_id",
    "label",
    "label_name",
    "source_video",
    "group",
    "official_split",
    "method",
    "video_path",
    "frame_index",
    "timestamp",
    "scale",
    "width",
    "height",
    "path",
]
# The detector's box in the frame, its confidence, and the rule that kept the face (common.faces.detection.ADMISSION)
DETECTION_COLUMNS = ["box_x", "box_y", "box_w", "box_h", "confidence", "admitted_by"]
# face_index: the detector's order in its frame; track_id: the same person across the video's frames
FACE_COLUMNS = [*FRAME_COLUMNS[:-1], "frame_path", "face_index", "track_id", *DETECTION_COLUMNS, "path"]
SPLIT_COLUMNS = [
    *["path", "label", "label_name", "split", "video_id", "group", "source_video", "method"],
    *["frame_index", "face_index", "track_id", *DETECTION_COLUMNS],
]
TEXT_COLUMNS = (
    "video_id",
    "source_video",
    "group",
    "official_split",
    "method",
    "admitted_by",
)  # text, never numbers


def read_table(path):
    """A manifest-like CSV with ids read as text and empty cells as empty strings (not NaN)."""
    return pd.read_csv(path, dtype=dict.fromkeys(TEXT_COLUMNS, str), keep_default_na=False)


PRODUCERS = {
    "frames": "01-convert-video-to-image.py",
    "faces": "02-crop-faces-with-mtcnn.py",
    "split": "03-prepare-fake-real-dataset.py",
}


def read_manifest(folder, kind, columns, file_name=MANIFEST):
    """Read the manifest a previous stage left in ``folder``; a clear error if it is missing or malformed."""
    folder = Path(folder)
    path = folder / file_name
    if not folder.is_dir():
        raise UserError(f"input folder not found: {folder}")
    if not path.is_file() and (folder / PARTS).is_dir():
        raise UserError(
            f"no {file_name} in {folder}: {PRODUCERS[kind]} has not finished there (if it ran with --shard, "
            "run the remaining shards, or run it again without --shard to join them)"
        )
    if not path.is_file():
        raise UserError(f"no {file_name} in {folder}: is it the output of {PRODUCERS[kind]}?")
    frame = read_table(path)
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise UserError(f"{path} lacks columns {missing}: is it the output of {PRODUCERS[kind]}?")
    return frame


PIPELINE = "pipeline.yaml"  # the settings every stage so far ran with, handed down the stages


def read_pipeline(folder):
    """Settings recorded by the stages that made ``folder`` ({} when none were recorded)."""
    import yaml

    path = Path(folder) / PIPELINE
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text()) or {}


def record_pipeline(input_dir, output, settings):
    """Write the input's pipeline settings plus this stage's ``settings`` into ``output``.

    A re-run into a folder made with other settings would mix two kinds of output (resumed videos are
    skipped, not redone), so that is refused.
    """
    import yaml

    from common.core.files import atomic_write_text

    pipeline = {**read_pipeline(input_dir), **settings} if input_dir else dict(settings)
    previous = Path(output) / PIPELINE
    if previous.is_file() and read_pipeline(output) != pipeline:
        raise UserError(f"{output} was made with other settings (see {previous}); use a new --output folder")
    atomic_write_text(previous, yaml.safe_dump(pipeline, sort_keys=False))
    return pipeline
