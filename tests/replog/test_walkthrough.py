"""KIP-101's three-replica walkthrough under the leader-epoch rule, checked at every step.

A leads epoch 0; B then A crash; C leads epoch 1; B returns and truncates via
OffsetsForLeaderEpoch; C crashes; B leads epoch 2; A returns and truncates to the start
offset of epoch 1. After each step every live replica's log (values by offset) and its
``leader-epoch-checkpoint`` file on disk are asserted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from replog.storage import EPOCH_CHECKPOINT, read_checkpoint_lines
from tests.replog.cluster import Cluster, wait_until
from tests.replog.conftest import ClusterFactory

M0, M1, M2, M3, M4 = 10, 11, 12, 13, 14


def checkpoint(c: Cluster, node: str) -> list[tuple[int, int]]:
    path: Path = c.root / node / "replog-0" / EPOCH_CHECKPOINT
    return [(int(e), int(o)) for e, o in read_checkpoint_lines(path)]


def expect(c: Cluster, node: str, log: list[int], epochs: list[tuple[int, int]]) -> None:
    assert c.records(node) == log, f"{node}'s log"
    assert checkpoint(c, node) == epochs, f"{node}'s leader-epoch-checkpoint"


def test_three_replica_leader_epoch_walkthrough(
    make_cluster: ClusterFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    c = make_cluster(
        ["a", "b", "c"],
        profile="kafka-0.11",
        settings={"min.insync.replicas": 1, "broker.session.timeout.ms": 2000},
    )
    c.wait_leader("a", epoch=0)
    cl = c.client("a")

    # 0. A leads epoch 0; m0 reaches everyone.
    assert cl.produce(0, M0) == 0
    for n in "abc":
        c.wait_hw(n, 1)
        expect(c, n, [M0], [(0, 0)])

    # 1. C stops fetching; m1 reaches B only; then B stops too and m2 stays on A.
    c.block("c", "a")
    assert cl.produce(0, M1, acks=1) == 1
    c.wait_caught_up("b", 2)
    c.block("b", "a")
    assert cl.produce(0, M2, acks=1) == 2
    expect(c, "a", [M0, M1, M2], [(0, 0)])
    expect(c, "b", [M0, M1], [(0, 0)])
    expect(c, "c", [M0], [(0, 0)])

    # 2. B crashes, then A: C (still in the ISR) leads epoch 1 from offset 1.
    c.crash("b")
    wait_until(lambda: "b" not in c.partition()["isr"], what="controller drops b from the ISR")
    c.crash("a")
    c.wait_leader("c", epoch=1)
    expect(c, "c", [M0], [(0, 0), (1, 1)])

    # 3. C takes m3 at offset 1 in epoch 1.
    assert c.client("c").produce(0, M3, acks=1) == 1
    expect(c, "c", [M0, M3], [(0, 0), (1, 1)])

    # 4. B returns: OffsetsForLeaderEpoch(0) -> C says epoch 0 ends at 1: B cuts m1.
    c.heal("b", "a")
    c.restart("b")
    c.wait_isr({"b", "c"})
    expect(c, "b", [M0, M3], [(0, 0), (1, 1)])

    # 5. C crashes: B leads epoch 2 from offset 2 and takes m4.
    c.crash("c")
    c.wait_leader("b", epoch=2)
    expect(c, "b", [M0, M3], [(0, 0), (1, 1), (2, 2)])
    assert c.client("b").produce(0, M4, acks=1) == 2
    expect(c, "b", [M0, M3, M4], [(0, 0), (1, 1), (2, 2)])

    # 6. A returns with its epoch-0 log; while its link to B is dark it keeps it all...
    c.block("a", "b")
    c.heal("c", "a")
    c.restart("a")
    wait_until(lambda: c.state("a")["role"] == "follower", what="a follows b")
    expect(c, "a", [M0, M1, M2], [(0, 0)])
    # ... then OffsetsForLeaderEpoch(0) -> B says epoch 0 ends at 1 (start of epoch 1):
    # A truncates to 1, dropping m1 and m2, and fetches m3, m4.
    c.heal("a", "b")
    c.wait_isr({"a", "b"})
    expect(c, "a", [M0, M3, M4], [(0, 0), (1, 1), (2, 2)])
    cut = [
        r.getMessage()
        for r in caplog.records
        if r.name == "replog.broker.a" and "truncation" in r.getMessage()
    ]
    assert any("log cut to 1, 2 record(s) dropped" in m for m in cut), cut
