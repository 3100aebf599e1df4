import cv2
import numpy as np
import pandas as pd
import pytest

from common.core.errors import UserError
from common.core.manifest import FACE_COLUMNS, FAKE, REAL
from common.data.split import SPLITS, count_table, plan_dataset, prepare_dataset, split_by_video
from common.evaluation.run_report import split_table

RATIOS = {"train": 0.8, "val": 0.1, "test": 0.1}


def faces_manifest(groups=40, fakes_per_real=3, frames=4, official_test=()):
    """A stage 02 manifest: each real video has ``fakes_per_real`` fakes made from it."""
    rows = []
    for group in range(groups):
        real = f"real_{group:03d}"
        videos = [(real, REAL, "")] + [(f"fake_{group:03d}_{n}", FAKE, real) for n in range(fakes_per_real)]
        for video_id, label, source in videos:
            for frame in range(frames):
                rows.append(
                    dict.fromkeys(FACE_COLUMNS, "")
                    | {
                        "video_id": video_id,
                        "label": label,
                        "label_name": "fake" if label else "real",
                        "source_video": source,
                        "group": real,
                        "official_split": "test" if group in official_test else "",
                        "frame_index": frame,
                        "face_index": 0,
                        "path": f"faces/{'fake' if label else 'real'}/{video_id}/f{frame:06d}_0.jpg",
                    }
                )
    return pd.DataFrame(rows)


def test_split_is_by_video_group_without_leakage_and_near_the_ratios():
    plan, _ = plan_dataset(faces_manifest(), RATIOS, balance="none", seed=1)
    assert (plan.groupby("video_id")["split"].nunique() == 1).all()  # no video in two splits
    assert (plan.groupby("group")["split"].nunique() == 1).all()  # a fake stays with its source video
    videos = plan.drop_duplicates("video_id")["split"].value_counts()
    for split, ratio in RATIOS.items():
        assert abs(videos[split] / 160 - ratio) <= 4 / 160  # within one group of 4 videos
    fake_groups = set(plan.loc[plan["label"] == FAKE, "group"])
    assert fake_groups == {f"real_{g:03d}" for g in range(40)}


def test_same_seed_same_split_other_seed_other_split():
    videos = faces_manifest().drop_duplicates("video_id").assign(group=lambda v: v["video_id"].str[5:8])
    first = split_by_video(videos, RATIOS, seed=7)
    assert first.equals(split_by_video(videos, RATIOS, seed=7))
    assert not first.equals(split_by_video(videos, RATIOS, seed=8))


def test_every_split_gets_a_group_even_when_there_are_few():
    plan, _ = plan_dataset(faces_manifest(groups=3), RATIOS, balance="none", seed=0)
    assert set(plan["split"]) == set(SPLITS)


def test_official_test_videos_stay_whole_in_test():
    plan, _ = plan_dataset(faces_manifest(official_test=(0, 1, 2)), RATIOS, balance="none", seed=3)
    official = plan[plan["group"].isin(["real_000", "real_001", "real_002"])]
    assert set(official["split"]) == {"test"}


def test_balancing_drops_whole_fake_videos_from_train_only():
    manifest = faces_manifest(fakes_per_real=3)
    manifest = pd.concat([manifest, manifest[manifest["frame_index"] == 1].assign(face_index=1)])  # two faces
    plan, dropped = plan_dataset(manifest, RATIOS, balance="videos", seed=1)
    unbalanced, nothing = plan_dataset(manifest, RATIOS, balance="none", seed=1)
    assert nothing.empty and len(plan) + len(dropped) == len(unbalanced) == len(manifest)
    faces_per_video = manifest.groupby("video_id").size()
    for name, rows in (("kept", plan), ("dropped", dropped)):  # every video whole, wherever it went
        assert rows.groupby("video_id").size().eq(faces_per_video[rows["video_id"].unique()]).all(), name
    assert set(dropped["split"]) == {"train"} and set(dropped["label"]) == {FAKE}
    for split in ("val", "test"):  # every face of every video, with 3 fakes for each real video
        expected = unbalanced[unbalanced["split"] == split].reset_index(drop=True)
        assert plan[plan["split"] == split].reset_index(drop=True).equals(expected)
        videos = expected.groupby("label")["video_id"].nunique()
        assert videos[FAKE] == 3 * videos[REAL]
    train = plan[plan["split"] == "train"].groupby("label").size()
    assert abs(train[FAKE] - train[REAL]) <= faces_per_video.max() / 2  # as close as whole videos allow
    kept_fakes = plan[(plan["split"] == "train") & (plan["label"] == FAKE)]
    assert kept_fakes.groupby("group")["video_id"].nunique().max() == 1  # one fake per source before a second


