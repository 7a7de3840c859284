"""Unclean election, min.insync.replicas, and controller-epoch fencing."""

from __future__ import annotations

import asyncio

import pytest

from replog.client import ReplogError
from replog.controller import Controller, assign_replicas
from replog.wire import ErrorCode
from tests.replog.cluster import Cluster, wait_until
from tests.replog.conftest import ClusterFactory

SHRINK_FAST = {"replica.lag.time.max.ms": 400, "broker.session.timeout.ms": 1500}


def isolate_b_until_shrunk(c: Cluster) -> None:
    c.block("b", "a")
    c.wait_isr({"a"})


def test_assign_replicas_is_deterministic() -> None:
    assert assign_replicas(["n3", "n1", "n2"], 0, 3) == ["n1", "n2", "n3"]
    assert assign_replicas(["n3", "n1", "n2"], 4, 2) == ["n2", "n3"]


@pytest.mark.parametrize("unclean", [True, False])
def test_unclean_election_loses_acked_write(make_cluster: ClusterFactory, unclean: bool) -> None:
    settings = {**SHRINK_FAST, "min.insync.replicas": 1, "unclean.leader.election.enable": unclean}
    c = make_cluster(["a", "b"], settings=settings)
    c.wait_leader("a", epoch=0)
    cl = c.client("a")
    assert cl.produce(0, 1) == 0
    isolate_b_until_shrunk(c)
    assert cl.produce(0, 2) == 1  # acks=all with ISR {a}: acknowledged by a alone
    c.crash("a")
    if unclean:
        c.wait_leader("b", epoch=1)
        records, _ = c.client("b").fetch(0, 0)
        assert [v for _, v in records] == [1], "b, outside the ISR, lacked the acked 2"
        assert c.partition()["isr"] == ["b"]
    else:
        wait_until(lambda: not c.controller_sees_live("a"), what="a declared dead")
        p = c.partition()
        assert p["leader"] is None and p["isr"] == ["a"], p
        with pytest.raises(ReplogError) as e:
            c.client("b").produce(0, 3, acks=1)
        assert e.value.code == ErrorCode.NOT_LEADER
        # The partition waits for its ISR member; when a returns, nothing was lost.
        c.heal("b", "a")
        c.restart("a")
        c.wait_leader("a")
        assert [v for _, v in c.client("a").fetch(0, 0)[0]] == [1, 2]


def test_min_insync_rejects_acks_all_but_not_acks_1(make_cluster: ClusterFactory) -> None:
    c = make_cluster(["a", "b"], settings={**SHRINK_FAST, "min.insync.replicas": 2})
    c.wait_leader("a", epoch=0)
    cl = c.client("a")
    assert cl.produce(0, 1) == 0
    isolate_b_until_shrunk(c)
    with pytest.raises(ReplogError) as e:
        cl.produce(0, 2, acks="all")
    assert e.value.code == ErrorCode.NOT_ENOUGH_REPLICAS
    assert "min.insync.replicas=2" in e.value.message
    assert cl.produce(0, 3, acks=1) == 1  # the refused record took no offset
    c.heal("b", "a")
    c.wait_isr({"a", "b"})
    assert cl.produce(0, 4, acks="all") == 2


def test_brokers_reject_a_deposed_controller(make_cluster: ClusterFactory) -> None:
    c = make_cluster(["a", "b"])
    c.wait_leader("a", epoch=0)
    old = c.controller
    assert old is not None and old.epoch == 1
    # A second controller instance starts on the same store: it bumps the epoch to 2.
    new = Controller(c.controller_config(port=c.reserved.take()))
    c.run(new.start())
    try:
        assert new.epoch == 2
        assert (c.root / "controller" / "controller-epoch").read_text().strip() == "2"
        for node in ("a", "b"):
            reply = c.run(new.send_state(node))
            assert reply is not None and not reply.get("error"), reply
            assert c.controller_epoch_of(node) == 2

        # The deposed controller (epoch 1) tries to move leadership: refused everywhere.
        def depose_leader() -> None:
            p = old.partitions[0]
            p.leader, p.leader_epoch = "b", p.leader_epoch + 1

        c.call(depose_leader)
        for node in ("a", "b"):
            reply = c.run(old.send_state(node))
            assert reply is not None and reply["error"] == ErrorCode.STALE_CONTROLLER_EPOCH
        assert old.fenced
        assert c.state("a")["role"] == "leader" and c.state("a")["epoch"] == 0
        assert c.state("b")["role"] == "follower"
    finally:
        c.run(new.stop())


def test_restarted_controller_bumps_epoch_and_keeps_state(make_cluster: ClusterFactory) -> None:
    c = make_cluster(["a", "b"])
    c.wait_leader("a", epoch=0)
    assert c.client("a").produce(0, 7) == 0
    assert c.controller is not None
    c.run(c.controller.stop())
    c.start_controller()
    assert c.controller.epoch == 2
    wait_until(
        lambda: c.client("a").metadata()["controller_epoch"] == 2, what="brokers see epoch 2"
    )
    c.wait_leader("a", epoch=0)  # the persisted state survived the restart
    assert c.client("a").produce(0, 8) == 1


def test_heartbeat_from_unknown_broker_is_refused() -> None:
    async def go() -> None:
        from pathlib import Path
        from tempfile import TemporaryDirectory

        from replog.config import controller_config_from_dict

        with TemporaryDirectory() as d:
            cfg = controller_config_from_dict(
                {
                    "listen": "127.0.0.1:0",
                    "data_dir": str(Path(d)),
                    "brokers": {"a": "127.0.0.1:1"},
                    "partitions": 1,
                    "replication_factor": 1,
                }
            )
            ctl = Controller(cfg)
            reply = await ctl.dispatch(
                {"type": "heartbeat", "id": 1, "node": "zz", "incarnation": "x"}
            )
            assert reply is not None and reply["error"] == ErrorCode.INVALID_REQUEST

    asyncio.run(go())


def test_a_leader_restarted_while_no_controller_ran_gets_a_new_epoch(
    make_cluster: ClusterFactory,
) -> None:
    """The incarnations outlive the controller: a leader that restarted (and may have
    lost un-fsynced records) while no controller ran does not go on leading in its old
    epoch once a controller starts again; its followers would truncate to match it."""
    c = make_cluster(["a", "b"], settings=SHRINK_FAST)
    c.wait_leader("a", epoch=0)
    c.wait_isr({"a", "b"})
    assert c.controller is not None
    c.run(c.controller.stop())
    c.crash("a", lose_unflushed=True)
    c.restart("a")
    c.start_controller()
    c.wait_leader("b", epoch=1)
