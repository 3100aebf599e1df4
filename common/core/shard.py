"""``--shard K/N``: N machines split one dataset with no coordination.

A video belongs to shard ``K`` when a hash of its id, modulo ``N``, is ``K``: every machine computes the same
answer from the id alone, whatever order it lists the videos in, so shards never overlap and together hold
every video.
"""

import argparse
import dataclasses
import hashlib


@dataclasses.dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def __str__(self):
        return f"{self.index}/{self.count}"

    def holds(self, video_id):
        digest = hashlib.sha1(video_id.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index

    def select(self, items, video_id=lambda item: item[0]):
        """The items whose ``video_id(item)`` belongs to this shard, in their order."""
        return [item for item in items if self.holds(video_id(item))]


WHOLE = Shard(0, 1)


def parse_shard(text):
    """argparse type for ``K/N`` (0 <= K < N)."""
    index, slash, count = text.partition("/")
    try:
        shard = Shard(int(index), int(count))
    except ValueError:
        shard = None
    if not slash or shard is None or shard.count < 1 or not 0 <= shard.index < shard.count:
        raise argparse.ArgumentTypeError(f"expected K/N with 0 <= K < N (e.g. 0/4), got {text!r}")
    return shard


def shard_option(parser):
    parser.add_argument(
        "--shard",
        type=parse_shard,
        default=WHOLE,
        metavar="K/N",
        help="process only shard K of N (0-based; videos are assigned by a hash of their id), so N machines "
        "split the videos with no coordination; the last shard to finish writes the joined outputs, or run "
        "again without --shard to join them",
    )
