"""The ``deeperforensics`` adapter: DeeperForensics-1.0 (Jiang et al., CVPR 2020), 1,000 DF-VAE face swaps in
eleven versions, with the official train/val/test lists.

Layout of the release (EndlessSora/DeeperForensics-1.0, dataset/README.md), in the ``DeeperForensics-1.0``
folder: ``manipulated_videos/<variant>/<target>_<actor>.mp4``, 1,000 per variant (``end_to_end``, the paper's
swaps; ``end_to_end_level_1`` to ``_5``, ``end_to_end_random_level`` and ``end_to_end_mix_2_distortions`` to
``_4_``, the same swaps perturbed; ``reenact_postprocess``), where ``<target>`` is the three-digit id of the
FaceForensics++ YouTube video whose frames were used and ``<actor>`` the actor whose face was swapped in
(``M004``, ``W101``); ``lists/splits/{train,val,test}.txt``, one fake per line, 703 / 96 / 201 videos split by
actor (71 / 9 / 20 actors); ``source_videos/<actor>/...``, 48,475 recordings of the 100 actors.

The release ships no real videos for detection. Its authors' real part is the target videos, FaceForensics++
``original_sequences/youtube/c23/videos/<target>.mp4`` ("our collected source videos are not the 'real' part"):
``datasets.deeperforensics.reals: target``, with ``target_videos`` set to that folder. DeepfakeBench
(SCLBD/DeepfakeBench, preprocessing/rearrange.py) takes the actors' source videos as reals instead, every one of
them in its test set: ``reals: source``. Here a source video gets the split of its actor's listed fakes, so
the test set holds the 20 test actors' recordings only (DeepfakeBench's holds all 100 actors').

Not confirmed from a public source: whether a list line carries ``.mp4`` (DeepfakeBench keeps a line up to its
first '.'; both are read here), the folders below ``source_videos/<actor>/`` (searched at any depth), and
whether each target video is used by one fake only (not assumed: actors that share a target are one group).
"""

import logging
import re
from pathlib import Path

from common.core.config import DEFAULTS, register_choices, register_options
from common.core.errors import UserError
from common.core.manifest import FAKE, REAL, SPLITS
from common.data.adapters.base import (
    ADAPTERS,
    DOWNLOAD_SUFFIX,
    GROUPING,
    VideoRecord,
    download_videos,
    identity_groups,
    named,
)
from common.data.adapters.check import CHECKS, Check

log = logging.getLogger(__name__)

DF_VARIANTS = (  # the folders of manipulated_videos/, 1,000 videos each
    "end_to_end",
    "end_to_end_level_1",
    "end_to_end_level_2",
    "end_to_end_level_3",
    "end_to_end_level_4",
    "end_to_end_level_5",
    "end_to_end_random_level",
    "end_to_end_mix_2_distortions",
    "end_to_end_mix_3_distortions",
    "end_to_end_mix_4_distortions",
    "reenact_postprocess",
)
# datasets.deeperforensics.reals: the FaceForensics++ target videos (the authors') | the actors' (DeepfakeBench)
DF_REALS = ("target", "source")
DF_MANIPULATED = Path("manipulated_videos")  # then <variant>/<target>_<actor>.mp4
DF_SOURCES = Path("source_videos")  # then <actor>/.../<actor>_<recording>.mp4
DF_SPLITS = Path("lists", "splits")  # then train.txt, val.txt, test.txt
DF_FAKE_NAME = re.compile(r"^(\d+)_([MW]\d+)$")  # 000_M004: target video, actor
DF_SPLIT_ORDER = ("test", "val", "train")  # a real whose fakes are in several lists takes the first of these
# The release's numbers (dataset/README.md): 1,000 videos per variant; lists of 703 / 96 / 201 fakes; 100 actors
# and 48,475 source videos. The target videos are FaceForensics++'s 1,000 YouTube originals.
DF_VARIANT_VIDEOS = 1000
DF_SPLIT_VIDEOS = {"train": 703, "val": 96, "test": 201}
DF_ACTORS = 100
DF_SOURCE_VIDEOS = 48475
DF_TARGET_VIDEOS = 1000

