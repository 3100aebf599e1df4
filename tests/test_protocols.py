"""Official protocols of Celeb-DF v2 and FaceForensics++: labels, groups and official splits from their layouts.

The adapters never open a video, so most trees here hold empty placeholder files.
"""

import dataclasses
import json
import logging

import pandas as pd
import pytest
from conftest import write_video

from common.core.config import load_config
from common.core.errors import UserError
from common.core.manifest import FAKE, REAL, read_table
from common.data.adapters import list_videos
from common.data.split import split_by_video
from common.inference.videos_to_score import videos_and_labels

CELEBDF_FILES = [
    "Celeb-real/id0_0000.mp4",
    "Celeb-real/id0_0001.mp4",
    "Celeb-real/id1_0000.mp4",
    "YouTube-real/00000.mp4",
    "YouTube-real/00001.mp4",
    "Celeb-synthesis/id0_id1_0000.mp4",
    "Celeb-synthesis/id0_id1_0001.mp4",
    "Celeb-synthesis/id1_id0_0000.mp4",
]
# The list's own convention: 1 = real, 0 = fake. The first line is a real video; line 4 is blank.
CELEBDF_TEST_LIST = [
    "1 Celeb-real/id0_0000.mp4",
    "0 Celeb-synthesis/id1_id0_0000.mp4",
    "1 YouTube-real/00000.mp4",
    "",
    "0 Celeb-synthesis/id0_id1_0000.mp4",
    "1 Celeb-real/id1_0000.mp4",
]
FFPP_PAIRS = {
    "train": [["000", "003"], ["001", "004"], ["002", "005"]],
    "val": [["006", "007"]],
    "test": [["008", "009"]],
}


