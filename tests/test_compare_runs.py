"""Stage 07: one AUC table across runs and test sets, paired tests, seeds pooled (1 = fake)."""

import hashlib
import importlib
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from common.evaluation import uncertainty
from common.inference.compare_runs import compare_runs
from common.inference.comparison_tables import OUTPUTS

stage07 = importlib.import_module("07-compare-runs")

RESAMPLES = 200


def video_scores(seed, n_real=8, n_fake=10, separation=1.5):
    """Frame scores of a test split: ``(videos, frames)`` tables as stage 04 writes test_videos.csv and
    test_frames.csv (a video's P(fake) the mean of its frames')."""
    rng = np.random.default_rng(seed)
    frames = []
    for number in range(n_real + n_fake):
        label = int(number >= n_real)
        offset = rng.normal(separation * label, 1.0)
        for index in range(int(rng.integers(2, 6))):
            p_fake = 1 / (1 + np.exp(-(offset + rng.normal(0, 0.5))))
            frames.append({"video": f"v{number:02d}", "frame_index": index, "p_fake": p_fake, "faces": 1})
            frames[-1].update(label=label, method="")
    frames = pd.DataFrame(frames)
    videos = frames.groupby("video", as_index=False).agg(
        fake_probability=("p_fake", "mean"), frames=("p_fake", "size"), label=("label", "first")
    )
    videos = videos.assign(
        verdict=np.where(videos["fake_probability"] >= 0.5, "FAKE", "REAL"),
        fake_frame_share=0.5,
        tracks=1,
        method="",
    )
    return videos, frames


def make_run(
    root, name, seed, model="small_cnn", scores_seed=None, dataset="/data/demo/dataset", config_file=None
):
    """A run directory with the files of stage 04 that stage 07 reads; ``config_file``: its record of the
    --config file it was started with (None: a run from before runs recorded it)."""
    run = root / name
    run.mkdir(parents=True)
    config = {"seed": seed, "train": {"model": model, "image_size": 64}, "dataset_dir": dataset}
    if config_file is not None:
        config["config_file"] = config_file
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    (run / "metrics.json").write_text(json.dumps({"data": "test split of split.csv"}))
    (run / "model.keras").write_bytes(f"weights of {name}".encode())
    videos, frames = video_scores(seed if scores_seed is None else scores_seed)
    videos.to_csv(run / "test_videos.csv", index=False)
    frames.to_csv(run / "test_frames.csv", index=False)
    return run


@pytest.fixture
def three_runs(tmp_path):
    """small_cnn seeds 42 and 7 (one config), mesonet4 seed 42."""
    runs = tmp_path / "runs"
    return [
        make_run(runs, "a-small_cnn-42", 42),
        make_run(runs, "b-small_cnn-7", 7),
        make_run(runs, "c-mesonet4-42", 42, model="mesonet4"),
    ]


def test_one_row_per_run_with_the_auc_and_the_bootstrap_interval_of_its_test_videos(three_runs, tmp_path):
    markdown, paths = compare_runs(three_runs, tmp_path / "out", n_resamples=RESAMPLES, seed=3)
    cells = pd.read_csv(paths["cells"])
    assert list(cells["run"]) == [run.name for run in three_runs]
    assert set(cells["test_set"]) == {"test: dataset"}
    assert list(cells["seed"]) == [42, 7, 42]
    assert list(cells["config"]) == ["A", "A", "B"]
    for run, (_, row) in zip(three_runs, cells.iterrows()):
        videos = pd.read_csv(run / "test_videos.csv")
        assert row["auc"] == pytest.approx(roc_auc_score(videos["label"], videos["fake_probability"]))
        expected = uncertainty.bootstrap_metric(
            videos["fake_probability"], videos["label"], videos["video"], n_resamples=RESAMPLES, seed=3
        )
        assert (row["low"], row["high"]) == pytest.approx((expected["low"], expected["high"]))
        assert (row["n_real_videos"], row["n_fake_videos"], row["level"]) == (8, 10, "video")
        assert (row["n_resamples"], row["bootstrap_seed"]) == (RESAMPLES, 3)
    assert sum(line.startswith(("| a-", "| b-", "| c-")) for line in markdown.splitlines()) == 3
    assert f"{RESAMPLES} resamples, seed 3" in markdown
    assert "(8 real + 10 fake videos)" in markdown
    for name in OUTPUTS.values():
        assert (tmp_path / "out" / name).stat().st_size > 0


