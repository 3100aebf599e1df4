"""Stage 04: train a backbone on stage 03's split, keep the best model, evaluate it on the test split."""

import datetime
import logging
import shutil
import warnings
from pathlib import Path

from common.core.config import save_config
from common.core.errors import UserError
from common.core.files import atomic_write_csv
from common.core.manifest import read_pipeline
from common.core.model_file import (
    CONFIG_FILE_KEY,
    EXPLAIN_DIR,
    HISTORY,
    MODEL_FILE,
    RUN_CONFIG,
    config_file_record,
    read_metadata,
    save_model,
    update_metadata,
)
from common.data.pipeline import choose_cache
from common.evaluation import evaluate as evaluation
from common.evaluation.aggregate import SCORING_KEYS
from common.evaluation.evaluation_files import save_evaluation
from common.evaluation.metrics import plot_history
from common.evaluation.run_report import write_report
from common.evaluation.validation_threshold import choose_validation_threshold
from common.evaluation.video_coverage import video_coverage
from common.models.classifier import output_logit_layer
from common.models.methods import method_for
from common.training.devices import from_chief, setup_devices, shard_by_data
from common.training.fitting import fit_phases, training_phases
from common.training.inputs import (
    CACHE_DIR,
    UNREADABLE,
    class_weights,
    listed_test_videos,
    load_split,
    note_unreadable,
)
from common.training.metric_learning import check_settings as check_metric_learning
from common.training.metric_learning import metadata as metric_metadata
from common.training.pseudo_fakes import PSEUDO_FAKES
from common.training.run_dir import open_run_dir, point_latest, resumed_run
from common.training.temperature import calibrate_model, temperature_record

log = logging.getLogger(__name__)


LEARNED_NOTHING_AUC = 0.55  # validation frame AUC at or below which a model is said to have learned nothing
CONSTANT_SPREAD = 1e-3  # validation P(fake) within this range of each other: one constant output


