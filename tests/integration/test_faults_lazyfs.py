"""``kill`` vs ``lose-unfsynced`` on replog with flushing disabled (issue 4, item 2).

With ``log.flush.interval.messages = 0`` replog never fsyncs its segments, so under the
lazyfs layer every record lives only in the layer's memory until something flushes it:

- a process crash (``kill``) keeps the page cache: the fault tells the layer to write
  through first, and after the restart every replica still has every record;
- a power loss (``lose-unfsynced``) drops the un-fsynced records: after the restart the
  replica dumps no longer contain them.
"""

from __future__ import annotations

import pytest

from compose.docker_cluster import DockerCluster
from faults.disk.lose_unfsynced import LoseUnfsyncedFault
from faults.process import KillFault
from faults.registry import node_env
from harness.contract.history import OpType, Phase
from harness.monitor import wait_healthy
from tests.faults.docker_support import poll, replog_cluster

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]


def values_per_replica(cluster: DockerCluster) -> dict[str, set[int]]:
    """Key 0's values on every broker (polled: a busy broker may miss one dump request)."""

    def every_broker() -> dict[str, set[int]] | None:
        dumps = cluster.system.dump_replicas(cluster)
        got = {str(d["node"]): {int(v) for _, v in d["records"]} for d in dumps if d["key"] == 0}
        return got if set(got) == set(cluster.plan.brokers) else None

    return poll(every_broker, 30, "a replica dump from every broker")


def test_kill_keeps_unfsynced_records_and_power_loss_drops_them() -> None:
    with replog_cluster(
        nodes=3,
        keys=1,
        settings={"log.flush.interval.messages": 0},
        env=node_env(["lose-unfsynced"]),
    ) as cluster:
        brokers = list(cluster.plan.brokers)
        client = cluster.system.client(cluster, 0)
        client.open()
        try:
            first = [
                v for v in range(1, 31)
                if client.invoke("send", {"key": 0, "value": v}).type == OpType.OK
            ]  # fmt: skip
        finally:
            client.close()
        assert len(first) == 30

        kill = KillFault(cluster)
        did = kill.invoke(Phase.START, {"target": "all", "nodes": brokers})
        assert did["verified"], did
        assert all(a["lazyfs"] == "passthrough" for a in did["actions"].values()), did
        assert kill.invoke(Phase.STOP, {})["verified"]
        assert not wait_healthy(cluster, 90)
        after_kill = values_per_replica(cluster)
        assert set(after_kill) == set(brokers)
        assert all(set(first) <= vs for vs in after_kill.values()), after_kill

        client = cluster.system.client(cluster, 1)
        client.open()
        try:
            second = [
                v for v in range(101, 131)
                if client.invoke("send", {"key": 0, "value": v}).type == OpType.OK
            ]  # fmt: skip
        finally:
            client.close()
        assert len(second) == 30
        # acks=all puts them on every replica of the ISR at the ack; a follower the ISR
        # dropped for a moment (a loaded machine) catches up shortly after. Wait for that,
        # so the power loss below has the same un-fsynced records to drop on every node.
        poll(
            lambda: all(set(second) <= vs for vs in values_per_replica(cluster).values()),
            60,
            "every replica to hold the 30 records acknowledged after the restart",
        )

        crash = LoseUnfsyncedFault(cluster)
        did = crash.invoke(Phase.START, {"target": "all", "nodes": brokers})
        assert did["verified"], did
        assert all(did["lost"][b]["bytes"] > 0 for b in brokers), did["lost"]
        restarted = crash.invoke(Phase.STOP, {})
        assert restarted["verified"], restarted
        assert not wait_healthy(cluster, 90)
        after_crash = values_per_replica(cluster)
        assert set(after_crash) == set(brokers)
        for node, vs in after_crash.items():
            assert set(first) <= vs, f"{node} lost records that had reached the disk"
            assert not (set(second) & vs), f"{node} kept un-fsynced records: {sorted(vs)}"
