"""bench/run.py --quick: one table, a row for every stage and its baseline, finite numbers."""

import math
import re
import subprocess
import sys

from conftest import ROOT


def test_quick_bench_prints_and_writes_one_table_with_every_stage(tmp_path):
    output = tmp_path / "results.md"
    command = [sys.executable, "bench/run.py", "--quick", "--output", output, "--dfdc", tmp_path / "none"]
    result = subprocess.run([str(part) for part in command], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Machine:" in result.stdout and "CPU cores" in result.stdout and "GPU:" in result.stdout

    table = [line for line in output.read_text().splitlines() if line.startswith("| 0")]
    assert all(line in result.stdout for line in table)
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in table]
    assert [row[0] for row in rows] == ["01 frames"] * 3 + ["02 faces"] * 2 + ["04 input"] * 2 + [
        "05 videos"
    ] * 2
    for stage, run, _workload, rate, seconds, peak_mib, _compared in rows:
        numbers = [float(rate.split()[0]), float(seconds), float(peak_mib)]
        assert all(math.isfinite(number) and number > 0 for number in numbers), (stage, run, numbers)

    ratios = [re.match(r"(?:stage 01 takes )?([0-9.]+)x ", row[6]) for row in rows if row[6]]
    assert len(ratios) == 5  # each stage against its baseline, and stage 01 against bare decoding
    assert all(ratio and math.isfinite(float(ratio.group(1))) for ratio in ratios)