register_options(
    "datasets.deeperforensics",
    {
        "variant": "end_to_end",  # the folder of manipulated_videos/ whose fakes are read
        "reals": "target",  # target: FaceForensics++ target videos (the authors') | source: actors' (DeepfakeBench)
        "target_videos": "",  # with reals: target, FF++ original_sequences/youtube/c23/videos (relative: to root)
        "splits": "",  # folder of the official train/val/test.txt; "" = <root>/lists/splits
    },
)
register_choices("datasets.deeperforensics.variant", lambda: DF_VARIANTS)
register_choices("datasets.deeperforensics.reals", lambda: DF_REALS)
GROUPING["deeperforensics"] = (
    "an actor: the fakes with that actor's face and their real videos (target videos or the actor's recordings), "
    "joined with every actor that shares a target video"
)


@ADAPTERS.register("deeperforensics")
def deeperforensics_videos(root, config=None):
    """DeeperForensics-1.0 at ``root`` with ``config``'s ``datasets.deeperforensics`` options (see the module
    docstring).

    Fakes: every ``.mp4`` of ``manipulated_videos/<variant>/`` as ``<variant>/<target>_<actor>`` (method
    ``<variant>``), ``official_split`` that of the list naming it ("" for a fake in no list, counted in one
    warning line). Reals with ``reals: target``: every ``.mp4`` of ``target_videos`` as ``target/<target>``,
    the ``source_video`` of its fakes; with ``reals: source``: every ``.mp4`` below ``source_videos/<actor>/``
    as ``source/<actor>/<path>``. A real takes the split of the listed fakes of its target (``target``) or of
    its actor (``source``), test before val before train when they are in several lists, "" when none is.
    ``group``: the actor (``actor_M004``), joined with every actor that shares a target video
    (``identity_groups``); a real has the group of its fakes' actor (a target no fake uses: itself; an actor
    without fakes: the actor). ``UserError`` for a missing folder or list, an unset ``target_videos``, a list
    line naming no ``<target>_<actor>`` fake, a fake listed twice, or a misnamed fake."""
    options = (config or DEFAULTS)["datasets"]["deeperforensics"]
    variant, reals = options["variant"], options["reals"]
    fake_folder = root / DF_MANIPULATED / variant
    if not fake_folder.is_dir():
        raise UserError(
            f"DeeperForensics-1.0 fakes not found: {fake_folder}; pass the DeeperForensics-1.0 folder as --input, "
            "or set datasets.deeperforensics.variant to a folder of manipulated_videos/ that is there"
        )
    listed = deeperforensics_lists(deeperforensics_splits_folder(root, options))
    real_folder = _real_folder(root, options)
    found = download_videos([fake_folder, real_folder], "DeeperForensics-1.0")

    fakes = []  # (name, target, actor, path)
    for path in found[fake_folder]:
        naming = "DeeperForensics-1.0 fakes are named <target>_<actor>.mp4 (such as 000_M004.mp4)"
        match = named(path, DF_FAKE_NAME, naming)
        fakes.append((path.stem, match[1], match[2], path))
    actors_of, fakes_of = {}, {}  # target -> its actors; actor -> its number of fakes
    for _, target, actor, _ in fakes:
        actors_of.setdefault(target, []).append(f"actor_{actor}")
        fakes_of[f"actor_{actor}"] = fakes_of.get(f"actor_{actor}", 0) + 1
    links = [(actors[0], other) for actors in actors_of.values() for other in actors[1:]]
    group_of = identity_groups(links, fakes_of, "DeeperForensics-1.0 actors")
    splits_of = {}  # "target 000" or "actor M004" -> the lists that name a fake of it
    for name, (split, _) in listed.items():
        target, actor = DF_FAKE_NAME.match(name).groups()
        for key in (f"target {target}", f"actor {actor}"):
            splits_of.setdefault(key, set()).add(split)

    records = [
        VideoRecord(
            video_id=f"{variant}/{name}",
            path=path,
            label=FAKE,
            source_video=f"target/{target}" if reals == "target" else "",
            official_split=listed[name][0] if name in listed else "",
            method=variant,
            group=group_of[f"actor_{actor}"],
        )
        for name, target, actor, path in fakes
    ]
    for path in found[real_folder]:
        relative = path.relative_to(real_folder).with_suffix("")
        if reals == "target":
            key, video_id, actors = f"target {path.stem}", f"target/{path.stem}", actors_of.get(path.stem, [])
        else:
            actor = relative.parts[0]
            key, video_id, actors = f"actor {actor}", f"source/{relative.as_posix()}", [f"actor_{actor}"]
        splits = splits_of.get(key, set())
        records.append(
            VideoRecord(
                video_id=video_id,
                path=path,
                label=REAL,
                official_split=next((split for split in DF_SPLIT_ORDER if split in splits), ""),
                group=group_of.get(actors[0], actors[0]) if actors else "",  # an actor without fakes: itself
            )
        )
    unlisted = [record.video_id for record in records if record.label == FAKE and not record.official_split]
    if unlisted:
        log.warning(
            "%d of %d DeeperForensics-1.0 fakes are in no split list (%s%s): their official split is empty",
            len(unlisted),
            len(fakes),
            ", ".join(unlisted[:3]),
            ", ..." if len(unlisted) > 3 else "",
        )
    return records


