"""Shared test helpers: tiny generated videos, figures read back, runs without TensorFlow."""

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import common.plugins  # noqa: E402, F401  (every registry's config choices, as the stage scripts load them)


def write_video(path, frames=20, size=(160, 120), fps=10.0):
    """An mp4v video whose frame i is a flat grey of brightness 10 * i (so the frame index can be read back)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    try:
        for index in range(frames):
            writer.write(np.full((size[1], size[0], 3), min(255, 10 * index), np.uint8))
    finally:
        writer.release()
    return path


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_figure(path, width=None, height=None):
    """The RGB pixels (0..1) of a figure a stage saved, after checking what a user looking at it needs: a PNG
    (no temporary file left beside it) that is not blank (1% to 90% of its pixels are not near white) and,
    where given, ``width`` and ``height`` in pixels as (low, high) bounds."""
    import matplotlib.image

    path = Path(path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    assert not list(path.parent.glob("*.tmp")), path.parent
    pixels = matplotlib.image.imread(path)[..., :3]
    drawn = (pixels < 0.9).any(axis=2).mean()
    assert 0.01 < drawn < 0.9, (path, drawn)
    for bounds, actual in ((width, pixels.shape[1]), (height, pixels.shape[0])):
        assert bounds is None or bounds[0] <= actual <= bounds[1], (path, pixels.shape)
    return pixels


def count_colour(pixels, rgb):
    """How many pixels have the colour ``rgb`` (0..255), e.g. a line in matplotlib's first colour, C0."""
    return int((np.abs(pixels - np.asarray(rgb) / 255).max(axis=2) < 0.03).sum())


C0, C1 = (31, 119, 180), (255, 127, 14)  # matplotlib's first two line colours (train, validation; the ROC)


def start_interruptible(command, **kwargs):
    """Start ``command`` (in the project root) in a process group of its own with SIGINT at its default, so
    that ``os.killpg(process.pid, signal.SIGINT)`` is Ctrl-C in a terminal (a shell running in the background
    starts its children with SIGINT ignored)."""
    import signal
    import subprocess

    return subprocess.Popen(
        command,
        cwd=ROOT,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        **kwargs,
    )


@pytest.fixture(scope="session")
def mtcnn_detector():
    """One MTCNN detector with the default preprocess settings for the whole session: building one loads its
    three networks, and ``detect`` keeps no state between calls, so the tests that share it cannot see each
    other (a test that needs other settings builds its own)."""
    from common.core.config import DEFAULTS
    from common.faces.detection import MTCNNDetector

    return MTCNNDetector(DEFAULTS["preprocess"])


@pytest.fixture
def labelled_videos(tmp_path):
    """real/ and fake/ folders with two short videos each (folder dataset layout)."""
    root = tmp_path / "videos"
    for label in ("real", "fake"):
        for number in range(2):
            write_video(root / label / f"{label}{number}.mp4", frames=20 + 5 * number)
    return root


class SequenceDetector:
    """A stand-in detector returning given faces for each frame in turn; remembers the frame sizes."""

    def __init__(self, faces_per_frame):
        self.faces_per_frame = faces_per_frame
        self.sizes = []

    def detect(self, frames_rgb):
        self.sizes += [frame.shape for frame in frames_rgb]
        return [list(faces) for faces in self.faces_per_frame[: len(frames_rgb)]]


NO_TENSORFLOW = (
    "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow was loaded'\n"
)


def run_without_tensorflow(code):
    """Run ``code`` (Python, ``sys`` imported by it) in a fresh interpreter in the project root, then check
    that it loaded neither TensorFlow nor Keras; returns the completed process (its stdout is text)."""
    import subprocess

    result = subprocess.run(
        [sys.executable, "-c", code + NO_TENSORFLOW], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result


def slow_bootstrap(scores, labels, videos, function, n_resamples, seed, confidence=0.95):
    """The obvious implementation: per resample, draw real videos then fake videos (positions among the
    sorted ids of their class) with a generator seeded ``seed``, concatenate all their frames, call
    ``function(labels, scores)``; returns the resampled values and the percentile interval."""
    ids = sorted(set(videos))
    real = [v for v in ids if labels[videos == v][0] == 0]
    fake = [v for v in ids if labels[videos == v][0] == 1]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_resamples):
        drawn = [real[i] for i in rng.integers(len(real), size=len(real))]
        drawn += [fake[i] for i in rng.integers(len(fake), size=len(fake))]
        rows = np.concatenate([np.flatnonzero(videos == v) for v in drawn])
        values.append(function(labels[rows], scores[rows]))
    tail = 100 * (1 - confidence) / 2
    return np.array(values), np.percentile(values, [tail, 100 - tail])
