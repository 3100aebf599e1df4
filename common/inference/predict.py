"""Stage 05: score whole videos with a trained model, and check the verdicts against labels when known.

Per video: sample frames as the model's training frames were sampled (or ``predict.frames`` evenly spaced),
resize them as stage 01 did, crop faces with the ``preprocess`` settings
stored in the model file (so the model sees crops made exactly as its training crops were), score every face,
and hand the face scores to ``common.evaluation.aggregate`` (most fake face per frame, frames to a verdict), the path
stage 04 evaluates its test split by. Scores are P(fake).

With ``workers`` > 1, that many threads decode upcoming videos and detect their faces, each with its own
detector, while the model scores the current video in the calling thread; results come in the videos'
order, the same as one video at a time. TensorFlow is imported only when the first face is scored, so bad
arguments fail fast.
"""

import base64
import collections
import concurrent.futures
import contextlib
import hashlib
import itertools
import json
import logging
import os
import queue
import shutil
import time
import uuid
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from common.core.config import DEFAULTS
from common.core.errors import UserError, VideoError
from common.core.files import (
    atomic_write_csv,
    atomic_write_text,
    encode_jpeg,
    file_sha256,
    jpeg_round_trip,
    sweep_temporaries,
)
from common.core.shard import WHOLE
from common.data.adapters import candidate_files, folder_labels, list_videos, read_labels
from common.evaluation.aggregate import (
    NO_FACE_ERROR,
    TRACK_COLUMNS,
    UNKNOWN_VERDICT,
    VERDICT_OF_LABEL,
    frame_scores,
    scoring,
    track_scores,
    video_scores,
)
from common.faces.detection import DETECT_CHUNK, build_detector, faces_with_tracks
from common.io.perturbations import perturb_indexed_bgr
from common.io.video import pick_frames, prefetched, scaled_frames
from common.models.backbones import keras_model_name
from common.models.methods import inference_function, method_for

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = [
    "video",
    "verdict",
    "fake_probability",
    "fake_frame_share",
    "frames_sampled",
    "faces_scored",
    "tracks",
    "error",
    "needs_review",  # common.evaluation.review: borderline P(fake), tracks that disagree, or few scored frames
    "sha256",  # of the video file scored, and its size in bytes
    "size_bytes",
    "model_sha256",  # of the model file that scored it
]
RUN_COLUMNS = ["seconds", "fps"]  # kept with each row, not written: time to score it, its frame rate
FACE_COLUMNS = ["video", "frame_index", "track_id", "p_fake"]  # what scoring gives, one row per face crop
FRAME_COLUMNS = ["video", "frame_index", "p_fake", "faces"]  # <output stem>_frames.csv: each scored frame
LABEL_COLUMN = "label"  # added when labels are known: FAKE, REAL or empty
# What stage 05 keeps of each face for its HTML report when the predict settings ask for it: a small JPEG of
# the crop (base64), and for the most fake faces of an image model a Grad-CAM overlay (base64 JPEG, else "").
KEEP_THUMBNAILS, GRADCAM_FACES = "keep_thumbnails", "gradcam_faces"  # keys of the settings (not the config)
PERTURB = "perturb"  # settings key too: {"name", "level", "seed"} of stage 05 --perturb, or absent
THUMBNAIL_COLUMN, GRADCAM_COLUMN = "thumbnail", "gradcam"
THUMBNAIL_QUALITY = 90  # the report re-encodes them, a track to one image


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