def test_the_count_table_shows_what_balancing_dropped_and_from_where():
    plan, dropped = plan_dataset(faces_manifest(fakes_per_real=3), RATIOS, balance="videos", seed=1)
    table = count_table(plan, dropped)
    train_fake, train_real = ("train", "fake", ""), ("train", "real", "")
    assert table.loc[train_fake, "dropped_videos"] == 2 * table.loc[train_real, "videos"]
    assert table.loc[train_fake, "dropped_faces"] == len(dropped)
    assert table[["dropped_faces", "dropped_videos"]].drop(train_fake).eq(0).all().all()
    assert table["faces"].sum() == len(plan)


def four_to_one(frames=8):
    """Four fakes per real video, each fake by its own method (the FF++ layout), ``frames`` frames a video."""
    manifest = faces_manifest(groups=20, fakes_per_real=4, frames=frames)
    methods = ["Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"]
    fakes = manifest["label"] == FAKE
    manifest.loc[fakes, "method"] = [methods[int(video[-1])] for video in manifest.loc[fakes, "video_id"]]
    return manifest


def test_frames_balancing_keeps_every_train_video_with_evenly_spaced_frames_of_the_majority():
    manifest = four_to_one(frames=8)
    plan, dropped = plan_dataset(manifest, RATIOS, balance="frames", seed=1)
    everything, nothing = plan_dataset(manifest, RATIOS, balance="none", seed=1)
    assert nothing.empty and len(everything) == len(manifest)
    assert set(plan["video_id"]) == set(manifest["video_id"])  # not one video lost, in any split
    train = plan[plan["split"] == "train"]
    assert train.groupby("label").size()[FAKE] == train.groupby("label").size()[REAL]  # classes even
    kept = train[train["label"] == FAKE].groupby("video_id")["frame_index"].apply(list)
    assert kept.map(lambda frames: frames == [2, 6]).all()  # 2 of 8 frames, evenly spaced, from each fake
    reals = train[train["label"] == REAL].groupby("video_id").size()
    assert (reals == 8).all()  # the minority keeps every frame
    assert set(dropped["split"]) == {"train"} and set(dropped["label"]) == {FAKE}
    for split in ("val", "test"):  # untouched
        expected = everything[everything["split"] == split].reset_index(drop=True)
        assert plan[plan["split"] == split].reset_index(drop=True).equals(expected)


def test_no_balancing_keeps_every_face_and_the_counts_show_each_method():
    manifest = four_to_one(frames=8)
    plan, dropped = plan_dataset(manifest, RATIOS, balance="none", seed=1)
    assert dropped.empty and len(plan) == len(manifest)
    table = count_table(plan, dropped)
    train_videos = plan[plan["split"] == "train"]["video_id"].nunique() // 5  # real videos in train
    for method in ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"):
        assert table.loc[("train", "fake", method), ["videos", "faces"]].tolist() == [
            train_videos,
            8 * train_videos,
        ]
    assert table.loc[("train", "real", ""), "videos"] == train_videos

    balanced, left_out = plan_dataset(manifest, RATIOS, balance="frames", seed=1)
    table = count_table(balanced, left_out)
    for method in ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"):  # every video, 2 of 8 faces each
        row = table.loc[("train", "fake", method)]
        assert row[["videos", "faces", "dropped_videos", "dropped_faces"]].tolist() == [
            train_videos,
            2 * train_videos,
            0,
            6 * train_videos,
        ]


def write_faces_folder(root, manifest):
    for path in manifest["path"]:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / path), np.zeros((8, 8, 3), np.uint8))
    manifest.to_csv(root / "manifest.csv", index=False)


