"""Video models (``<backbone>_lstm``): an LSTM over windows of consecutive crops of one face track.

A window is ``window`` consecutive sampled crops of ONE face track of one video in one split, in frame
order. ``window_table`` cuts them from ``split.csv``'s rows (a pure function, so stage 03 needs no change:
``split.csv`` is split by video, so no window can span two splits) and from the crops stage 05 finds.
Windows follow each other with ``stride`` (default: the window, so they do not overlap); a track whose
length is no multiple of the stride ends with one more window, its last ``window`` crops, so every crop is
in a window; a track shorter than the window is padded by repeating its last crop.

A face's P(fake) is the mean of the windows that hold it (one window, or two at a track's end); from
there frames, tracks and videos are scored by ``common.evaluation.aggregate`` as for image models, so stage 04's
test figures and stage 05 agree. The network: the backbone's pixel rescaling, the backbone applied to
each crop with shared weights (``TimeDistributed``), an LSTM over the window, dropout and a sigmoid
P(fake). Nothing here imports TensorFlow at import time (``common.core.config`` lists the names).
"""

import logging

import numpy as np
import pandas as pd

from common.models.backbones import BACKBONES, keras_model_name
from common.models.methods import METHODS, ImageMethod, inference_function, model_options, split_dataset

log = logging.getLogger(__name__)

SUFFIX = "_lstm"
LSTM_UNITS = 64
DROPOUT = 0.5
GROUP = ["split", "video_id", "track_id"]  # a window never leaves one of these


def video_model_names():
    """``<backbone>_lstm`` for every registered backbone."""
    return [f"{name}{SUFFIX}" for name in BACKBONES.names()]


def is_video_model(name):
    return name in video_model_names()


def frame_model(name):
    """The backbone a model name scores each crop with: itself for an image model."""
    return name[: -len(SUFFIX)] if is_video_model(name) else name


def model_window(model):
    """The window length of a built video model (its input is (batch, window, size, size, 3)); None for an
    image model."""
    shape = model.input_shape
    return shape[1] if len(shape) == 5 else None


def track_starts(length, window, stride):
    """First positions of the windows over a track of ``length`` crops (see the module docstring)."""
    if length <= window:
        return [0]
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] + window < length:
        starts.append(length - window)
    return starts


def window_table(rows, window, stride=None):
    """The windows over ``rows`` (columns ``split``, ``video_id``, ``track_id``, ``frame_index``,
    ``label``), one row each: ``split``, ``video_id``, ``track_id``, ``label``, ``frame_index`` (of its
    first crop), ``padded`` (repeated crops) and ``positions``: a tuple of ``window`` positions (0-based,
    in the order of ``rows``), in frame order."""
    stride = window if stride is None else stride
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got {window} and {stride}")
    frame_index = rows["frame_index"].to_numpy()
    records = []
    ordered = rows.reset_index(drop=True).assign(_position=np.arange(len(rows)))
    for (split, video, track), part in ordered.groupby(GROUP, sort=True):
        positions = part.sort_values("frame_index", kind="stable")["_position"].to_numpy()
        labels = part["label"].unique()
        if len(labels) != 1:
            raise ValueError(f"track {track} of video {video} has faces of both labels")
        for start in track_starts(len(positions), window, stride):
            chosen = list(positions[start : start + window])
            padded = window - len(chosen)
            chosen += chosen[-1:] * padded
            records.append(
                {
                    "split": split,
                    "video_id": video,
                    "track_id": track,
                    "label": labels[0],
                    "frame_index": frame_index[chosen[0]],
                    "padded": padded,
                    "positions": tuple(int(position) for position in chosen),
                }
            )
    columns = ["split", "video_id", "track_id", "label", "frame_index", "padded", "positions"]
    return pd.DataFrame(records, columns=columns)


def window_positions(windows, window):
    """The ``positions`` of ``windows`` as an int array (windows, window)."""
    return np.asarray(list(windows["positions"]), np.int64).reshape(len(windows), window)


def face_scores(rows, positions, scores):
    """Each of ``rows`` crops' P(fake): the mean of the scored windows (``positions``, ``scores``) that
    hold it, a padded window counting once; NaN for a crop in none."""
    total, count = np.zeros(rows), np.zeros(rows)
    for held, score in zip(positions, scores):
        unique = np.unique(held)
        total[unique] += score
        count[unique] += 1
    with np.errstate(invalid="ignore"):
        return total / count


