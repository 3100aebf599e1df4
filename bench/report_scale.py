#!/usr/bin/env python3
"""How large stage 05's HTML report of 1,000 videos is, and how fast it opens in Chromium. Run by hand:

    python bench/report_scale.py --videos 1000 --frames 32 --output /tmp/report_scale

Makes a synthetic predictions set as stage 05 keeps it for its report (no model, no video decoding): each
video has ``--frames`` scored frames, one face track (every ``--two-person``-th video two), every face a
``predict.report_thumbnail`` px crop of scikit-image's astronaut photo, moved and lit a little differently in
each frame (face-like JPEG content), P(fake) drawn at random; one video in 50 is UNKNOWN with an error.
Writes the page with ``common.inference.analyst_report`` and reports its size, the time to build it, and, over
``--repeat`` fresh browser pages: the time from navigation to the table drawn (``window.reportReady``, on
the page's own clock) and the time to open the section of the video with the most faces.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from common.core.config import DEFAULTS  # noqa: E402
from common.evaluation.aggregate import track_table  # noqa: E402
from common.evaluation.review import review_reasons  # noqa: E402
from common.inference import analyst_report, face_scoring  # noqa: E402
from tools.browser import opened_report, why_no_browser  # noqa: E402


def face_source():
    """The astronaut's face (BGR), with room around it to move the crop."""
    from skimage import data

    return cv2.cvtColor(data.astronaut()[0:260, 120:360], cv2.COLOR_RGB2BGR)


def synthetic_scores(videos, frames, two_person, size, seed):
    """``(predictions, faces)`` shaped as stage 05 hands them to the report."""
    rng = np.random.default_rng(seed)
    source = face_source()
    rows, faces = [], []
    for number in range(videos):
        name = f"{'fake' if number % 2 else 'real'}/clip{number:05d}.mp4"
        if number % 50 == 49:
            rows.append({**face_scoring.unknown_row(name, "no face found in 32 frames", frames), "fps": 30.0})
            continue
        tracks = 2 if number % two_person == 0 else 1
        level = rng.beta(2, 5) if number % 2 == 0 else rng.beta(5, 2)
        for track in range(tracks):
            for frame in range(frames):
                x, y = rng.integers(0, 40, 2)
                crop = source[y : y + 200, x : x + 200] * rng.uniform(0.8, 1.2)
                thumbnail = cv2.resize(
                    np.clip(crop, 0, 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_AREA
                )
                p_fake = float(np.clip(level + rng.normal(0, 0.1), 0, 1))
                faces.append((name, frame * 9, track, p_fake, face_scoring.base64_jpeg(thumbnail)))
        p_video = float(np.mean([face[3] for face in faces if face[0] == name and face[2] == 0]))
        rows.append(
            {
                **face_scoring.unknown_row(name, ""),
                "verdict": "FAKE" if p_video >= 0.5 else "REAL",
                "fake_probability": p_video,
                "frames_sampled": frames,
                "faces_scored": frames * tracks,
                "tracks": tracks,
                "sha256": f"{number:064x}",
                "size_bytes": 10_000_000 + number,
                "fps": 30.0,
            }
        )
    columns = [*face_scoring.FACE_COLUMNS, face_scoring.THUMBNAIL_COLUMN]
    return pd.DataFrame(rows), pd.DataFrame(faces, columns=columns)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--videos", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=DEFAULTS["predict"]["frames"])
    parser.add_argument("--two-person", type=int, default=5, help="every N-th video has two face tracks")
    parser.add_argument("--repeat", type=int, default=3, help="browser openings measured")
    parser.add_argument("--output", type=Path, default=Path("/tmp/report_scale"))
    args = parser.parse_args(argv)
    settings = dict(DEFAULTS["predict"])
    predictions, faces = synthetic_scores(
        args.videos, args.frames, args.two_person, settings["report_thumbnail"], 0
    )
    args.output.mkdir(parents=True, exist_ok=True)
    report = args.output / "report.html"
    started = time.perf_counter()
    model = {"backbone": "synthetic", "sha256": "0" * 64, "test_auc": None}
    tracks = track_table(faces, settings)
    reasons = review_reasons(predictions, faces, tracks, settings)
    data = analyst_report.report_data(
        predictions, faces, tracks, reasons, settings, model, {}, report, None, "synthetic"
    )
    analyst_report.write_report(report, data)
    built = time.perf_counter() - started
    size = report.stat().st_size
    print(
        f"{args.videos} videos, {len(faces)} faces ({args.frames} frames, every {args.two_person}th video two "
        f"tracks, {settings['report_thumbnail']} px): {size / 2**20:.1f} MiB ({size / len(faces):.0f} bytes a "
        f"face), built in {built:.1f} s -> {report}"
    )
    reason = why_no_browser()
    if reason:
        print(f"not opened in a browser: {reason}")
        return 0
    ready, opened = [], []
    biggest = int(predictions["faces_scored"].idxmax())
    for _ in range(args.repeat):
        with opened_report(report) as (page, errors):
            ready.append(page.evaluate("window.reportReadyAt"))
            version = page.context.browser.version
            rows = page.locator("#videos tbody tr").count()
            started = page.evaluate("performance.now()")
            page.locator(f'#videos tbody tr[data-id="{biggest}"]').click()
            page.wait_for_function("document.querySelectorAll('#detail .strip img').length > 0")
            page.evaluate("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
            opened.append(page.evaluate("performance.now()") - started)
            if errors or rows != args.videos:
                print(f"PROBLEM: {rows} rows, errors {errors}")
                return 1
    print(
        f"Chromium {version}: table drawn {statistics.median(ready):.0f} ms after navigation "
        f"(median of {args.repeat}: {', '.join(f'{value:.0f}' for value in ready)}); the section of a "
        f"{predictions['faces_scored'].max()}-face video opens in {statistics.median(opened):.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
