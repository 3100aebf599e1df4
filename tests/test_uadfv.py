"""``--dataset uadfv``: UADFV's ``real/NNNN.mp4`` and ``fake/NNNN_fake.mp4`` read as labelled, grouped videos,
scored whole by stage 05 (DeepfakeBench's test set is every video), and its ``--check``."""

import pytest
from conftest import write_video
from test_protocols import by_id, touch

from common.core.errors import UserError
from common.core.manifest import FAKE, REAL, read_table
from common.data.adapters import list_videos
from common.data.download_check import check_download
from common.inference.videos_to_score import videos_and_labels

UADFV_FILES = ["real/0000.mp4", "real/0001.mp4", "real/0048.mp4", "fake/0000_fake.mp4", "fake/0001_fake.mp4"]


def uadfv_tree(root, files=UADFV_FILES, make=touch):
    for name in files:
        make(root / name)
    return root


def test_uadfv_labels_sources_and_groups_pair_a_clip_with_its_fake_and_no_official_split(tmp_path):
    records = by_id(list_videos(uadfv_tree(tmp_path / "UADFV"), "uadfv"))
    assert sorted(records) == ["fake/0000_fake", "fake/0001_fake", "real/0000", "real/0001", "real/0048"]
    assert {video_id: record.label for video_id, record in records.items()} == {
        "fake/0000_fake": FAKE,
        "fake/0001_fake": FAKE,
        "real/0000": REAL,
        "real/0001": REAL,
        "real/0048": REAL,
    }
    assert records["fake/0001_fake"].source_video == "real/0001"
    assert records["fake/0001_fake"].group == records["real/0001"].group == "real/0001"
    assert records["real/0048"].group == "real/0048"
    assert not any(record.official_split for record in records.values())


def test_stage_05_scores_every_uadfv_video_as_deepfakebench_does(tmp_path):
    root = uadfv_tree(tmp_path / "UADFV")
    videos, labels, _ = videos_and_labels(root, tmp_path / "out.csv", dataset="uadfv")
    assert len(videos) == len(labels) == 5 and sum(labels.values()) == 2


@pytest.mark.parametrize(
    "name, message",
    [
        ("fake/0002.mp4", r"0002.mp4: UADFV videos in fake/ are named NNNN_fake.mp4"),
        ("real/0002_fake.mp4", r"0002_fake.mp4: UADFV videos in real/ are named NNNN.mp4"),
        ("real/more/0002.mp4", r"more/0002.mp4: .* directly in the folder"),
    ],
)
def test_uadfv_a_misnamed_or_misplaced_video_fails_naming_it(tmp_path, name, message):
    root = uadfv_tree(tmp_path / "UADFV")
    touch(root / name)
    with pytest.raises(UserError, match=message):
        list_videos(root, "uadfv")


def test_uadfv_without_its_fake_folder_fails_naming_it(tmp_path):
    root = uadfv_tree(tmp_path / "UADFV", ["real/0000.mp4"])
    with pytest.raises(UserError, match=r"lacks fake/ \(UADFV: real/NNNN.mp4 and fake/NNNN_fake.mp4\)"):
        list_videos(root, "uadfv")


def test_stage_01_on_uadfv_writes_labels_and_groups(tmp_path):
    root = uadfv_tree(tmp_path / "UADFV", make=lambda path: write_video(path, 4))
    output = tmp_path / "frames"
    from common.stages import extract_frames as stage01

    assert stage01.main(["--input", str(root), "--output", str(output), "--dataset", "uadfv"]) == 0
    videos = read_table(output / "manifest.csv").drop_duplicates("video_id").set_index("video_id")
    assert videos.loc["fake/0000_fake", "group"] == videos.loc["real/0000", "group"] == "real/0000"
    assert videos["label"].to_dict()["fake/0001_fake"] == FAKE


def test_uadfv_check_counts_both_folders_names_absent_clips_and_a_missing_folder(tmp_path, capsys):
    root = uadfv_tree(tmp_path / "UADFV")
    assert check_download(root, "uadfv") == 0
    out = capsys.readouterr().out
    assert f"real/ ({root / 'real'}): 3 of 49 expected (46 short)" in out
    assert f"fake/ ({root / 'fake'}): 2 of 49 expected (47 short)" in out
    assert "not in real/ of clips 0000-0048: 0002.mp4, 0003.mp4," in out and "0048.mp4" not in out
    assert "not in fake/ of clips 0000-0048: 0002_fake.mp4," in out and "0048_fake.mp4" in out
    for path in (root / "fake").iterdir():
        path.unlink()
    (root / "fake").rmdir()
    from common.stages import extract_frames as stage01

    code = stage01.main(
        ["--dataset", "uadfv", "--input", str(root), "--output", str(tmp_path / "o"), "--check"]
    )
    assert code == 1 and "MISSING fake/: folder" in capsys.readouterr().out
    assert not (tmp_path / "o").exists()
