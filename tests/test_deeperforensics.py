"""``--dataset deeperforensics``: DeeperForensics-1.0's fakes of one variant with the official train/val/test
lists, the reals either FaceForensics++ target videos (the authors' protocol) or the actors' source videos
(DeepfakeBench's), groups by actor, stage 05's official test set, and ``--check``."""

import pytest
from conftest import write_video
from test_protocols import by_id, touch

from common.core.config import load_config
from common.core.errors import UserError
from common.core.manifest import FAKE, REAL, read_table
from common.data.adapters import list_videos
from common.data.download_check import check_download
from common.inference.videos_to_score import videos_and_labels

# M010 and M020 share the target video 005, so they are one group; target 007 is used by no fake.
DF_FAKES = ["000_M004", "001_M004", "002_W101", "005_M010", "005_M020", "006_M020"]
DF_LISTS = {  # the official lists' lines: with and without .mp4, a blank line
    "train": ["000_M004.mp4", "001_M004.mp4"],
    "val": ["002_W101"],
    "test": ["005_M010.mp4", "", "005_M020.mp4", "006_M020.mp4"],
}
DF_TARGETS = ["000", "001", "002", "005", "006", "007"]
DF_SOURCES = [
    "M004/light_uniform/happy/camera_front/M004_light_uniform_happy_camera_front.mp4",
    "M004/BlendShape/camera_left/M004_BlendShape_camera_left.mp4",
    "W101/light_up/sad/camera_down/W101_light_up_sad_camera_down.mp4",
    "M010/light_left/angry/camera_up/M010_light_left_angry_camera_up.mp4",
    "M020/light_down/fear/camera_right/M020_light_down_fear_camera_right.mp4",
    "M030/light_right/neutral/camera_front/M030_light_right_neutral_camera_front.mp4",
]
TARGET_FOLDER = "ff/original_sequences/youtube/c23/videos"  # below tmp_path


