"""Health and the monitor's replica-state samples."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from harness.contract.history import JSON, F, HistoryWriter, read_history
from harness.contract.plan import ClusterSpec
from harness.monitor import Monitor, health, wait_healthy
from harness.systems.replog import ReplogSystem
from tests.harness.fakes import FakeCluster, FakeSystem, state

ALL = ["n1", "n2", "n3"]


def test_health_needs_a_leader_and_a_full_isr_per_key() -> None:
    states = [
        state(0, "n1", "leader", ALL),
        state(1, "n2", "leader", ["n2", "n3"]),
        state(1, "n1", "leader", ALL, epoch=0),  # a stale leader: the highest epoch counts
    ]
    assert health(states, keys=3, replication_factor=3) == {
        1: "leader n2 has ISR ['n2', 'n3'], needs 3",
        2: "no leader",
    }
    assert health([state(k, "n1", "leader", ALL) for k in range(3)], 3, 3) == {}


def cluster(states: list[dict[str, JSON]]) -> FakeCluster:
    plan = ReplogSystem().render(ClusterSpec("r1", 3, 2, 3, "kafka-0.11"))
    return FakeCluster(plan, FakeSystem(states))


def test_wait_healthy_polls_until_healthy_and_is_bounded() -> None:
    c = cluster([state(0, "n1", "leader", ALL)])
    t = time.monotonic()
    assert wait_healthy(c, timeout=0.3) == {1: "no leader"}  # type: ignore[arg-type]
    assert 0.3 <= time.monotonic() - t < 2
    c.system.states.append(state(1, "n2", "leader", ALL))
    assert wait_healthy(c, timeout=5) == {}  # type: ignore[arg-type]


def test_monitor_samples_every_replica_at_least_once_a_second(tmp_path: Path) -> None:
    states = [
        state(k, n, "leader" if n == "n1" else "follower", ALL) for k in range(2) for n in ALL
    ]
    states[-1] = {**states[-1], "role": "offline", "leo": -1, "hw": -1, "epoch": -1, "isr": []}
    c = cluster(states)
    h = HistoryWriter(tmp_path / "h.jsonl")
    m = Monitor(c, h, interval=0.2)  # type: ignore[arg-type]
    m.start()
    time.sleep(1.1)
    m.stop()
    h.close()
    ops, _ = read_history(tmp_path / "h.jsonl")
    assert all(op.f == F.REPLICA_STATE and op.process == "monitor" for op in ops)
    assert m.samples >= 5
    assert len(ops) == 6 * m.samples
    times = sorted({op.time for op in ops if op.value["key"] == 0 and op.node == "n2"})
    assert max(b - a for a, b in itertools.pairwise(times)) < 1e9
    assert any(op.value["role"] == "offline" for op in ops)
