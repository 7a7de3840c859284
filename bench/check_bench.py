"""Benchmark: checking a 1,000,000-op history against merely parsing it (issue 13).

Usage::

    .venv/bin/python bench/check_bench.py                 # generate 1M ops; 3 repeats
    .venv/bin/python bench/check_bench.py --ops 200000    # smaller
    .venv/bin/python bench/check_bench.py --history PATH  # an existing history
    .venv/bin/python bench/check_bench.py --repeats 5

The history is synthetic (`checkers.synthetic`): a correct log, 8 keys, 40 producers and
16 consumers (more as ``info`` ops retire processes), ``info``/``fail`` outcomes, polls,
monitor samples, nemesis ops, a complete final read per key and a dump per replica.

Each repeat runs, side by side and each in a fresh child process (so each peak RSS,
``ru_maxrss``, is that phase's alone):

- ``parse``: the physical limit, a bare ``orjson.loads`` of every line of the file;
- ``check``: ``checkers.check_history`` (reading, validating, pairing, every checker).

The ratio is check wall time over parse wall time of the same repeat; the median ratio
of the repeats is judged. Targets: ratio at most 3, check peak RSS at most 300 MiB. Exit
status 1 when a target is missed or the synthetic history is not judged valid. The load
average is printed before and after: on a shared machine the figures move with it, and
the ratio of CPU times, printed beside the judged one, moves less.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_RATIO = 3.0
TARGET_MIB = 300.0


def _phase(phase: str, history: str) -> dict[str, object]:
    """Run one phase in this (child) process and describe it."""
    out: dict[str, object] = {"phase": phase}
    if phase == "parse":
        import orjson

        loads = orjson.loads
        wall, cpu = time.perf_counter(), time.process_time()
        n = 0
        with open(history, "rb") as fh:
            for line in fh:
                loads(line)
                n += 1
        out["ops"] = n
    else:
        from checkers import check_history

        wall, cpu = time.perf_counter(), time.process_time()
        results = check_history(history)
        out["verdict"] = str(results.verdict)
        out["ops"] = results.stats["ops"]
        out["counts"] = {name: r.count for name, r in results.checkers.items() if r.count}
        out["errors"] = {name: r.error for name, r in results.checkers.items() if r.error}
        out["notes"] = list(results.notes)
    out["wall_s"] = round(time.perf_counter() - wall, 3)
    out["cpu_s"] = round(time.process_time() - cpu, 3)
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


def _num(d: dict[str, object], name: str) -> float:
    return float(str(d[name]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ops", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--history", help="check this history instead of generating one")
    ap.add_argument("--phase", choices=["parse", "check"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(_phase(args.phase, args.history)))
        return 0

    from checkers.synthetic import Shape, write_history
    from harness.contract.layout import HISTORY

    print(f"load average at the start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="floodmark-bench-") as tmp:
        history = args.history or os.path.join(tmp, HISTORY)
        if not args.history:
            t = time.perf_counter()
            n = write_history(history, Shape(ops=args.ops), seed=args.seed)
            size = os.path.getsize(history) / 2**20
            print(f"generated {n} ops ({size:.0f} MiB) in {time.perf_counter() - t:.1f} s")
        ratios: list[float] = []
        cpu_ratios: list[float] = []
        peaks: list[float] = []
        check: dict[str, object] = {}
        for i in range(1, args.repeats + 1):
            parse = _child("parse", history)
            check = _child("check", history)
            ratio = _num(check, "wall_s") / _num(parse, "wall_s")
            ratios.append(ratio)
            cpu_ratios.append(_num(check, "cpu_s") / _num(parse, "cpu_s"))
            peaks.append(_num(check, "peak_rss_mib"))
            print(
                f"repeat {i}: parse {parse['wall_s']} s (cpu {parse['cpu_s']} s, "
                f"{parse['peak_rss_mib']} MiB); check {check['wall_s']} s (cpu "
                f"{check['cpu_s']} s, peak {check['peak_rss_mib']} MiB); ratio {ratio:.2f} "
                f"(cpu {cpu_ratios[-1]:.2f}); "
                f"load {os.getloadavg()[0]:.2f}"
            )
    print(f"check: {check['ops']} ops, verdict {check['verdict']}")
    if check["counts"] or check["errors"] or check["notes"]:
        print(f"check: anomalies {check['counts']}, errors {check['errors']}")
        print(f"check: notes {check['notes']}")
    ratio, peak = statistics.median(ratios), max(peaks)
    ok = ratio <= TARGET_RATIO and peak <= TARGET_MIB
    print(
        f"median ratio {ratio:.2f} (best {min(ratios):.2f}; cpu "
        f"{statistics.median(cpu_ratios):.2f}), peak {peak:.0f} MiB; target: ratio <= "
        f"{TARGET_RATIO:g} and <= {TARGET_MIB:.0f} MiB: " + ("met" if ok else "MISSED")
    )
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if not args.history and check["verdict"] != "valid":
        print("the synthetic history of a correct log was not judged valid: a checker is wrong")
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