def test_each_run_is_named_with_the_config_file_it_was_started_with(tmp_path):
    runs = tmp_path / "runs"
    recorded = {"path": "configs/demo.yaml", "sha256": "ab" * 32}
    run_dirs = [
        make_run(runs, "a-small_cnn-42", 42, config_file=recorded),
        make_run(runs, "b-small_cnn-7", 7, config_file="defaults"),  # started without --config
        make_run(runs, "c-small_cnn-1", 1),  # from before runs recorded it
    ]
    markdown, paths = compare_runs(run_dirs, tmp_path / "out", n_resamples=RESAMPLES)
    cells = pd.read_csv(paths["cells"], keep_default_na=False)
    assert list(cells["config_file"]) == ["configs/demo.yaml", "defaults", "not recorded"]
    assert list(cells["config_sha256"]) == ["ab" * 32, "", ""]
    assert list(cells["config"]) == [
        "A",
        "A",
        "A",
    ]  # the same settings: seeds of one config, whatever the file
    rows = [line for line in markdown.splitlines() if line.startswith(("| a-", "| b-", "| c-"))]
    assert [row.split(" | ")[3] for row in rows] == [
        "configs/demo.yaml (sha256 abababababab)",
        "defaults",
        "not recorded",
    ]


def test_frame_level_cells_are_the_auc_of_the_test_frames(three_runs, tmp_path):
    _, paths = compare_runs(three_runs[:1], tmp_path / "out", level="frame", n_resamples=RESAMPLES)
    (row,) = pd.read_csv(paths["cells"]).itertuples()
    frames = pd.read_csv(three_runs[0] / "test_frames.csv")
    assert row.auc == pytest.approx(roc_auc_score(frames["label"], frames["p_fake"]))
    expected = uncertainty.bootstrap_metric(
        frames["p_fake"], frames["label"], frames["video"], n_resamples=RESAMPLES
    )
    assert (row.low, row.high) == pytest.approx((expected["low"], expected["high"]))
    assert (row.n_rows, row.level) == (len(frames), "frame")


def test_identical_runs_differ_with_p_one_and_different_runs_are_tested_on_shared_videos(tmp_path):
    runs = [
        make_run(tmp_path, "one", 1, scores_seed=5),
        make_run(tmp_path, "copy", 2, scores_seed=5),
        make_run(tmp_path, "other", 3, model="mesonet4", scores_seed=9),
    ]
    _, paths = compare_runs(runs, tmp_path / "out", n_resamples=RESAMPLES)
    pairs = pd.read_csv(paths["pairs"]).set_index(["run_a", "run_b"])
    same = pairs.loc[("one", "copy")]
    assert (same["difference"], same["p_bootstrap"], same["p_delong"]) == (0, 1, 1)
    other = pairs.loc[("one", "other")]
    a, b = (pd.read_csv(tmp_path / name / "test_videos.csv") for name in ("one", "other"))
    expected = uncertainty.delong_test(a["label"], a["fake_probability"], b["fake_probability"])
    assert other["p_delong"] == pytest.approx(expected["p_value"])
    paired = uncertainty.paired_bootstrap_auc(
        *((table["fake_probability"], table["label"], table["video"]) for table in (a, b)),
        n_resamples=RESAMPLES,
    )
    assert other["p_bootstrap"] == pytest.approx(paired["p_value"])
    assert other["shared_videos"] == 18


