"""Stage 04: train a backbone on stage 03's split, keep the best model, evaluate it on the test split."""

import datetime
import logging
import math
import os
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from common import evaluation
from common.checkpoint import EXPLAIN_DIR, HISTORY, MODEL_FILE, RUN_CONFIG, save_model
from common.config import save_config
from common.data import find_unreadable_images, make_dataset
from common.errors import UserError
from common.files import atomic_path, atomic_write_csv
from common.manifest import FAKE, REAL, SPLIT, SPLIT_COLUMNS, read_manifest, read_pipeline
from common.metrics import plot_history
from common.models import (
    build_model,
    check_image_size,
    freezes_batchnorm,
    resolve_weights,
    set_backbone_trainable,
)
from common.report import write_report

log = logging.getLogger(__name__)


def setup_devices(mixed_precision):
    """Pick the distribution strategy and precision policy: mixed_float16 and MirroredStrategy only with
    GPUs (mixed precision is many times slower on a CPU). Returns ``(strategy, description)``."""
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    use_mixed = mixed_precision == "on" or (mixed_precision == "auto" and bool(gpus))
    keras.mixed_precision.set_global_policy("mixed_float16" if use_mixed else "float32")
    strategy = tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    description = f"{len(gpus)} GPU(s)" if gpus else "CPU"
    return (
        strategy,
        f"{description}, {'mixed_float16' if use_mixed else 'float32'}, {strategy.num_replicas_in_sync} replica(s)",
    )


def new_run_dir(runs_dir, model_name, image_size):
    """``runs_dir/<date-time>-<model>-<size>/``, never an existing folder."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(runs_dir) / f"{stamp}-{model_name}-{image_size}"
    run_dir, number = base, 1
    while run_dir.exists():
        number += 1
        run_dir = base.with_name(f"{base.name}-{number}")
    run_dir.mkdir(parents=True)
    return run_dir


def point_latest(runs_dir, run_dir):
    """Make ``runs_dir/latest`` a link to the newest run (replaced atomically)."""
    link = Path(runs_dir) / "latest"
    temporary = link.with_name(f".latest.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(run_dir.name, target_is_directory=True)
    os.replace(temporary, link)


def load_split(dataset_dir):
    """The rows of ``split.csv`` whose image is readable; unreadable ones are logged and returned apart."""
    dataset_dir = Path(dataset_dir)
    split = read_manifest(dataset_dir, "split", SPLIT_COLUMNS, file_name=SPLIT)
    split["file"] = [dataset_dir / path for path in split["path"]]
    bad = set(find_unreadable_images(list(split["file"])))
    for path in sorted(bad):
        log.warning("unreadable image left out: %s", path)
    unreadable = split[split["file"].isin(bad)]
    split = split[~split["file"].isin(bad)]
    for name in ("train", "val", "test"):
        part = split[split["split"] == name]
        if part.empty:
            raise UserError(f"the {name} split of {dataset_dir} is empty: re-run stage 03 with more videos")
    if split.loc[split["split"] == "train", "label"].nunique() < 2:
        raise UserError(f"the train split of {dataset_dir} has only one class; it needs real and fake faces")
    return split, unreadable


def class_weights(labels):
    """Weights that make both classes count equally; ``None`` when they are already balanced."""
    counts = np.bincount(np.asarray(labels, int), minlength=2)
    if counts[REAL] == counts[FAKE]:
        return None
    return {label: len(labels) / (2.0 * counts[label]) for label in (REAL, FAKE)}


class EpochTimer(keras.callbacks.Callback):
    """Adds ``seconds`` and ``images_per_second`` (training) to each epoch's logs and so to history.csv."""

    def __init__(self, images):
        super().__init__()
        self.images = images

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.started
        if logs is not None:
            logs["seconds"] = seconds
            logs["images_per_second"] = self.images / seconds


