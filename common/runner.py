"""Run a pure per-video function over many videos: progress, resume, failures, manifest.

Each finished video leaves one part file (``parts/<video>.csv``, written atomically); that file is the proof
the video is done, so a re-run skips it and an interrupted run loses at most the video in flight. At the end
the parts are joined into the stage's manifest. Because the per-video function is pure (its inputs in, its
rows out), videos can run in worker processes, or on several machines that share nothing but the output
folder.
"""

import concurrent.futures
import dataclasses
import logging
import multiprocessing
import time
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from common.files import atomic_write_csv, safe_name
from common.manifest import FAILED, MANIFEST, SKIPPED_FRAMES, read_table

log = logging.getLogger(__name__)

PARTS = "parts"


@dataclasses.dataclass
class RunSummary:
    videos: int = 0
    done_before: int = 0
    failed: int = 0
    rows: int = 0
    skipped_frames: int = 0
    new_rows: int = 0  # rows made by this run (not by an earlier one)
    seconds: float = 0.0

    @property
    def rate(self):
        """Rows made per second by this run."""
        return self.new_rows / self.seconds if self.seconds else 0.0

    def report(self, rows_name, skipped_name, output):
        """The one-line summary a stage prints at the end; exit code 1 when every video failed."""
        print(
            f"{self.videos} videos ({self.done_before} done before, {self.failed} failed), {self.rows} {rows_name} "
            f"({self.skipped_frames} {skipped_name}) in {self.seconds:.1f} s ({self.rate:.1f} new {rows_name}/s) "
            f"-> {Path(output) / MANIFEST}"
        )
        return 1 if self.failed == self.videos else 0


def run_per_video(jobs, process, output, columns, description, workers=1):
    """Run ``process(payload) -> list[dict]`` for each ``(video_id, video_path, payload)`` in ``jobs``.

    A row with a non-empty ``error`` is an input that gave no output (an unreadable frame, a frame without a
    face): it goes to ``skipped_frames.csv``. An exception fails the whole video: one log line, a row in
    ``failed.csv``, and the run goes on. Returns a ``RunSummary``; writes ``manifest.csv`` with ``columns``.
    """
    started = time.perf_counter()
    output = Path(output)
    parts = output / PARTS
    parts.mkdir(parents=True, exist_ok=True)
    summary = RunSummary(videos=len(jobs))
    failures = []
    todo = []
    for video_id, video_path, payload in jobs:
        if (parts / f"{safe_name(video_id)}.csv").is_file():
            summary.done_before += 1
        else:
            todo.append((video_id, video_path, payload))
    if summary.done_before:
        log.info("%d of %d videos already done in %s: skipping them", summary.done_before, len(jobs), output)

    def finish(video_id, video_path, result):
        if isinstance(result, Exception):
            log.warning("failed: %s: %s", video_path, result)
            failures.append({"video_id": video_id, "video_path": str(video_path), "error": str(result)})
            return
        frame = pd.DataFrame(result, columns=columns + ["error"]).fillna({"error": ""})
        summary.new_rows += int((frame["error"] == "").sum())
        atomic_write_csv(parts / f"{safe_name(video_id)}.csv", frame)

    with tqdm(total=len(todo), desc=description, unit="video") as bar:
        if workers <= 1:
            for video_id, video_path, payload in todo:
                finish(video_id, video_path, _call(process, payload))
                bar.update()
        else:
            # spawn, not fork: a forked child of a process that already runs TensorFlow can hang
            spawn = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=spawn) as pool:
                futures = {
                    pool.submit(_call, process, payload): (video_id, video_path)
                    for video_id, video_path, payload in todo
                }
                for future in concurrent.futures.as_completed(futures):
                    finish(*futures[future], future.result())
                    bar.update()

    rows = _join_parts(parts, [video_id for video_id, _, _ in jobs], columns)
    ok = rows["error"] == ""
    atomic_write_csv(output / MANIFEST, rows.loc[ok, columns])
    _write_or_remove(output / SKIPPED_FRAMES, rows.loc[~ok])
    _write_or_remove(output / FAILED, pd.DataFrame(failures, columns=["video_id", "video_path", "error"]))
    summary.failed = len(failures)
    summary.rows = int(ok.sum())
    summary.skipped_frames = int((~ok).sum())
    summary.seconds = time.perf_counter() - started
    return summary


def _call(process, payload):
    """Return the rows, or the exception, so one bad video never stops the batch (also across processes)."""
    try:
        return process(payload)
    except Exception as error:
        return error if str(error) else type(error)(type(error).__name__)


def _join_parts(parts, video_ids, columns):
    frames = []
    for video_id in video_ids:
        path = parts / f"{safe_name(video_id)}.csv"
        if path.is_file():
            frames.append(read_table(path))
    if not frames:
        return pd.DataFrame(columns=columns + ["error"])
    return pd.concat(frames, ignore_index=True)


def _write_or_remove(path, frame):
    """Keep a problem list only when there is something in it, so a clean re-run leaves none behind."""
    if len(frame):
        atomic_write_csv(path, frame)
    elif path.exists():
        path.unlink()
