"""The ``ffpp`` adapter: FaceForensics++ as its download script lays it out, with the official splits."""

import json
import logging
import re
from pathlib import Path

from common.core.config import DEFAULTS, register_choices, register_options
from common.core.errors import ConfigError, UserError
from common.core.manifest import FAKE, REAL, SPLITS
from common.data.adapters.base import ADAPTERS, GROUPING, VideoRecord, download_videos, named, relative_name
from common.data.adapters.check import CHECKS, Check

log = logging.getLogger(__name__)

FFPP_ORIGINALS = Path("original_sequences", "youtube")  # then <compression>/videos/NNN.mp4
# datasets.ffpp.compression -> the folders it may be in: the official download script writes the lossless
# videos to raw/ (its --compression raw), which some tools and papers call c0
FFPP_COMPRESSION_FOLDERS = {"raw": ("raw", "c0"), "c0": ("raw", "c0"), "c23": ("c23",), "c40": ("c40",)}
FFPP_MANIPULATED = Path("manipulated_sequences")  # then <Method>/<compression>/videos/<target>_<source>.mp4
# <target>_<source>: the target video's frames, manipulated with the face (or expressions) of the source video
FFPP_FAKE_NAME = re.compile(r"^(\d+)_(\d+)$")
FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")
# FaceForensics++: 1,000 originals and 1,000 fakes per method (FaceShifter too) at each compression (the
# FaceForensics repository's README: "1000 original video sequences"; FaceShifter: "All 1000 original videos
# ... have been manipulated"). The official split files (dataset/splits/{train,val,test}.json of
# github.com/ondyari/FaceForensics, counted) list 360/70/70 pairs of 720/140/140 distinct originals.
FFPP_VIDEOS = 1000
FFPP_SPLIT_VIDEOS = {"train": 720, "val": 140, "test": 140}


def check_ffpp_options(options):
    """``datasets.ffpp.methods`` is a non-empty list of ``FFPP_METHODS``; ``ConfigError`` otherwise, pointing
    DeepFakeDetection to its own adapter."""
    methods = options["methods"]
    if "DeepFakeDetection" in methods:
        raise ConfigError(
            "config key 'datasets.ffpp.methods': DeepFakeDetection is a dataset of its own (other actors, "
            "no official split): read it with --dataset dfd (stage 01, or stage 05 as a cross-dataset test)"
        )
    if not methods or any(method not in FFPP_METHODS for method in methods):
        raise ConfigError(
            f"config key 'datasets.ffpp.methods' must be a non-empty list of {', '.join(FFPP_METHODS)}, "
            f"got {methods!r}"
        )


register_options(
    "datasets.ffpp",
    {
        "compression": "c23",  # raw (= c0, the download script's raw/) | c23 | c40
        "methods": ["Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"],  # also: FaceShifter
        "splits": "",  # folder of the official train/val/test.json; "" = <root>/splits
    },
    check_ffpp_options,
)
register_choices("datasets.ffpp.compression", lambda: tuple(FFPP_COMPRESSION_FOLDERS))
GROUPING["ffpp"] = "an official pair: its two originals and all their fakes"