def touch(path):
    """An empty placeholder file at ``path`` (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def celebdf_tree(root, test_list=CELEBDF_TEST_LIST, encoding="utf-8"):
    """A tiny Celeb-DF v2 folder at ``root`` whose test list has the lines ``test_list``; returns ``root``."""
    for name in CELEBDF_FILES:
        touch(root / name)
    (root / "List_of_testing_videos.txt").write_text("\n".join(test_list) + "\n", encoding=encoding)
    return root


def ffpp_tree(root, pairs=FFPP_PAIRS, methods=("Deepfakes", "Face2Face"), compression="c23", make=touch):
    """A tiny FaceForensics++ folder at ``root``: both originals and both fakes of each pair of ``pairs``
    for each of ``methods`` at ``compression``, and the split files in ``root/splits``."""
    originals = root / "original_sequences" / "youtube" / compression / "videos"
    for pair in (pair for split_pairs in pairs.values() for pair in split_pairs):
        for a, b in (pair, pair[::-1]):
            make(originals / f"{a}.mp4")
            for method in methods:
                make(root / "manipulated_sequences" / method / compression / "videos" / f"{a}_{b}.mp4")
    write_splits(root / "splits", pairs)
    return root


def write_splits(folder, pairs):
    """``train.json``, ``val.json`` and ``test.json`` in ``folder`` from ``{split: [[a, b], ...]}``."""
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "val", "test"):
        (folder / f"{split}.json").write_text(json.dumps(pairs.get(split, [])))


def two_methods():
    """The resolved config with FaceForensics++ methods Deepfakes and Face2Face (what ``ffpp_tree`` makes)."""
    return load_config(None, {"datasets.ffpp.methods": ["Deepfakes", "Face2Face"]})


def by_id(records):
    """``{video_id: record}``."""
    return {record.video_id: record for record in records}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])  # with a byte-order mark before line 1, too
def test_celebdf_labels_groups_and_the_official_test_list_with_its_first_line(tmp_path, encoding):
    records = by_id(list_videos(celebdf_tree(tmp_path / "celebdf", encoding=encoding), "celebdf"))
    assert sorted(records) == sorted(name.removesuffix(".mp4") for name in CELEBDF_FILES)
    first = records["Celeb-real/id0_0000"]  # line 1 of the list, which says 1: real
    assert first.official_split == "test" and first.label == REAL
    assert {video_id for video_id, record in records.items() if record.official_split == "test"} == {
        line.split()[1].removesuffix(".mp4") for line in CELEBDF_TEST_LIST if line
    }
    assert records["Celeb-real/id0_0001"].official_split == ""
    fakes = [video_id for video_id, record in records.items() if record.label == FAKE]
    assert fakes == [video_id for video_id in records if video_id.startswith("Celeb-synthesis/")]
    assert records["YouTube-real/00000"].label == REAL

    # identity 1's face swapped into a clip of identity 0; the fakes link id0 and id1 into one group holding
    # every identity's video, which no split could follow, so each identity is its own group here
    fake = records["Celeb-synthesis/id0_id1_0001"]
    assert (fake.group, fake.source_video, fake.method) == ("id0", "Celeb-real/id0_0001", "")
    assert records["Celeb-real/id0_0000"].group == records["Celeb-real/id0_0001"].group == "id0"
    assert records["Celeb-synthesis/id1_id0_0000"].group == records["Celeb-real/id1_0000"].group == "id1"
    assert records["YouTube-real/00001"].group == "YouTube-real/00001"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0 Celeb-real/id0_0001.mp4", "line 5: label 0 says fake but Celeb-real/ holds real videos"),
        ("1 Celeb-synthesis/id0_id1_0001.mp4", "line 5: label 1 says real but Celeb-synthesis/ holds fake"),
        ("0 Celeb-synthesis/id0_id1_0042.mp4", "line 5: Celeb-synthesis/id0_id1_0042 is not on disk"),
        ("Celeb-real/id0_0001.mp4", "line 5: expected '<1 = real | 0 = fake> <folder>/<file>.mp4'"),
        ("2 Celeb-real/id0_0001.mp4", "line 5: expected '<1 = real | 0 = fake> <folder>/<file>.mp4'"),
        ("1 id0_0001.mp4", "line 5: id0_0001.mp4 is in none of the folders"),
    ],
)
def test_celebdf_a_bad_test_list_line_fails_naming_the_line(tmp_path, line, message):
    test_list = CELEBDF_TEST_LIST[:4] + [line] + CELEBDF_TEST_LIST[5:]
    with pytest.raises(UserError, match=r"List_of_testing_videos\.txt") as error:
        list_videos(celebdf_tree(tmp_path / "celebdf", test_list), "celebdf")
    assert message in str(error.value)


def test_celebdf_without_its_test_list_or_with_a_misnamed_video_fails(tmp_path):
    root = celebdf_tree(tmp_path / "celebdf")
    touch(root / "Celeb-synthesis" / "id0-id1-0002.mp4")
    with pytest.raises(
        UserError, match=r"id0-id1-0002.mp4: names in Celeb-synthesis/ must read idA_idB_NNNN"
    ):
        list_videos(root, "celebdf")
    (root / "List_of_testing_videos.txt").unlink()
    with pytest.raises(UserError, match=r"Celeb-DF test list not found: .*List_of_testing_videos\.txt"):
        list_videos(root, "celebdf")


def test_ffpp_ids_methods_groups_and_official_splits(tmp_path):
    records = by_id(list_videos(ffpp_tree(tmp_path / "ffpp"), "ffpp", config=two_methods()))
    assert len(records) == 10 + 2 * 10  # 10 originals, and both fakes of each of 5 pairs per method
    deepfake, face2face = records["Deepfakes/000_003"], records["Face2Face/000_003"]
    assert deepfake.path != face2face.path
    assert (deepfake.method, face2face.method) == ("Deepfakes", "Face2Face")
    assert deepfake.label == FAKE and records["original/000"].label == REAL
    assert records["original/000"].method == ""
    assert deepfake.source_video == "original/000"  # the target video, whose frames were manipulated
    assert records["Deepfakes/003_000"].source_video == "original/003"
    pair = ["original/000", "original/003", "Deepfakes/000_003", "Deepfakes/003_000", "Face2Face/000_003"]
    assert {records[video_id].group for video_id in pair} == {"pair_000_003"}
    assert {records[video_id].official_split for video_id in pair} == {"train"}
    assert records["Face2Face/009_008"].group == "pair_008_009"

    originals_per_split = {}
    for record in records.values():
        if record.label == REAL:
            originals_per_split[record.official_split] = originals_per_split.get(record.official_split, 0) + 1
    assert originals_per_split == {"train": 6, "val": 2, "test": 2}  # 3/1/1 pairs, two originals each
    assert all(record.official_split for record in records.values())


def test_ffpp_compression_methods_and_splits_folder_come_from_the_config(tmp_path):
    root = ffpp_tree(tmp_path / "ffpp", methods=("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"))
    ffpp_tree(root, methods=("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"), compression="c40")
    c40 = list_videos(root, "ffpp", config=load_config(None, {"datasets.ffpp.compression": "c40"}))
    assert all("/c40/" in record.path.as_posix() for record in c40)
    assert len(c40) == 10 + 4 * 10  # the originals and the four default methods at c40

    config_file = tmp_path / "face2face.yaml"
    config_file.write_text("datasets:\n  ffpp:\n    methods: [Face2Face]\n")
    face2face = list_videos(root, "ffpp", config=load_config(config_file))
    assert {record.method for record in face2face} == {"", "Face2Face"}
    assert all("/c23/" in record.path.as_posix() for record in face2face)

    defaults = list_videos(root, "ffpp")  # c23, the four default methods
    assert {record.method for record in defaults} - {""} == {
        "Deepfakes",
        "Face2Face",
        "FaceSwap",
        "NeuralTextures",
    }

    elsewhere = tmp_path / "my_splits"
    write_splits(elsewhere, {"test": [["000", "003"]]})
    config = load_config(
        None, {"datasets.ffpp.splits": str(elsewhere), "datasets.ffpp.methods": ["Deepfakes"]}
    )
    records = by_id(list_videos(root, "ffpp", config=config))
    assert records["Deepfakes/003_000"].official_split == "test"
    assert records["original/001"].official_split == ""


def test_ffpp_videos_in_no_split_file_get_no_official_split_and_one_warning(tmp_path, caplog):
    root = ffpp_tree(tmp_path / "ffpp")
    for name in ["010", "011"]:
        touch(root / "original_sequences" / "youtube" / "c23" / "videos" / f"{name}.mp4")
    for method in ["Deepfakes", "Face2Face"]:
        for name in ["010_011", "011_010"]:
            touch(root / "manipulated_sequences" / method / "c23" / "videos" / f"{name}.mp4")
    with caplog.at_level(logging.WARNING, logger="common.data.adapters"):
        records = by_id(list_videos(root, "ffpp", config=two_methods()))
    unlisted = ["original/010", "original/011", "Deepfakes/010_011", "Face2Face/011_010"]
    assert {records[video_id].official_split for video_id in unlisted} == {""}
    assert {records[video_id].group for video_id in unlisted} == {"pair_010_011"}  # still kept together
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("6 of 36 FaceForensics++ videos are in no split file")


def test_ffpp_layout_mistakes_fail_naming_the_file_and_the_fix(tmp_path):
    root = ffpp_tree(tmp_path / "ffpp")
    with pytest.raises(
        UserError, match=r"FaceSwap/c23/videos; download it or remove FaceSwap from datasets\.ffpp\.methods"
    ):
        list_videos(root, "ffpp")  # the default methods include FaceSwap, which is not there
    touch(root / "manipulated_sequences" / "FaceShifter" / "c40" / "videos" / "000_003.mp4")
    with pytest.raises(
        UserError, match=r"FaceShifter/c23/videos; .* datasets\.ffpp\.compression to one that"
    ):
        list_videos(root, "ffpp", config=load_config(None, {"datasets.ffpp.methods": ["FaceShifter"]}))
    with pytest.raises(UserError, match=r"youtube/c40/videos; .* set datasets.ffpp.compression"):
        list_videos(root, "ffpp", config=load_config(None, {"datasets.ffpp.compression": "c40"}))

    touch(root / "manipulated_sequences" / "Deepfakes" / "c23" / "videos" / "000.mp4")
    with pytest.raises(UserError, match=r"Deepfakes/c23/videos/000.mp4: FaceForensics\+\+ fakes are named"):
        list_videos(root, "ffpp", config=two_methods())
    (root / "manipulated_sequences" / "Deepfakes" / "c23" / "videos" / "000.mp4").unlink()

    write_splits(root / "splits", {**FFPP_PAIRS, "test": [["003", "000"]]})
    with pytest.raises(UserError, match=r"pair \['000', '003'\] is in both train.json and test.json"):
        list_videos(root, "ffpp", config=two_methods())
    write_splits(root / "splits", {**FFPP_PAIRS, "test": [["000", "009"]]})
    with pytest.raises(UserError, match=r"original 000 is in two pairs"):
        list_videos(root, "ffpp", config=two_methods())
    write_splits(root / "splits", {**FFPP_PAIRS, "test": [[8, 9]]})
    with pytest.raises(UserError, match=r"test.json entry 1: \[8, 9\] is not two different video ids"):
        list_videos(root, "ffpp", config=two_methods())
    (root / "splits" / "val.json").unlink()
    with pytest.raises(UserError, match=r"split file not found: .*val.json; .* datasets.ffpp.splits"):
        list_videos(root, "ffpp", config=two_methods())


def test_stage_01_on_ffpp_writes_unique_ids_with_method_and_official_split(tmp_path):
    pairs = {"train": [["000", "003"]], "test": [["001", "004"]]}
    root = ffpp_tree(tmp_path / "ffpp", pairs, methods=("Deepfakes",), make=lambda path: write_video(path, 6))
    config_file = tmp_path / "deepfakes.yaml"
    config_file.write_text("datasets:\n  ffpp:\n    methods: [Deepfakes]\n")
    from common.stages import extract_frames as stage01

    output = tmp_path / "frames"
    argv = ["--input", str(root), "--output", str(output), "--dataset", "ffpp", "--config", str(config_file)]
    assert stage01.main([*argv, "--fps", "5"]) == 0
    frames = read_table(output / "manifest.csv")
    ids = ["original/000", "original/001", "original/003", "original/004"]
    ids += ["Deepfakes/000_003", "Deepfakes/003_000", "Deepfakes/001_004", "Deepfakes/004_001"]
    # 6 frames at 10 frames/s sampled at 5 frames/s: 3 frames per video, each video in its own folder
    assert frames.groupby("video_id")["path"].nunique().to_dict() == dict.fromkeys(ids, 3)
    assert frames["path"].is_unique
    videos = frames.drop_duplicates("video_id").set_index("video_id")
    assert videos["method"].to_dict() == {
        video_id: "" if video_id.startswith("original/") else "Deepfakes" for video_id in videos.index
    }
    assert videos["official_split"].to_dict() == {
        video_id: "train" if {"000", "003"} & set(video_id.split("/")[1].split("_")) else "test"
        for video_id in videos.index
    }
    assert videos.loc["Deepfakes/003_000", "group"] == videos.loc["original/000", "group"] == "pair_000_003"


def test_celebdf_groups_join_both_identities_of_a_fake_so_none_is_in_train_and_val(tmp_path):
    root = tmp_path / "celebdf"
    for a, b in (("id0", "id1"), ("id2", "id3"), ("id4", "id5"), ("id6", "id7")):
        for identity in (a, b):
            touch(root / "Celeb-real" / f"{identity}_0000.mp4")
            touch(root / "Celeb-real" / f"{identity}_0001.mp4")
        touch(root / "Celeb-synthesis" / f"{a}_{b}_0000.mp4")  # b's face in a's clip
        touch(root / "Celeb-synthesis" / f"{b}_{a}_0001.mp4")
    touch(root / "YouTube-real" / "00000.mp4")
    (root / "List_of_testing_videos.txt").write_text("1 YouTube-real/00000.mp4\n")
    records = list_videos(root, "celebdf")
    groups = by_id(records)
    assert groups["Celeb-real/id1_0000"].group == groups["Celeb-synthesis/id0_id1_0000"].group == "id0+id1"

    def identities(video_id):
        name = video_id.split("/")[1]
        return set(name.split("_")[:-1]) if video_id.startswith("Celeb") else set()

    videos = pd.DataFrame(
        {
            "video_id": [record.video_id for record in records],
            "group": [record.group for record in records],
            "official_split": [record.official_split for record in records],
            "target": [record.source_video.split("/")[-1][:3] or record.group for record in records],
        }
    )
    ratios = {"train": 0.5, "val": 0.5, "test": 0.0}

    def straddling(group_column, seed):
        """Identities with videos in both train and val when split by ``group_column``."""
        split = split_by_video(videos.assign(group=videos[group_column]), ratios, seed, "official")
        where = {}
        for video_id, name in split.items():
            for identity in identities(video_id):
                where.setdefault(identity, set()).add(name)
        return {identity for identity, splits in where.items() if {"train", "val"} <= splits}

    assert any(straddling("target", seed) for seed in range(10))  # by the target alone, some would straddle
    assert not any(straddling("group", seed) for seed in range(10))


def test_ffpp_raw_download_is_found_as_raw_or_c0(tmp_path):
    root = ffpp_tree(tmp_path / "ffpp", compression="raw")
    for compression in ("raw", "c0"):
        config = load_config(
            None,
            {"datasets.ffpp.methods": ["Deepfakes", "Face2Face"], "datasets.ffpp.compression": compression},
        )
        records = by_id(list_videos(root, "ffpp", config=config))
        assert len(records) == 30 and "/raw/videos/" in str(records["original/000"].path)
    with pytest.raises(UserError, match=r"youtube/c23/videos; download them at c23"):
        list_videos(root, "ffpp", config=two_methods())


def test_temporary_files_of_a_broken_off_download_are_skipped_with_one_warning(tmp_path, caplog):
    root = ffpp_tree(tmp_path / "ffpp")
    method_temp = touch(root / "manipulated_sequences" / "Deepfakes" / "c23" / "videos" / "tmpk2j9x_1a")
    original_temp = touch(root / "original_sequences" / "youtube" / "c23" / "videos" / "tmp8qz0w3ld")
    with caplog.at_level(logging.WARNING, logger="common.data.adapters"):
        records = by_id(list_videos(root, "ffpp", config=two_methods()))
    assert len(records) == 30 and not any("tmp" in video_id for video_id in records)  # no bogus video
    warnings = [record.getMessage() for record in caplog.records if "not .mp4 videos" in record.getMessage()]
    assert len(warnings) == 1
    assert (
        warnings[0].startswith("2 file(s)")
        and str(method_temp) in warnings[0]
        and str(original_temp) in warnings[0]
    )


DFD_FILES = [
    "original_sequences/actors/c23/videos/01__kitchen_pan.mp4",
    "original_sequences/actors/c23/videos/02__walking_outside.mp4",
    "original_sequences/actors/c23/videos/03__kitchen_pan.mp4",
    "original_sequences/actors/c23/videos/04__podium_speech.mp4",
    "original_sequences/actors/c23/videos/05__kitchen_pan.mp4",
    "original_sequences/actors/c23/videos/06__outside_talking_still_laughing.mp4",
    "original_sequences/actors/c23/videos/07__meeting_serious.mp4",
    "original_sequences/actors/c23/videos/08__secret_conversation.mp4",
    "manipulated_sequences/DeepFakeDetection/c23/videos/07_08__meeting_serious__N864AW8U.mp4",
    "manipulated_sequences/DeepFakeDetection/c23/videos/01_02__kitchen_pan__YVGY8LOK.mp4",
    "manipulated_sequences/DeepFakeDetection/c23/videos/02_03__walking_outside__QH3Y0IG0.mp4",
    "manipulated_sequences/DeepFakeDetection/c23/videos/04_05__podium_speech__5VYCXNE0.mp4",
]


def dfd_tree(root, files=DFD_FILES):
    for name in files:
        touch(root / name)
    return root


def test_dfd_ids_labels_and_groups_of_connected_actors(tmp_path):
    records = by_id(list_videos(dfd_tree(tmp_path / "ff"), "dfd"))
    assert len(records) == 12 and not any(record.official_split for record in records.values())
    fake = records["DeepFakeDetection/01_02__kitchen_pan__YVGY8LOK"]
    assert (fake.label, fake.method, fake.source_video) == (
        FAKE,
        "DeepFakeDetection",
        "actors/01__kitchen_pan",
    )
    assert records["actors/01__kitchen_pan"].label == REAL
    # 01-02 and 02-03 share fakes: one group; 04-05 another
    chained = ["actors/01__kitchen_pan", "actors/02__walking_outside", "actors/03__kitchen_pan"]
    assert {records[video_id].group for video_id in chained} == {"actor_01+actor_02+actor_03"}
    assert records["DeepFakeDetection/02_03__walking_outside__QH3Y0IG0"].group == "actor_01+actor_02+actor_03"
    assert records["actors/05__kitchen_pan"].group == "actor_04+actor_05"
    assert records["actors/06__outside_talking_still_laughing"].group == "actor_06"

    compressed = load_config(None, {"datasets.dfd.compression": "c40"})
    with pytest.raises(UserError, match=r"DeepFakeDetection originals not found: .*actors/c40/videos"):
        list_videos(tmp_path / "ff", "dfd", config=compressed)
    touch(tmp_path / "ff" / "manipulated_sequences/DeepFakeDetection/c23/videos/01_02.mp4")
    with pytest.raises(UserError, match=r"01_02.mp4: DeepFakeDetection videos here are named"):
        list_videos(tmp_path / "ff", "dfd")


def test_stage_05_scores_every_dfd_video_as_a_cross_dataset_test_set(tmp_path):
    root = dfd_tree(tmp_path / "ff")
    videos, labels, methods = videos_and_labels(root, tmp_path / "out.csv", dataset="dfd")
    assert len(videos) == len(labels) == 12 and sum(labels.values()) == 4
    assert methods["DeepFakeDetection/04_05__podium_speech__5VYCXNE0"] == "DeepFakeDetection"


def test_celebdf_v1_reads_the_v2_layout_in_stage_01_and_stage_05_and_names_its_release(tmp_path):
    root = celebdf_tree(tmp_path / "cdf1")
    v1, v2 = list_videos(root, "celebdf_v1"), list_videos(root, "celebdf")
    assert [dataclasses.astuple(record) for record in v1] == [dataclasses.astuple(record) for record in v2]
    tested = {line.split()[1].removesuffix(".mp4") for line in CELEBDF_TEST_LIST if line}
    videos, labels, _ = videos_and_labels(root, tmp_path / "out.csv", dataset="celebdf_v1")
    assert len(videos) == len(labels) == len(tested) and sum(labels.values()) == 2  # two listed fakes
    from common.stages import extract_frames as stage01

    for name in CELEBDF_FILES:
        write_video(root / name, 4)
    output = tmp_path / "frames"
    assert stage01.main(["--input", str(root), "--output", str(output), "--dataset", "celebdf_v1"]) == 0
    frames = read_table(output / "manifest.csv").drop_duplicates("video_id").set_index("video_id")
    assert set(frames.index[frames["official_split"] == "test"]) == tested
    (root / "List_of_testing_videos.txt").unlink()
    with pytest.raises(UserError, match=r"Celeb-DF v1 ships List_of_testing_videos.txt"):
        list_videos(root, "celebdf_v1")


# The DFDC layouts as public code reads them (common/data/adapters/dfdc.py and dfdcp.py say which code):
# training parts with metadata.json; the test set's labels.csv (filename, label: 1 = fake, 0 = real) above its
# videos, at any depth below it.
DFDC_METADATA = {
    "aaaaaaaaaa.mp4": {"label": "REAL", "split": "train", "original": None},
    "bbbbbbbbbb.mp4": {"label": "FAKE", "split": "train", "original": "aaaaaaaaaa.mp4"},
}
DFDC_TEST_LABELS = "filename,label\ncccccccccc.mp4,1\ndddddddddd.mp4,0\neeeeeeeeee.mp4,1\n"
DFDC_TEST_FILES = ["test/cccccccccc.mp4", "test/dddddddddd.mp4", "test/videos/eeeeeeeeee.mp4"]


def dfdc_tree(root, make=touch):
    """A tiny DFDC folder: one training part and the test set (``DFDC_TEST_FILES`` and its labels.csv)."""
    part = root / "train" / "dfdc_train_part_0"
    for name in DFDC_METADATA:
        make(part / name)
    (part / "metadata.json").write_text(json.dumps(DFDC_METADATA))
    for name in DFDC_TEST_FILES:
        make(root / name)
    (root / "test" / "labels.csv").write_text(DFDC_TEST_LABELS)
    return root


def test_dfdc_reads_the_training_parts_and_the_test_set_of_labels_csv_as_the_official_test(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="common.data.adapters"):
        records = by_id(list_videos(dfdc_tree(tmp_path / "DFDC"), "dfdc"))
    assert {video_id: (record.label, record.official_split) for video_id, record in records.items()} == {
        "aaaaaaaaaa": (REAL, ""),
        "bbbbbbbbbb": (FAKE, ""),
        "cccccccccc": (FAKE, "test"),
        "dddddddddd": (REAL, "test"),
        "eeeeeeeeee": (FAKE, "test"),  # found below test/, in test/videos/
    }
    assert records["bbbbbbbbbb"].group == "aaaaaaaaaa"
    assert records["eeeeeeeeee"].path == tmp_path / "DFDC" / "test" / "videos" / "eeeeeeeeee.mp4"
    assert not caplog.records  # a test fake needs no group: the official test set goes to test whole
    videos, labels, _ = videos_and_labels(tmp_path / "DFDC", tmp_path / "out.csv", dataset="dfdc")
    assert labels == {"cccccccccc": FAKE, "dddddddddd": REAL, "eeeeeeeeee": FAKE}
    assert [video_id for video_id, _ in videos] == sorted(labels)
    test_alone = list_videos(tmp_path / "DFDC" / "test", "dfdc")
    assert [record.video_id for record in test_alone] == sorted(labels)


@pytest.mark.parametrize(
    ("labels_csv", "message"),
    [
        (
            "filename,label\ncccccccccc.mp4,FAKE\n",
            r"labels.csv line 2: label 'FAKE' is neither 1 \(fake\) nor 0",
        ),
        ("video,label\ncccccccccc.mp4,1\n", r"labels.csv lacks column\(s\) filename"),
        (
            "filename,label\ncccccccccc.mp4,1\nffffffffff.mp4,0\n",
            r"labels.csv line 3: ffffffffff.mp4 is not below",
        ),
        ("filename,label\ncccccccccc.mp4,1\ncccccccccc.mp4,1\n", r"lines 2 and 3 both name cccccccccc.mp4"),
    ],
)
def test_dfdc_a_bad_test_labels_csv_fails_naming_the_line(tmp_path, labels_csv, message):
    root = dfdc_tree(tmp_path / "DFDC")
    (root / "test" / "labels.csv").write_text(labels_csv)
    with pytest.raises(UserError, match=message):
        list_videos(root, "dfdc")


def test_stage_01_on_dfdc_puts_the_test_set_in_the_manifest_as_official_test(tmp_path):
    root = dfdc_tree(tmp_path / "DFDC", make=lambda path: write_video(path, 4))
    from common.stages import extract_frames as stage01

    output = tmp_path / "frames"
    assert stage01.main(["--input", str(root), "--output", str(output), "--dataset", "dfdc"]) == 0
    frames = read_table(output / "manifest.csv").drop_duplicates("video_id").set_index("video_id")
    assert set(frames.index[frames["official_split"] == "test"]) == {"cccccccccc", "dddddddddd", "eeeeeeeeee"}
    assert set(frames.index[frames["official_split"] == ""]) == {"aaaaaaaaaa", "bbbbbbbbbb"}


# The DFDC preview: dataset.json keyed by the video's path below the root, with label, set, target_id and
# swapped_id. Subjects 1-2 and 3-4 are linked by a fake each; subject 5 only by a fake whose swapped_id is 5.
DFDCP_INDEX = {
    "original_videos/1/1_A/1_a.mp4": {"label": "real", "set": "train", "target_id": 1, "swapped_id": None},
    "original_videos/2/2_A/2_a.mp4": {"label": "real", "set": "train", "target_id": 2, "swapped_id": None},
    "original_videos/3/3_B/3_b.mp4": {"label": "real", "set": "test", "target_id": 3, "swapped_id": None},
    "original_videos/5/5_A/5_a.mp4": {"label": "real", "set": "train", "target_id": 5, "swapped_id": None},
    "method_A/1/1_A/1_2_a.mp4": {"label": "fake", "set": "train", "target_id": 1, "swapped_id": 2},
    "method_B/3/3_B/3_4_b.mp4": {"label": "fake", "set": "test", "target_id": 3, "swapped_id": 4},
    "method_A/5/5_A/5_5_a.mp4": {"label": "fake", "set": "train", "target_id": 5, "swapped_id": 5},
}


def dfdcp_tree(root, index=DFDCP_INDEX):
    for key in index:
        touch(root / key)
    (root / "dataset.json").write_text(json.dumps(index))
    return root


def test_dfdcp_labels_methods_identity_groups_and_the_official_test_set_of_dataset_json(tmp_path):
    records = by_id(list_videos(dfdcp_tree(tmp_path / "dfdcp"), "dfdcp"))
    assert {
        video_id: (record.label, record.official_split, record.method, record.group)
        for video_id, record in records.items()
    } == {
        "original_videos/1/1_A/1_a": (REAL, "", "", "subject_1+subject_2"),
        "original_videos/2/2_A/2_a": (REAL, "", "", "subject_1+subject_2"),
        "original_videos/3/3_B/3_b": (REAL, "test", "", "subject_3+subject_4"),
        "original_videos/5/5_A/5_a": (REAL, "", "", "subject_5"),
        "method_A/1/1_A/1_2_a": (FAKE, "", "method_A", "subject_1+subject_2"),
        "method_B/3/3_B/3_4_b": (FAKE, "test", "method_B", "subject_3+subject_4"),
        "method_A/5/5_A/5_5_a": (FAKE, "", "method_A", "subject_5"),
    }
    videos, labels, methods = videos_and_labels(tmp_path / "dfdcp", tmp_path / "out.csv", dataset="dfdcp")
    assert labels == {"original_videos/3/3_B/3_b": REAL, "method_B/3/3_B/3_4_b": FAKE}
    assert dict(videos)["method_B/3/3_B/3_4_b"] == tmp_path / "dfdcp" / "method_B/3/3_B/3_4_b.mp4"
    assert methods["method_B/3/3_B/3_4_b"] == "method_B"


@pytest.mark.parametrize(
    ("key", "entry", "message"),
    [
        (
            "method_C/1/x.mp4",
            {"label": "fake", "set": "test", "target_id": 1},
            r"is no \.mp4 video in one of",
        ),
        ("method_A/1/x.mp4", {"label": "FAKE!", "set": "test", "target_id": 1}, r"has label 'FAKE!'"),
        ("method_A/1/x.mp4", {"label": "fake", "set": "dev", "target_id": 1}, r"has set 'dev', expected one"),
        ("method_A/1/x.mp4", {"label": "fake", "set": "test"}, r"has no target_id"),
    ],
)
def test_dfdcp_a_malformed_entry_fails_naming_the_video(tmp_path, key, entry, message):
    root = dfdcp_tree(tmp_path / "dfdcp", {**DFDCP_INDEX, key: entry})
    with pytest.raises(UserError, match=r"dataset.json: '" + key.replace(".", r"\.") + "' " + message):
        list_videos(root, "dfdcp")


def test_dfdcp_without_its_index_or_a_listed_video_fails_naming_what_to_restore(tmp_path):
    root = dfdcp_tree(tmp_path / "dfdcp")
    (root / "method_B/3/3_B/3_4_b.mp4").unlink()
    with pytest.raises(
        UserError, match=r"1 of the 7 videos that .*dataset.json lists are not on disk .*3_4_b"
    ):
        list_videos(root, "dfdcp")
    (root / "dataset.json").unlink()
    with pytest.raises(UserError, match=r"DFDC preview index not found: .*dataset.json"):
        list_videos(root, "dfdcp")