class BestOfRun(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the lowest ``val_loss`` over the whole run, every phase included
    (Keras' own ModelCheckpoint and EarlyStopping start afresh in each ``fit``), in memory and on disk."""

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)
        self.phase = None
        self.weights = None
        self.best = {"monitor": "val_loss", "value": math.inf, "epoch": None, "phase": None}

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get("val_loss")
        if value is not None and value < self.best["value"]:  # NaN never is
            self.best.update(value=float(value), epoch=epoch, phase=self.phase)
            self.weights = self.model.get_weights()
            with atomic_path(self.path) as temporary:
                self.model.save_weights(temporary)

    def restore(self):
        """Set the best weights in the model; ``UserError`` when no epoch had a finite val_loss."""
        if self.weights is None:
            raise UserError("no epoch had a finite val_loss: training diverged (try a lower learning rate)")
        self.model.set_weights(self.weights)
        self.path.unlink()
        return dict(self.best)


def fit_phases(model, train_data, val_data, settings, run_dir, weights, images):
    """The head phase (frozen backbone) if asked, then fine-tuning of every layer; history.csv gets both.

    Each phase stops early on val_loss and hands its best weights to the next; at the end the model holds
    the best epoch of the whole run. Returns that epoch: ``{"monitor", "value", "epoch", "phase"}``.
    """
    phases = []
    if settings["head_epochs"]:
        phases.append(("head", False, settings["head_epochs"], settings["learning_rate"]))
    if settings["epochs"]:
        learning_rate = settings["finetune_learning_rate"] if phases else settings["learning_rate"]
        phases.append(("finetune", True, settings["epochs"], learning_rate))
    best = BestOfRun(run_dir / "best.weights.h5")
    epoch = 0
    for name, trainable, epochs, learning_rate in phases:
        log.info(
            "phase %s: %d epochs at learning rate %g, backbone %s",
            name,
            epochs,
            learning_rate,
            "trainable" if trainable else "frozen",
        )
        best.phase = name
        set_backbone_trainable(
            model, trainable, freezes_batchnorm(settings["batchnorm"], settings["weights"])
        )
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss="binary_crossentropy",
            metrics=["accuracy", keras.metrics.AUC(name="auc")],
        )
        callbacks = [
            EpochTimer(images),
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=settings["patience"], restore_best_weights=True
            ),
            best,
            keras.callbacks.CSVLogger(run_dir / HISTORY, append=True),
            keras.callbacks.TensorBoard(run_dir / "tensorboard", write_graph=False),
        ]
        history = model.fit(
            train_data,
            validation_data=val_data,
            initial_epoch=epoch,
            epochs=epoch + epochs,
            class_weight=weights,
            callbacks=callbacks,
            shuffle=False,
            verbose=2,
        )
        epoch += len(history.epoch)
    selected = best.restore()
    log.info(
        "best epoch %d (%s phase): val_loss %.4f", selected["epoch"], selected["phase"], selected["value"]
    )
    return selected


LEARNED_NOTHING_AUC = 0.55  # validation frame AUC at or below which a model is said to have learned nothing
CONSTANT_SPREAD = 1e-3  # validation P(fake) within this range of each other: one constant output


def score_split(model, rows, image_size, batch_size, predict_settings):
    """Score a split's faces and evaluate them by the path stage 05 takes (``predict`` settings:
    aggregation rule and threshold). Returns ``(metrics, faces, frames, videos)``."""
    data = make_dataset(rows["file"], rows["label"], image_size, batch_size, training=False, cache=False)
    faces = rows.drop(columns="file").assign(
        video=rows["video_id"], p_fake=model.predict(data, verbose=0).reshape(-1)
    )
    metrics, frames, videos = evaluation.evaluate(
        faces, predict_settings["aggregate"], predict_settings["threshold"]
    )
    return metrics, faces, frames, videos


def learned_nothing(faces, frame_metrics):
    """Why the validation scores show a model that learned nothing, or ``None`` when they do not."""
    spread = float(faces["p_fake"].max() - faces["p_fake"].min())
    if spread < CONSTANT_SPREAD:
        return f"it gives every validation face the same P(fake), {faces['p_fake'].mean():.3f}"
    if frame_metrics["auc"] is not None and frame_metrics["auc"] <= LEARNED_NOTHING_AUC:
        return f"its validation frame AUC is {frame_metrics['auc']:.3f} (<= {LEARNED_NOTHING_AUC})"
    return None


