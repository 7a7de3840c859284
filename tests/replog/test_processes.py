"""End to end: real ``python -m replog.controller|broker`` processes on loopback.

Produces through `ReplogClient`, SIGKILLs brokers (``log.flush.interval.messages=1``),
restarts them and checks that no acknowledged record is missing from any replica; then
tears the last record of a stopped broker's segment and checks recovery cuts it with a
log line and the broker rejoins.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import pytest

from replog.client import ReplogClient, ReplogError
from replog.localcluster import LocalCluster
from replog.storage import RECORD_BYTES
from tests.replog.cluster import wait_until

pytestmark = pytest.mark.slow

SETTINGS = {
    "log.flush.interval.messages": 1,
    "broker.session.timeout.ms": 1500,
    "broker.heartbeat.interval.ms": 100,
    "replica.fetch.wait.max.ms": 200,
    "reconnect.backoff.max.ms": 200,
}


def produce_acked(lc: LocalCluster, key: int, values: range) -> list[int]:
    """Produce `values` acks=all to the current leader, retrying refusals; acked values."""
    acked = []
    for v in values:
        deadline = time.monotonic() + 20
        while True:
            try:
                with ReplogClient(lc.address(lc.leader(key)), timeout=5) as c:
                    c.produce(key, v)
                acked.append(v)
                break
            except (ReplogError, OSError, LookupError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    return acked


def dump(lc: LocalCluster, node: str, key: int) -> list[int]:
    with ReplogClient(lc.address(node)) as c:
        return [v for _, v in c.dump(key)["records"]]


def holds(lc: LocalCluster, node: str, values: list[int]) -> bool:
    return dump(lc, node, 0) == values


def test_sigkill_loses_nothing_and_torn_record_is_cut(tmp_path: Path) -> None:
    lc = LocalCluster(tmp_path, ["n1", "n2", "n3"], partitions=2, settings=SETTINGS)
    with lc:
        lc.wait_ready()
        acked = produce_acked(lc, 0, range(0, 200))
        with ReplogClient(lc.address(lc.leader(1))) as c:
            assert c.produce(1, 5, acks=1) == 0

        # SIGKILL the leader of key 0 in the middle of traffic; a new leader takes over.
        victim = lc.leader(0)
        lc.kill(victim)
        lc.wait_ready(live=[n for n in lc.nodes if n != victim])
        acked += produce_acked(lc, 0, range(200, 300))
        lc.restart(victim)
        lc.wait_ready()
        leader = lc.leader(0)
        with ReplogClient(lc.address(leader)) as c:
            records, hw = c.fetch(0, 0, max_records=10_000)
        assert [v for _, v in records] == acked and hw == len(acked)
        for n in lc.nodes:
            wait_until(partial(holds, lc, n, acked), what=f"{n} holds every acked record")
        assert f"starting broker {victim}" in lc.log_text(victim)

        # Tear the last record of a stopped follower's segment: recovery cuts it.
        follower = next(n for n in lc.nodes if n != leader)
        lc.kill(follower)
        segment = tmp_path / follower / "replog-0" / f"{0:020d}.log"
        size = segment.stat().st_size
        assert size == len(acked) * RECORD_BYTES
        with segment.open("r+b") as f:
            f.truncate(size - RECORD_BYTES // 2)
        lc.restart(follower)
        lc.wait_ready()
        wait_until(lambda: "torn record" in lc.log_text(follower), what="recovery log line")
        log = lc.log_text(follower)
        assert f"truncating the log at offset {len(acked) - 1}" in log
        wait_until(lambda: dump(lc, follower, 0) == acked, what="follower refetched the record")