def load_scorer(model_path, config, config_file_given, workers=1):
    """The model, its metadata and the face detector built with the model's crop settings: for ``workers``
    > 1 a ``DetectorPool`` of that many, one for each thread of ``predict_videos``."""
    from common.core.model_file import load_model, resolve_model_path

    started = time.perf_counter()
    model, metadata = load_model(model_path)
    try:
        check_metadata(model, metadata)
    except UserError as error:
        raise UserError(f"{resolve_model_path(model_path)}: {error}") from None
    if config_file_given and config["preprocess"] != metadata["preprocess"]:
        log.warning(
            "the config's preprocess section is ignored: faces are cropped as the model's training "
            "faces were (%s)",
            metadata["preprocess"],
        )
    if config["predict"]["faces"] != "model":  # the faces to score, where not those the model trained on
        metadata["preprocess"]["faces"] = config["predict"]["faces"]
    if workers > 1:
        detector = DetectorPool([build_detector(metadata["preprocess"]) for _ in range(workers)])
    else:
        detector = build_detector(metadata["preprocess"])
    # trace the network now, so that loading time holds it and the first video's time does not
    inference_function(model)(np.zeros((1, *model.input_shape[1:]), np.float32))
    log.info(
        "loaded %s (%s, %d px) and %d %s detector%s in %.1f s",
        model_path,
        metadata["model"],
        metadata["image_size"],
        workers,
        metadata["preprocess"]["detector"],
        "s" if workers > 1 else "",
        time.perf_counter() - started,
    )
    return model, metadata, detector


# Crop settings added after models were first saved, and the value that reproduces how those models'
# training faces were cropped: before the lone-face and track rules every face needed min_confidence (the
# track rule at min_confidence admits nothing more), and detection ran on the frame as saved.
LATER_PREPROCESS_KEYS = {
    "lone_face_min_confidence": lambda preprocess: preprocess["min_confidence"],
    "track_min_confidence": lambda preprocess: preprocess["min_confidence"],
    "detect_max_width": lambda preprocess: 0,
    "faces": lambda preprocess: "all",
}


def check_metadata(model, metadata):
    """The model file must say how its training faces were cropped, and which network it holds (backbone and
    input size). Crop settings added later get the value their training used (``LATER_PREPROCESS_KEYS``)."""
    missing = [key for key in ("model", "image_size", "preprocess") if key not in metadata]
    missing += [
        f"preprocess.{key}"
        for key in DEFAULTS["preprocess"]
        if key not in metadata.get("preprocess", {}) and key not in LATER_PREPROCESS_KEYS
    ]
    if missing:
        raise UserError(f"the model's metadata lacks {', '.join(missing)}: re-save it with 04-train-cnn.py")
    preprocess = metadata["preprocess"]
    for key, earlier in LATER_PREPROCESS_KEYS.items():
        preprocess.setdefault(key, earlier(preprocess))
    if model.name != keras_model_name(metadata["model"]):
        raise UserError(
            f"the model's metadata names {metadata['model']} but its network is "
            f"{model.name.removeprefix('deepfake_')}"
        )
    input_size = model.input_shape[-3]  # (batch, [window,] size, size, 3)
    if input_size is not None and input_size != metadata["image_size"]:
        raise UserError(
            f"the model's metadata says image_size {metadata['image_size']} "
            f"but the network takes {input_size} px"
        )


def sampling(metadata, frames):
    """The ``video`` settings stage 05 samples a video's frames by (``common.io.video.pick_frames``): the model's
    training frames' (stage 01's, kept in the model file) when ``frames`` is 0, else ``frames`` evenly
    spaced. A model file saved before a key of that section existed gets the value stage 01 then used: no
    ``sampling`` was ``fps``; no ``video`` section at all, stage 01's defaults."""
    video = {**DEFAULTS["video"], "sampling": "fps", **metadata.get("video", {})}
    return {**video, "sampling": "frames", "frames": frames} if frames else video


def video_frames(path, video, jpeg_quality=None, resize="width_rule"):
    """The frames of a video that the sampling rule of the ``video`` settings picks (``sampling``), as stage
    01 makes them: an iterator of ``(frame_index, frame_bgr)`` that decodes as it goes, frames resized by
    ``resize`` (stage 01's ``video.resize``) and passed through JPEG at ``jpeg_quality`` (stage 01's saved
    frames) when given. Undecodable frames are left out, with one warning naming the file (a truncated file
    reports more frames than it holds). ``VideoError`` at once if the file is no video."""
    picked = []

    def pick(info):
        picked.extend(pick_frames(info, video))
        return picked

    info, _, sampled = scaled_frames(path, pick, resize)

    def decoded():
        missing = []
        for index, frame in sampled:
            if frame is None:
                missing.append(index)
                continue
            yield index, frame if jpeg_quality is None else jpeg_round_trip(frame, jpeg_quality)
        if missing:
            log.warning(
                "%s: %d of the %d sampled frames could not be decoded, the first at frame %d, though the file "
                "reports %d frames (truncated?); scoring the others",
                path,
                len(missing),
                len(picked),
                missing[0],
                info.frame_count,
            )

    return decoded()


