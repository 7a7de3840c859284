"""KIP-101's scenarios, step by step, under both truncation rules.

Two replicas a (leader, epoch 0) and b of key 0. The delicate moment in both scenarios
is "the leader's HW passed m2 (so m2 is acknowledged) but the follower has not heard of
it yet": the test hooks a's HW listener, which runs on the loop thread before a writes
its fetch reply, and blackholes the a→b direction of b's fetch link right then. b keeps
LEO 2 with HW 1, deterministically.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.replog.cluster import Cluster, wait_until
from tests.replog.conftest import ClusterFactory

SCENARIO_SETTINGS: dict[str, Any] = {
    "min.insync.replicas": 1,
    "broker.session.timeout.ms": 2000,
}


def ack_m2_but_hide_hw_from_b(c: Cluster) -> None:
    """m1, m2 acked with acks=all; b holds both with HW 1 (never told HW 2).

    b's m1 is fsynced (as the OS would do in the background); its m2 is not, unless the
    flush policy says so.
    """
    cl = c.client("a")
    assert cl.produce(0, 1) == 0
    wait_until(lambda: c.state("b")["hw"] == 1, what="b learns HW 1")
    c.call(lambda: c.brokers["b"].replicas[0].log.flush())
    proxy = c.proxies[("b", "a")]

    def freeze(_key: int) -> None:
        if c.brokers["a"].replicas[0].hw >= 2:
            proxy.backward = False  # a's replies to b's fetches vanish from now on

    c.call(lambda: c.brokers["a"].replicas[0].hw_listeners.append(freeze))
    assert cl.produce(0, 2) == 1  # acknowledged: the HW passed offset 1
    assert c.state("a")["hw"] == 2
    b = c.state("b")
    assert (b["leo"], b["hw"]) == (2, 1), b
    c.block("b", "a")  # b's fetch link stays dark in both directions


@pytest.mark.parametrize("profile", ["kafka-0.10", "kafka-0.11"])
def test_scenario1_hw_truncation_then_election_loses_acked_write(
    make_cluster: ClusterFactory, profile: str
) -> None:
    c = make_cluster(["a", "b"], profile=profile, settings=SCENARIO_SETTINGS)
    c.wait_leader("a", epoch=0)
    ack_m2_but_hide_hw_from_b(c)

    # b restarts (within its session: the controller keeps it in the ISR).
    c.crash("b")
    c.restart("b")
    wait_until(lambda: c.state("b")["role"] == "follower", what="b follows a again")
    assert c.partition()["isr"] == ["a", "b"]
    expected_b_leo = 1 if profile == "kafka-0.10" else 2
    assert c.state("b")["leo"] == expected_b_leo  # hw rule cut m2; leader-epoch waits for a

    # a crashes before b could fetch m2 again; b is elected from the ISR.
    c.crash("a")
    c.wait_leader("b", epoch=1)
    records, hw = c.client("b").fetch(0, 0)
    values = [v for _, v in records]
    if profile == "kafka-0.10":
        assert values == [1], "m2 was acknowledged, then lost by HW truncation"
    else:
        assert values == [1, 2], "leader-epoch truncation keeps the acknowledged m2"
    assert hw == len(values)


@pytest.mark.parametrize("profile", ["kafka-0.10", "kafka-0.11"])
def test_scenario2_replicas_diverge_after_double_crash(
    make_cluster: ClusterFactory, profile: str
) -> None:
    settings = {**SCENARIO_SETTINGS, "log.flush.interval.messages": 0}
    c = make_cluster(["a", "b"], profile=profile, settings=settings)
    c.wait_leader("a", epoch=0)
    ack_m2_but_hide_hw_from_b(c)

    # Power loss on b (m2 was never fsynced there), a plain crash on a; b is back first.
    c.crash("b", lose_unflushed=True)
    c.crash("a")
    c.heal("b", "a")
    c.restart("b")
    assert c.state("b")["leo"] == 1
    c.wait_leader("b", epoch=1)  # a's session expires; b is the live ISR member
    assert c.client("b").produce(0, 3, acks=1) == 1  # m3 takes offset 1

    c.restart("a")
    c.wait_isr({"a", "b"})  # a truncated (or not), fetched, and rejoined the ISR
    wait_until(
        lambda: c.state("a")["hw"] == 2 and c.state("b")["hw"] == 2,
        what="both replicas at HW 2",
    )
    a_log, b_log = c.records("a"), c.records("b")
    if profile == "kafka-0.10":
        # Offset 1 holds m2 on a and m3 on b, below both HWs: divergence.
        assert a_log == [1, 2]
        assert b_log == [1, 3]
    else:
        # a asked OffsetsForLeaderEpoch(0), got 1, cut m2 and fetched m3.
        assert a_log == b_log == [1, 3]
        assert c.state("a")["epoch_cache"] == [[0, 0], [1, 1]]