class WindowReadLog:
    """A ``common.data.pipeline.ReadLog`` over windows that answers for crops: a crop is unread when no window that
    holds it was read (a window with an unreadable crop is left out whole, its other crops with it)."""

    def __init__(self, rows, positions):
        from common.data.pipeline import ReadLog

        self.rows, self.positions = rows, positions
        self.windows = ReadLog(len(positions))

    def mark(self, frames, position):
        return self.windows.mark(frames, position)

    def unread_windows(self):
        return self.windows.unread()

    def unread(self):
        read = np.zeros(self.rows, bool)
        read[self.positions[~self.unread_windows()].reshape(-1)] = True
        return ~read


def window_files(files, windows, window):
    """The (windows, window) image paths of ``windows``, for ``common.data.pipeline.make_dataset`` (which makes a
    window of crops one item, transformed alike by augmentation); ``files``: the image path of each row
    that ``windows`` refers to."""
    return np.asarray([str(path) for path in files], dtype=object)[window_positions(windows, window)]


def training_inputs(parts, settings, batch_size, cache, cache_dir, seed):
    """What stage 04 trains a video model on, from ``{"train": rows, "val": rows}`` of ``split.csv``:
    ``(parts, make, labels, images)``: ``{name: (rows, WindowReadLog)}`` for ``note_unreadable``,
    ``make(name)`` the dataset, the training windows' labels (class weights) and crops per epoch.
    ``batch_size`` counts windows."""
    window = settings["video"]["window"]
    built = {}
    for name, rows in parts.items():
        windows = window_table(rows, window)
        built[name] = (rows, windows, WindowReadLog(len(rows), window_positions(windows, window)))
        log.info(
            "%s split: %d windows of %d crops over %d face tracks (%d padded)",
            name,
            len(windows),
            window,
            len(windows.groupby(GROUP)),
            int((windows["padded"] > 0).sum()),
        )

    def make(name):
        rows, windows, read_log = built[name]
        files = window_files(rows["file"], windows, window)
        return split_dataset(
            name, files, windows["label"], settings, batch_size, cache, cache_dir, seed, read_log
        )

    train_windows = built["train"][1]
    return (
        {name: (rows, read_log) for name, (rows, _, read_log) in built.items()},
        make,
        train_windows["label"].to_numpy(),
        len(train_windows) * window,
    )


def build_video_model(name, image_size, window, weights, **options):
    """An uncompiled video model taking raw 0..255 RGB windows (batch, window, size, size, 3) to P(fake).

    The per-crop part is ``common.models.classifier.build_model``'s up to the backbone's features (its rescaling,
    BatchNorm settings and weights; ``options``: its ``batchnorm`` and ``scratch_batchnorm_momentum``),
    wrapped in ``TimeDistributed`` under the name ``common.models.classifier`` gives the backbone, so fine-tuning
    freezes and unfreezes it as for an image model."""
    import keras

    from common.models.classifier import (
        BACKBONE_LAYER_NAME,
        OUTPUT_LAYER_NAME,
        PREPROCESS_LAYER_NAME,
        build_model,
    )

    backbone = frame_model(name)
    image_model = build_model(backbone, image_size, weights, **options)
    image = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = image
    for layer in image_model.layers:  # the rescaling (if the backbone has one), then the backbone
        if layer.name in (PREPROCESS_LAYER_NAME, BACKBONE_LAYER_NAME):
            x = layer(x)
    features = keras.Model(image, x, name=f"{backbone}_features")
    inputs = keras.Input(shape=(window, image_size, image_size, 3), name="window")
    x = keras.layers.TimeDistributed(features, name=BACKBONE_LAYER_NAME)(inputs)
    x = keras.layers.LSTM(LSTM_UNITS, name="lstm")(x)
    x = keras.layers.Dropout(DROPOUT, name="head_dropout")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name=OUTPUT_LAYER_NAME)(x)
    model = keras.Model(inputs, outputs, name=keras_model_name(name))
    log.info(
        "built %s: window %d at %dx%d (%d parameters)",
        name,
        window,
        image_size,
        image_size,
        model.count_params(),
    )
    return model