def video_faces(path, detector, metadata, frames, perturb=None):
    """Sample a video's frames (``sampling``: as the model's training frames were, or ``frames`` evenly
    spaced) and crop its faces with the model's ``preprocess`` settings. Frames are decoded in a background
    thread while faces are detected in those already decoded.

    Returns ``(frames_sampled, frame_indices, track_ids, crops)``: ``frame_indices[i]`` is the index in the
    video of the frame that face crop ``crops[i]`` (BGR) comes from, ``track_ids[i]`` its face track
    (``common.faces.tracks.link_tracks``). ``VideoError`` if the file is no video or no frame decodes.
    ``perturb`` (``PERTURB``): the sampled frames are perturbed before detection
    (``common.io.perturbations.perturb_indexed_bgr``).
    """
    video = metadata.get("video", {})  # stage 01's settings; models trained before video.resize: width rule
    sampled = video_frames(
        path, sampling(metadata, frames), video.get("jpeg_quality"), video.get("resize", "width_rule")
    )
    if perturb:
        sampled = perturb_indexed_bgr(
            sampled, perturb["name"], perturb["level"], perturb["seed"], Path(path).name
        )
    indices = []

    def frames_in_order():
        for index, frame in prefetched(sampled, DETECT_CHUNK):
            indices.append(index)
            yield frame

    detections, tracks = faces_with_tracks(frames_in_order(), detector, metadata["preprocess"])
    if not indices:
        raise VideoError("no frame could be decoded")
    frame_indices, track_ids, crops = [], [], []
    for index, faces, ids in zip(indices, detections, tracks):
        for (_face, crop), track in zip(faces, ids):
            frame_indices.append(index)
            track_ids.append(track)
            crops.append(crop)
    return len(indices), frame_indices, track_ids, crops


def unknown_row(name, error, frames_sampled=0):
    """The row of a video that got no verdict: UNKNOWN, P(fake) 0.5, and the reason."""
    return {
        "video": name,
        "verdict": UNKNOWN_VERDICT,
        "fake_probability": 0.5,
        "fake_frame_share": 0.0,
        "frames_sampled": frames_sampled,
        "faces_scored": 0,
        "tracks": 0,
        "error": error,
    }


def score_video(path, model, detector, metadata, settings, name=None):
    """Score one video; return its row (``PREDICTION_COLUMNS``) and its face scores (``FACE_COLUMNS``).

    ``settings`` is the config's ``predict`` section (frames, aggregate, threshold, batch_size). A video
    that cannot be read, or in which no face is found, gets verdict UNKNOWN, probability 0.5 and the reason
    in ``error``; a ``VideoError`` is turned into such a row, other exceptions propagate.
    """
    name = str(path) if name is None else name
    return score_faces(
        name,
        faces_or_error(path, detector, metadata, settings["frames"], settings.get(PERTURB)),
        model,
        metadata,
        settings,
    )


def faces_or_error(path, detector, metadata, frames, perturb=None):
    """What ``video_faces`` returns, or the exception it raised: a detection thread hands either back."""
    try:
        return video_faces(path, detector, metadata, frames, perturb)
    except Exception as error:
        return error


def score_faces(name, found, model, metadata, settings):
    """``score_video`` from the faces found (``faces_or_error``): a ``VideoError`` or no face gives an
    UNKNOWN row, another exception is raised."""
    no_faces = pd.DataFrame(columns=FACE_COLUMNS)
    if isinstance(found, VideoError):
        return unknown_row(name, str(found)), no_faces
    if isinstance(found, Exception):
        raise found
    sampled, frame_indices, track_ids, crops = found
    if not crops:
        return unknown_row(name, f"{NO_FACE_ERROR} in {sampled} frames", sampled), no_faces
    p_fake = method_for(metadata["model"]).score_faces(
        model, crops, track_ids, frame_indices, metadata, settings["batch_size"]
    )
    faces = pd.DataFrame(
        {"video": name, "frame_index": frame_indices, "track_id": track_ids, "p_fake": p_fake}
    )
    if settings.get(KEEP_THUMBNAILS):
        faces = faces.assign(**report_faces(crops, p_fake, model, metadata, settings))
    (video,) = video_scores(faces, **scoring(settings)).to_dict("records")
    row = {
        **unknown_row(name, ""),
        "verdict": video["verdict"],
        "frames_sampled": sampled,
        "fake_probability": round(video["fake_probability"], 6),
        "fake_frame_share": round(video["fake_frame_share"], 6),
        "faces_scored": len(crops),
        "tracks": video["tracks"],
    }
    return row, faces


