#!/usr/bin/env python3
"""Stage 02: crop every confident face of stage 01's frames into OUTPUT/faces/ and OUTPUT/manifest.csv."""

import sys

from common.stages.crop_faces import build_parser, main  # noqa: F401 (build_parser: tests)

if __name__ == "__main__":
    sys.exit(main())
