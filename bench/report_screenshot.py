#!/usr/bin/env python3
"""The README's picture of stage 05's HTML report: open a report in Chromium, open its most fake video's
section and save a screenshot (PNG, reduced to a 64-colour palette to stay small). Run by hand after
``make demo``:

    python bench/report_screenshot.py demo_work/report.html docs/report_screenshot.png
"""

import argparse
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.browser import opened_report, why_no_browser  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("report", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--width", type=int, default=1100)
    parser.add_argument("--colours", type=int, default=64)
    args = parser.parse_args(argv)
    reason = why_no_browser()
    if reason:
        sys.exit(f"cannot open the report: {reason}")
    from PIL import Image

    with opened_report(args.report, viewport=(args.width, 900)) as (page, errors):
        page.locator("#videos th[data-key=p] button").click()  # P(fake), highest first
        page.locator("#videos tbody tr").first.click()
        png = page.screenshot(full_page=True)
    if errors:
        sys.exit(f"the page reported errors: {errors}")
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(args.colours)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    image.save(args.output, optimize=True)
    print(f"{args.output}: {image.width}x{image.height}, {args.output.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