def base64_jpeg(image_bgr, quality=THUMBNAIL_QUALITY):
    return base64.b64encode(encode_jpeg(image_bgr, quality)).decode("ascii")


def report_faces(crops, p_fake, model, metadata, settings):
    """The columns the report shows of each face: ``thumbnail``, the crop shrunk to ``report_thumbnail``
    px square, and ``gradcam``, the Grad-CAM heatmap of P(fake) over the ``GRADCAM_FACES`` most fake crops
    (``common.evaluation.explain``; image models only, a backward pass each), "" for the others."""
    size = settings["report_thumbnail"]
    columns = {
        THUMBNAIL_COLUMN: [
            base64_jpeg(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)) for crop in crops
        ]
    }
    top = settings.get(GRADCAM_FACES, 0)
    if top and method_for(metadata["model"]).gradcam:
        from common.data.pipeline import prepare_crops
        from common.evaluation.explain import gradcam

        chosen = np.argsort(-np.asarray(p_fake), kind="stable")[:top]
        images = prepare_crops(
            [crops[i] for i in chosen], metadata["image_size"], metadata["preprocess"]["jpeg_quality"]
        )
        heatmaps, _ = gradcam(model, images)
        overlays = [""] * len(crops)
        for index, image, heatmap in zip(chosen, images, heatmaps):
            colours = cv2.applyColorMap(np.uint8(255 * heatmap), cv2.COLORMAP_VIRIDIS)  # colour-blind safe
            face = cv2.cvtColor(image.astype(np.uint8), cv2.COLOR_RGB2BGR)
            overlays[index] = base64_jpeg(cv2.addWeighted(face, 0.55, colours, 0.45, 0), 85)
        columns[GRADCAM_COLUMN] = overlays
    return columns


def video_file_facts(path):
    """What identifies a scored file, read once per file: ``sha256``, ``size_bytes`` and ``fps`` (the frame
    rate its container reports, for frame times; 0 when unknown). Empty for a file that is not there."""
    path = Path(path)
    if not path.is_file():
        return {"sha256": "", "size_bytes": 0, "fps": 0.0}
    capture = cv2.VideoCapture(str(path))
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS)) if capture.isOpened() else 0.0
    finally:
        capture.release()
    return {"sha256": file_sha256(path), "size_bytes": path.stat().st_size, "fps": fps if fps > 0 else 0.0}


class DetectorPool:
    """Several detectors behind the ``FaceDetector`` interface for threads that detect at once: each call
    borrows one that no other thread is using (a LiteRT interpreter, BlazeFace's, must not run in two
    threads at once; MTCNN's Keras networks are not promised to either)."""

    def __init__(self, detectors):
        self._free = queue.SimpleQueue()
        for detector in detectors:
            self._free.put(detector)

    def detect(self, frames_rgb):
        detector = self._free.get()
        try:
            return detector.detect(frames_rgb)
        finally:
            self._free.put(detector)