def video_model(window):
    """``build_video_model`` for ``window`` crops, called as ``common.models.classifier.build_model`` is."""

    def build(name, image_size, weights, **options):
        return build_video_model(name, image_size, window, weights, **options)

    return build


def score_rows(model, rows, image_size, batch_size):
    """Stage 04's evaluation of a video model, ``batch_size`` windows at a time: ``(read_log, p_fake)``: the
    ``WindowReadLog`` (``unread()`` over ``rows``) and the P(fake) of each read crop, in the order of
    ``rows``."""
    import tensorflow as tf

    from common.data.pipeline import make_dataset

    window = model_window(model)
    windows = window_table(rows, window)
    positions = window_positions(windows, window)
    read_log = WindowReadLog(len(rows), positions)
    data = make_dataset(
        window_files(rows["file"], windows, window),
        windows["label"],
        image_size,
        batch_size,
        False,
        cache="none",
        read_log=read_log,
    )
    score = tf.function(lambda frames: model(frames, training=False), reduce_retracing=True)
    scores = [np.asarray(score(frames), float).reshape(-1) for frames, _ in data]
    read = ~read_log.unread_windows()
    p_fake = face_scores(len(rows), positions[read], np.concatenate(scores) if scores else np.zeros(0))
    return read_log, p_fake[~read_log.unread()]


def score_track_windows(
    score_batch, crops, track_ids, frame_indices, window, image_size, jpeg_quality, batch_size
):
    """Stage 05's P(fake) of each face crop of one video (BGR ``crops`` with their ``track_ids`` and
    ``frame_indices``): the mean of its track's windows that hold it. ``score_batch`` maps a float32 batch
    of windows to P(fake); ``batch_size`` counts crops."""
    from common.data.pipeline import prepare_crops

    faces = pd.DataFrame(
        {"split": "", "video_id": "", "track_id": track_ids, "frame_index": frame_indices, "label": 0}
    )
    windows = window_table(faces, window)
    positions = window_positions(windows, window)
    padded = int((windows["padded"] > 0).sum())
    if padded:
        log.info("%d of %d windows padded by repeating a track's last crop", padded, len(windows))
    images = prepare_crops(crops, image_size, jpeg_quality)
    step = max(1, batch_size // window)
    scores = [
        np.asarray(score_batch(images[positions[start : start + step]]), float).reshape(-1)
        for start in range(0, len(positions), step)
    ]
    return face_scores(len(crops), positions, np.concatenate(scores))


class VideoMethod(ImageMethod):
    """``<backbone>_lstm``: the backbone over each crop of a window of ``train.video.window`` consecutive crops of
    one face track, an LSTM over the window; trains on windows, and a face scores the mean P(fake) of its
    track's windows that hold it. No Grad-CAM (its backbone sees windows)."""

    trains_on = "windows"
    gradcam = False

    def names(self):
        return tuple(video_model_names())

    def backbone(self, name):
        return frame_model(name)

    def build(self, settings):
        return build_video_model(
            settings["model"],
            settings["image_size"],
            settings["video"]["window"],
            settings["weights"],
            **model_options(settings),
        )

    def training_inputs(self, parts, settings, batch_size, cache, cache_dir, seed, generate=None):
        """``training_inputs`` of this module; ``batch_size`` counts windows (online pseudo-fakes do not
        apply: the windows read stage 03's crops)."""
        return training_inputs(parts, settings, batch_size, cache, cache_dir, seed)

    def score_rows(self, model, rows, image_size, batch_size, distribute=lambda data: data):
        return score_rows(model, rows, image_size, batch_size)

    def score_faces(self, model, crops, track_ids, frame_indices, metadata, batch_size):
        return score_track_windows(
            inference_function(model),
            crops,
            track_ids,
            frame_indices,
            metadata["window"],
            metadata["image_size"],
            metadata["preprocess"]["jpeg_quality"],
            batch_size,
        )

    def metadata(self, settings):
        """The window length (stage 05 reads it)."""
        return {"window": settings["video"]["window"]}


METHODS.register("video", VideoMethod())
