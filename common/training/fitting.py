"""Fitting in phases (a frozen-backbone head phase, then fine-tuning) with the callbacks stage 04 keeps: epoch
times, BatchNorm statistics, the best epoch of the whole run, and the state an interrupted run resumes from.
"""

import json
import logging
import math
import shutil
import time
from pathlib import Path

import keras
import tensorflow as tf

from common.core.errors import UserError
from common.core.files import atomic_path, atomic_write_text
from common.core.model_file import HISTORY
from common.models.classifier import (
    freezes_batchnorm,
    set_backbone_trainable,
)
from common.training.devices import shard_by_data
from common.training.metric_learning import prepare_fit

log = logging.getLogger(__name__)


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