def faces_in_order(videos, detector, metadata, frames, workers=1, perturb=None):
    """``(name, faces_or_error)`` for each ``(name, path)`` of ``videos``, in their order.

    With ``workers`` > 1, that many threads decode and detect the next videos while the caller uses the
    current one (OpenCV, PyAV, TensorFlow and LiteRT run without the GIL); at most ``workers`` videos are
    under way or waiting, so memory does not grow with the number of videos. ``detector`` is called from
    that many threads at once (``DetectorPool``). Closing the iterator cancels the videos not started and
    waits for those under way."""
    if workers <= 1:
        for name, path in videos:
            yield name, faces_or_error(path, detector, metadata, frames, perturb)
        return
    videos = iter(videos)
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="faces") as pool:
        ahead = collections.deque()
        try:
            while True:
                for name, path in itertools.islice(videos, workers - len(ahead)):
                    ahead.append(
                        (name, pool.submit(faces_or_error, path, detector, metadata, frames, perturb))
                    )
                if not ahead:
                    return
                name, future = ahead.popleft()
                yield name, future.result()
        finally:
            for _, future in ahead:
                future.cancel()


class FaceScores:
    """The face scores (``FACE_COLUMNS``) of many videos, held as one small array per column and video
    until ``table()``: a DataFrame per video would cost about 7 KB (100,000 videos: 0.7 GB)."""

    def __init__(self):
        self.names, self.counts = [], []
        self.columns = {column: [] for column in FACE_COLUMNS[1:]}

    def add(self, name, faces):
        if not len(faces):
            return
        for column in faces.columns.difference(FACE_COLUMNS):  # the report's columns, when kept
            self.columns.setdefault(column, [np.full(count, "", dtype=object) for count in self.counts])
        self.names.append(name)
        self.counts.append(len(faces))
        for column, arrays in self.columns.items():
            arrays.append(
                faces[column].to_numpy() if column in faces else np.full(len(faces), "", dtype=object)
            )

    def table(self):
        if not self.names:
            return pd.DataFrame(columns=FACE_COLUMNS)
        videos = np.repeat(np.array(self.names, dtype=object), self.counts)
        return pd.DataFrame(
            {"video": videos, **{column: np.concatenate(arrays) for column, arrays in self.columns.items()}}
        )


def scoring_identity(model_path, metadata, config):
    """What a kept video result depends on: the model file's content (its SHA-256, so shards on machines that
    keep copies of one model at other paths share their results), its crop settings and the ``predict``
    section."""
    from common.core.model_file import resolve_model_path

    return {
        "model_sha256": file_sha256(resolve_model_path(model_path)),
        "preprocess": metadata["preprocess"],
        "video": metadata.get("video", {}),
        "predict": config["predict"],
    }


