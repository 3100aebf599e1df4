"""``--check`` of stage 01 and stage 05: an official download counted against the official numbers, missing
folders, lists and listed videos named, exit 1 when the protocol misses something, and nothing written."""

import shutil

from test_protocols import celebdf_tree, dfd_tree, dfdc_tree, dfdcp_tree, ffpp_tree, two_methods

from common.data.adapters import CELEBDF_V2_TEST_VIDEOS, CELEBDF_V2_VIDEOS
from common.data.adapters.celebdf import CELEBDF_V1_FAKES, CELEBDF_V1_REALS
from common.data.download_check import check_download


def test_a_complete_tiny_celebdf_tree_passes_with_its_counts_against_the_official_ones(tmp_path, capsys):
    root = celebdf_tree(tmp_path / "celeb")
    (root / "Celeb-real" / "notes.txt").write_text("x")
    assert check_download(root, "celebdf") == 0
    out = capsys.readouterr().out
    assert (
        f"Celeb-real/ ({root / 'Celeb-real'}): 3 of {CELEBDF_V2_VIDEOS['Celeb-real']} expected (587 short)"
        in out
    )
    assert "YouTube-real/" in out and "Celeb-synthesis/" in out
    assert f"List_of_testing_videos.txt entries: 5 of {CELEBDF_V2_TEST_VIDEOS} expected (513 short)" in out
    assert "1 file(s) that are no .mp4 video: notes.txt" in out
    assert "MISSING" not in out


def test_stage_01_check_names_a_missing_folder_and_a_missing_listed_video_and_writes_nothing(
    tmp_path, capsys
):
    root = celebdf_tree(tmp_path / "celeb")
    for path in (root / "YouTube-real").iterdir():
        path.unlink()
    (root / "YouTube-real").rmdir()
    (root / "Celeb-real" / "id1_0000.mp4").unlink()
    out_dir = tmp_path / "out"
    from common.stages import extract_frames as stage

    code = stage.main(["--dataset", "celebdf", "--input", str(root), "--output", str(out_dir), "--check"])
    out = capsys.readouterr().out
    assert code == 1 and not out_dir.exists()
    assert "MISSING YouTube-real/: folder" in out
    assert "MISSING List_of_testing_videos.txt line 6: Celeb-real/id1_0000.mp4 is not on disk" in out
    assert "line 3: YouTube-real/00000.mp4 is not on disk" in out


def test_a_missing_test_list_is_missing(tmp_path, capsys):
    root = celebdf_tree(tmp_path / "celeb")
    (root / "List_of_testing_videos.txt").unlink()
    assert check_download(root, "celebdf") == 1
    assert "MISSING List_of_testing_videos.txt" in capsys.readouterr().out


def test_ffpp_check_counts_folders_and_split_files_and_names_a_missing_pair_video(tmp_path, capsys):
    root = ffpp_tree(tmp_path / "ff")
    config = two_methods()
    assert check_download(root, "ffpp", config) == 0
    out = capsys.readouterr().out
    assert "originals (" in out and ": 10 of 1000 expected (990 short)" in out
    assert (
        "train.json originals: 6 of 720 expected" in out and "test.json originals: 2 of 140 expected" in out
    )
    (root / "manipulated_sequences" / "Face2Face" / "c23" / "videos" / "009_008.mp4").unlink()
    (root / "splits" / "val.json").unlink()
    assert check_download(root, "ffpp", config) == 1
    out = capsys.readouterr().out
    assert "MISSING test.json pair 008, 009: Face2Face/009_008 not on disk" in out
    assert "MISSING val.json: the official split file" in out


def test_dfd_check_counts_originals_and_fakes_and_names_a_missing_folder(tmp_path, capsys):
    root = dfd_tree(tmp_path / "ff")
    assert check_download(root, "dfd") == 0
    out = capsys.readouterr().out
    assert "of 363 expected" in out and "of 3068 expected" in out
    fakes = root / "manipulated_sequences" / "DeepFakeDetection"
    fakes.rename(tmp_path / "elsewhere")
    assert check_download(root, "dfd") == 1
    assert "MISSING fakes: folder" in capsys.readouterr().out