def score_split(
    method, model, rows, image_size, batch_size, predict_settings, run_dir, statistics=None, threshold=None
):
    """Score a split's faces and evaluate them by the path stage 05 takes (``predict`` settings: aggregation
    rule, video score, track support, threshold; ``statistics``: the ``evaluation`` settings, bootstrap
    intervals and calibration; ``threshold``: the one chosen on the val split, whose accuracies the metrics
    add); faces whose image cannot be read are left out (``note_unreadable``).
    Returns ``(metrics, faces, frames, videos, unreadable rows)``."""
    read_log, p_fake = method.score_rows(model, rows, image_size, batch_size, shard_by_data)
    name = rows["split"].iloc[0]
    note_unreadable(run_dir, {name: (rows, read_log)}, f"the {name} split's evaluation")  # raises then
    unreadable, rows = rows[read_log.unread()], rows[~read_log.unread()]
    faces = rows.drop(columns="file").assign(video=rows["video_id"], p_fake=p_fake)
    metrics, frames, videos = evaluation.evaluate(faces, predict_settings, statistics, threshold)
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
    method,
    model,
    split,
    image_size,
    batch_size,
    predict_settings,
    selected,
    run_dir,
    phases=(),
    listing=None,
    statistics=None,
    temperature_scaling=False,
):
    """Score the validation split (to check that the model learned something) and the test split; write
    metrics.json (with ``phases``: ``training_phases``, each phase's epochs and learning rate; and
    ``video_coverage``: how many of the test videos of ``listing``, ``listed_test_videos``'s answer, were
    scored), the test split's per-face, per-frame and per-video scores, and the plots. ``statistics``: the
    config's ``evaluation`` settings (the test split's bootstrap intervals; the val split gets none). The
    threshold at the EER point of the val split's frame scores (``choose_validation_threshold``) goes into
    the model file's metadata (``validation_threshold``), and the test accuracies at 0.5 and at it into
    metrics.json (``at_validation_threshold``).

    ``temperature_scaling``: first fit a temperature on the val split's frame P(fake) and divide the model's
    output logit by it (``common.training.temperature``), save the model so, and score the val split again:
    the threshold and every test figure are then of the calibrated P(fake) the model file outputs, and
    metrics.json's ``temperature_scaling`` records T with the val ECE before and after (None when off)."""
    val_statistics = {**(statistics or {}), "bootstrap_resamples": 0}

    def score_val():
        return score_split(
            method,
            model,
            split[split["split"] == "val"],
            image_size,
            batch_size,
            predict_settings,
            run_dir,
            val_statistics,
        )

    validation, val_faces, val_frames, *_ = score_val()
    reason = learned_nothing(val_faces, validation["frame_level"])
    if reason:
        log.warning(
            "the model learned nothing: %s; its test metrics mean nothing (more epochs, another "
            "learning rate, or more data?)",
            reason,
        )
    calibration = None
    if temperature_scaling:
        temperature = calibrate_model(model, val_frames)
        before = validation["frame_level"]
        validation, val_faces, val_frames, *_ = score_val()
        calibration = temperature_record(temperature, before, validation["frame_level"])
        save_model(
            model,
            run_dir / MODEL_FILE,
            {**read_metadata(run_dir / MODEL_FILE), "temperature_scaling": calibration},
        )
    chosen = choose_validation_threshold(val_frames)
    if chosen is not None:  # stage 05 reports the accuracy at it too
        update_metadata(run_dir / MODEL_FILE, validation_threshold=chosen)
    metrics, faces, frames, videos, unreadable = score_split(
        method,
        model,
        split[split["split"] == "test"],
        image_size,
        batch_size,
        predict_settings,
        run_dir,
        statistics,
        chosen,
    )
    left_out = (
        f"; {len(unreadable)} unreadable image(s) left out, see {UNREADABLE}" if len(unreadable) else ""
    )
    listed, no_face, listed_from = listing or (videos["video"], [], "split.csv")
    metrics = {
        "data": f"test split of split.csv (never used for training or model selection){left_out}",
        "video_coverage": video_coverage(listed, videos["video"], no_face, listed_from),
        **metrics,
        "learned_nothing": reason,
        "temperature_scaling": calibration,
        "model_selection": {**selected, "data": "val split (lowest val_loss over every epoch)"},
        "training_phases": list(phases),
        "validation": validation,
    }
    for name, table in (("faces", faces), ("frames", frames), ("videos", videos)):
        atomic_write_csv(run_dir / f"test_{name}.csv", table)
    save_evaluation(metrics, frames, videos, f"{run_dir}/", "Test split")
    return metrics


def train(dataset_dir, runs_dir, config, resume=None, config_file=None):
    """Train, keep the best model (by val_loss) in a new run directory, evaluate it on the test split.
    Returns ``(run_dir, metrics)``; every worker of a multi-worker run returns the chief's run_dir.
    ``resume``: the run directory of an interrupted run, which goes on from its last finished epoch with the
    settings it started with (``resumed_run``; the arguments before it are then ignored). ``config_file``:
    the path of the config file ``config`` was loaded from (``--config``), None for none; the run's
    config.yaml records it with its SHA-256 (``config_file_record``)."""
    if resume is not None:
        dataset_dir, runs_dir, config, source = resumed_run(resume)
    else:
        source = config_file_record(config_file)
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
    recorded = {"dataset_dir": str(Path(dataset_dir).resolve())}
    if source is not None:  # None: a resumed run from before runs recorded their config file
        recorded[CONFIG_FILE_KEY] = source
    save_config({**resolved, **recorded}, run_dir / RUN_CONFIG)

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
    if settings["temperature_scaling"]:
        try:  # a method whose model cannot be scaled fails before training, not after
            output_logit_layer(model)
        except ValueError as error:
            raise UserError(f"--temperature-scaling: {error}") from None
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
        "video_scoring": {key: config["predict"][key] for key in SCORING_KEYS},  # as its test figures
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
        config["evaluation"],
        settings["temperature_scaling"],
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
