"""Stage 04: train a backbone on stage 03's split, keep the best model, evaluate it on the test split."""

import datetime
import json
import logging
import math
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from common.core.config import config_from, save_config
from common.core.errors import UserError
from common.core.files import atomic_path, atomic_write_csv, atomic_write_text
from common.core.manifest import FAKE, REAL, SPLIT, SPLIT_COLUMNS, SPLITS, read_manifest, read_pipeline
from common.core.model_file import EXPLAIN_DIR, HISTORY, MODEL_FILE, RUN_CONFIG, read_run_config, save_model
from common.data.pipeline import choose_cache
from common.data.split import TEST_VIDEOS
from common.evaluation import evaluate as evaluation
from common.evaluation.metrics import plot_history
from common.evaluation.run_report import write_report
from common.models.classifier import (
    freezes_batchnorm,
    set_backbone_trainable,
)
from common.models.methods import method_for
from common.training.metric_learning import check_settings as check_metric_learning
from common.training.metric_learning import metadata as metric_metadata
from common.training.metric_learning import prepare_fit
from common.training.pseudo_fakes import PSEUDO_FAKES

log = logging.getLogger(__name__)


def worker_role():
    """``(index, count)`` of this process among the machines that TF_CONFIG names for training: index 0 is
    the chief (TF_CONFIG's ``chief`` task, or else worker 0), which writes the run directory. ``(0, 1)``
    without TF_CONFIG."""
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    jobs = resolver.cluster_spec().as_dict()
    chiefs = len(jobs.get("chief", ()))
    count = chiefs + len(jobs.get("worker", ()))
    if count < 2:
        return 0, 1
    return resolver.task_id + (0 if resolver.task_type == "chief" else chiefs), count


class MultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """MultiWorkerMirroredStrategy with the reductions that Keras 3 asks of it (keras-team/keras#20585):
    ``fit`` hands ``reduce`` a whole (images, labels) batch, and each step's scalar metrics with ``axis=0``,
    where the parent takes one tensor and a scalar has no axis 0. Each tensor is reduced on its own, and a
    scalar across the replicas."""

    def reduce(self, reduce_op, value, axis):
        reduce_one = super().reduce

        def one(tensor):
            scalar = self.experimental_local_results(tensor)[0].shape.rank == 0
            return reduce_one(reduce_op, tensor, None if scalar else axis)

        return tf.nest.map_structure(one, value)


def setup_devices(mixed_precision):
    """Pick the distribution strategy and precision policy: mixed_float16 only with GPUs (mixed precision
    is many times slower on a CPU); MultiWorkerMirroredStrategy when TF_CONFIG names several machines (it
    must be made before TensorFlow runs its first op), MirroredStrategy with several GPUs on one.
    Returns ``(strategy, description)``."""
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    use_mixed = mixed_precision == "on" or (mixed_precision == "auto" and bool(gpus))
    keras.mixed_precision.set_global_policy("mixed_float16" if use_mixed else "float32")
    worker, workers = worker_role()
    if workers > 1:
        implementation = tf.distribute.experimental.CommunicationImplementation
        strategy = MultiWorkerStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(
                implementation=implementation.NCCL if gpus else implementation.RING
            )
        )
    else:
        strategy = tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    description = f"{len(gpus)} GPU(s)" if gpus else "CPU"
    if workers > 1:
        description += f" on worker {worker} of {workers}"
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


NAME_BYTES = 255  # the longest file name most file systems allow


def from_chief(strategy, text):
    """``text`` as the chief has it, on every worker: its UTF-8 bytes summed over the replicas, the chief's
    first replica giving them and every other one zeros. ``text`` itself on one machine."""
    if worker_role()[1] == 1:
        return text
    encoded = np.zeros(NAME_BYTES, np.int32)
    encoded[: len(text.encode("utf-8"))] = np.frombuffer(text.encode("utf-8"), np.uint8)
    values = strategy.experimental_distribute_values_from_function(
        lambda context: tf.constant(encoded if context.replica_id_in_sync_group == 0 else 0 * encoded)
    )
    total = strategy.reduce("SUM", values, axis=None).numpy()
    return bytes(total.astype(np.uint8)).rstrip(b"\0").decode("utf-8")


