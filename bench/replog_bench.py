"""Benchmark: acks=all throughput and latency of a 3-broker, RF=3 replog cluster.

Starts a controller and three brokers as subprocesses on loopback (3 partitions, one
led by each broker), then runs N producer threads (default 16), each with its own
blocking `ReplogClient`, producing acks=all records to the leader of key ``i mod 3``
for a fixed time. Prints acknowledged records/s and p50/p99/max latency.

    .venv/bin/python bench/replog_bench.py --seconds 10 --producers 16
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from replog.client import ReplogClient
from replog.localcluster import LocalCluster


def producer(
    address: str, key: int, base: int, stop_at: float, latencies: list[float], errors: list[str]
) -> None:
    with ReplogClient(address, timeout=10.0) as c:
        i = 0
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            try:
                c.produce(key, base + i, acks="all", timeout_ms=5000)
            except Exception as e:  # noqa: BLE001 - a benchmark counts failures, any kind
                errors.append(f"{type(e).__name__}: {e}")
                continue
            finally:
                i += 1
            latencies.append(time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--producers", type=int, default=16)
    ap.add_argument("--flush", type=int, default=1, help="log.flush.interval.messages")
    ap.add_argument("--profile", default="kafka-0.11")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="replog-bench-") as tmp:
        settings = {"log.flush.interval.messages": args.flush}
        lc = LocalCluster(
            Path(tmp), ["n1", "n2", "n3"], partitions=3, profile=args.profile, settings=settings
        )
        with lc:
            md = lc.wait_ready()
            leaders = {int(k): p["leader"] for k, p in md["partitions"].items()}
            per_thread: list[list[float]] = [[] for _ in range(args.producers)]
            errors: list[str] = []
            stop_at = time.monotonic() + args.seconds
            threads = [
                threading.Thread(
                    target=producer,
                    args=(
                        lc.address(leaders[i % 3]),
                        i % 3,
                        i * 10_000_000,
                        stop_at,
                        per_thread[i],
                        errors,
                    ),
                )
                for i in range(args.producers)
            ]
            t0 = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - t0
            lat = sorted(x for xs in per_thread for x in xs)
            # Sanity: every leader's HW covers what was acknowledged.
            acked = len(lat)
            hw_total = 0
            for key, node in leaders.items():
                with ReplogClient(lc.address(node)) as c:
                    hw_total += c.list_offsets(key)["hw"]
    if not lat:
        sys.exit(f"no record was acknowledged; errors: {errors[:5]}")
    q = statistics.quantiles(lat, n=100)
    print(
        f"replog bench: 3 brokers, RF=3, 3 partitions, {args.producers} acks=all producers, "
        f"flush every {args.flush} msg, profile {args.profile}"
    )
    print(f"acknowledged records: {acked} in {elapsed:.1f}s = {acked / elapsed:,.0f} records/s")
    print(f"latency ms: p50 {q[49] * 1000:.2f}  p99 {q[98] * 1000:.2f}  max {lat[-1] * 1000:.2f}")
    print(
        f"errors: {len(errors)}{' e.g. ' + errors[0] if errors else ''}; "
        f"sum of leader HWs {hw_total} >= acked {acked}: {hw_total >= acked}"
    )


if __name__ == "__main__":
    main()