def test_prepare_dataset_lays_out_split_label_folders_and_refuses_to_mix_splits(tmp_path):
    faces = tmp_path / "faces"
    write_faces_folder(faces, faces_manifest(groups=10, fakes_per_real=1, frames=2))
    plan, table, protocol = prepare_dataset(faces, tmp_path / "dataset", RATIOS, balance="videos", seed=5)
    assert protocol == "ratios"  # no official split in the data
    split_csv = pd.read_csv(tmp_path / "dataset" / "split.csv")
    assert pd.read_csv(tmp_path / "dataset" / "split_counts.csv")["faces"].tolist() == table["faces"].tolist()
    assert len(split_csv) == len(plan) == 40
    for row in split_csv.itertuples():
        assert row.path.startswith(f"{row.split}/{row.label_name}/")
        assert (tmp_path / "dataset" / row.path).is_file()
    prepare_dataset(
        faces, tmp_path / "dataset", RATIOS, balance="videos", seed=5
    )  # same split: a no-op re-run
    with pytest.raises(UserError, match="--overwrite"):
        prepare_dataset(faces, tmp_path / "dataset", RATIOS, balance="videos", seed=6)
    prepare_dataset(faces, tmp_path / "dataset", RATIOS, balance="videos", seed=6, overwrite=True)
    files = {p.relative_to(tmp_path / "dataset").as_posix() for p in (tmp_path / "dataset").rglob("*.jpg")}
    assert files == set(
        pd.read_csv(tmp_path / "dataset" / "split.csv")["path"]
    )  # nothing left of the old split


def test_fakes_without_a_group_are_split_on_their_own_with_a_warning(caplog):
    manifest = faces_manifest(groups=10, fakes_per_real=1)
    fakes = manifest["label"] == FAKE
    manifest.loc[fakes, "group"] = manifest.loc[fakes, "video_id"]  # as --dataset folder without --groups
    plan, _ = plan_dataset(manifest, RATIOS, balance="none", seed=0)
    assert "10 of 10 fake videos have no known source video or group" in caplog.text
    assert (plan.groupby("video_id")["group"].first() == plan.groupby("video_id").size().index).all()


def test_fakes_of_an_official_test_list_without_a_group_raise_no_warning_but_the_others_do(caplog):
    # the DFDC test set: its fakes name no source video, and they go to test whatever their group
    manifest = faces_manifest(groups=10, fakes_per_real=1, official_test=range(6))
    fakes = manifest["label"] == FAKE
    manifest.loc[fakes, "group"] = manifest.loc[fakes, "video_id"]
    plan, _ = plan_dataset(manifest, RATIOS, balance="none", seed=0)
    assert "4 of 4 fake videos have no known source video or group" in caplog.text
    listed = plan["video_id"].str.match(r"(real|fake)_00[0-5]")
    assert set(plan.loc[listed, "split"]) == {"test"}


def test_each_split_row_traces_its_face_back_to_the_frame_box_and_confidence(tmp_path):
    manifest = faces_manifest(groups=6, fakes_per_real=1, frames=2)
    rng = np.random.default_rng(0)
    for column in ("box_x", "box_y", "box_w", "box_h"):
        manifest[column] = rng.integers(0, 200, len(manifest))
    manifest["confidence"] = rng.uniform(0.95, 1.0, len(manifest)).round(5)
    write_faces_folder(tmp_path / "faces", manifest)
    prepare_dataset(tmp_path / "faces", tmp_path / "dataset", RATIOS, balance="none", seed=0)
    split = pd.read_csv(tmp_path / "dataset" / "split.csv")
    keys = ["video_id", "frame_index", "face_index"]
    traced = split.merge(manifest, on=keys, suffixes=("", "_stage02"))
    assert len(traced) == len(manifest)
    for column in ("box_x", "box_y", "box_w", "box_h", "confidence"):
        assert (traced[column] == traced[f"{column}_stage02"]).all(), column


def official_manifest():
    """Celeb-DF-like: identities id0..id5 each with 2 real and 2 fake videos; one real and one fake video
    of id0 and id1 are on the official test list, the rest of those identities is not."""
    rows = faces_manifest(groups=12, fakes_per_real=1, frames=2)
    rows["group"] = [f"id{int(video.split('_')[1]) // 2}" for video in rows["video_id"]]
    listed = rows["video_id"].isin(["real_000", "fake_000_0", "real_002", "fake_002_0"])
    rows["official_split"] = np.where(listed, "test", "")
    return rows


def test_the_official_protocol_keeps_the_test_list_exactly_and_carves_val_by_group():
    plan, _ = plan_dataset(official_manifest(), RATIOS, balance="videos", seed=0, protocol="official")
    videos = plan.drop_duplicates("video_id").set_index("video_id")
    assert sorted(videos.index[videos["split"] == "test"]) == [
        "fake_000_0",
        "fake_002_0",
        "real_000",
        "real_002",
    ]
    rest = videos[videos["split"] != "test"]
    assert set(rest["split"]) == {"train", "val"}
    assert rest.groupby("group")["split"].nunique().max() == 1  # no identity in both train and val
    assert {"real_001", "real_003"} <= set(rest.index)  # same identity as a test video, still not in test


