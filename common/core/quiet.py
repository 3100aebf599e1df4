"""Quiet start-up: TensorFlow's C++ start-up lines, and FFmpeg's own lines, kept off the terminal.

TensorFlow 2.21 writes its start-up lines ("oneDNN custom operations are on", "Could not find cuda drivers",
"failed call to cuInit" on a machine without a GPU) from C++ straight to file descriptor 2 before its
logging is set up, so ``TF_CPP_MIN_LOG_LEVEL`` does not silence them, and "E0000 ... failed call to cuInit"
reads as a failure to a new user; FFmpeg logs its own line for each bad video besides the stage's warning.
``filter_stderr`` puts a pipe in front of file descriptor 2 for the process and its children; a thread
forwards every line except those (``STARTUP_NOISE``, ``FFMPEG_LINE``). Other C++ warnings and errors,
Python's messages, tracebacks and progress bars pass through unchanged. ``--verbose`` keeps everything.
"""

import atexit
import logging
import os
import re
import select
import sys
import threading

log = logging.getLogger(__name__)

# absl's "before InitializeLog" notice; any C++ info line ("I0000 00:00:... file.cc:12] ...") and the second
# line of one of them; the warnings and errors that a machine without a GPU (or without TensorRT) gets
STARTUP_NOISE = re.compile(
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|I\d{4} [\d:. ]+\d+ [\w.]+:\d+\] "
    rb"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags"
    rb"|[WE]\d{4} [\d:. ]+\d+ [\w.]+:\d+\] (failed call to cuInit|Unable to register cu\w+ factory"
    rb"|computation placer already registered|TF-TRT Warning)"
)
# FFmpeg's own log lines ("[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d0] moov atom not found"), which may follow a
# progress bar on its line: a bad file is named once, in the stage's own warning
FFMPEG_LINE = re.compile(rb"\[[\w,]+ @ 0x[0-9a-f]+\] [^\n]*\n")
FLUSH_AFTER = 0.2  # seconds: a line without its end (a progress bar) is shown after this long


def pieces(buffer):
    """``(complete pieces, rest)``: ``buffer`` cut after each ``\\n`` or ``\\r`` (kept), and what follows the
    last one."""
    parts = re.split(rb"(?<=[\n\r])", buffer)
    return parts[:-1], parts[-1]


def forward(source, target, is_noise, wake=None):
    """Copy ``source`` to ``target`` (file descriptors) until end of file, leaving out every line that
    ``is_noise``; an unfinished line is shown once nothing more came for ``FLUSH_AFTER`` seconds, unless
    it may be the start of a noise line. Once ``wake`` (a file descriptor) is readable, what ``source``
    already holds is copied and the copying ends, without waiting for the end of file: a child process that
    outlives ours (multiprocessing's resource tracker) keeps the pipe open."""
    rest, closing = b"", False
    while True:
        ready, _, _ = select.select([source] + ([wake] if wake is not None else []), [], [], FLUSH_AFTER)
        if wake in ready:
            closing, wake = True, None
        if source in ready or closing:
            if closing and source not in select.select([source], [], [], 0)[0]:
                break
            chunk = os.read(source, 65536)
            if not chunk:
                break
            done, rest = pieces(rest + chunk)
        else:
            done, rest = ([rest], b"") if rest and not is_noise(rest) else ([], rest)
        kept = FFMPEG_LINE.sub(b"", b"".join(piece for piece in done if not is_noise(piece)))
        if kept:
            os.write(target, kept)
    if rest and not is_noise(rest):
        os.write(target, rest)


def filter_stderr(is_noise=lambda line: STARTUP_NOISE.match(line) is not None):
    """From now on to the end of the process, file descriptor 2 (this process's and its children's) passes
    through ``forward``. Returns the function that ends it (also run at exit)."""
    sys.stderr.flush()
    terminal = os.dup(2)
    reader, writer = os.pipe()
    wake, waker = os.pipe()
    os.dup2(writer, 2)
    os.close(writer)
    thread = threading.Thread(target=forward, args=(reader, terminal, is_noise, wake), daemon=True)
    thread.start()

    def stop():
        sys.stderr.flush()
        os.dup2(terminal, 2)  # from here on this process writes to the terminal again
        os.write(waker, b"x")  # the thread copies what the pipe holds and ends (children may keep it open)
        thread.join(timeout=2)

    atexit.register(stop)
    return stop
