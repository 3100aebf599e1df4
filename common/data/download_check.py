"""``--check`` of stage 01 (and of stage 05 with ``--dataset``): count an official download on disk against the
official numbers and name what is missing or extra, without any work, so that a user learns that a download is
incomplete in a second, not after hours of preprocessing.

The exit status is 1 when a folder, an official list or a video an official list names is missing, else 0. A
folder holding fewer (or more) videos than the official count is reported as such ("N of M expected") but does
not change the exit status: a subset chosen on purpose is no broken download, and only the lists say which
videos a protocol needs.
"""

from pathlib import Path

from common.core.config import DEFAULTS
from common.core.errors import UserError
from common.core.manifest import SPLITS
from common.data.adapters import (
    CELEBDF_TEST_LIST,
    DFD_FAKES,
    DFD_ORIGINALS,
    DOWNLOAD_SUFFIX,
    FFPP_MANIPULATED,
    FFPP_ORIGINALS,
    candidate_files,
    celebdf_test_list,
    ffpp_folder,
    ffpp_official_pairs,
)

# Celeb-DF v2. 5,639 fakes: the Celeb-DF paper (Li et al., CVPR 2020, arXiv 1909.12962, abstract). 590
# Celeb-real, 300 YouTube-real and 518 test videos: issue 24, and the same numbers in a third-party README
# (github.com/HanMoonSub/DeepGuard, preprocess/celeb_df_v2/README.md), not in a source of the authors' here.
CELEBDF_V2_VIDEOS = {"Celeb-real": 590, "YouTube-real": 300, "Celeb-synthesis": 5639}
CELEBDF_V2_TEST_VIDEOS = 518
# FaceForensics++: 1,000 originals and 1,000 fakes per method (FaceShifter too) at each compression (the
# FaceForensics repository's README: "1000 original video sequences"; FaceShifter: "All 1000 original videos
# ... have been manipulated"). The official split files list 360/70/70 pairs, so 720/140/140 originals (the
# FaceForensics++ paper, Rössler et al. 2019; as quoted in issue 24, not confirmed from a public source here).
FFPP_VIDEOS = 1000
FFPP_SPLIT_VIDEOS = {"train": 720, "val": 140, "test": 140}
# DeepFakeDetection: 363 originals and 3,068 fakes (Table 1 of the Celeb-DF paper, arXiv 1909.12962).
DFD_VIDEOS = {"originals": 363, "fakes": 3068}


class Check:
    """Lines of a ``--check`` report and whether something an official protocol needs is missing."""

    def __init__(self, title):
        self.lines = [title]
        self.missing = False

    def say(self, line):
        self.lines.append(f"  {line}")

    def lack(self, line):
        self.missing = True
        self.say(f"MISSING {line}")

    def count(self, what, found, expected):
        """One "N of M expected" line for ``what``."""
        if found == expected:
            self.say(f"{what}: {found} of {expected} expected, complete")
        else:
            gap = f"{expected - found} short" if found < expected else f"{found - expected} extra"
            self.say(f"{what}: {found} of {expected} expected ({gap})")

    def folder(self, what, folder, expected):
        """Count the videos of ``folder``; name the files in it that are no video (extra). Returns the video
        paths, or ``None`` (and a MISSING line) when the folder is not there."""
        if folder is None or not Path(folder).is_dir():
            self.lack(f"{what}: folder {folder} not found ({expected} videos expected)")
            return None
        files = candidate_files(folder)
        videos = [path for path in files if path.suffix.lower() == DOWNLOAD_SUFFIX]
        self.count(f"{what} ({folder})", len(videos), expected)
        others = [path.name for path in files if path.suffix.lower() != DOWNLOAD_SUFFIX]
        if others:
            self.say(
                f"extra in {what}: {len(others)} file(s) that are no {DOWNLOAD_SUFFIX} video: {', '.join(others)}"
            )
        return videos