def test_stage_05_check_needs_dataset_and_writes_nothing(tmp_path, capsys):
    root = celebdf_tree(tmp_path / "celeb")
    from common.stages import predict_videos as stage

    out_csv = tmp_path / "out" / "predictions.csv"
    args = ["--input", str(root), "--output", str(out_csv), "--model", str(tmp_path / "no-model"), "--check"]
    assert stage.main([*args, "--dataset", "celebdf"]) == 0
    assert "5 of 518 expected" in capsys.readouterr().out
    assert stage.main(args) == 2 and "--check needs --dataset" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_dfdc_check_counts_the_test_labels_and_names_a_missing_test_video_and_a_missing_labels_csv(
    tmp_path, capsys
):
    root = dfdc_tree(tmp_path / "DFDC")
    assert check_download(root, "dfdc") == 0
    out = capsys.readouterr().out
    assert (
        "test/labels.csv: 3 test videos listed (2 fake, 1 real); the official count is not confirmed" in out
    )
    assert "train/dfdc_train_part_0/metadata.json: 2 videos listed" in out and "MISSING" not in out
    (root / "test" / "videos" / "eeeeeeeeee.mp4").unlink()
    (root / "train" / "dfdc_train_part_0" / "aaaaaaaaaa.mp4").unlink()
    assert check_download(root, "dfdc") == 1
    out = capsys.readouterr().out
    assert "MISSING test/labels.csv line 4: eeeeeeeeee.mp4 is not on disk" in out
    assert (
        "MISSING train/dfdc_train_part_0/metadata.json: 1 listed video(s) not on disk: aaaaaaaaaa.mp4" in out
    )
    (root / "test" / "labels.csv").unlink()
    assert check_download(root, "dfdc") == 1
    assert "MISSING labels.csv: the test set's label file is not below" in capsys.readouterr().out


def test_dfdcp_check_counts_dataset_json_against_the_official_numbers_and_names_what_is_missing(
    tmp_path, capsys
):
    root = dfdcp_tree(tmp_path / "dfdcp")
    from common.stages import predict_videos as stage

    args = ["--input", str(root), "--output", str(tmp_path / "out" / "p.csv"), "--model", "none", "--check"]
    assert stage.main([*args, "--dataset", "dfdcp"]) == 0
    out = capsys.readouterr().out
    assert "dataset.json real entries: 4 of 1131 expected (1127 short)" in out
    assert "dataset.json fake entries: 3 of 4119 expected (4116 short)" in out
    assert "test entries (the official test set): 2 (1 fake)" in out and "MISSING" not in out
    shutil.rmtree(root / "method_B")
    (root / "original_videos/5/5_A/5_a.mp4").unlink()
    assert check_download(root, "dfdcp") == 1
    out = capsys.readouterr().out
    assert "MISSING method_B/: folder not found (1 videos listed in it)" in out
    assert "MISSING original_videos/5/5_A/5_a.mp4 is listed in dataset.json but not on disk" in out
    (root / "dataset.json").unlink()
    assert check_download(root, "dfdcp") == 1 and "MISSING dataset.json" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()


def test_celebdf_v1_check_counts_fakes_and_both_real_folders_together_and_names_a_missing_listed_video(
    tmp_path, capsys
):
    root = celebdf_tree(tmp_path / "celeb")
    assert check_download(root, "celebdf_v1") == 0
    out = capsys.readouterr().out
    assert f"Celeb-synthesis/ ({root / 'Celeb-synthesis'}): 3 of {CELEBDF_V1_FAKES} expected" in out
    assert f"Celeb-real/ and YouTube-real/ together: 5 of {CELEBDF_V1_REALS} expected" in out
    assert "List_of_testing_videos.txt entries: 5; the official number is not confirmed here" in out
    (root / "Celeb-real" / "id1_0000.mp4").unlink()
    assert check_download(root, "celebdf_v1") == 1
    assert "MISSING List_of_testing_videos.txt line 6: Celeb-real/id1_0000.mp4 is not on disk" in (
        capsys.readouterr().out
    )
