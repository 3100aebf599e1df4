#!/usr/bin/env python3
"""Stage 03: split 80:10:10 by video group, balance the train split, into OUTPUT/{train,val,test}/{real,fake}/."""

import sys

from common.stages.prepare_dataset import build_parser, main  # noqa: F401 (build_parser: tests)

if __name__ == "__main__":
    sys.exit(main())