def evaluate_run(model, split, image_size, batch_size, predict_settings, selected, run_dir):
    """Score the validation split (to check that the model learned something) and the test split; write
    metrics.json, the test split's per-face, per-frame and per-video scores, and the plots."""
    validation, val_faces, *_ = score_split(
        model, split[split["split"] == "val"], image_size, batch_size, predict_settings
    )
    reason = learned_nothing(val_faces, validation["frame_level"])
    if reason:
        log.warning(
            "the model learned nothing: %s; its test metrics mean nothing (more epochs, another "
            "learning rate, or more data?)",
            reason,
        )
    metrics, faces, frames, videos = score_split(
        model, split[split["split"] == "test"], image_size, batch_size, predict_settings
    )
    metrics = {
        "data": "test split of split.csv (never used for training or model selection)",
        **metrics,
        "learned_nothing": reason,
        "model_selection": {**selected, "data": "val split (lowest val_loss over every epoch)"},
        "validation": validation,
    }
    for name, table in (("faces", faces), ("frames", frames), ("videos", videos)):
        atomic_write_csv(run_dir / f"test_{name}.csv", table)
    evaluation.save_evaluation(metrics, frames, videos, f"{run_dir}/", "Test split")
    return metrics


def train(dataset_dir, runs_dir, config):
    """Train, keep the best model (by val_loss) in a new run directory, evaluate it on the test split.
    Returns ``(run_dir, metrics)``."""
    settings = config["train"]
    try:  # a wrong model name, size or weights path fails before any work
        check_image_size(settings["model"], settings["image_size"])
        resolve_weights(settings["weights"])
    except (ValueError, FileNotFoundError) as error:
        raise UserError(str(error)) from None
    split, unreadable = load_split(dataset_dir)
    strategy, devices = setup_devices(settings["mixed_precision"])
    run_dir = new_run_dir(runs_dir, settings["model"], settings["image_size"])
    log.info("run directory %s (%s)", run_dir, devices)
    pipeline = read_pipeline(dataset_dir)
    if "preprocess" not in pipeline:
        log.warning(
            "%s does not record how faces were cropped; assuming this config's preprocess", dataset_dir
        )
    resolved = {
        **config,
        "preprocess": pipeline.get("preprocess", config["preprocess"]),
        "video": pipeline.get("video", config["video"]),
    }
    save_config({**resolved, "dataset_dir": str(Path(dataset_dir).resolve())}, run_dir / RUN_CONFIG)
    if len(unreadable):
        atomic_write_csv(run_dir / "unreadable_images.csv", unreadable.drop(columns="file"))

    train_rows, val_rows = split[split["split"] == "train"], split[split["split"] == "val"]
    batch_size = settings["batch_size"] * strategy.num_replicas_in_sync
    make = lambda rows, training: make_dataset(
        rows["file"],
        rows["label"],
        settings["image_size"],
        batch_size,
        training,
        settings["augment"],
        settings["cache"],
        config["seed"],
    )
    with strategy.scope():
        model = build_model(
            settings["model"],
            settings["image_size"],
            settings["weights"],
            batchnorm=settings["batchnorm"],
            scratch_batchnorm_momentum=settings["scratch_batchnorm_momentum"],
        )
    selected = fit_phases(
        model,
        make(train_rows, True),
        make(val_rows, False),
        settings,
        run_dir,
        class_weights(train_rows["label"]),
        len(train_rows),
    )

    metadata = {
        "model": settings["model"],
        "image_size": settings["image_size"],
        "preprocess": resolved["preprocess"],
        "video": resolved["video"],
        "seed": config["seed"],
        "trained_on": str(Path(dataset_dir).resolve()),
        "selected": selected,
        "created": datetime.datetime.now().isoformat(),
    }
    save_model(model, run_dir / MODEL_FILE, metadata)
    plot_history(run_dir / HISTORY, run_dir / "training_curves.png")
    metrics = evaluate_run(
        model, split, settings["image_size"], batch_size, config["predict"], selected, run_dir
    )
    if settings["explain"]:
        from common.explain import explain_run

        explain_run(run_dir, run_dir / EXPLAIN_DIR, seed=config["seed"])
    write_report(run_dir)
    point_latest(runs_dir, run_dir)
    return run_dir, metrics