def check_celebdf(root, config):
    check = Check(f"Celeb-DF v2 at {root}")
    on_disk = set()
    for name, expected in CELEBDF_V2_VIDEOS.items():
        for path in check.folder(f"{name}/", root / name, expected) or ():
            on_disk.add(path.relative_to(root).with_suffix("").as_posix())
    list_path = root / CELEBDF_TEST_LIST
    if not list_path.is_file():
        check.lack(f"{CELEBDF_TEST_LIST}: the official test list is not in {root}")
        return check
    listed = celebdf_test_list(list_path)
    check.count(f"{CELEBDF_TEST_LIST} entries", len(listed), CELEBDF_V2_TEST_VIDEOS)
    for video_id, line_number in listed.items():
        if video_id not in on_disk:
            check.lack(f"{CELEBDF_TEST_LIST} line {line_number}: {video_id}{DOWNLOAD_SUFFIX} is not on disk")
    return check


def _folder_or_none(base, compression):
    """``ffpp_folder``, or ``None`` when it is not there."""
    try:
        return ffpp_folder(base, compression, "", "")
    except UserError:
        return None


def check_ffpp(root, config):
    options = config["datasets"]["ffpp"]
    compression = options["compression"]
    check = Check(
        f"FaceForensics++ at {root}, compression {compression}, methods {', '.join(options['methods'])}"
    )
    folders = {"original": (root / FFPP_ORIGINALS, "originals")}
    folders.update({method: (root / FFPP_MANIPULATED / method, method) for method in options["methods"]})
    on_disk = set()
    for prefix, (base, what) in folders.items():
        folder = _folder_or_none(base, compression)
        for path in check.folder(what, folder or base / compression / "videos", FFPP_VIDEOS) or ():
            on_disk.add(f"{prefix}/{path.relative_to(folder).with_suffix('').as_posix()}")
    splits_folder = Path(options["splits"]).expanduser() if options["splits"] else root / "splits"
    for split in SPLITS:
        if not (splits_folder / f"{split}.json").is_file():
            check.lack(f"{split}.json: the official split file is not in {splits_folder}")
            continue
        pair_splits, _ = ffpp_official_pairs(splits_folder, (split,))
        check.count(f"{split}.json originals", 2 * len(pair_splits), FFPP_SPLIT_VIDEOS[split])
        for a, b in pair_splits:
            needed = [f"original/{a}", f"original/{b}"]
            needed += [
                f"{method}/{name}" for method in options["methods"] for name in (f"{a}_{b}", f"{b}_{a}")
            ]
            absent = [video_id for video_id in needed if video_id not in on_disk]
            if absent:
                check.lack(f"{split}.json pair {a}, {b}: {', '.join(absent)} not on disk")
    return check


def check_dfd(root, config):
    compression = config["datasets"]["dfd"]["compression"]
    check = Check(f"DeepFakeDetection at {root}, compression {compression}")
    for base, what in ((root / DFD_ORIGINALS, "originals"), (root / DFD_FAKES, "fakes")):
        folder = _folder_or_none(base, compression) or base / compression / "videos"
        check.folder(what, folder, DFD_VIDEOS[what])
    return check


CHECKS = {"celebdf": check_celebdf, "ffpp": check_ffpp, "dfd": check_dfd}  # --dataset -> its check


def check_download(root, dataset, config=None):
    """Print the ``--check`` report of the ``dataset`` download at ``root``; return the exit status (0 when
    nothing an official protocol needs is missing, else 1). ``UserError`` for a dataset without official
    numbers."""
    if dataset not in CHECKS:
        raise UserError(
            f"--check knows the official numbers of {', '.join(CHECKS)}, not of --dataset {dataset}"
        )
    check = CHECKS[dataset](Path(root), config if config is not None else DEFAULTS)
    print("\n".join(check.lines))
    print(
        "incomplete: see the MISSING lines" if check.missing else "nothing an official list needs is missing"
    )
    return 1 if check.missing else 0


def check_option(parser, what):
    """The ``--check`` flag of a stage (``what``: which ``--dataset`` it needs)."""
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"only check the official download at --input{what}: count its videos against the official "
        "numbers, name missing folders, lists and listed videos, and exit (1 when something listed is "
        "missing) without writing anything",
    )
