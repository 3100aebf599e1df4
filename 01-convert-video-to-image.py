#!/usr/bin/env python3
"""Stage 01: sample frames from labelled videos into OUTPUT/frames/ and OUTPUT/manifest.csv."""

import sys

from common.stages.extract_frames import build_parser, main  # noqa: F401 (build_parser: tests)

if __name__ == "__main__":
    sys.exit(main())
