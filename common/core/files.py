"""Atomic writes: a file appears under its final name complete, or not at all."""

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import socket
from pathlib import Path

import cv2
import numpy as np

from common.core.errors import UserError

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_path(target):
    """Yield a temporary path next to ``target``; rename it onto ``target`` if the block succeeds.

    The temporary name keeps every suffix (writers choose the format from them: ``.jpg``, ``.weights.h5``)
    and starts with a dot, so listings that skip hidden files never see it. It names the host and the process,
    so shards on machines sharing one folder never write to the same temporary file.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    base, dot, suffixes = target.name.partition(".")
    temporary = target.with_name(f".{base}.{socket.gethostname()}.{os.getpid()}.tmp{dot}{suffixes}")
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        if temporary.exists():
            temporary.unlink()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep_temporaries(folder, recursive=True):
    """Remove the temporary files of ``atomic_path`` under ``folder`` that processes of this host left when
    they were killed (SIGKILL, a power cut: nothing got to clean up). Those of live processes, and those of
    other hosts (shards sharing the folder), are left alone. Returns how many were removed."""
    pattern = re.compile(rf"^\..*\.{re.escape(socket.gethostname())}\.(\d+)\.tmp")
    folder = Path(folder)
    found = folder.rglob(".*") if recursive else folder.glob(".*")
    removed = 0
    for path in found:
        match = pattern.match(path.name)
        if match and path.is_file() and not _alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed += 1
    if removed:
        log.info("removed %d temporary file(s) of an interrupted run in %s", removed, folder)
    return removed


def atomic_write_bytes(target, data):
    with atomic_path(target) as temporary:
        temporary.write_bytes(data)


def atomic_write_text(target, text):
    atomic_write_bytes(target, text.encode("utf-8"))


def atomic_write_csv(target, frame):
    """Write a pandas DataFrame as CSV without its index."""
    with atomic_path(target) as temporary:
        frame.to_csv(temporary, index=False)


def file_sha256(path):
    """The SHA-256 of a file's content (hex), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def encode_jpeg(image_bgr, quality):
    """The JPEG bytes of a BGR image at ``quality``: the one encoder of saved frames and crops, and of
    stage 05's crops before they are decoded as stage 04 decodes its files."""
    ok, encoded = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"could not encode an image of shape {image_bgr.shape} as JPEG")
    return encoded.tobytes()


def write_jpeg(target, image_bgr, quality):
    """Encode a BGR image as JPEG and write it atomically."""
    atomic_write_bytes(target, encode_jpeg(image_bgr, quality))


def jpeg_round_trip(image_bgr, quality):
    """A frame as stage 02 reads it back (OpenCV) after stage 01 saved it as JPEG at ``quality``."""
    return cv2.imdecode(np.frombuffer(encode_jpeg(image_bgr, quality), np.uint8), cv2.IMREAD_COLOR)


def safe_name(video_id):
    """A file-system name for a video id, which may contain '/' (ids are relative paths for some datasets).
    Distinct ids give distinct names ('real/x__y' and 'real/x/y' once shared one): '%', '/' and '\\' are
    percent-encoded."""
    return video_id.replace("%", "%25").replace("/", "%2F").replace("\\", "%5C")


_HELD_LOCKS = set()  # the lock files this process holds open (output_lock)


def _close_held_locks():
    """In a forked child: close its copies of the parent's lock files. A flock belongs to the open file,
    which the child shares, so a child that outlives a killed parent (a worker busy with a video) would
    hold the parent's lock; closing a copy never unlocks it for the parent."""
    for handle in _HELD_LOCKS:
        handle.close()
    _HELD_LOCKS.clear()


os.register_at_fork(after_in_child=_close_held_locks)


def _hold(path, kind):
    """An open file ``path`` holding a ``kind`` flock (``fcntl.LOCK_EX`` or ``LOCK_SH``) that names this
    process; ``None`` when another process holds a lock that excludes it."""
    while True:
        handle = open(path, "a+")  # noqa: SIM115 (held open for the run: the lock lives with it)
        try:
            fcntl.flock(handle, kind | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        try:
            if os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        handle.close()  # its holder removed it as we opened it: take the new one
    if kind == fcntl.LOCK_EX:
        handle.truncate(0)
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
    return handle


@contextlib.contextmanager
def output_lock(folder, name, shard=None, tree=True):
    """While the block runs, this process alone writes ``name`` in ``folder`` (``name``: the output, e.g.
    "manifest"): a second run writing the same output gets a ``UserError`` at once instead of interleaving
    with the first. With a ``shard`` (not the whole input), runs of other shards of the same output may run
    alongside (they write other files), a run of the same shard or an unsharded run may not. Locks are
    ``flock``s on hidden files, freed by the system when a process dies (even by SIGKILL), removed at the end.

    A lock file found in place is one a killed run left: its temporary files are swept first
    (``sweep_temporaries``, below ``folder``, or in it alone without ``tree``), so a run after a clean one
    walks no folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sharded = shard is not None and shard.count > 1
    whole = folder / f".{name}.lock"
    own = folder / f".{name}.shard-{shard.index}-of-{shard.count}.lock" if sharded else whole
    left_by_a_killed_run = own.exists()  # holders remove their file; when it is there, ours is free or theirs
    handles = [_hold(whole, fcntl.LOCK_SH if sharded else fcntl.LOCK_EX)]
    if sharded and handles[0] is not None:
        handles.append(_hold(own, fcntl.LOCK_EX))
    if None in handles:
        for handle in handles:
            if handle is not None:
                handle.close()
        raise UserError(
            f"another run is writing {name} in {folder}{' (this shard, or unsharded)' if sharded else ''}; "
            "wait for it to end, or write elsewhere"
        )
    _HELD_LOCKS.update(handles)
    try:
        if left_by_a_killed_run:
            sweep_temporaries(folder, recursive=tree)
        yield
    finally:
        _HELD_LOCKS.difference_update(handles)
        for handle in reversed(handles):
            try:  # the last holder removes the file: no other run holds it when ours becomes exclusive
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                Path(handle.name).unlink(missing_ok=True)
            except BlockingIOError:
                pass
            handle.close()