def deeperforensics_splits_folder(root, options):
    """The folder of the official lists: ``datasets.deeperforensics.splits``, else ``<root>/lists/splits``."""
    return Path(options["splits"]).expanduser() if options["splits"] else root / DF_SPLITS


def deeperforensics_target_folder(root, options):
    """``datasets.deeperforensics.target_videos`` (relative to ``root`` unless absolute), ``None`` if unset."""
    if not options["target_videos"]:
        return None
    return root / Path(options["target_videos"]).expanduser()  # an absolute path replaces root


def _real_folder(root, options):
    """The folder of the reals that ``reals`` chooses; ``UserError`` when it is unset or not there."""
    if options["reals"] == "source":
        folder, what = root / DF_SOURCES, "source videos"
        fix = (
            "download them, or set datasets.deeperforensics.reals: target (the FaceForensics++ target videos)"
        )
    else:
        folder, what = deeperforensics_target_folder(root, options), "target videos"
        fix = "set datasets.deeperforensics.target_videos to FaceForensics++'s original_sequences/youtube/c23/videos"
        if folder is None:
            raise UserError(
                "DeeperForensics-1.0 ships no real videos: set datasets.deeperforensics.target_videos to the "
                "FaceForensics++ folder original_sequences/youtube/c23/videos (its authors' real part, "
                "datasets.deeperforensics.reals: target), or set datasets.deeperforensics.reals: source (the "
                "actors' recordings, as DeepfakeBench)"
            )
    if not folder.is_dir():
        raise UserError(f"DeeperForensics-1.0 {what} not found: {folder}; {fix}")
    return folder