@ADAPTERS.register("ffpp")
def ffpp_videos(root, config=None):
    """FaceForensics++ at ``root``, with the compression, methods and splits folder of ``config``'s
    ``datasets.ffpp`` section (the built-in defaults when ``None``).

    Returns one ``VideoRecord`` per video of the chosen compression: originals
    ``original_sequences/youtube/<c>/videos/NNN.mp4`` as ``original/NNN`` (real, method ""), fakes
    ``manipulated_sequences/<Method>/<c>/videos/<a>_<b>.mp4`` of the chosen methods as ``<Method>/<a>_<b>``
    (fake, method ``<Method>``, ``source_video`` ``original/<a>``, the target video whose frames were
    manipulated), so the same pair made by two methods gives two videos.

    The official protocol (``train.json``, ``val.json``, ``test.json``: lists of id pairs ``[["953", "974"],
    ...]``) gives ``official_split`` to the originals ``a`` and ``b`` of a listed pair and to its fakes
    ``a_b`` and ``b_a`` of every method; ``group`` is one name per pair (``pair_953_974``, the ids sorted), so
    a pair's originals and fakes stay together. A video in no split file gets ``official_split`` "" (one
    warning line counts them); its group is the pair its fake file names reveal, or else its target video's.
    ``UserError`` for a missing compression or method folder, a missing or malformed split file, a pair in
    two split files, an original in two pairs, or a fake whose name is not ``<target>_<source>``.
    """
    options = (config or DEFAULTS)["datasets"]["ffpp"]
    compression = options["compression"]
    original_folder = ffpp_folder(
        root / FFPP_ORIGINALS,
        compression,
        "FaceForensics++ originals",
        f"download them at {compression} or set datasets.ffpp.compression to a compression that is there",
    )
    method_folders = {}
    for method in options["methods"]:
        method_folders[method] = ffpp_folder(
            root / FFPP_MANIPULATED / method,
            compression,
            "FaceForensics++ method folder",
            f"download it or set datasets.ffpp.compression to one that {method} has"
            if (root / FFPP_MANIPULATED / method).is_dir()
            else f"download it or remove {method} from datasets.ffpp.methods",
        )
    splits_folder = Path(options["splits"]).expanduser() if options["splits"] else root / "splits"
    pair_splits, listed_pair_of = ffpp_official_pairs(splits_folder, SPLITS)

    found = download_videos([original_folder, *method_folders.values()], "FaceForensics++")
    originals = [(relative_name(path, original_folder), path) for path in found[original_folder]]
    fakes = []  # (method, name, target, source, path)
    for method, folder in method_folders.items():
        for path in found[folder]:
            naming = "FaceForensics++ fakes are named <target>_<source>.mp4 (such as 000_003.mp4)"
            match = named(path, FFPP_FAKE_NAME, naming)
            fakes.append((method, relative_name(path, folder), match[1], match[2], path))
    pair_of = dict(listed_pair_of)  # pairs known only from fake file names keep their originals together too
    for _, _, target, source, _ in fakes:
        if target not in pair_of and source not in pair_of:
            pair_of[target] = pair_of[source] = tuple(sorted((target, source)))

    records = [
        VideoRecord(
            video_id=f"original/{name}",
            path=path,
            label=REAL,
            official_split=pair_splits.get(listed_pair_of.get(name), ""),
            group=_ffpp_group(pair_of, name),
        )
        for name, path in originals
    ]
    for method, name, target, source, path in fakes:
        pair = tuple(sorted((target, source)))
        records.append(
            VideoRecord(
                video_id=f"{method}/{name}",
                path=path,
                label=FAKE,
                source_video=f"original/{target}",
                official_split=pair_splits.get(pair, ""),
                method=method,
                group=_ffpp_group(pair_of, target),  # the target's pair, which is this fake's when listed
            )
        )
    _warn_about_ffpp_coverage(records, pair_splits, method_folders, splits_folder)
    return records


def ffpp_folder(base, compression, what, fix):
    """``base/<compression>/videos`` as the official download script lays it out (``raw`` for ``c0``, either
    name accepted); ``UserError`` naming the folder, ``what`` it should hold and the ``fix`` otherwise."""
    for name in FFPP_COMPRESSION_FOLDERS[compression]:
        if (base / name / "videos").is_dir():
            return base / name / "videos"
    expected = base / FFPP_COMPRESSION_FOLDERS[compression][0] / "videos"
    raise UserError(f"{what} not found: {expected}; {fix}")


def _ffpp_group(pair_of, original):
    """The group of the FaceForensics++ original ``original``: its pair (``pair_000_003``), else itself."""
    pair = pair_of.get(original)
    return f"pair_{pair[0]}_{pair[1]}" if pair else f"original/{original}"


