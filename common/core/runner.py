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
import os
import signal
import sys
import time
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from common.core.files import atomic_write_csv, output_lock, safe_name
from common.core.manifest import FAILED, MANIFEST, PARTS, SKIPPED_FRAMES, read_table
from common.core.shard import WHOLE

log = logging.getLogger(__name__)

FAILED_PARTS = "failed"  # parts/failed/<video>.csv: why a video failed (it is tried again on a re-run)
FAILED_COLUMNS = ["video_id", "video_path", "error"]


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
        """The one-line summary a stage prints at the end; exit code 1 when a video failed (listed in
        failed.csv; the others' outputs are complete), so a script can tell."""
        print(
            f"{self.videos} videos ({self.done_before} done before, {self.failed} failed), {self.rows} {rows_name} "
            f"({self.skipped_frames} {skipped_name}) in {self.seconds:.1f} s ({self.rate:.1f} new {rows_name}/s) "
            f"-> {Path(output) / MANIFEST}"
        )
        return 1 if self.failed else 0


def worker_context():
    """How worker processes start: the platform's way (fork on Linux: they start at once, stage 01 ends
    0.5 s sooner), but spawn once TensorFlow runs: a forked child of a process that runs it can hang."""
    return multiprocessing.get_context("spawn" if "tensorflow" in sys.modules else None)


def run_per_video(jobs, process, output, columns, description, workers=1, shard=WHOLE):
    """Run ``process(payload) -> list[dict]`` for each ``(video_id, video_path, payload)`` in ``jobs``.

    A row with a non-empty ``error`` is an input that gave no output (an unreadable frame, a frame without a
    face): it goes to ``skipped_frames.csv``. An exception fails the whole video: one log line, a row in
    ``failed.csv``, and the run goes on (a re-run tries it again). Returns a ``RunSummary`` of this run's
    videos. With ``shard`` only that shard's videos are processed; ``manifest.csv`` (with ``columns``) is
    written by whichever run finds every video of ``jobs`` done or failed. A second run of the same
    ``output`` (and shard) at the same time is refused (``output_lock``).
    """
    with output_lock(output, MANIFEST, shard):
        return _run_per_video(jobs, process, output, columns, description, workers, shard)


def _run_per_video(jobs, process, output, columns, description, workers, shard):
    started = time.perf_counter()
    output = Path(output)
    parts = output / PARTS
    parts.mkdir(parents=True, exist_ok=True)
    mine = shard.select(jobs)
    summary = RunSummary(videos=len(mine))
    todo = []
    for video_id, video_path, payload in mine:
        if (parts / f"{safe_name(video_id)}.csv").is_file():
            summary.done_before += 1
        else:
            todo.append((video_id, video_path, payload))
    if summary.done_before:
        log.info("%d of %d videos already done in %s: skipping them", summary.done_before, len(mine), output)

    def finish(video_id, video_path, result):
        name = safe_name(video_id)
        if isinstance(result, Exception):
            log.warning("failed: %s: %s", video_path, result)
            summary.failed += 1
            failure = pd.DataFrame(
                [{"video_id": video_id, "video_path": str(video_path), "error": str(result)}]
            )
            atomic_write_csv(parts / FAILED_PARTS / f"{name}.csv", failure)
            return
        frame = pd.DataFrame(result, columns=columns + ["error"]).fillna({"error": ""})
        summary.new_rows += int((frame["error"] == "").sum())
        atomic_write_csv(parts / f"{name}.csv", frame)
        (parts / FAILED_PARTS / f"{name}.csv").unlink(missing_ok=True)

    with tqdm(total=len(todo), desc=description, unit="video") as bar:
        if workers <= 1:
            for video_id, video_path, payload in todo:
                finish(video_id, video_path, _call(process, payload))
                bar.update()
        else:
            pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=workers, mp_context=worker_context(), initializer=_stop_at_interrupt
            )
            try:
                futures = {
                    pool.submit(_call, process, payload): (video_id, video_path)
                    for video_id, video_path, payload in todo
                }
                for future in concurrent.futures.as_completed(futures):
                    finish(*futures[future], future.result())
                    bar.update()
            finally:  # on Ctrl-C the videos not started yet are dropped, not worked through unseen
                pool.shutdown(wait=True, cancel_futures=True)

    rows = _join_parts(parts, [video_id for video_id, _, _ in mine], columns)
    ok = rows["error"] == ""
    summary.rows = int(ok.sum())
    summary.skipped_frames = int((~ok).sum())
    _write_manifest_when_complete(parts, output, jobs, columns, shard)
    summary.seconds = time.perf_counter() - started
    return summary


def _write_manifest_when_complete(parts, output, jobs, columns, shard):
    """Join every video's part into ``manifest.csv`` (and the problem lists) once no video is left to do."""
    names = [safe_name(video_id) for video_id, _, _ in jobs]
    waiting = [
        name
        for name in names
        if not (parts / f"{name}.csv").is_file() and not (parts / FAILED_PARTS / f"{name}.csv").is_file()
    ]
    if waiting:
        log.info(
            "shard %s done; %d of %d videos wait for other shards: the last shard to finish writes %s, or run "
            "again without --shard",
            shard,
            len(waiting),
            len(names),
            output / MANIFEST,
        )
        return
    rows = _join_parts(parts, [video_id for video_id, _, _ in jobs], columns)
    ok = rows["error"] == ""
    atomic_write_csv(output / MANIFEST, rows.loc[ok, columns])
    _write_or_remove(output / SKIPPED_FRAMES, rows.loc[~ok])
    failures = [parts / FAILED_PARTS / f"{name}.csv" for name in names]
    failures = [read_table(path) for path in failures if path.is_file()]
    failed = pd.concat(failures, ignore_index=True) if failures else pd.DataFrame(columns=FAILED_COLUMNS)
    _write_or_remove(output / FAILED, failed[FAILED_COLUMNS])


_interrupted = False  # in a worker process: Ctrl-C came


def _stop_at_interrupt():
    """Worker process set-up: Ctrl-C stops the video in flight (KeyboardInterrupt: its temporary files are
    removed) and every video queued to this worker after it (the pool hands workers videos ahead: they
    were worked through, unrecorded, while the stage exited)."""

    def interrupt(signum, frame):
        global _interrupted
        _interrupted = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)


def _call(process, payload):
    """Return the rows, or the exception, so one bad video never stops the batch (also across processes)."""
    if _interrupted:
        raise KeyboardInterrupt
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


def available_cores():
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
