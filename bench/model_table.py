#!/usr/bin/env python3
"""Every detector trained and scored on the same demo data, same seed and split: the README's model table.
Run by hand (about half an hour on 2 cores):

    python bench/model_table.py                      # makes the demo data in bench-models/ first
    python bench/model_table.py --models small_cnn mesonet4 --epochs 5

Each model is trained by ``04-train-cnn.py`` as users run it (``configs/demo.yaml``, weights none: ImageNet
weights cannot be downloaded here) on one stage 03 split of the generated demo videos, then scores a
separate set of held-out demo videos with ``05-predict-video.py``, unaided. A row: test-split frame and
video AUC (stage 04's metrics.json: faces and videos never used for training or model selection), held-out
video AUC and accuracy (stage 05), training images/s (median epoch after the first, from history.csv),
parameters, and the wall time of training. The demo's test split holds only a few videos: its video AUC
moves in large steps; the held-out set is there to give a second, independent reading.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# name: flags of 04-train-cnn.py (on top of configs/demo.yaml and --weights none)
MODELS = {
    "small_cnn": ["--model", "small_cnn", "--image-size", "64"],
    "mesonet4": ["--model", "mesonet4", "--image-size", "128"],
    "efficientnet_b0": ["--model", "efficientnet_b0", "--image-size", "128"],
    "xception": ["--model", "xception", "--image-size", "128"],
    "inception_resnet_v2": ["--model", "inception_resnet_v2", "--image-size", "128"],
    "mesonet4_lstm": ["--model", "mesonet4_lstm", "--image-size", "128", "--window", "4"],
    "efficientnet_b0_lstm": ["--model", "efficientnet_b0_lstm", "--image-size", "128", "--window", "4"],
    "small_cnn+triplet": ["--model", "small_cnn", "--image-size", "64", "--metric-learning", "triplet"],
    "small_cnn+supcon": ["--model", "small_cnn", "--image-size", "64", "--metric-learning", "supcon"],
    "small_cnn+sbi": [
        "--model",
        "small_cnn",
        "--image-size",
        "64",
        "--pseudo-fakes",
        "sbi",
        "--pseudo-fakes-mode",
        "once",
    ],
    "small_cnn+sbi_online": ["--model", "small_cnn", "--image-size", "64", "--pseudo-fakes", "sbi"],
}
CONFIG = ROOT / "configs" / "demo.yaml"


def run(command, log_path):
    """Run a pipeline script; its output goes to ``log_path``; a failure names the log."""
    with open(log_path, "w") as log:
        done = subprocess.run([sys.executable, *map(str, command)], stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, command[:1]))} failed (exit {done.returncode}), see {log_path}"
        )


def make_demo_data(work):
    """The demo's videos through stages 00-03 (``make demo``'s commands), and a held-out set of videos made
    with another seed; kept in ``work`` for the next run."""
    steps = [  # (script, flags, what it writes when done)
        ("00-make-demo-videos.py", ["--output", work / "videos"], work / "videos" / "metadata.json"),
        (
            "01-convert-video-to-image.py",
            ["--dataset", "dfdc", "--input", work / "videos", "--output", work / "frames"],
            work / "frames" / "manifest.csv",
        ),
        (
            "02-crop-faces-with-mtcnn.py",
            ["--input", work / "frames", "--output", work / "faces"],
            work / "faces" / "manifest.csv",
        ),
        (
            "03-prepare-fake-real-dataset.py",
            ["--input", work / "faces", "--output", work / "dataset"],
            work / "dataset" / "split.csv",
        ),
    ]
    for script, flags, done in steps:
        if not done.is_file():
            config = [] if script.startswith("00") else ["--config", CONFIG]
            run([ROOT / script, *config, *flags], work / f"{script[:2]}.log")
    if not (work / "heldout").is_dir():
        command = ["--output", work / "heldout", "--n-real", "6", "--seed", "1", "--prefix", "heldout"]
        run([ROOT / "00-make-demo-videos.py", *command], work / "00-heldout.log")


def median_images_per_second(history_csv):
    rates = pd.read_csv(history_csv)["images_per_second"].tolist()
    return statistics.median(rates[1:] or rates)


def parameters(model_file):
    from common.core.model_file import load_model

    model, _ = load_model(model_file)
    return model.count_params()


def measure(name, flags, work, epochs):
    """Train ``name`` and score the held-out videos with it; its row of the table."""
    runs = work / "runs" / name
    started = time.perf_counter()
    train = [ROOT / "04-train-cnn.py", "--config", CONFIG, "--input", work / "dataset", "--output", runs]
    run([*train, "--weights", "none", "--epochs", epochs, *flags], work / f"train-{name}.log")
    seconds = time.perf_counter() - started
    run_dir = (runs / "latest").resolve()
    test = json.loads((run_dir / "metrics.json").read_text())
    predictions = work / "heldout-scores" / f"{name}.csv"
    predictions.parent.mkdir(exist_ok=True)
    predict = ["--config", CONFIG, "--model", run_dir, "--input", work / "heldout", "--output", predictions]
    run([ROOT / "05-predict-video.py", *predict], work / f"predict-{name}.log")
    heldout = json.loads(predictions.with_name(f"{predictions.stem}_metrics.json").read_text())
    return {
        "model": name,
        "test frame AUC": test["frame_level"]["auc"],
        "test video AUC": test["video_level"]["auc"],
        "held-out video AUC": heldout["video_level"]["auc"],
        "held-out video accuracy": heldout["video_level"]["accuracy"],
        "train images/s": median_images_per_second(run_dir / "history.csv"),  # video models: crops/s
        "parameters": parameters(run_dir / "model.keras"),
        "train seconds": seconds,
        "epochs run": len(pd.read_csv(run_dir / "history.csv")),
        "test faces / videos": f"{test['frame_level']['n']} / {test['video_level']['n']}",
    }


def markdown(rows):
    """The rows as a Markdown table, numbers rounded."""
    table = pd.DataFrame(rows)
    header = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns) + "\n"

    def cell(value):
        if isinstance(value, float):
            return f"{value:.3f}" if value <= 1 else f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
        return f"{value:,}" if isinstance(value, int) else str(value)

    return header + "".join(
        "| " + " | ".join(map(cell, row)) + " |\n" for row in table.itertuples(index=False)
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "bench-models", help="data and runs (kept)")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--epochs", type=int, default=20, help="at most; early stopping as in the demo")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "model_table.md")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    make_demo_data(args.work)
    rows = []
    for name in args.models:
        try:
            rows.append(measure(name, MODELS[name], args.work, args.epochs))
        except RuntimeError as error:
            print(f"{name}: {error}", file=sys.stderr)
            continue
        print(markdown(rows[-1:]), flush=True)
    text = markdown(rows)
    args.out.write_text(text)
    print(text)
    return 0 if len(rows) == len(args.models) else 1


if __name__ == "__main__":
    sys.exit(main())
