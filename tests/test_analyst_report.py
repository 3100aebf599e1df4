"""Stage 05's analyst report: the data the page is built from, the needs_review rule, the file and model
hashes in predictions.csv, and the page itself in a real browser (Chromium driven by Playwright)."""
# ruff: noqa: F811  (test_predict's fixtures are imported, then named as arguments)

import base64
import hashlib
import html
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from test_predict import (  # noqa: F401  (fixtures)
    brightness_scores,
    model,
    read_predictions,
    run_dir,
    stage05,
    stage05_argv,
    write_bad_files,
    write_flat_video,
)

from common.core.config import DEFAULTS
from common.core.model_file import MODEL_FILE
from common.evaluation.aggregate import track_table
from common.evaluation.figures import FIGURES
from common.evaluation.review import flag_for_review, review_reasons
from common.faces.base import Face
from common.inference import analyst_report, face_scoring, scorer
from tools.browser import opened_report, why_no_browser

SETTINGS = dict(DEFAULTS["predict"])  # threshold 0.5, band 0.1, at least 4 frames with a face
LEFT, RIGHT = (20, 60, 80, 80), (220, 60, 80, 80)  # two faces in the 320x240 frames of a 160x120 video


def faces_table(rows):
    """Face scores from ``(video, frame_index, track_id, p_fake)`` tuples."""
    return pd.DataFrame(rows, columns=face_scoring.FACE_COLUMNS)


def prediction_rows(*rows):
    """Stage 05 rows from ``(video, verdict, fake_probability)`` tuples; UNKNOWN ones with an error."""
    return pd.DataFrame(
        [
            {
                **face_scoring.unknown_row(
                    video, "no face found in 4 frames" if verdict == "UNKNOWN" else ""
                ),
                "verdict": verdict,
                "fake_probability": p_fake,
            }
            for video, verdict, p_fake in rows
        ]
    )


def test_needs_review_flags_borderline_disagreeing_and_thinly_scored_videos_but_not_unknown_ones():
    predictions = prediction_rows(
        ("clear_fake", "FAKE", 0.9),
        ("borderline", "REAL", 0.45),
        ("two_people", "FAKE", 0.9),
        ("glimpsed", "REAL", 0.1),
        ("faceless", "UNKNOWN", 0.5),
    )
    four = range(0, 40, 10)
    faces = faces_table(
        [("clear_fake", i, 0, 0.9) for i in four]
        + [("borderline", i, 0, 0.45) for i in four]
        + [("two_people", i, 0, 0.9) for i in four]
        + [("two_people", i, 1, 0.1) for i in four]
        + [("glimpsed", i, 0, 0.1) for i in range(3)]  # 3 frames with a face: fewer than 4
    )
    tracks = track_table(faces, SETTINGS)
    assert review_reasons(predictions, faces, tracks, SETTINGS) == {
        "clear_fake": [],
        "borderline": ["borderline"],
        "two_people": ["tracks disagree"],
        "glimpsed": ["few frames"],
        "faceless": [],
    }
    flagged = flag_for_review(predictions, review_reasons(predictions, faces, tracks, SETTINGS))
    assert list(flagged["needs_review"]) == [False, True, True, True, False]
    assert list(flagged["verdict"]) == list(predictions["verdict"])  # the verdict keeps its meaning
    narrow = {**SETTINGS, "review_band": 0.01, "review_min_frames": 0}
    assert not review_reasons(predictions, faces, track_table(faces, narrow), narrow)["borderline"]
    assert not review_reasons(predictions, faces, track_table(faces, narrow), narrow)["glimpsed"]


def thumbnail(brightness, size=16):
    return face_scoring.base64_jpeg(np.full((size, size, 3), brightness, np.uint8))


