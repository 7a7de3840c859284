"""Benchmark: N consecutive partitions of random shapes and modes on a 5-node replog
cluster in Docker (Toxiproxy on every link), each applied, verified, then healed.

For every application it records whether the fault verified itself (proxies read back and
every cut link probed from its source: a blackholed link silent, a refused one refusing),
how long the cut took to land (``applied_ms``) and how many links were probed. It prints
the counts, the unverified applications with their reasons, and the median / p95 / max of
``applied_ms``.

Run it on demand, alone or beside a load you name (a `floodmark run`) and say which:

    .venv/bin/python bench/partition_bench.py --applications 200 --seed 1 [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compose.docker_cluster import DockerCluster, docker_client
from compose.images import ensure_images
from faults.network import shapes
from faults.network.partition import MODES, PartitionFault
from harness.contract.history import JSON, Phase
from harness.contract.plan import ClusterSpec
from harness.monitor import wait_healthy
from harness.store import new_run_id
from harness.systems import load_system

FAST = {
    "broker.session.timeout.ms": 1500,
    "broker.heartbeat.interval.ms": 150,
    "replica.lag.time.max.ms": 2000,
    "replica.fetch.wait.max.ms": 200,
    "request.timeout.ms": 2000,
}


def draw(rng: random.Random, members: list[str], brokers: list[str], keys: int) -> JSON:
    """One partition as the `partition` package draws it (every shape, both modes)."""
    usable = [s for s in shapes.ALL_SHAPES if shapes.applicable(s, len(members), len(brokers))]
    shape = rng.choice(usable)
    mode = rng.choice(list(MODES))
    if shape == "leader":
        return {"shape": shape, "key": rng.randrange(keys), "mode": mode}
    pool = brokers if shape == "clients" else members
    return {**shapes.SHAPES[shape](pool, rng).to_json(), "mode": mode}


def run(applications: int, seed: int, hold: float) -> dict[str, Any]:
    system = load_system("replog")
    spec = ClusterSpec(new_run_id(), 5, 2, 3, "kafka-0.11", dict(FAST), {})
    plan = system.render(spec)
    run_dir = Path(tempfile.mkdtemp(prefix="fm-partition-bench-"))
    cluster = DockerCluster(plan, system, ensure_images(system.images()), run_dir, docker_client())
    rng = random.Random(seed)
    members = [*plan.brokers, "controller"]
    rows: list[dict[str, Any]] = []
    try:
        cluster.start()
        problems = wait_healthy(cluster, 90)
        if problems:
            raise SystemExit(f"the 5-node cluster was not healthy within 90 s: {problems}")
        fault = PartitionFault(cluster)
        for i in range(applications):
            value = draw(rng, members, list(plan.brokers), plan.keys)
            did = fault.invoke(Phase.START, value)
            time.sleep(hold)
            healed = fault.invoke(Phase.STOP, {})
            probes = (did.get("probes") or {}) if isinstance(did, dict) else {}
            rows.append(
                {
                    "i": i,
                    "shape": value.get("shape"),
                    "mode": value["mode"],
                    # True, False, or None: skipped (no leader to isolate) or unconfirmed
                    "verified": did.get("verified") if isinstance(did, dict) else False,
                    "skipped": did.get("skipped") if isinstance(did, dict) else None,
                    "healed": bool(isinstance(healed, dict) and healed.get("verified")),
                    "applied_ms": did.get("applied_ms") if isinstance(did, dict) else None,
                    "probed": len(probes),
                    "why": did.get("why") if isinstance(did, dict) else did,
                    "healed_why": healed.get("why") if isinstance(healed, dict) else healed,
                }
            )
            print(
                f"{i + 1:4d}/{applications} {value.get('shape'):9} {value['mode']:9} "
                f"verified={rows[-1]['verified']} healed={rows[-1]['healed']} "
                f"probed={rows[-1]['probed']} applied_ms={rows[-1]['applied_ms']}",
                file=sys.stderr,
                flush=True,
            )
    finally:
        cluster.remove()
        shutil.rmtree(run_dir, ignore_errors=True)
    times = sorted(r["applied_ms"] for r in rows if isinstance(r["applied_ms"], (int, float)))
    return {
        "applications": len(rows),
        "verified": sum(r["verified"] is True for r in rows),
        "unverified": [r for r in rows if r["verified"] is False or not r["healed"]],
        "skipped": [r for r in rows if r["verified"] is None],
        "healed": sum(r["healed"] for r in rows),
        "probed_links": sum(r["probed"] for r in rows),
        "applied_ms_median": statistics.median(times) if times else None,
        "applied_ms_p95": times[int(0.95 * (len(times) - 1))] if times else None,
        "applied_ms_max": times[-1] if times else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--applications", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hold", type=float, default=0.2, help="seconds each cut stays in place")
    ap.add_argument("--json", action="store_true", help="print one JSON line at the end")
    args = ap.parse_args()
    result = run(args.applications, args.seed, args.hold)
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{result['verified']}/{result['applications']} verified, "
        f"{len(result['unverified'])} not verified, {len(result['skipped'])} skipped or "
        "unconfirmed, "
        f"{result['healed']}/{result['applications']} healed, "
        f"{result['probed_links']} links probed; applied_ms median "
        f"{result['applied_ms_median']}, p95 {result['applied_ms_p95']}, "
        f"max {result['applied_ms_max']}"
    )
    for r in result["unverified"]:
        print(f"  not verified: {r}")
    for r in result["skipped"]:
        print(f"  skipped or unconfirmed: {r}")


if __name__ == "__main__":
    main()
