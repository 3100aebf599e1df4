"""What each adapter's ``--check`` fills: a ``Check`` report, and the ``CHECKS`` registry in which an adapter
module registers the function that counts its official download (``check(root, config)`` returning a
``Check``). ``common.data.download_check`` runs them."""

from pathlib import Path

from common.core.registry import Registry
from common.data.adapters.base import DOWNLOAD_SUFFIX, candidate_files

# --dataset -> function(root, config) returning the Check of the official download at root
CHECKS = Registry("download check", "--check --dataset", "common.data.adapters.CHECKS")


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
        """One "N of M expected" line for ``what`` ("N; no official number" when ``expected`` is None)."""
        if expected is None:
            self.say(f"{what}: {found}; the official number is not confirmed here")
        elif found == expected:
            self.say(f"{what}: {found} of {expected} expected, complete")
        else:
            gap = f"{expected - found} short" if found < expected else f"{found - expected} extra"
            self.say(f"{what}: {found} of {expected} expected ({gap})")

    def folder(self, what, folder, expected):
        """Count the videos of ``folder`` (against ``expected``, or None); name the files in it that are no
        video (extra). Returns the video paths, or ``None`` (and a MISSING line) when the folder is not there."""
        if folder is None or not Path(folder).is_dir():
            self.lack(
                f"{what}: folder {folder} not found" + (f" ({expected} videos expected)" if expected else "")
            )
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