def test_the_page_data_has_one_entry_per_video_track_and_face_in_time_order(tmp_path):
    predictions = prediction_rows(("a.mp4", "FAKE", 0.8), ("b.mp4", "UNKNOWN", 0.5)).assign(
        fps=[10.0, 0.0], label=["FAKE", "REAL"], sha256=["ab" * 32, ""], size_bytes=[1234, 0]
    )
    faces = faces_table(
        [("a.mp4", 20, 1, 0.2), ("a.mp4", 10, 0, 0.9), ("a.mp4", 0, 0, 0.7), ("a.mp4", 0, 1, 0.3)]
    )
    faces[face_scoring.THUMBNAIL_COLUMN] = [thumbnail(value) for value in (10, 20, 30, 40)]
    settings = {**SETTINGS, "report_thumbnail": 16}
    video_file = tmp_path / "videos" / "a.mp4"
    video_file.parent.mkdir()
    video_file.write_bytes(b"x")
    report = tmp_path / "out" / "report.html"
    model_facts = {"backbone": "small_cnn", "sha256": "cd" * 32, "test_auc": None}

    tracks = track_table(faces, settings)
    reasons = review_reasons(predictions, faces, tracks, settings)
    data = analyst_report.report_data(
        predictions,
        faces,
        tracks,
        reasons,
        settings,
        model_facts,
        {"a.mp4": video_file},
        report,
        None,
        "videos/",
    )
    assert [video["name"] for video in data["videos"]] == ["a.mp4", "b.mp4"]
    first, unknown = data["videos"]
    assert [track["id"] for track in first["tracks"]] == [0, 1]
    zero, one = first["tracks"]
    assert [(face["frame"], face["t"], face["p"]) for face in zero["faces"]] == [
        (0, 0.0, 0.7),
        (10, 1.0, 0.9),
    ]
    assert [face["frame"] for face in one["faces"]] == [0, 20]
    assert (
        zero["verdict"] == "FAKE"
        and one["verdict"] == "REAL"
        and first["review"] == ["tracks disagree", "few frames"]
    )
    strip = cv2.imdecode(
        np.frombuffer(base64.b64decode(zero["strip"].split(",", 1)[1]), np.uint8),
        cv2.IMREAD_COLOR,
    )
    assert strip.shape[:2] == (16, 32)  # the track's two crops side by side
    assert abs(strip[:, :16].mean() - 30) < 4 and abs(strip[:, 16:].mean() - 20) < 4  # frame 0, then 10
    assert first["href"] == "../videos/a.mp4" and first["sha256"] == "ab" * 32 and first["size"] == 1234
    assert first["frames_scored"] == 3 and first["label"] == "FAKE"
    assert (
        unknown["tracks"] == []
        and unknown["error"] == "no face found in 4 frames"
        and unknown["href"] is None
    )
    assert data["counts"] == {"FAKE": 1, "REAL": 0, "UNKNOWN": 1}
    assert sum(data["histogram"]) == 1 and data["histogram"][8] == 1
    assert data["model"]["sha256"] == "cd" * 32 and data["settings"]["threshold"] == 0.5

    # the page carries exactly this data, and a name cannot close its script element
    predictions.loc[1, "video"] = "</script><b>x</b>.mp4"
    reasons = review_reasons(predictions, faces, tracks, settings)  # keyed by the new name
    data = analyst_report.report_data(
        predictions, faces, tracks, reasons, settings, model_facts, {}, report, None, "v"
    )
    page = analyst_report.render(data)
    embedded = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S
    ).group(1)
    assert json.loads(embedded) == data
    assert html.unescape(re.search(r"<title>(.*)</title>", page).group(1)) == data["title"]


def test_the_default_report_is_written_only_for_folders_with_fewer_videos_than_the_setting(tmp_path):
    output = tmp_path / "p.csv"
    assert analyst_report.default_report_path(output, 5, {"report_max_videos": 6}) == tmp_path / "report.html"
    assert analyst_report.default_report_path(output, 6, {"report_max_videos": 6}) is None
    assert analyst_report.default_report_path(output, 1, {"report_max_videos": 0}) is None