class ScoredVideos:
    """Stage 05's results kept as each video is scored, one JSON file per video in ``<output stem>_parts/``,
    so that a run killed after N videos resumes at video N+1, and shards (``--shard``) running at once
    share their results. The folder records the model file and the settings its results came from
    (``identity``); results made otherwise are dropped, never mixed in. It is removed once the predictions
    are written."""

    SETTINGS = "settings.json"
    JOINING = "joining"  # made by the one shard that writes the outputs (``claim_join``)

    def __init__(self, output, identity):
        output = Path(output)
        self.folder = output.with_name(f"{output.stem}_parts")
        self.identity = json.loads(json.dumps(identity))
        if self.folder.is_dir():
            stamp = self.folder / self.SETTINGS
            recorded = json.loads(stamp.read_text()) if stamp.is_file() else None
            if recorded != self.identity:
                log.warning("%s holds results of another model or other settings: scoring again", self.folder)
                shutil.rmtree(self.folder)
            else:
                sweep_temporaries(self.folder)
                log.info("resuming: %d videos already scored in %s", len(self._files()), self.folder)
        if not self.folder.is_dir():
            self._create()

    def _create(self):
        """Make the folder with its settings in one rename, so a shard starting at the same moment never
        sees it without them (and drops it as another run's); when two race, the first rename wins."""
        building = self.folder.with_name(f".{self.folder.name}.{uuid.uuid4().hex}")
        building.mkdir(parents=True)
        try:
            (building / self.SETTINGS).write_text(json.dumps(self.identity, indent=2))
            os.rename(building, self.folder)
        except OSError:
            if not (self.folder / self.SETTINGS).is_file():
                raise
        finally:
            shutil.rmtree(building, ignore_errors=True)

    def _files(self):
        return [path for path in self.folder.glob("[!.]*.json") if path.name != self.SETTINGS]  # no temporary

    def _path(self, name):
        return self.folder / f"{hashlib.sha1(name.encode()).hexdigest()}.json"

    def get(self, name):
        """The ``(row, faces)`` kept for video ``name``, or None."""
        path = self._path(name)
        if not path.is_file():
            return None
        kept = json.loads(path.read_text())
        faces = pd.DataFrame(kept["faces"])
        return kept["row"], faces.reindex(columns=FACE_COLUMNS + list(faces.columns.difference(FACE_COLUMNS)))

    def keep(self, name, row, faces):
        kept = {"row": row, "faces": faces.to_dict("list")}  # FACE_COLUMNS, and the report's when kept
        atomic_write_text(self._path(name), json.dumps(kept, default=lambda value: value.item()))

    def missing(self, names):
        """The names among ``names`` with no kept result."""
        return [name for name in names if not self._path(name).is_file()]

    def claim_join(self):
        """True for the first caller only: of shards that finish at once, one writes the outputs."""
        try:
            os.close(os.open(self.folder / self.JOINING, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        return True

    def remove(self):
        shutil.rmtree(self.folder, ignore_errors=True)


def predict_videos(
    videos, model, detector, metadata, settings, labels=None, methods=None, scored=None, workers=1
):
    """Score ``[(name, path)]`` with one model and one detector; a video that fails gets an error row and
    the batch goes on. Returns the predictions (``PREDICTION_COLUMNS`` plus ``seconds``, the time from the
    previous video's result to this one's, and a ``label`` column when ``labels`` are given: see
    ``add_labels``, and a ``method`` column with ``methods``) and the face scores of every video
    (``FACE_COLUMNS``), in the order of ``videos`` whatever ``workers`` (``faces_in_order``) is. With
    ``scored`` (``ScoredVideos``) each result is kept as it comes, and videos kept by an earlier run are not
    scored again."""
    missing = set(scored.missing(name for name, _ in videos)) if scored else None
    paths = dict(videos)
    fresh = [missing is None or name in missing for name, _ in videos]
    found = faces_in_order(
        [video for video, new in zip(videos, fresh) if new],
        detector,
        metadata,
        settings["frames"],
        workers,
        settings.get(PERTURB),
    )
    rows, faces = [], FaceScores()
    with contextlib.closing(found), tqdm(total=len(videos), desc="scoring videos", unit="video") as bar:
        started = time.perf_counter()
        for (name, _), new in zip(videos, fresh):
            if not new:
                row, video_faces_scored = scored.get(name)
            else:
                row, video_faces_scored = score_next(found, model, metadata, settings)
                row.update(video_file_facts(paths[name]))  # just read: its blocks are in the page cache
                row["seconds"] = round(time.perf_counter() - started, 3)
                if row["error"]:
                    log.warning("%s: %s", name, row["error"])
                if scored and video_faces_scored is not None:
                    scored.keep(name, row, video_faces_scored)
                started = time.perf_counter()
            rows.append(row)
            if video_faces_scored is not None:
                faces.add(name, video_faces_scored)
            bar.update()
            bar.set_postfix_str(f"{name}: {row['verdict']}", refresh=False)
    return predictions_table(rows, labels, methods), faces.table()


def score_next(found, model, metadata, settings):
    """``score_faces`` for the next video of ``faces_in_order``. An unexpected failure gives an error row
    and no face scores, so the video is not kept and a re-run tries it again."""
    name, faces_found = next(found)
    try:
        return score_faces(name, faces_found, model, metadata, settings)
    except Exception as error:  # one bad video must not end the batch
        log.debug("%s failed", name, exc_info=error)
        return unknown_row(name, f"unexpected {type(error).__name__}: {error}"), None


def predictions_table(rows, labels=None, methods=None):
    """The predictions DataFrame of ``predict_videos`` from its rows."""
    predictions = pd.DataFrame(rows, columns=PREDICTION_COLUMNS + RUN_COLUMNS)
    if labels is not None:
        predictions = add_labels(predictions, labels)
    if methods:
        predictions = predictions.assign(method=predictions["video"].map(methods).fillna(""))
    return predictions


def join_shards(videos, scored, shard, labels=None, methods=None):
    """After ``shard`` has scored its videos: the predictions and face scores of every video of ``videos``
    when all are kept in ``scored`` and no other shard is writing them (``ScoredVideos.claim_join``), in the
    order and form an unsharded run gives; else None, and a log line says who writes the outputs."""
    missing = scored.missing(name for name, _ in videos)
    if missing:
        log.info(
            "shard %s is done; %d of the %d videos are not scored yet (other shards'): the last shard to "
            "finish, or a run without --shard, writes the outputs",
            shard,
            len(missing),
            len(videos),
        )
        return None
    if not scored.claim_join():
        log.info(
            "every video is scored and another shard is writing the outputs (if it was stopped, run again "
            "without --shard)"
        )
        return None
    log.info("every one of the %d videos is scored: shard %s writes the outputs", len(videos), shard)
    rows, faces = [], FaceScores()
    for name, _ in videos:
        row, video_faces_scored = scored.get(name)
        rows.append(row)
        faces.add(name, video_faces_scored)
    return predictions_table(rows, labels, methods), faces.table()


def score_shard(videos, shard, model, detector, metadata, settings, labels, methods, scored, workers):
    """``predict_videos`` over ``shard``'s videos of ``videos``. Returns ``(predictions, faces, complete)``:
    with ``complete`` those of every video, ready to write (one machine, or the last shard to finish); else
    only this shard's, the outputs being left to another shard (``join_shards``)."""
    mine = shard.select(videos)
    predictions, faces = predict_videos(
        mine, model, detector, metadata, settings, labels, methods, scored, workers=workers
    )
    if shard == WHOLE:
        return predictions, faces, True
    joined = join_shards(videos, scored, shard, labels, methods)
    return (*joined, True) if joined else (predictions, faces, False)


def beside(output, kind):
    """``<stem>_<kind>.csv`` next to the predictions CSV ``output``."""
    output = Path(output)
    return output.with_name(f"{output.stem}_{kind}.csv")


def write_predictions(predictions, faces, path, settings):
    """Write the predictions CSV (``PREDICTION_COLUMNS``, then ``label`` and ``method`` when present) and,
    next to it, the P(fake) of every scored frame (``_frames.csv``) and face track (``_tracks.csv``, with
    the verdict of ``settings["aggregate"]`` and whether it decides its video), atomically."""
    columns = PREDICTION_COLUMNS + [column for column in (LABEL_COLUMN, "method") if column in predictions]
    atomic_write_csv(path, predictions[columns])
    frames = frame_scores(faces) if len(faces) else pd.DataFrame(columns=FRAME_COLUMNS)
    atomic_write_csv(beside(path, "frames"), frames[FRAME_COLUMNS])
    kwargs = scoring(settings)
    tracks = (
        track_scores(faces, kwargs["rule"], kwargs["threshold"], kwargs["min_share"]) if len(faces) else None
    )
    atomic_write_csv(
        beside(path, "tracks"), tracks if tracks is not None else pd.DataFrame(columns=TRACK_COLUMNS)
    )


def exit_code(predictions):
    """Stage 05's exit code: 1 when a video could not be read at all (an error and not one frame sampled:
    an empty, corrupt or non-video file) or when no video got a verdict, else 0. A readable video in which
    no face was found is UNKNOWN, not a failure."""
    unreadable = (predictions["error"] != "") & (predictions["frames_sampled"] == 0)
    every_unknown = (predictions["verdict"] == UNKNOWN_VERDICT).all()
    return 1 if len(predictions) and (unreadable.any() or every_unknown) else 0


def add_labels(predictions, labels):
    """Add the ``label`` column (FAKE, REAL, or empty when unknown): a video matches a key of ``labels`` by
    its name or by its file name."""
    names = []
    for video in predictions["video"]:
        label = labels.get(video, labels.get(Path(video).name))
        names.append(VERDICT_OF_LABEL.get(label, ""))
    unlabelled = [video for video, name in zip(predictions["video"], names) if not name]
    if unlabelled:
        log.warning(
            "%d videos have no label: %s%s",
            len(unlabelled),
            ", ".join(unlabelled[:5]),
            " ..." if len(unlabelled) > 5 else "",
        )
    return predictions.assign(**{LABEL_COLUMN: names})
