#!/usr/bin/env python3
"""Stage 06: explain a trained run: Grad-CAM heatmaps over test faces, t-SNE of embeddings before/after."""

import sys

from common.stages.explain_run import build_parser, main  # noqa: F401 (build_parser: tests)

if __name__ == "__main__":
    sys.exit(main())
