#!/usr/bin/env python3
"""Stage 04: train a CNN on stage 03's dataset; the run directory holds the best model and test metrics."""

import sys

from common.stages.train_detector import build_parser, main  # noqa: F401 (build_parser: tests)

if __name__ == "__main__":
    sys.exit(main())