def deeperforensics_lists(folder, splits=SPLITS):
    """``{fake name: (split, line number)}`` from ``<split>.txt`` in ``folder`` for each of ``splits``: one fake
    per line, ``000_M004.mp4`` or ``000_M004`` (blank lines skipped). ``UserError`` for a missing list, a line
    that names no ``<target>_<actor>`` fake, or a fake on two lines."""
    listed = {}
    for split in splits:
        path = folder / f"{split}.txt"
        if not path.is_file():
            raise UserError(
                f"DeeperForensics-1.0 split list not found: {path}; put the official {', '.join(splits)} .txt "
                "files (the release's lists/splits/) there or set datasets.deeperforensics.splits to their folder"
            )
        for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
            if not line.strip():
                continue
            name = Path(line.strip().replace("\\", "/")).name
            name = name[: -len(DOWNLOAD_SUFFIX)] if name.lower().endswith(DOWNLOAD_SUFFIX) else name
            if not DF_FAKE_NAME.match(name):
                raise UserError(
                    f"{path} line {number}: expected a fake <target>_<actor>.mp4 (such as 000_M004.mp4), got "
                    f"{line.strip()!r}"
                )
            if name in listed:
                first_split, first_number = listed[name]
                raise UserError(
                    f"{name} is on two lines, {first_split}.txt line {first_number} and {path.name} line {number} "
                    f"in {folder}; keep it on one"
                )
            listed[name] = (split, number)
    return listed


@CHECKS.register("deeperforensics")
def check_deeperforensics(root, config):
    """``--check --dataset deeperforensics``: the variant's fakes against 1,000, each list against its official
    length, every listed fake on disk, and the reals: with ``reals: target`` the target folder against 1,000
    and every listed fake's target video on disk; with ``reals: source`` the actor folders against 100, their
    videos against 48,475, and a folder for every listed fake's actor."""
    options = config["datasets"]["deeperforensics"]
    variant, reals = options["variant"], options["reals"]
    check = Check(f"DeeperForensics-1.0 at {root}, variant {variant}, reals {reals}")
    fake_videos = check.folder(
        f"manipulated_videos/{variant}/", root / DF_MANIPULATED / variant, DF_VARIANT_VIDEOS
    )
    fakes_on_disk = None if fake_videos is None else {path.stem for path in fake_videos}
    if reals == "target":
        folder = deeperforensics_target_folder(root, options)
        if folder is None:
            check.lack("datasets.deeperforensics.target_videos is not set: the FaceForensics++ target videos")
            real_videos = None
        else:
            real_videos = check.folder("target videos", folder, DF_TARGET_VIDEOS)
        reals_on_disk = None if real_videos is None else {path.stem for path in real_videos}
    else:
        reals_on_disk = _check_sources(check, root / DF_SOURCES)
    splits_folder = deeperforensics_splits_folder(root, options)
    for split in SPLITS:
        if not (splits_folder / f"{split}.txt").is_file():
            check.lack(f"{split}.txt: the official split list is not in {splits_folder}")
            continue
        listed = deeperforensics_lists(splits_folder, (split,))
        check.count(f"{split}.txt entries", len(listed), DF_SPLIT_VIDEOS[split])
        for name, (_, number) in listed.items():
            target, actor = DF_FAKE_NAME.match(name).groups()
            where = f"{split}.txt line {number}"
            if fakes_on_disk is not None and name not in fakes_on_disk:
                check.lack(f"{where}: {variant}/{name}{DOWNLOAD_SUFFIX} is not on disk")
            if reals_on_disk is not None and reals == "target" and target not in reals_on_disk:
                check.lack(f"{where}: target video {target}{DOWNLOAD_SUFFIX} of {name} is not on disk")
            if reals_on_disk is not None and reals == "source" and actor not in reals_on_disk:
                check.lack(f"{where}: actor {actor} of {name} has no source videos on disk")
    return check


def _check_sources(check, folder):
    """Count the actor folders and source videos in ``folder``; the actors with videos, ``None`` if absent."""
    if not folder.is_dir():
        check.lack(f"source videos: folder {folder} not found ({DF_ACTORS} actor folders expected)")
        return None
    actors = sorted(path for path in folder.iterdir() if path.is_dir() and not path.name.startswith("."))
    check.count(f"actor folders ({folder})", len(actors), DF_ACTORS)
    found = download_videos(actors, "DeeperForensics-1.0")
    check.count("source videos", sum(len(videos) for videos in found.values()), DF_SOURCE_VIDEOS)
    return {actor.name for actor, videos in found.items() if videos}