def test_seeds_of_one_config_are_pooled_as_mean_and_sample_sd(three_runs, tmp_path):
    markdown, paths = compare_runs(three_runs, tmp_path / "out", n_resamples=RESAMPLES)
    pooled = pd.read_csv(paths["pooled"])
    assert len(pooled) == 1  # mesonet4 has one seed: nothing to pool
    (row,) = pooled.itertuples()
    aucs = [
        roc_auc_score(table["label"], table["fake_probability"])
        for table in (pd.read_csv(run / "test_videos.csv") for run in three_runs[:2])
    ]
    assert (row.config, row.model, row.runs, row.seeds) == ("A", "small_cnn", 2, "42 7")
    assert row.mean_auc == pytest.approx(np.mean(aucs))
    assert row.sd_auc == pytest.approx(np.std(aucs, ddof=1))
    assert f"{np.mean(aucs):.3f} ± {np.std(aucs, ddof=1):.3f}" in markdown
    assert "- A: train.model=small_cnn" in markdown and "- B: train.model=mesonet4" in markdown


def test_stage05_predictions_are_a_test_set_of_the_run_whose_model_scored_them(three_runs, tmp_path):
    videos, frames = video_scores(11)
    sha = hashlib.sha256((three_runs[2] / "model.keras").read_bytes()).hexdigest()
    predictions = videos.assign(
        label=videos["label"].map({1: "FAKE", 0: "REAL"}), model_sha256=sha, fake_frame_share=0.5
    )
    unknown = predictions.iloc[:1].assign(video="faceless", verdict="UNKNOWN", fake_probability=0.5)
    csv = tmp_path / "celebdf" / "predictions.csv"
    csv.parent.mkdir()
    pd.concat([predictions, unknown]).to_csv(csv, index=False)
    frames.drop(columns=["label", "method"]).to_csv(csv.with_name("predictions_frames.csv"), index=False)
    _, paths = compare_runs(three_runs, tmp_path / "out", [("celebdf", csv)], n_resamples=RESAMPLES)
    cells = pd.read_csv(paths["cells"])
    (row,) = cells[cells["test_set"] == "celebdf"].itertuples()
    assert row.run == three_runs[2].name
    assert row.auc == pytest.approx(roc_auc_score(videos["label"], videos["fake_probability"]))
    assert "18 of 19 videos labelled and with a face" in row.data and str(csv) in row.scores_from
    _, paths = compare_runs(three_runs, tmp_path / "frames", [("celebdf", csv)], "frame", RESAMPLES)
    cells = pd.read_csv(paths["cells"])
    (row,) = cells[cells["test_set"] == "celebdf"].itertuples()
    assert row.auc == pytest.approx(roc_auc_score(frames["label"], frames["p_fake"]))


def test_bad_inputs_end_in_one_line_and_exit_2(three_runs, tmp_path, capsys):
    not_a_run = tmp_path / "empty"
    not_a_run.mkdir()
    (three_runs[1] / "test_videos.csv").unlink()
    unknown_model = tmp_path / "p.csv"
    pd.DataFrame(
        {
            "video": ["x"],
            "fake_probability": [0.5],
            "label": ["FAKE"],
            "verdict": ["FAKE"],
            "model_sha256": ["0"],
        }
    ).to_csv(unknown_model, index=False)
    cases = [
        ([str(not_a_run)], "not a run directory of 04-train-cnn.py"),
        ([str(three_runs[1])], "no test scores (test_videos.csv)"),
        ([], "no run directory given"),
        ([str(three_runs[0]), "--predictions", "celebdf"], "expected NAME=PATH"),
        ([str(three_runs[0]), "--predictions", f"x={unknown_model}"], "none of the runs' model.keras"),
        ([str(three_runs[0]), str(three_runs[0])], "given twice"),
    ]
    for arguments, message in cases:
        assert stage07.main([*arguments, "--output", str(tmp_path / "out")]) == 2
        error = capsys.readouterr().err.strip()
        assert message in error and len(error.splitlines()) == 1, error
    assert stage07.main([str(three_runs[0]), "--output", str(three_runs[0] / "compare")]) == 2
    assert "lies inside run directory" in capsys.readouterr().err
    (three_runs[0] / "test_videos.csv").write_text("video,p\nx,0.5\n")
    assert stage07.main([str(three_runs[0]), "--output", str(tmp_path / "out")]) == 2
    assert "test_videos.csv: no fake_probability, label column" in capsys.readouterr().err


