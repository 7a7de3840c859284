"""Benchmark: check a 1,000,000-op history; compare with merely parsing it.

Usage::

    .venv/bin/python bench/check_bench.py                 # generate 1M ops, parse, check
    .venv/bin/python bench/check_bench.py --ops 200000    # smaller
    .venv/bin/python bench/check_bench.py --history PATH  # an existing history

The history is synthetic (`checkers.synthetic`): a correct log, 8 keys, 40 producers and
16 consumers (more as ``info`` ops retire processes), ``info``/``fail`` outcomes, polls,
monitor samples, nemesis ops, a complete final read per key and a dump per replica.
Parsing and checking each run in a fresh child process, so each peak RSS
(``ru_maxrss``) is that phase's alone. Targets (issue 5): check in at most 15 s and
2 GiB. Exit status 1 when a target is missed or the synthetic history is not valid.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_S = 15.0
TARGET_MIB = 2048.0


def _phase(phase: str, history: str) -> dict[str, object]:
    """Run one phase in this (child) process and describe it."""
    from checkers import check_history
    from harness.contract.history import iter_history

    wall, cpu = time.perf_counter(), time.process_time()
    out: dict[str, object] = {"phase": phase}
    if phase == "parse":
        out["ops"] = sum(1 for _ in iter_history(history))
    else:
        results = check_history(history)
        out["verdict"] = str(results.verdict)
        out["ops"] = results.stats["ops"]
        out["rates"] = results.stats["rates"]
        out["counts"] = {name: r.count for name, r in results.checkers.items() if r.count}
        out["errors"] = {name: r.error for name, r in results.checkers.items() if r.error}
    out["wall_s"] = round(time.perf_counter() - wall, 2)
    out["cpu_s"] = round(time.process_time() - cpu, 2)
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def _child(phase: str, history: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--history", history],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ops", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--history", help="check this history instead of generating one")
    ap.add_argument("--phase", choices=["parse", "check"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(_phase(args.phase, args.history)))
        return 0

    from checkers.synthetic import Shape, write_history
    from harness.contract.layout import HISTORY

    with tempfile.TemporaryDirectory(prefix="floodmark-bench-") as tmp:
        history = args.history or os.path.join(tmp, HISTORY)
        if not args.history:
            t = time.perf_counter()
            n = write_history(history, Shape(ops=args.ops), seed=args.seed)
            size = os.path.getsize(history) / 2**20
            print(f"generated {n} ops ({size:.0f} MiB) in {time.perf_counter() - t:.1f} s")
        parse = _child("parse", history)
        check = _child("check", history)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for r in (parse, check):
        print(
            f"{r['phase']:>5}: {r['ops']} ops, wall {r['wall_s']} s, cpu {r['cpu_s']} s, "
            f"peak RSS {r['peak_rss_mib']} MiB"
        )
    print(f"check: verdict {check['verdict']}, rates {check['rates']}")
    if check["counts"] or check["errors"]:
        print(f"check: anomalies {check['counts']}, errors {check['errors']}")
    wall, rss = float(str(check["wall_s"])), float(str(check["peak_rss_mib"]))
    ok = wall <= TARGET_S and rss <= TARGET_MIB
    print(
        f"target: check <= {TARGET_S:.0f} s and <= {TARGET_MIB:.0f} MiB: "
        + ("met" if ok else "MISSED")
    )
    if not args.history and check["verdict"] != "valid":
        print("the synthetic history of a correct log was not judged valid: a checker is wrong")
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
