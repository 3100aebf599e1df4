"""Stage 05 from what the command line gave to its outputs: ``score_videos`` scores one set of videos with a
trained model (the predictions CSVs, the metrics with labels, the analyst's report)."""

from dataclasses import dataclass
from pathlib import Path

from common.core.errors import UserError
from common.core.files import output_lock
from common.core.shard import WHOLE, Shard
from common.evaluation import evaluate as evaluation
from common.evaluation.aggregate import track_table
from common.evaluation.printed_report import summary_table
from common.evaluation.review import flag_for_review, review_reasons
from common.evaluation.run_report import add_cross_dataset
from common.inference import analyst_report
from common.inference.batch_scoring import ScoredVideos, score_shard, scoring_identity
from common.inference.face_scoring import GRADCAM_FACES, KEEP_THUMBNAILS, PERTURB
from common.inference.frames_and_faces import sampling
from common.inference.outputs import exit_code, keep_predictions, write_predictions
from common.inference.scorer import load_scorer, scoring_settings
from common.inference.videos_to_score import videos_and_labels
from common.io.perturbations import describe_perturbation, parse_perturbation
from common.io.video import describe_sampling

GRADCAM_TOP = 3  # crops per video with a Grad-CAM overlay under --report-gradcam


@dataclass
class ScoringRequest:
    """What stage 05 is asked to score, as its flags give it: ``input`` (a video or a folder) scored into
    the predictions CSV ``output`` by ``model`` (a run directory or a model file), with labels from the CSV
    ``labels`` or the official test set of adapter ``dataset``; ``report`` the HTML report's path (None: the
    default rule), ``gradcam`` Grad-CAM overlays in it; ``perturb`` a perturbation ``NAME:LEVEL``;
    ``add_to_report`` the metrics go into the run's cross-dataset table; ``workers`` detection threads;
    ``shard`` this process's share; ``config_file_given`` whether ``--config`` was given;
    ``scoring_given`` the ``SCORING_KEYS`` a flag or the config file set (the others follow the model's
    run: ``common.inference.scorer.scoring_settings``); ``name`` the
    test set's name in the cross-dataset table (None: ``dataset``, else the input folder's name);
    ``report_name`` the report's file name beside ``output`` when it is written by default."""

    input: str
    output: str
    model: str
    labels: str | None = None
    dataset: str | None = None
    report: str | None = None
    gradcam: bool = False
    perturb: str | None = None
    add_to_report: bool = False
    workers: int = 1
    shard: Shard = WHOLE
    config_file_given: bool = False
    scoring_given: frozenset = frozenset()
    name: str | None = None
    report_name: str = analyst_report.REPORT_NAME


def score_videos(request, config, say=print):
    """Stage 05: score the videos of ``request`` (``ScoringRequest``) by ``config``, one run per output
    (locked), and write its outputs; the summary (a table of verdicts, the metrics, where the outputs went)
    goes to ``say`` line by line. Returns the exit code (``common.inference.outputs.exit_code``)."""
    output = Path(request.output)
    with output_lock(output.parent, output.name, request.shard, tree=False):
        return _score(request, config, say)


def add_to_run_report(run_dir, name, output, metrics, say):
    """Add stage 05's ``metrics`` of test set ``name`` to the cross-dataset table of the run ``run_dir``, and
    keep its per-video scores there (the predictions CSV ``output`` and its frames, for stage 07)."""
    kept = keep_predictions(output, run_dir, name)
    report_md = add_cross_dataset(run_dir, name, metrics)
    say(f"cross-dataset table of {report_md} updated ({name}); per-video scores kept in {kept}")


def _score(request, config, say):
    if request.add_to_report and not Path(request.model).is_dir():
        raise UserError("--add-to-report needs --model to be a run directory of 04-train-cnn.py")
    perturb = parse_perturbation(request.perturb) if request.perturb else None
    videos, labels, methods = videos_and_labels(
        request.input, request.output, request.labels, request.dataset, config
    )
    report = request.report or analyst_report.default_report_path(
        request.output, len(videos), config["predict"], request.report_name
    )
    if request.gradcam and not report:
        raise UserError("--report-gradcam needs a report: pass --report PATH.html")
    settings = dict(config["predict"])
    if perturb:  # in the settings, so results kept by a run without it (or with another) are not mixed in
        settings[PERTURB] = {"name": perturb[0], "level": perturb[1], "seed": config["seed"]}
    if report:  # keep a thumbnail of every face (and Grad-CAM overlays) for the page
        settings.update({KEEP_THUMBNAILS: True, GRADCAM_FACES: GRADCAM_TOP * request.gradcam})
    model, metadata, detector = load_scorer(request.model, config, request.config_file_given, request.workers)
    settings = scoring_settings(settings, metadata, request.scoring_given)
    identity = scoring_identity(request.model, metadata, {**config, "predict": settings})
    scored = ScoredVideos(request.output, identity)
    predictions, faces, complete = score_shard(
        videos, request.shard, model, detector, metadata, settings, labels, methods, scored, request.workers
    )
    if not complete:  # the last shard to finish writes the outputs
        return exit_code(predictions)
    tracks = track_table(faces, settings)  # once, for the _tracks.csv, the review rule and the report
    reasons = review_reasons(predictions, faces, tracks, settings)
    predictions = flag_for_review(predictions, reasons).assign(model_sha256=identity["model_sha256"])
    write_predictions(predictions, faces, tracks, request.output)
    say(summary_table(predictions, request.output))
    metrics = None
    if labels is not None:
        data = f"official test set of --dataset {request.dataset}" if request.dataset else "labelled videos"
        data += f" in {request.input}"
        if perturb:
            data += f", {describe_perturbation(*perturb)}"
        sampled = describe_sampling(sampling(metadata, settings["frames"]))
        text, metrics = evaluation.report_predictions(
            predictions,
            faces,
            settings,
            request.output,
            data,
            sampled,
            config["evaluation"],
            metadata.get("validation_threshold"),
        )
        say(text)
        if request.add_to_report and metrics is not None:
            name = request.name or request.dataset or Path(request.input).name
            add_to_run_report(request.model, name, request.output, metrics, say)
    if report:
        model_facts = analyst_report.model_facts(request.model, metadata, identity["model_sha256"])
        page = analyst_report.report_data(
            predictions,
            faces,
            tracks,
            reasons,
            settings,
            model_facts,
            dict(videos),
            report,
            metrics,
            str(request.input),
        )
        say(f"report -> {analyst_report.write_report(report, page)}")
    scored.remove()  # every output is written
    return exit_code(predictions)
