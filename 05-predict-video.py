#!/usr/bin/env python3
"""Stage 05: score videos with a trained model into a predictions CSV; with labels, video-level metrics too."""

import sys

from common.stages.predict_videos import build_parser, main  # noqa: F401 (build_parser: tests)

if __name__ == "__main__":
    sys.exit(main())