def test_auto_uses_the_official_protocol_when_the_data_has_official_splits():
    official, _ = plan_dataset(official_manifest(), RATIOS, balance="none", seed=0)
    by_ratios, _ = plan_dataset(official_manifest(), RATIOS, balance="none", seed=0, protocol="ratios")
    assert set(official.loc[official["split"] == "test", "video_id"]) == {
        "real_000",
        "fake_000_0",
        "real_002",
        "fake_002_0",
    }
    # by ratios a group with an official test video goes to test whole: its other videos join the list
    assert {"real_001", "fake_001_0"} <= set(by_ratios.loc[by_ratios["split"] == "test", "video_id"])


def test_official_train_and_val_lists_are_kept_and_their_groups_follow():
    rows = faces_manifest(groups=6, fakes_per_real=1, frames=1)
    given = {"real_000": "train", "real_001": "val", "real_002": "test", "real_003": "train"}
    rows["official_split"] = rows["video_id"].map(given).fillna("")
    plan, _ = plan_dataset(rows, RATIOS, balance="none", seed=0, protocol="official")
    split = plan.drop_duplicates("video_id").set_index("video_id")["split"]
    for video, official in given.items():
        assert split[video] == official
    assert split["fake_001_0"] == "val" and split["fake_000_0"] == "train"  # a fake follows its source
    assert split["fake_002_0"] != "test"  # only listed videos are test videos


def test_the_report_shows_per_method_counts_and_reads_an_older_count_table():
    plan, dropped = plan_dataset(four_to_one(frames=8), RATIOS, balance="frames", seed=1)
    lines = split_table(count_table(plan, dropped).reset_index())
    assert lines[0] == "| split | label | method | videos | faces | dropped videos | dropped faces |"
    row = next(line for line in lines if line.startswith("| train | fake | NeuralTextures | "))
    videos, faces, dropped_videos, dropped_faces = (int(cell) for cell in row.strip("| ").split(" | ")[3:])
    assert (faces, dropped_videos, dropped_faces) == (2 * videos, 0, 6 * videos)  # every video, 2 of 8 faces
    assert any(line.startswith("| train | real | - | ") for line in lines)
    older = pd.DataFrame(  # split_counts.csv of a dataset made before the method column
        {
            "split": ["train"],
            "label": ["real"],
            "faces": [4],
            "videos": [1],
            "dropped_faces": [0],
            "dropped_videos": [0],
        }
    )
    assert split_table(older)[2] == "| train | real | 1 | 4 | 0 | 0 |"


def test_the_test_listing_keeps_a_faceless_video_of_a_group_dealt_to_test_by_ratios(tmp_path):
    from common.data.split import list_test_videos

    manifest = faces_manifest(groups=10, fakes_per_real=2, frames=2)
    plan, _ = plan_dataset(manifest, RATIOS, balance="none", seed=0, protocol="ratios")
    test_group = plan.loc[plan["split"] == "test", "group"].iloc[0]
    train_group = plan.loc[plan["split"] == "train", "group"].iloc[0]
    # one fake of a test group and one of a train group had no face at all
    gone = [f"fake_{test_group[5:]}_1", f"fake_{train_group[5:]}_1"]
    kept = plan[~plan["video_id"].isin(gone)]
    skipped = manifest[manifest["video_id"].isin(gone)].assign(path="", error="no face")
    skipped.loc[skipped["frame_index"] == 1, "error"] = "unreadable frame image"
    skipped.to_csv(tmp_path / "skipped_frames.csv", index=False)
    listing = list_test_videos(kept, manifest[~manifest["video_id"].isin(gone)], tmp_path, "ratios")
    faceless = listing[listing["faces"] == 0]
    assert faceless["video_id"].tolist() == [gone[0]]  # the train group's faceless fake is no test video
    assert faceless["no_face_because"].tolist() == ["no face; unreadable frame image"]
    assert set(listing["video_id"]) == set(kept.loc[kept["split"] == "test", "video_id"]) | {gone[0]}


def test_the_report_defines_the_video_probability_as_the_run_scored_it():
    from common.evaluation.run_report import definitions

    track_max = definitions({"video_score": "track_max", "track_min_share": 0.25})[0]
    frame_mean = definitions({"video_score": "frame_mean", "track_min_share": 0.25})[0]
    assert "the most fake one counting" in track_max and "25%" in track_max
    assert "the mean frame P(fake) over the frames" in frame_mean and "most fake one" not in frame_mean