def resumed_run(run_dir):
    """``(dataset_dir, runs_dir, config)`` of the interrupted run in ``run_dir``, from its own config.yaml:
    ``--resume`` trains with the settings the run started with. ``UserError`` for a folder that is no run
    of this stage, or a run that finished."""
    run_dir = Path(run_dir)
    saved = read_run_config(run_dir)
    if "dataset_dir" not in saved:
        raise UserError(f"{run_dir} is not a run directory of 04-train-cnn.py (no {RUN_CONFIG} in it)")
    if (run_dir / MODEL_FILE).is_file():
        raise UserError(f"{run_dir} finished training (it holds {MODEL_FILE}): nothing to resume")
    if worker_role()[1] > 1:
        raise UserError("--resume runs on one machine; unset TF_CONFIG")
    dataset_dir = saved.pop("dataset_dir")
    return dataset_dir, run_dir.parent, config_from(saved)


def open_run_dir(strategy, runs_dir, model_name, image_size):
    """``(run_name, output_dir, scratch)``: the run directory's name, the same on every worker, and where
    this worker writes. The chief creates the run directory and writes there (``scratch`` is None); every
    other worker runs the same steps (their collective ops need it) but writes to ``scratch``, a temporary
    folder removed by ``scratch.cleanup()`` (or when it is garbage collected), as the Keras multi-worker
    guide has non-chief workers save: RUNS_DIR only ever holds the chief's run directory."""
    worker, workers = worker_role()
    if worker == 0:
        run_dir = new_run_dir(runs_dir, model_name, image_size)
        return from_chief(strategy, run_dir.name), run_dir, None
    run_name = from_chief(strategy, "")
    scratch = tempfile.TemporaryDirectory(prefix=f"deepfake-worker{worker}-")
    log.info("worker %d of %d writes its copies to %s (removed at the end)", worker, workers, scratch.name)
    return run_name, Path(scratch.name), scratch


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


class EpochTimer(keras.callbacks.Callback):
    """Adds ``seconds`` and ``images_per_second`` (training) to each epoch's logs and so to history.csv;
    counts the training ``steps`` (which every worker of a multi-worker run takes alike)."""

    def __init__(self, images):
        super().__init__()
        self.images = images
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.started
        if logs is not None:
            logs["seconds"] = seconds
            logs["images_per_second"] = self.images / seconds


class AverageMovingStatistics(keras.callbacks.Callback):
    """Before each validation, sets every replica's BatchNormalization moving means and variances to their
    mean over all replicas (one collective op). Keras 3 makes them without aggregation, so each replica
    updates them from its own slice of the batch: without this the workers' models drift apart, and
    validation, the kept weights and the test scores would come from different models than the chief's
    model.keras. With one replica: nothing to do."""

    def __init__(self):
        super().__init__()
        self.average = None

    def on_test_begin(self, logs=None):
        strategy = self.model.distribute_strategy
        if strategy.num_replicas_in_sync == 1:
            return
        if self.average is None:
            statistics = [
                variable
                for variable in self.model.non_trainable_variables
                if variable.path.endswith(("moving_mean", "moving_variance"))
            ]

            def average_in_replica():
                means = tf.distribute.get_replica_context().all_reduce(
                    "MEAN", [tf.identity(variable.value) for variable in statistics]
                )
                for variable, mean in zip(statistics, means):
                    variable.assign(mean)

            self.average = (
                tf.function(lambda: strategy.run(average_in_replica)) if statistics else lambda: None
            )
        self.average()


RESUME_DIR = "resume"  # in the run directory while training: what --resume continues from
BEST_EPOCH = "best_epoch.json"  # beside best.weights.h5 while training: the epoch it holds


