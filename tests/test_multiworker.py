"""Stage 04 on two machines (TF_CONFIG, MultiWorkerMirroredStrategy), played by two processes on localhost."""

import json
import math
import os
import re
import socket
import subprocess
import sys
import time

import numpy as np
import pandas as pd
from conftest import ROOT
from test_train import SMALL, write_dataset

WORKER_TIMEOUT = 300  # seconds: collective ops that wait for a lost peer fail the test instead of hanging it


def free_ports(count):
    """Ports free on localhost just now (bound to port 0, then released)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for server in sockets:
            server.bind(("localhost", 0))
        return [server.getsockname()[1] for server in sockets]
    finally:
        for server in sockets:
            server.close()


def run_workers(arguments, folder, count=2):
    """Run ``04-train-cnn.py arguments`` as ``count`` workers of one TF_CONFIG cluster, CPU only, each with
    its own TMPDIR under ``folder``. Returns ``[(exit code, stdout, stderr, TMPDIR)]`` and the seconds taken."""
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(count)]}
    workers = []
    started = time.perf_counter()
    for index in range(count):
        temporary = folder / f"tmp{index}"
        temporary.mkdir(parents=True)
        task = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        environment = {
            **os.environ,
            "TF_CONFIG": json.dumps(task),
            "CUDA_VISIBLE_DEVICES": "",
            "TMPDIR": str(temporary),
        }
        with open(folder / f"out{index}", "w") as out, open(folder / f"err{index}", "w") as err:
            process = subprocess.Popen(
                [sys.executable, "04-train-cnn.py", *arguments],
                cwd=ROOT,
                env=environment,
                stdout=out,
                stderr=err,
            )
        workers.append((process, folder / f"out{index}", folder / f"err{index}", temporary))
    timed_out = False
    try:
        for process, *_ in workers:
            process.wait(timeout=max(1.0, WORKER_TIMEOUT - (time.perf_counter() - started)))
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        for process, *_ in workers:
            if process.poll() is None:
                process.kill()
                process.wait()
    seconds = time.perf_counter() - started
    results = [
        (process.returncode, out.read_text(), err.read_text(), tmp) for process, out, err, tmp in workers
    ]
    assert not timed_out, f"the workers did not finish in {WORKER_TIMEOUT} s:\n" + "\n".join(
        err[-3000:] for _, _, err, _ in results
    )
    return results, seconds


def test_two_workers_train_one_run_that_only_the_chief_writes(tmp_path):
    """Both workers take the same steps on a global batch of 2 x --batch-size, the chief alone writes the
    run directory, and its model.keras is the model that the run's test scores came from."""
    from common.core.model_file import load_model
    from common.data.pipeline import make_dataset

    dataset = write_dataset(tmp_path / "dataset")
    (dataset / "train" / "fake" / "train_fake_0__f000000_0.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    runs = tmp_path / "runs"
    arguments = ["--input", str(dataset), "--output", str(runs), *SMALL, "--epochs", "2"]
    workers, seconds = run_workers(arguments, tmp_path / "workers")
    print(f"two workers: {seconds:.1f} s")
    for index, (code, _, err, _) in enumerate(workers):
        assert code == 0, f"worker {index} exited {code}:\n{err[-4000:]}"

    (run,) = [path for path in runs.iterdir() if path.name != "latest"]  # one run directory, the chief's
    assert (runs / "latest").resolve() == run
    assert {out.strip().rsplit(" -> ", 1)[-1] for _, out, _, _ in workers} == {str(run)}  # both name it
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["frame_level"]["n"] == 12
    assert len(pd.read_csv(run / "history.csv")) == 2 and (run / "report.md").is_file()
    assert pd.read_csv(run / "unreadable_images.csv")["path"].tolist() == [
        "train/fake/train_fake_0__f000000_0.jpg"
    ]
    for _, _, _, temporary in workers:  # the other worker's copies are gone; the chief wrote none
        assert not any(temporary.iterdir()), list(temporary.iterdir())

    steps = [
        re.findall(r"phase finetune: (\d+) epoch\(s\), (\d+) training step\(s\)", err)
        for *_, err, _ in workers
    ]
    global_batch = 8 * 2  # --batch-size per replica, one replica on each worker
    assert steps[0] == steps[1] == [("2", str(2 * math.ceil(35 / global_batch)))]  # 35 readable images

    model, _ = load_model(run)  # the chief's model scores the test faces as the run reported them
    faces = pd.read_csv(run / "test_faces.csv")
    images = make_dataset([dataset / path for path in faces["path"]], faces["label"], 32, 8, training=False)
    np.testing.assert_allclose(model.predict(images, verbose=0).reshape(-1), faces["p_fake"], atol=1e-5)


TWO_REPLICAS = """
import sys
from pathlib import Path

import tensorflow as tf

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
)
from test_train import write_dataset

from common.core.config import load_config
from common.data.pipeline import make_dataset
from common.models.classifier import build_model
from common.training.fitting import fit_phases
from common.training.inputs import load_split

folder = Path(sys.argv[1])
split = load_split(write_dataset(folder))
settings = load_config(
    None, {"train.model": "small_cnn", "train.image_size": 32, "train.weights": "none", "train.epochs": 1}
)["train"]
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = build_model("small_cnn", 32, "none")
rows = {name: split[split["split"] == name] for name in ("train", "val")}
train, val = (make_dataset(part["file"], part["label"], 32, 16, name == "train") for name, part in rows.items())
print(fit_phases(model, train, val, settings, folder, None, 36))
"""


def test_two_replicas_on_one_machine_train_as_two_gpus_would(tmp_path):
    """MirroredStrategy (several GPUs) over two logical CPUs: compiling outside the strategy's scope
    made Keras 3 fail with 'Mixing different tf.distribute.Strategy objects'."""
    result = subprocess.run(
        [sys.executable, "-c", TWO_REPLICAS, str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])},
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "'phase': 'finetune'" in result.stdout
