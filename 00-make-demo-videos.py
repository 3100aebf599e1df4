#!/usr/bin/env python3
"""Make a small labelled demo video set (real clips and face-swap fakes).

Example:
    python 00-make-demo-videos.py --output demo_work/videos
    python 00-make-demo-videos.py --output demo_work/holdout --seed 1 --prefix holdout --n-real 12
"""

import sys

from common.stages.make_demo_videos import build_parser, main  # noqa: F401 (build_parser: tests)

if __name__ == "__main__":
    sys.exit(main())