class ResumeState:
    """The phases of a run that have ended (``done``) and the epoch count after them, in ``folder/state.json``
    with the weights each phase ended with; within a phase, Keras' ``BackupAndRestore`` keeps the weights,
    optimizer state and epoch after every epoch (``folder/<phase>/``)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        path = self.folder / "state.json"
        state = json.loads(path.read_text()) if path.is_file() else {"done": [], "epoch": 0}
        self.done, self.epoch = state["done"], state["epoch"]

    def restore(self, model):
        """The weights the last ended phase left in ``model``; returns the epoch count to go on from."""
        if self.done:
            model.load_weights(self.folder / f"after-{self.done[-1]}.weights.h5")
            log.info("resuming after the %s phase (%d epochs)", self.done[-1], self.epoch)
        return self.epoch

    def finish(self, phase, epoch, model):
        with atomic_path(self.folder / f"after-{phase}.weights.h5") as temporary:
            model.save_weights(temporary)
        self.done, self.epoch = [*self.done, phase], epoch
        atomic_write_text(self.folder / "state.json", json.dumps({"done": self.done, "epoch": epoch}))


class ResumeLog(keras.callbacks.Callback):
    """After ``BackupAndRestore`` (placed before it) restored a phase: one line with the epoch and the
    optimizer step it goes on from."""

    def on_train_begin(self, logs=None):
        epoch = getattr(self.model, "_initial_epoch", None)  # set by BackupAndRestore (Keras 3.15)
        if epoch:
            step = int(self.model.optimizer.iterations.numpy())
            log.info("resumed at epoch %d with the optimizer state of step %d", epoch, step)


class BestOfRun(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the lowest ``val_loss`` over the whole run, every phase included
    (Keras' own ModelCheckpoint and EarlyStopping start afresh in each ``fit``), in memory and on disk."""

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)
        self.record = self.path.with_name(BEST_EPOCH)  # which epoch the weights file holds (for --resume)
        self.phase = None
        self.weights = None
        self.best = {"monitor": "val_loss", "value": math.inf, "epoch": None, "phase": None}
        if self.path.is_file() and self.record.is_file():  # a resumed run: the best epoch before it stopped
            self.best = json.loads(self.record.read_text())

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get("val_loss")
        if value is not None and value < self.best["value"]:  # NaN never is
            self.best.update(value=float(value), epoch=epoch, phase=self.phase)
            self.weights = self.model.get_weights()
            with atomic_path(self.path) as temporary:
                self.model.save_weights(temporary)
            atomic_write_text(self.record, json.dumps(self.best))

    def restore(self):
        """Set the best weights in the model; ``UserError`` when no epoch had a finite val_loss."""
        if self.weights is None and self.best["epoch"] is not None:  # found before a resume
            self.model.load_weights(self.path)
        elif self.weights is None:
            raise UserError("no epoch had a finite val_loss: training diverged (try a lower learning rate)")
        else:
            self.model.set_weights(self.weights)
        self.path.unlink()
        self.record.unlink(missing_ok=True)
        return dict(self.best)


