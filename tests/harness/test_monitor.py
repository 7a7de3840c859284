"""Health and the monitor's replica-state samples."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from harness.contract.history import JSON, F, HistoryWriter
from harness.contract.plan import ClusterSpec
from harness.contract.reader import read_history
from harness.monitor import Monitor, health, wait_healthy
from harness.systems.replog import ReplogSystem
from tests.fake_clock import FakeClock
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
    t = FakeClock()
    got = wait_healthy(c, timeout=0.3, clock=t, sleep=t.sleep)
    assert got == {1: "no leader"}
    assert sum(t.sleeps[:-1]) < 0.3 <= sum(t.sleeps) and set(t.sleeps) == {0.1}, t.sleeps
    c.system.states.append(state(1, "n2", "leader", ALL))
    t2 = FakeClock()
    assert wait_healthy(c, timeout=5, clock=t2, sleep=t2.sleep) == {}
    assert t2.sleeps == []  # healthy at the first sample: no wait at all


def test_monitor_samples_every_replica_once_per_interval(tmp_path: Path) -> None:
    states = [
        state(k, n, "leader" if n == "n1" else "follower", ALL) for k in range(2) for n in ALL
    ]
    states[-1] = {**states[-1], "role": "offline", "leo": -1, "hw": -1, "epoch": -1, "isr": []}
    c = cluster(states)
    h = HistoryWriter(tmp_path / "h.jsonl")
    t = FakeClock()
    m: Monitor

    def wait(seconds: float) -> None:
        t.sleep(seconds)
        if len(t.sleeps) == 5:
            m.stopping.set()

    m = Monitor(c, h, interval=0.2, clock=t, wait=wait)
    m.run()  # in this thread: the fake wait stops it after five intervals
    h.close()
    ops, _ = read_history(tmp_path / "h.jsonl")
    assert all(op.f == F.REPLICA_STATE and op.process == "monitor" for op in ops)
    assert m.samples == 5 and t.sleeps == pytest.approx([0.2] * 5)
    assert len(ops) == 6 * m.samples  # every replica (2 keys, 3 nodes) in every sample
    per_replica = Counter((op.value["key"], op.node) for op in ops)
    assert set(per_replica.values()) == {5} and len(per_replica) == 6
    assert any(op.value["role"] == "offline" for op in ops)


def test_a_slow_sample_is_not_followed_by_a_catch_up_burst(tmp_path: Path) -> None:
    c = cluster([state(0, "n1", "leader", ALL)])
    h = HistoryWriter(tmp_path / "h.jsonl")
    t = FakeClock()
    m: Monitor
    real_sample = Monitor.sample

    def slow_sample(self: Monitor) -> list[dict[str, JSON]]:
        t.t += 0.5 if self.samples == 1 else 0.0  # the second sample takes 2.5 intervals
        return real_sample(self)

    def wait(seconds: float) -> None:
        t.sleep(seconds)
        if len(t.sleeps) == 4:
            m.stopping.set()

    m = Monitor(c, h, interval=0.2, clock=t, wait=wait)
    m.sample = slow_sample.__get__(m)  # type: ignore[method-assign]
    m.run()
    h.close()
    assert t.sleeps == pytest.approx([0.2, 0.0, 0.2, 0.2]), t.sleeps  # late once, then the pace