class TwoFaceDetector:
    """A stand-in detector: a face on the left of every frame, and one on the right when that half of the
    frame differs from the left (so flat videos have one face track, two-tone videos two)."""

    def detect(self, frames_rgb):
        found = []
        for frame in frames_rgb:
            width = frame.shape[1]
            faces = [Face(LEFT, 0.99)]
            if abs(float(frame[:, : width // 2].mean()) - float(frame[:, width // 2 :].mean())) > 50:
                faces.append(Face(RIGHT, 0.99))
            found.append(faces)
        return found


def write_two_face_video(path, left, right, frames=6, size=(160, 120)):
    """A video whose left half is a flat grey of ``left`` and right half of ``right``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, size)
    try:
        for _ in range(frames):
            frame = np.full((size[1], size[0], 3), left, np.uint8)
            frame[:, size[0] // 2 :] = right
            writer.write(frame)
    finally:
        writer.release()
    return path


@pytest.fixture
def two_face_detector(monkeypatch):
    monkeypatch.setattr(scorer, "build_detector", lambda preprocess: TwoFaceDetector())


def labelled_folder(root):
    """A small labelled folder: a clear fake, a clear real, a borderline real, a two-person fake (one face
    bright, one dark) and a file that is no video."""
    write_flat_video(root / "fake" / "bright.mp4", 220)
    write_two_face_video(root / "fake" / "two_people.mp4", 230, 20)
    write_flat_video(root / "real" / "dark.mp4", 30)
    write_flat_video(root / "real" / "grey.mp4", 120)  # P(fake) 0.47: within 0.1 of the threshold
    write_bad_files(root / "fake")
    return root


@pytest.fixture
def scored_folder(run_dir, tmp_path, two_face_detector, brightness_scores):
    """Stage 05 run on ``labelled_folder`` with its default report: ``(videos, predictions CSV, report)``."""
    videos = labelled_folder(tmp_path / "videos")
    output = tmp_path / "out" / "predictions.csv"
    code = stage05.main(stage05_argv(run_dir, videos, output, "--frames", "4"))
    assert code == 1  # the bad files
    return videos, output, tmp_path / "out" / "report.html"


def test_predictions_name_the_exact_file_and_model_and_flag_videos_to_review(scored_folder, run_dir):
    videos, output, report = scored_folder
    table = read_predictions(output).set_index("video")
    for name in ("fake/bright.mp4", "real/grey.mp4", "fake/corrupt.mp4"):
        content = (videos / name).read_bytes()
        assert table.loc[name, "sha256"] == hashlib.sha256(content).hexdigest()
        assert table.loc[name, "size_bytes"] == len(content)
    assert table.loc["fake/empty.mp4", "size_bytes"] == 0
    model_sha = hashlib.sha256((run_dir / MODEL_FILE).read_bytes()).hexdigest()
    assert set(table["model_sha256"]) == {model_sha}
    assert table["needs_review"].to_dict() == {
        "fake/bright.mp4": False,
        "fake/corrupt.mp4": False,
        "fake/empty.mp4": False,
        "fake/notes.txt": False,
        "fake/two_people.mp4": True,  # its tracks disagree
        "real/dark.mp4": False,
        "real/grey.mp4": True,  # borderline
    }
    assert table.loc["fake/two_people.mp4", "verdict"] == "FAKE"  # any fake track makes the video FAKE

    assert report.is_file()  # 7 videos: fewer than report_max_videos
    page = report.read_text()
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', page, re.S).group(1))
    by_name = {video["name"]: video for video in data["videos"]}
    assert len(by_name) == 7
    two = by_name["fake/two_people.mp4"]
    assert [track["verdict"] for track in two["tracks"]] == ["FAKE", "REAL"]
    assert all(track["strip"].startswith("data:image/jpeg;base64,") for track in two["tracks"])
    assert [len(track["faces"]) for track in two["tracks"]] == [4, 4]
    assert (
        two["href"] == "../videos/fake/two_people.mp4"
        and two["sha256"] == table.loc["fake/two_people.mp4", "sha256"]
    )
    assert data["model"]["sha256"] == model_sha and data["labelled"]["confusion"]
    metrics = json.loads((output.parent / "predictions_metrics.json").read_text())
    shown = [figure for figure in FIGURES if figure.key != "n"]  # the count has its own line
    assert [row["label"] for row in data["labelled"]["figures"]] == [figure.label for figure in shown]
    for row in data["labelled"]["figures"]:  # the page's labels and values come from the one list
        for level, key in (("videos", "video_level"), ("frames", "frame_level")):
            assert row[level] == pytest.approx(metrics[key][row["key"]], abs=1e-4), (row["key"], level)
    assert data["labelled"]["n"] == metrics["video_level"]["n"]
    without_svg_namespace = page.replace('"http://www.w3.org/2000/svg"', "")
    assert "http://" not in without_svg_namespace and "https://" not in page  # nothing from the network


def test_an_explicit_report_path_and_no_default_report_for_large_folders(
    run_dir,
    tmp_path,
    two_face_detector,
    brightness_scores,
):
    videos = tmp_path / "videos"
    write_flat_video(videos / "a.mp4", 200)
    write_flat_video(videos / "b.mp4", 40)
    config = tmp_path / "few.yaml"
    config.write_text("predict:\n  report_max_videos: 2\n")
    output = tmp_path / "p.csv"
    assert stage05.main(stage05_argv(run_dir, videos, output, "--frames", "2", "--config", str(config))) == 0
    assert not (tmp_path / "report.html").exists()  # 2 videos, not fewer than 2
    report = tmp_path / "elsewhere" / "a.html"
    report.parent.mkdir()
    argv = stage05_argv(
        run_dir, videos, output, "--frames", "2", "--config", str(config), "--report", str(report)
    )
    assert stage05.main(argv) == 0
    assert report.is_file() and not (tmp_path / "report.html").exists()


def test_report_gradcam_overlays_the_most_fake_crops(run_dir, tmp_path, two_face_detector):
    videos = tmp_path / "videos"
    write_two_face_video(videos / "two.mp4", 230, 20, frames=4)
    report = tmp_path / "r.html"
    argv = stage05_argv(
        run_dir, videos, tmp_path / "p.csv", "--frames", "4", "--report", str(report), "--report-gradcam"
    )
    assert stage05.main(argv) == 0
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', report.read_text(), re.S).group(1))
    faces = [face for track in data["videos"][0]["tracks"] for face in track["faces"]]
    with_overlay = [face for face in faces if "gradcam" in face]
    assert len(faces) == 8 and len(with_overlay) == 3
    assert min(face["p"] for face in with_overlay) >= max(
        face["p"] for face in faces if "gradcam" not in face
    )


@pytest.mark.skipif(bool(why_no_browser()), reason=why_no_browser() or "")
def test_the_report_in_a_real_browser(scored_folder, tmp_path):
    _, output, report = scored_folder
    rows = read_predictions(output)
    with opened_report(report) as (page, errors):
        table_rows = page.locator("#videos tbody tr")
        assert table_rows.count() == len(rows) == 7

        page.locator("#videos th[data-key=p] button").click()  # P(fake), highest first
        shown = [
            float(text) for text in page.locator("#videos tbody tr td:nth-child(4)").all_inner_texts() if text
        ]
        assert shown == sorted(shown, reverse=True) and len(shown) == 4
        page.locator("#videos th[data-key=p] button").click()
        shown = [
            float(text) for text in page.locator("#videos tbody tr td:nth-child(4)").all_inner_texts() if text
        ]
        assert shown == sorted(shown)

        page.locator("#videos tbody tr", has_text="two_people.mp4").click()
        detail = page.locator("#detail")
        assert detail.is_visible() and detail.get_attribute("data-video") == "fake/two_people.mp4"
        assert detail.locator(".track").count() == 2  # one strip per face track
        assert detail.locator(".track .strip").count() == 2
        assert detail.locator(".track svg").count() == 2  # one timeline each
        images = detail.locator(".strip img")
        assert images.count() == 8 and all(images.nth(i).get_attribute("alt") for i in range(8))
        assert page.evaluate(
            "Array.from(document.images).every(image => image.complete && image.naturalWidth > 0)"
        )

        page.locator("#videos tbody tr", has_text="dark.mp4").focus()  # the keyboard opens a row too
        page.keyboard.press("ArrowDown")  # the next row by P(fake)
        page.keyboard.press("Enter")
        assert detail.get_attribute("data-video") == "real/grey.mp4"

        page.locator("#f-review").check()
        assert page.locator("#videos tbody tr").count() == 2  # grey.mp4 and two_people.mp4

        against_labels = page.locator("#overview").inner_text()
        for figure in FIGURES[1:]:  # each figure's label, as report.md names it, with both levels
            assert figure.label in against_labels, figure.label
        assert re.search(r"AUC\s+videos \d\.\d{3}, frames \d\.\d{3}", against_labels)

        page.locator("#f-review").uncheck()
        page.locator("#videos tbody tr", has_text="notes.txt").click()
        assert "Why no verdict" in detail.inner_text()
        page.locator("#videos tbody tr", has_text="two_people.mp4").click()
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert errors == []
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_the_page_names_no_figure_itself_it_takes_the_labels_from_its_data():
    template = Path(analyst_report.__file__).with_name("analyst_report.html").read_text()
    for figure in FIGURES[1:]:
        if " " in figure.label:  # one-word labels ("AUC") occur in other text of the page
            assert figure.label not in template, figure.label
    for old_label in ("balanced accuracy", "average precision", "log loss", "frame AUC", "video AUC"):
        assert old_label not in template
