"""An isolated leader: acks=all cannot commit, the controller moves leadership, and on
healing the old leader's uncommitted records are truncated (leader-epoch rule)."""

from __future__ import annotations

import threading

import pytest

from replog.client import ReplogError
from replog.wire import ErrorCode
from tests.replog.cluster import wait_until
from tests.replog.conftest import ClusterFactory


def test_isolated_leader_times_out_then_loses_leadership(make_cluster: ClusterFactory) -> None:
    c = make_cluster(["a", "b", "c"], settings={"broker.session.timeout.ms": 1500})
    c.wait_leader("a", epoch=0)
    cl = c.client("a", timeout=30)
    assert cl.produce(0, 1) == 0
    for n in "bc":
        c.wait_hw(n, 1)

    # Cut a off from the controller and from its followers (clients still reach it).
    for link in [("a", "controller"), ("controller", "a"), ("b", "a"), ("c", "a")]:
        c.block(*link)
    with pytest.raises(ReplogError) as timed_out:
        cl.produce(0, 2, acks="all", timeout_ms=300)
    assert timed_out.value.code == ErrorCode.REQUEST_TIMED_OUT  # appended at offset 1
    outcome: list[BaseException | int] = []

    def pending_produce() -> None:
        try:
            outcome.append(c.client("a", timeout=30).produce(0, 3, acks="all", timeout_ms=20_000))
        except (ReplogError, OSError) as e:
            outcome.append(e)

    t = threading.Thread(target=pending_produce)
    t.start()
    wait_until(lambda: c.state("a")["leo"] == 3, what="a appended 3 at offset 2")
    assert cl.produce(0, 4, acks=1) == 3  # acks=1 is happily accepted by the stale leader

    c.wait_leader("b", epoch=1)  # the controller gave up on a
    assert c.client("b").produce(0, 5, acks=1) == 1
    for link in [("a", "controller"), ("controller", "a"), ("b", "a"), ("c", "a")]:
        c.heal(*link)
    t.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], ReplogError), outcome
    assert outcome[0].code == ErrorCode.LEADERSHIP_LOST
    # a learns of epoch 1, asks b where epoch 0 ended (offset 1) and cuts 2, 3, 4.
    wait_until(lambda: c.records("a") == c.records("b") == [1, 5], what="a converged to b")
    assert c.state("a")["role"] == "follower"
    assert c.state("a")["epoch_cache"] == [[0, 0], [1, 1]]
