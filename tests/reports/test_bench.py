"""A smaller run of bench/report_bench.py (the full one renders 1,000,000 ops).

The render time is printed, not bounded: a speed bound belongs to `bench/`, run on demand
on a quiet machine, not to a suite that a loaded CI machine would turn red."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_report_of_100k_ops_renders_and_is_small() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "report_bench.py"), "--ops", "100000", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ops"] >= 100_000
    print(f"\n100k-op report rendered in {result['render_s']:.1f} s")
    assert result["report_bytes"] <= 4 * 1024 * 1024  # the 1M target is 20 MB
