#!/usr/bin/env python3
"""Run a command, then print the largest peak resident memory among its processes as the last line::

    python bench/peak_rss.py COMMAND ...    ->    PEAK_RSS_KIB 123456

``bench/run.py`` starts every process it times through this launcher because Linux counts, in a process's
peak, the memory its parent had when it forked it: started by the bench itself (which holds the generated
videos), every process would report at least the bench's size. This launcher is small. Imports only the
standard library, for the same reason.
"""

import resource
import subprocess
import sys

PEAK = "PEAK_RSS_KIB "


def main(command):
    code = subprocess.call(command)
    print(PEAK + str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