def df_tree(tmp_path, make=touch, variant="end_to_end"):
    """A tiny DeeperForensics-1.0 folder ``tmp_path/DeeperForensics-1.0`` with its lists and source videos, and
    the FaceForensics++ target videos in ``tmp_path/ff``; returns the DeeperForensics-1.0 folder."""
    root = tmp_path / "DeeperForensics-1.0"
    for name in DF_FAKES:
        make(root / "manipulated_videos" / variant / f"{name}.mp4")
    for name in DF_SOURCES:
        make(root / "source_videos" / name)
    for target in DF_TARGETS:
        make(tmp_path / TARGET_FOLDER / f"{target}.mp4")
    (root / "lists" / "splits").mkdir(parents=True)
    for split, lines in DF_LISTS.items():
        (root / "lists" / "splits" / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def with_reals(tmp_path, reals="target", **options):
    """The resolved config reading the reals ``reals`` (the target videos of ``df_tree``)."""
    keys = {"datasets.deeperforensics.reals": reals, "datasets.deeperforensics.target_videos": ""}
    if reals == "target":
        keys["datasets.deeperforensics.target_videos"] = str(tmp_path / TARGET_FOLDER)
    keys.update({f"datasets.deeperforensics.{key}": value for key, value in options.items()})
    return load_config(None, keys)


def test_fakes_and_target_videos_get_the_official_splits_labels_sources_and_actor_groups(tmp_path):
    records = by_id(list_videos(df_tree(tmp_path), "deeperforensics", config=with_reals(tmp_path)))
    assert sorted(records) == sorted(
        [f"end_to_end/{name}" for name in DF_FAKES] + [f"target/{t}" for t in DF_TARGETS]
    )
    fake = records["end_to_end/000_M004"]
    assert (fake.label, fake.official_split, fake.source_video, fake.method, fake.group) == (
        FAKE,
        "train",
        "target/000",
        "end_to_end",
        "actor_M004",
    )
    assert records["end_to_end/002_W101"].official_split == "val"  # listed without .mp4
    assert {records[f"target/{t}"].label for t in DF_TARGETS} == {REAL}
    splits = {video_id: record.official_split for video_id, record in records.items()}
    assert [splits[f"target/{t}"] for t in DF_TARGETS] == ["train", "train", "val", "test", "test", ""]
    joined = ["end_to_end/005_M010", "end_to_end/005_M020", "end_to_end/006_M020", "target/005", "target/006"]
    assert {records[video_id].group for video_id in joined} == {"actor_M010+actor_M020"}
    assert records["target/002"].group == "actor_W101" and records["target/007"].group == "target/007"


def test_stage_05_scores_the_official_test_list_with_its_target_videos(tmp_path):
    root = df_tree(tmp_path)
    videos, labels, methods = videos_and_labels(
        root, tmp_path / "out.csv", dataset="deeperforensics", config=with_reals(tmp_path)
    )
    assert sorted(labels) == sorted(
        ["end_to_end/005_M010", "end_to_end/005_M020", "end_to_end/006_M020", "target/005", "target/006"]
    )
    assert sum(labels.values()) == 3 and len(videos) == 5
    assert methods["end_to_end/006_M020"] == "end_to_end"


def test_source_videos_as_reals_take_their_actors_split_as_deepfakebench_reads_them(tmp_path):
    root = df_tree(tmp_path)
    records = by_id(list_videos(root, "deeperforensics", config=with_reals(tmp_path, "source")))
    sources = {video_id: record for video_id, record in records.items() if video_id.startswith("source/")}
    assert len(sources) == len(DF_SOURCES) and {record.label for record in sources.values()} == {REAL}
    m020 = records["source/M020/light_down/fear/camera_right/M020_light_down_fear_camera_right"]
    assert (m020.official_split, m020.group) == ("test", "actor_M010+actor_M020")
    m004 = [record for video_id, record in sources.items() if video_id.startswith("source/M004/")]
    assert {(record.official_split, record.group) for record in m004} == {("train", "actor_M004")}
    m030 = records["source/M030/light_right/neutral/camera_front/M030_light_right_neutral_camera_front"]
    assert (m030.official_split, m030.group) == ("", "actor_M030")  # an actor without fakes: no split
    assert records["end_to_end/000_M004"].source_video == ""
    _, labels, _ = videos_and_labels(
        root, tmp_path / "o.csv", dataset="deeperforensics", config=with_reals(tmp_path, "source")
    )
    assert len(labels) == 5 and sum(labels.values()) == 3  # 3 test fakes, the 2 recordings of M010 and M020


def test_the_variant_option_chooses_the_manipulated_videos_folder(tmp_path):
    root = df_tree(tmp_path, variant="end_to_end_level_2")
    with pytest.raises(UserError, match=r"fakes not found: .*manipulated_videos/end_to_end; .*variant"):
        list_videos(root, "deeperforensics", config=with_reals(tmp_path))
    records = by_id(
        list_videos(root, "deeperforensics", config=with_reals(tmp_path, variant="end_to_end_level_2"))
    )
    assert records["end_to_end_level_2/005_M010"].method == "end_to_end_level_2"
    assert records["end_to_end_level_2/005_M010"].official_split == "test"


def test_without_target_videos_or_lists_or_with_bad_names_it_fails_naming_the_fix(tmp_path, caplog):
    root = df_tree(tmp_path)
    with pytest.raises(UserError, match=r"ships no real videos: set datasets.deeperforensics.target_videos"):
        list_videos(root, "deeperforensics")  # the built-in defaults: reals target, target_videos unset
    relative = load_config(None, {"datasets.deeperforensics.target_videos": "../ff/no_such_folder"})
    with pytest.raises(
        UserError, match=r"target videos not found: .*DeeperForensics-1.0/../ff/no_such_folder"
    ):
        list_videos(root, "deeperforensics", config=relative)
    touch(root / "manipulated_videos" / "end_to_end" / "009_M004.mp4")  # in no list
    records = by_id(list_videos(root, "deeperforensics", config=with_reals(tmp_path)))
    assert (
        records["end_to_end/009_M004"].official_split == ""
        and "1 of 7 DeeperForensics-1.0 fakes" in caplog.text
    )
    lists = root / "lists" / "splits"
    (lists / "val.txt").write_text("002_W101.mp4\n000_M004.mp4\n")
    with pytest.raises(UserError, match=r"000_M004 is on two lines, train.txt line 1 and val.txt line 2"):
        list_videos(root, "deeperforensics", config=with_reals(tmp_path))
    (lists / "val.txt").write_text("002_W101.mp4 1\n")
    with pytest.raises(UserError, match=r"val.txt line 1: expected a fake <target>_<actor>.mp4"):
        list_videos(root, "deeperforensics", config=with_reals(tmp_path))
    (lists / "val.txt").unlink()
    with pytest.raises(
        UserError, match=r"split list not found: .*val.txt; .*datasets.deeperforensics.splits"
    ):
        list_videos(root, "deeperforensics", config=with_reals(tmp_path))
    df_tree(tmp_path / "again")
    touch(tmp_path / "again" / "DeeperForensics-1.0" / "manipulated_videos" / "end_to_end" / "000-M004.mp4")
    with pytest.raises(
        UserError, match=r"000-M004.mp4: DeeperForensics-1.0 fakes are named <target>_<actor>.mp4"
    ):
        list_videos(
            tmp_path / "again" / "DeeperForensics-1.0", "deeperforensics", config=with_reals(tmp_path)
        )


def test_stage_01_writes_the_official_splits_and_groups_with_target_videos_from_the_config(tmp_path):
    root = df_tree(tmp_path, make=lambda path: write_video(path, 4))
    config_file = tmp_path / "df.yaml"
    config_file.write_text(f"datasets:\n  deeperforensics:\n    target_videos: ../{TARGET_FOLDER}\n")
    output = tmp_path / "frames"
    from common.stages import extract_frames as stage01

    argv = [
        "--input",
        str(root),
        "--output",
        str(output),
        "--dataset",
        "deeperforensics",
        "--config",
        str(config_file),
    ]
    assert stage01.main(argv) == 0
    videos = read_table(output / "manifest.csv").drop_duplicates("video_id").set_index("video_id")
    assert len(videos) == len(DF_FAKES) + len(DF_TARGETS)  # target 007 too; source videos not read
    assert (
        videos.loc["end_to_end/005_M020", "official_split"]
        == videos.loc["target/005", "official_split"]
        == "test"
    )
    assert videos.loc["target/006", "group"] == "actor_M010+actor_M020"


def test_check_counts_the_variant_the_lists_and_the_target_videos_and_names_what_a_list_misses(
    tmp_path, capsys
):
    root = df_tree(tmp_path)
    config = with_reals(tmp_path)
    assert check_download(root, "deeperforensics", config) == 0
    out = capsys.readouterr().out
    assert "manipulated_videos/end_to_end/ (" in out and ": 6 of 1000 expected (994 short)" in out
    assert "train.txt entries: 2 of 703 expected" in out and "val.txt entries: 1 of 96 expected" in out
    assert "test.txt entries: 3 of 201 expected" in out and "target videos (" in out and "MISSING" not in out
    (tmp_path / TARGET_FOLDER / "006.mp4").unlink()
    (root / "manipulated_videos" / "end_to_end" / "002_W101.mp4").unlink()
    assert check_download(root, "deeperforensics", config) == 1
    out = capsys.readouterr().out
    assert "MISSING val.txt line 1: end_to_end/002_W101.mp4 is not on disk" in out
    assert "MISSING test.txt line 4: target video 006.mp4 of 006_M020 is not on disk" in out
    assert check_download(root, "deeperforensics") == 1
    assert "MISSING datasets.deeperforensics.target_videos is not set" in capsys.readouterr().out


def test_check_with_source_videos_counts_actors_and_names_a_listed_actor_without_recordings(tmp_path, capsys):
    root = df_tree(tmp_path)
    config = with_reals(tmp_path, "source")
    assert check_download(root, "deeperforensics", config) == 0
    out = capsys.readouterr().out
    assert "actor folders (" in out and ": 5 of 100 expected (95 short)" in out
    assert "source videos: 6 of 48475 expected" in out
    for path in sorted((root / "source_videos" / "W101").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (root / "lists" / "splits" / "test.txt").unlink()
    from common.stages import extract_frames as stage01

    config_file = tmp_path / "source.yaml"
    config_file.write_text("datasets:\n  deeperforensics:\n    reals: source\n")
    argv = ["--dataset", "deeperforensics", "--input", str(root), "--output", str(tmp_path / "o"), "--check"]
    assert stage01.main([*argv, "--config", str(config_file)]) == 1
    out = capsys.readouterr().out
    assert "MISSING val.txt line 1: actor W101 of 002_W101 has no source videos on disk" in out
    assert "MISSING test.txt: the official split list is not in" in out and not (tmp_path / "o").exists()
