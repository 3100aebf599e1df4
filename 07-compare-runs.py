#!/usr/bin/env python3
"""Stage 07: one table of AUCs with bootstrap intervals across training runs and test sets, paired tests."""

import sys

from common.stages.compare_runs import build_parser, main  # noqa: F401 (build_parser: tests)

if __name__ == "__main__":
    sys.exit(main())