def test_the_script_prints_the_table_and_records_resamples_and_seed(three_runs, tmp_path, capsys):
    code = stage07.main([*map(str, three_runs[::2]), "--output", str(tmp_path / "out"), "--resamples", "50"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| a-small_cnn-42 | small_cnn | A | not recorded | 42 | " in printed
    assert "50 resamples, seed 0" in printed
    assert printed.startswith((tmp_path / "out" / "compare.md").read_text())


def test_stage05_metrics_kept_without_scores_are_named_as_not_compared(three_runs, tmp_path):
    (three_runs[0] / "cross_dataset").mkdir()
    (three_runs[0] / "cross_dataset" / "celebdf.json").write_text("{}")
    markdown, paths = compare_runs(three_runs, tmp_path / "out", n_resamples=RESAMPLES)
    assert f"{three_runs[0].name} has stage 05 metrics on celebdf" in markdown
    assert "--predictions NAME=PATH" in markdown
    assert set(pd.read_csv(paths["cells"])["test_set"]) == {"test: dataset"}


def test_test_splits_of_different_datasets_are_different_columns(tmp_path):
    runs = [
        make_run(tmp_path, "celebdf", 1, dataset="/data/celebdf/dataset"),
        make_run(tmp_path, "ffpp", 1, dataset="/data/ffpp/dataset"),
        make_run(tmp_path, "ffpp-7", 7, dataset="/data/ffpp/dataset"),
    ]
    _, paths = compare_runs(runs, tmp_path / "out", n_resamples=RESAMPLES)
    cells = pd.read_csv(paths["cells"])
    assert list(cells["test_set"]) == ["test: /data/celebdf/dataset", *["test: /data/ffpp/dataset"] * 2]
    pairs = pd.read_csv(paths["pairs"])
    assert list(zip(pairs["run_a"], pairs["run_b"])) == [("ffpp", "ffpp-7")]


def test_scores_kept_in_the_run_by_stage05_are_compared_without_predictions_flags(three_runs, tmp_path):
    videos, frames = video_scores(11)
    run = three_runs[2]
    sha = hashlib.sha256((run / "model.keras").read_bytes()).hexdigest()
    predictions = videos.assign(label=videos["label"].map({1: "FAKE", 0: "REAL"}), model_sha256=sha)
    cross = run / "cross_dataset"  # as stage 05 --add-to-report leaves it
    cross.mkdir()
    predictions.to_csv(cross / "celebdf_predictions.csv", index=False)
    frames.drop(columns=["label", "method"]).to_csv(cross / "celebdf_predictions_frames.csv", index=False)
    (cross / "celebdf.json").write_text(json.dumps({"data": "official test set of --dataset celebdf"}))
    auc = roc_auc_score(videos["label"], videos["fake_probability"])

    markdown, paths = compare_runs(three_runs, tmp_path / "kept", n_resamples=RESAMPLES)
    cells = pd.read_csv(paths["cells"])
    (row,) = cells[cells["test_set"] == "celebdf"].itertuples()
    assert row.run == run.name and row.auc == pytest.approx(auc)
    assert "official test set of --dataset celebdf" in row.data and "Not compared" not in markdown
    _, paths = compare_runs(three_runs, tmp_path / "frames", level="frame", n_resamples=RESAMPLES)
    cells = pd.read_csv(paths["cells"])
    assert cells.loc[cells["test_set"] == "celebdf", "auc"].item() == pytest.approx(
        roc_auc_score(frames["label"], frames["p_fake"])
    )

    given = tmp_path / "rescored.csv"  # given with --predictions, a CSV takes the kept copy's place
    predictions.assign(fake_probability=1 - predictions["fake_probability"]).to_csv(given, index=False)
    _, paths = compare_runs(three_runs, tmp_path / "given", [("celebdf", given)], n_resamples=RESAMPLES)
    cells = pd.read_csv(paths["cells"])
    assert cells.loc[cells["test_set"] == "celebdf", "auc"].item() == pytest.approx(1 - auc)

    predictions.assign(model_sha256="0" * 64).to_csv(cross / "celebdf_predictions.csv", index=False)
    markdown, paths = compare_runs(three_runs, tmp_path / "other", n_resamples=RESAMPLES)
    assert f"{run.name} has stage 05 metrics on celebdf" in markdown  # scored by another model: left out
    assert "celebdf" not in set(pd.read_csv(paths["cells"])["test_set"])