def shard_by_data(dataset):
    """``dataset`` as the workers of a multi-worker run share it: DATA auto-sharding, every worker reads
    the whole dataset and keeps its replicas' slices of each global batch. FILE sharding has nothing to
    split here (the source is a list of paths, not files of records) and would give the workers unequal
    numbers of images, so unequal numbers of steps: a worker short of a batch leaves the others waiting in
    a collective op, and early stopping could stop one worker and not another. With DATA every worker
    takes the same steps over the same seeded order and augmentation, and skips an unreadable image as the
    others do; the cost is that each worker decodes every image. One machine: no effect."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def training_phases(settings):
    """The phases a run trains in (``train`` settings), each ``{"phase", "epochs", "learning_rate"}``: the
    head phase (frozen backbone) at ``learning_rate`` when ``head_epochs`` > 0, then fine-tuning at
    ``finetune_learning_rate`` after a head phase, at ``learning_rate`` without one."""
    phases = []
    if settings["head_epochs"]:
        phases.append(
            {"phase": "head", "epochs": settings["head_epochs"], "learning_rate": settings["learning_rate"]}
        )
    if settings["epochs"]:
        rate = settings["finetune_learning_rate"] if phases else settings["learning_rate"]
        phases.append({"phase": "finetune", "epochs": settings["epochs"], "learning_rate": rate})
    return phases


def fit_phases(model, train_data, val_data, settings, run_dir, weights, images):
    """The head phase (frozen backbone) if asked, then fine-tuning of every layer; history.csv gets both.

    Each phase stops early on val_loss and hands its best weights to the next; at the end the model holds
    the best epoch of the whole run. Returns that epoch: ``{"monitor", "value", "epoch", "phase"}``.
    """
    phases = [
        (phase["phase"], phase["phase"] == "finetune", phase["epochs"], phase["learning_rate"])
        for phase in training_phases(settings)
    ]
    best, average = BestOfRun(run_dir / "best.weights.h5"), AverageMovingStatistics()
    train_data, val_data = shard_by_data(train_data), shard_by_data(val_data)
    fit = prepare_fit(model, train_data, val_data, weights, settings)  # the model, or it with a metric loss
    best.set_model(fit.model)
    progress = ResumeState(run_dir / RESUME_DIR)
    epoch = progress.restore(fit.model)
    for name, trainable, epochs, learning_rate in phases:
        if name in progress.done:
            continue
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
        with model.distribute_strategy.scope():  # the optimizer's and metrics' variables are the strategy's
            fit.model.compile(optimizer=keras.optimizers.Adam(learning_rate), **fit.compile_args())
        timer = EpochTimer(images)
        callbacks = [
            *fit.callbacks,
            # the weights, optimizer state and epoch after each epoch: --resume continues from there
            keras.callbacks.BackupAndRestore(run_dir / RESUME_DIR / name),
            ResumeLog(),
            timer,
            average,
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=settings["patience"], restore_best_weights=True
            ),
            best,
            keras.callbacks.CSVLogger(run_dir / HISTORY, append=True),
            keras.callbacks.TensorBoard(run_dir / "tensorboard", write_graph=False),
        ]
        history = fit.model.fit(
            fit.train_data,
            validation_data=fit.val_data,
            initial_epoch=epoch,
            epochs=epoch + epochs,
            class_weight=fit.class_weight,
            callbacks=callbacks,
            shuffle=False,
            verbose=2,
        )
        epoch = history.epoch[-1] + 1 if history.epoch else epoch
        progress.finish(name, epoch, fit.model)
        log.info("phase %s: %d epoch(s), %d training step(s)", name, len(history.epoch), timer.steps)
    selected = best.restore()
    shutil.rmtree(run_dir / RESUME_DIR, ignore_errors=True)
    log.info(
        "best epoch %d (%s phase): val_loss %.4f", selected["epoch"], selected["phase"], selected["value"]
    )
    return selected


LEARNED_NOTHING_AUC = 0.55  # validation frame AUC at or below which a model is said to have learned nothing
CONSTANT_SPREAD = 1e-3  # validation P(fake) within this range of each other: one constant output


def score_split(method, model, rows, image_size, batch_size, predict_settings, run_dir):
    """Score a split's faces and evaluate them by the path stage 05 takes (``predict`` settings: aggregation
    rule, video score, track support, threshold); faces whose image cannot be read are left out
    (``note_unreadable``).
    Returns ``(metrics, faces, frames, videos, unreadable rows)``."""
    read_log, p_fake = method.score_rows(model, rows, image_size, batch_size, shard_by_data)
    name = rows["split"].iloc[0]
    note_unreadable(run_dir, {name: (rows, read_log)}, f"the {name} split's evaluation")  # raises then
    unreadable, rows = rows[read_log.unread()], rows[~read_log.unread()]
    faces = rows.drop(columns="file").assign(video=rows["video_id"], p_fake=p_fake)
    metrics, frames, videos = evaluation.evaluate(faces, predict_settings)
    return metrics, faces, frames, videos, unreadable


def learned_nothing(faces, frame_metrics):
    """Why the validation scores show a model that learned nothing, or ``None`` when they do not."""
    spread = float(faces["p_fake"].max() - faces["p_fake"].min())
    if spread < CONSTANT_SPREAD:
        return f"it gives every validation face the same P(fake), {faces['p_fake'].mean():.3f}"
    if frame_metrics["auc"] is not None and frame_metrics["auc"] <= LEARNED_NOTHING_AUC:
        return f"its validation frame AUC is {frame_metrics['auc']:.3f} (<= {LEARNED_NOTHING_AUC})"
    return None


def evaluate_run(
    method, model, split, image_size, batch_size, predict_settings, selected, run_dir, phases=(), listing=None
):
    """Score the validation split (to check that the model learned something) and the test split; write
    metrics.json (with ``phases``: ``training_phases``, each phase's epochs and learning rate; and
    ``video_coverage``: how many of the test videos of ``listing``, ``listed_test_videos``'s answer, were
    scored), the test split's per-face, per-frame and per-video scores, and the plots."""
    validation, val_faces, *_ = score_split(
        method, model, split[split["split"] == "val"], image_size, batch_size, predict_settings, run_dir
    )
    reason = learned_nothing(val_faces, validation["frame_level"])
    if reason:
        log.warning(
            "the model learned nothing: %s; its test metrics mean nothing (more epochs, another "
            "learning rate, or more data?)",
            reason,
        )
    metrics, faces, frames, videos, unreadable = score_split(
        method, model, split[split["split"] == "test"], image_size, batch_size, predict_settings, run_dir
    )
    left_out = (
        f"; {len(unreadable)} unreadable image(s) left out, see {UNREADABLE}" if len(unreadable) else ""
    )
    listed, no_face, listed_from = listing or (videos["video"], [], "split.csv")
    metrics = {
        "data": f"test split of split.csv (never used for training or model selection){left_out}",
        "video_coverage": evaluation.video_coverage(listed, videos["video"], no_face, listed_from),
        **metrics,
        "learned_nothing": reason,
        "model_selection": {**selected, "data": "val split (lowest val_loss over every epoch)"},
        "training_phases": list(phases),
        "validation": validation,
    }
    for name, table in (("faces", faces), ("frames", frames), ("videos", videos)):
        atomic_write_csv(run_dir / f"test_{name}.csv", table)
    evaluation.save_evaluation(metrics, frames, videos, f"{run_dir}/", "Test split")
    return metrics