def ffpp_official_pairs(folder, splits):
    """Read ``<split>.json`` for each of ``splits`` in ``folder``; return ``({pair: split}, {original: pair})``
    where a pair is the tuple of its two original ids, sorted. ``UserError`` when a file is missing or not a
    list of id pairs, a pair is in two files, or an original is in two pairs."""
    pair_splits, pair_file, pair_of = {}, {}, {}
    for split in splits:
        path = folder / f"{split}.json"
        if not path.is_file():
            raise UserError(
                f"FaceForensics++ split file not found: {path}; put the official {', '.join(splits)} .json "
                "files (FaceForensics repository, dataset/splits) there or set datasets.ffpp.splits to their "
                "folder"
            )
        try:
            entries = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise UserError(f"cannot read {path}: {error}") from None
        if not isinstance(entries, list):
            raise UserError(f'{path} must hold a JSON list of id pairs such as [["953", "974"], ...]')
        for number, entry in enumerate(entries, start=1):
            if not (
                isinstance(entry, list)
                and len(entry) == 2
                and all(isinstance(video, str) and video for video in entry)
                and entry[0] != entry[1]
            ):
                raise UserError(
                    f"{path} entry {number}: {entry!r} is not two different video ids written as strings, "
                    'such as ["953", "974"]'
                )
            pair = tuple(sorted(entry))
            if pair_splits.get(pair, split) != split:
                raise UserError(
                    f"pair {list(pair)} is in both {pair_file[pair].name} and {path.name} in {folder}; "
                    "keep it in one split file"
                )
            pair_splits[pair], pair_file[pair] = split, path
            for original in pair:
                other = pair_of.setdefault(original, pair)
                if other != pair:
                    raise UserError(
                        f"original {original} is in two pairs, {list(other)} ({pair_file[other].name}) and "
                        f"{list(pair)} ({path.name}) in {folder}; each original belongs to one pair"
                    )
    return pair_splits, pair_of


def _warn_about_ffpp_coverage(records, pair_splits, method_folders, splits_folder):
    """One warning line for the videos in no split file, one for videos of listed pairs not on disk."""
    unlisted = [record.video_id for record in records if not record.official_split]
    if unlisted:
        log.warning(
            "%d of %d FaceForensics++ videos are in no split file of %s (%s%s): their official split is empty",
            len(unlisted),
            len(records),
            splits_folder,
            ", ".join(unlisted[:3]),
            ", ..." if len(unlisted) > 3 else "",
        )
    found = {record.video_id for record in records}
    expected = []
    for a, b in pair_splits:
        expected += [f"original/{a}", f"original/{b}"]
        expected += [f"{method}/{name}" for method in method_folders for name in (f"{a}_{b}", f"{b}_{a}")]
    missing = [video_id for video_id in expected if video_id not in found]
    if missing:
        log.warning(
            "%d of %d FaceForensics++ videos of the official splits are not on disk (%s%s): those splits are "
            "incomplete",
            len(missing),
            len(expected),
            ", ".join(missing[:3]),
            ", ..." if len(missing) > 3 else "",
        )


def ffpp_folder_or_none(base, compression):
    """``ffpp_folder``, or ``None`` when it is not there."""
    try:
        return ffpp_folder(base, compression, "", "")
    except UserError:
        return None


@CHECKS.register("ffpp")
def check_ffpp(root, config):
    """``--check --dataset ffpp``: the originals and each method's folder at the chosen compression against
    ``FFPP_VIDEOS``, each split file's originals against ``FFPP_SPLIT_VIDEOS``, and every video of a listed
    pair on disk."""
    options = config["datasets"]["ffpp"]
    compression = options["compression"]
    check = Check(
        f"FaceForensics++ at {root}, compression {compression}, methods {', '.join(options['methods'])}"
    )
    folders = {"original": (root / FFPP_ORIGINALS, "originals")}
    folders.update({method: (root / FFPP_MANIPULATED / method, method) for method in options["methods"]})
    on_disk = set()
    for prefix, (base, what) in folders.items():
        folder = ffpp_folder_or_none(base, compression)
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
