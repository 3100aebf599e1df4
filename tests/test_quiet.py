"""Quiet start-up (common.core.quiet): TensorFlow's start-up lines are left out of standard error, nothing else."""

import os
import signal
import subprocess
import sys
import threading
import time

from conftest import ROOT

from common.core.quiet import STARTUP_NOISE, forward

STARTUP = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    b"I0000 00:00:1795453142.656595    2104 port.cc:153] oneDNN custom operations are on.\n",
    b"I0000 00:00:1795453142.658106    2104 cudart_stub.cc:31] Could not find cuda drivers on your machine.\n",
    b"E0000 00:00:1795453144.771590    2104 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\n",
]
KEPT = [
    b"INFO loaded model.keras (small_cnn, 64 px)\n",
    b"E0000 00:00:1795453144.771590    2104 bfc_allocator.cc:291] Allocator ran out of memory\n",
    b"Traceback (most recent call last):\n",
]


def forwarded(writes, pause=0.0):
    """What ``forward`` passes on when ``writes`` arrive through a pipe, ``pause`` seconds apart."""
    source, sink = os.pipe()
    target, shown = os.pipe()
    thread = threading.Thread(
        target=forward, args=(source, shown, lambda line: STARTUP_NOISE.match(line) is not None)
    )
    thread.start()
    seen = []
    for data in writes:
        os.write(sink, data)
        time.sleep(pause)
        if pause:
            seen.append(os.read(target, 65536))
    os.close(sink)
    thread.join(timeout=5)
    os.close(shown)
    rest = os.read(target, 65536)
    return seen, b"".join(seen) + rest


def test_startup_lines_are_left_out_and_every_other_line_kept_in_order():
    writes = [STARTUP[0], KEPT[0], STARTUP[1] + STARTUP[2], KEPT[1], STARTUP[3], KEPT[2]]
    assert forwarded(writes)[1] == b"".join(KEPT)


def test_a_line_cut_across_writes_is_judged_whole():
    line = STARTUP[3]
    assert forwarded([line[:10], line[10:40], line[40:] + KEPT[0]])[1] == KEPT[0]


def test_a_progress_bar_shows_without_waiting_for_the_end_of_its_line():
    bars = [b"\rscoring videos:  8%|8 | 1/12", b"\rscoring videos: 17%|1 | 2/12"]
    seen, everything = forwarded(bars, pause=1.0)
    assert seen == [b"\rscoring videos:  8%|8 | 1/12", b"\rscoring videos: 17%|1 | 2/12"]
    assert everything == b"".join(bars)


def test_ffmpegs_own_line_after_a_progress_bar_is_left_out_and_the_bar_kept():
    bar = b"\rvideos -> frames:   0%|          | 0/2 [00:00<?, ?video/s]"
    ffmpeg = b"[mov,mp4,m4a,3gp,3g2,mj2 @ 0x5638ec18ee80] moov atom not found\n"
    warning = b"WARNING failed: /videos/real/text.mp4: cannot open as a video\n"
    assert forwarded([bar + ffmpeg + warning])[1] == bar + warning


# A stage's last line, then its exit while a child it started (multiprocessing's resource tracker, left by
# a pool of worker processes) still holds standard error open
OUTLIVED = """
import subprocess, sys, time
from common.core.quiet import filter_stderr
filter_stderr()
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(child.pid, flush=True)
sys.stderr.write("5 videos, 64 frames -> manifest.csv\\n")
print(time.time(), flush=True)
"""


def test_the_process_ends_at_once_when_a_child_outlives_it_and_its_last_line_is_shown(tmp_path):
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("w") as stdout, err.open("w") as stderr:
        parent = subprocess.Popen([sys.executable, "-c", OUTLIVED], stdout=stdout, stderr=stderr, cwd=ROOT)
        parent.wait(timeout=60)
    ended = time.time()
    child, last_line = out.read_text().split()
    os.kill(int(child), signal.SIGKILL)
    assert parent.returncode == 0
    assert err.read_text() == "5 videos, 64 frames -> manifest.csv\n"
    # before: it waited 2 s for the child to close the pipe, at the end of every stage run with workers
    assert ended - float(last_line) < 1.0