def train(dataset_dir, runs_dir, config, resume=None):
    """Train, keep the best model (by val_loss) in a new run directory, evaluate it on the test split.
    Returns ``(run_dir, metrics)``; every worker of a multi-worker run returns the chief's run_dir.
    ``resume``: the run directory of an interrupted run, which goes on from its last finished epoch with the
    settings it started with (``resumed_run``; the arguments before it are then ignored)."""
    if resume is not None:
        dataset_dir, runs_dir, config = resumed_run(resume)
    settings = config["train"]
    method = method_for(settings["model"])
    try:  # a wrong model name, size or weights path fails before any work
        method.check(settings)
        check_metric_learning(settings)
    except (ValueError, FileNotFoundError) as error:
        raise UserError(str(error)) from None
    split = load_split(dataset_dir)
    strategy, devices = setup_devices(settings["mixed_precision"])
    # run_dir: where this worker writes (the run directory on the chief, a temporary folder on the others)
    if resume is None:
        run_name, run_dir, scratch = open_run_dir(
            strategy, runs_dir, settings["model"], settings["image_size"]
        )
    else:
        run_name, run_dir, scratch = Path(resume).name, Path(resume), None
    log.info("run directory %s (%s)", Path(runs_dir) / run_name, devices)
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

    train_rows, val_rows = split[split["split"] == "train"], split[split["split"] == "val"]
    pseudo_fakes = PSEUDO_FAKES.get(settings["pseudo_fakes"])  # train fakes made from train reals, if any
    train_rows, val_rows, generate = pseudo_fakes.training_rows(
        train_rows, val_rows, settings, run_dir, config["seed"], resolved["preprocess"]["jpeg_quality"]
    )
    batch_size = settings["batch_size"] * strategy.num_replicas_in_sync
    cache = choose_cache(
        settings["cache"], len(train_rows) + len(val_rows), settings["image_size"], run_dir / CACHE_DIR
    )
    # the pipeline skips unreadable files, so the number of batches is known only after a first pass, whose
    # end Keras reports as "Your input ran out of data; interrupting training" though nothing is wrong
    warnings.filterwarnings("ignore", "Your input ran out of data", UserWarning)
    parts, make, train_labels, images = method.training_inputs(
        {"train": train_rows, "val": val_rows},
        settings,
        batch_size,
        cache,
        run_dir / CACHE_DIR,
        config["seed"],
        generate,
    )
    with strategy.scope():
        model = method.build(settings)
    try:
        selected = fit_phases(
            model,
            make("train"),
            make("val"),
            settings,
            run_dir,
            class_weights(train_labels),
            images,
        )
    except UserError:  # no finite val_loss, which a val split without one readable image gives too
        note_unreadable(run_dir, parts, "training and validation")
        raise
    except KeyboardInterrupt:
        log.warning(
            "interrupted; %s keeps the epochs that finished: go on with 04-train-cnn.py --resume %s",
            Path(runs_dir) / run_name,
            Path(runs_dir) / run_name,
        )
        raise
    finally:
        shutil.rmtree(run_dir / CACHE_DIR, ignore_errors=True)
    note_unreadable(run_dir, parts, "training and validation")
    selected = {**selected, **pseudo_fakes.selected(settings)}
    split = pseudo_fakes.evaluated_rows(split, val_rows)

    metadata = {
        "model": settings["model"],
        "image_size": settings["image_size"],
        "preprocess": resolved["preprocess"],
        "video": resolved["video"],
        "seed": config["seed"],
        "trained_on": str(Path(dataset_dir).resolve()),
        "selected": selected,
        "pseudo_fakes": settings["pseudo_fakes"],
        **method.metadata(settings),
        **metric_metadata(settings),
        "created": datetime.datetime.now().isoformat(),
    }
    save_model(model, run_dir / MODEL_FILE, metadata)
    plot_history(run_dir / HISTORY, run_dir / "training_curves.png")
    metrics = evaluate_run(
        method,
        model,
        split,
        settings["image_size"],
        batch_size,
        config["predict"],
        selected,
        run_dir,
        training_phases(settings),
        listed_test_videos(dataset_dir, split),
    )
    if scratch is None:  # the chief
        if settings["explain"]:
            from common.evaluation.explain import explain_run

            explain_run(run_dir, run_dir / EXPLAIN_DIR, seed=config["seed"])
        write_report(run_dir)
        point_latest(runs_dir, run_dir)
    else:
        scratch.cleanup()
    from_chief(strategy, "")  # the workers end together: none leaves while another one still works
    return Path(runs_dir) / run_name, metrics
