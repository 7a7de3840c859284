"""Benchmark: render the report of a large history (default 1,000,000 ops).

Generates a realistic run (tests/reports/history_gen.py: 10 keys, 3 replicas, faults,
a KIP-101 lost write, replica-state samples 4/s, final reads and replica dumps), then
times `reports.html.render_report` and `reports.junit.write_junit` and measures the
report's size. The targets (issue 6): at most 30 s and at most 20 MB for 1,000,000 ops.

    .venv/bin/python bench/report_bench.py                 # 1,000,000 ops
    .venv/bin/python bench/report_bench.py --ops 100000 --json
    .venv/bin/python bench/report_bench.py --keep /tmp/big  # keep the run directory

Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.contract.layout import HISTORY
from reports.html import render_report
from reports.junit import write_junit
from tests.reports.history_gen import GenSpec, generate_run

MAX_SECONDS = 30.0
MAX_BYTES = 20 * 1024 * 1024


def bench(ops: int, workdir: Path) -> dict[str, float | int]:
    run = workdir / "store" / "bench" / "20250101T020000"
    t0 = time.perf_counter()
    generate_run(run, GenSpec(ops=ops, duration=max(20.0, ops / 1700), keys=10, seed=11))
    t1 = time.perf_counter()
    report = render_report(run)
    t2 = time.perf_counter()
    write_junit(run)
    t3 = time.perf_counter()
    with open(run / HISTORY, "rb") as fh:
        lines = sum(1 for _ in fh)
    return {
        "ops": lines,
        "history_bytes": (run / HISTORY).stat().st_size,
        "generate_s": round(t1 - t0, 2),
        "render_s": round(t2 - t1, 2),
        "junit_s": round(t3 - t2, 3),
        "report_bytes": report.stat().st_size,
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ops", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path, help="write the run here and keep it")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = bench(args.ops, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="fm-report-bench-") as tmp:
            result = bench(args.ops, Path(tmp))
    ok = result["render_s"] <= MAX_SECONDS and result["report_bytes"] <= MAX_BYTES
    if args.json:
        print(json.dumps({**result, "ok": ok}))
    else:
        for k, v in result.items():
            print(f"{k:>14}: {v:,}" if isinstance(v, int) else f"{k:>14}: {v}")
        print(
            f"targets: render <= {MAX_SECONDS:.0f} s, report <= 20 MB: {'met' if ok else 'MISSED'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
