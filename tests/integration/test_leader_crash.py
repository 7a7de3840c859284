"""leader-crash against a real replog cluster: it cuts a key's leader from its peers, the
ISR shrinks to that leader alone while it stays the controller's leader, the fault then
SIGKILLs exactly that node, and with unclean election a follower outside the ISR takes
over. ``stop-leader-crash`` brings the node back and the ISR fills again."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from compose.docker_cluster import DockerCluster
from faults.leader_crash import LeaderCrashFault
from faults.process import state
from harness.contract.history import Phase
from tests.faults.docker_support import leader_state, poll, replog_cluster

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(90)]

UNCLEAN = {
    "min.insync.replicas": 1,
    "unclean.leader.election.enable": True,
    "broker.session.timeout.ms": 1000,
    "replica.lag.time.max.ms": 1000,
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[DockerCluster]:
    with replog_cluster(nodes=3, keys=1, settings=UNCLEAN) as c:
        yield c


def full_isr(cluster: DockerCluster) -> dict[str, Any] | None:
    s = leader_state(cluster, 0)
    return s if s is not None and len(s["isr"]) == cluster.plan.replication_factor else None


def unclean_logged(cluster: DockerCluster) -> bool:
    logs = cluster.container("controller").logs().decode("utf-8", "replace")
    return any("election key 0" in line and "UNCLEAN" in line for line in logs.splitlines())


class Watch(threading.Thread):
    """Records key 0's leader view (node, epoch, ISR) every 0.1 s until stopped."""

    def __init__(self, cluster: DockerCluster) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.seen: list[tuple[str, int, tuple[str, ...]]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.1):
            s = leader_state(self.cluster, 0)
            if s is not None:
                self.seen.append((str(s["node"]), int(s["epoch"]), tuple(s["isr"])))


def test_kills_the_isolated_leader_after_its_isr_shrank_to_itself(
    cluster: DockerCluster,
) -> None:
    before = poll(lambda: full_isr(cluster), 30, "a full ISR on key 0")
    leader = str(before["node"])
    fault = LeaderCrashFault(cluster)
    watch = Watch(cluster)
    watch.start()
    try:
        did = fault.invoke(Phase.START, {"key": 0, "delay_s": 2.5})
    finally:
        watch.halt.set()
        watch.join(10)
    try:
        assert isinstance(did, dict) and did["verified"] is True, did
        assert did["leader"] == leader and did["killed"] == [leader]
        assert did["leader_before_kill"] == leader  # still the leader when it was killed
        assert did["partition"]["verified"] is True
        probes = did["partition"]["probes"]
        assert probes, did  # an empty probe set would make the next line vacuous
        assert all(p["outcome"] == "refused" for p in probes.values()), probes
        assert sorted(map(tuple, did["cut"])) == sorted(
            {(leader, b) for b in cluster.plan.brokers if b != leader}
            | {(b, leader) for b in cluster.plan.brokers if b != leader}
        )
        assert did["healed"]["verified"] is True
        assert state(cluster.container(leader)) == "stopped"
        # While isolated it stayed leader (same epoch) with an ISR of itself alone.
        alone = [s for s in watch.seen if s == (leader, int(before["epoch"]), (leader,))]
        assert alone, f"the ISR never shrank to {leader} alone; seen {sorted(set(watch.seen))}"

        def unclean_leader() -> dict[str, Any] | None:
            s = leader_state(cluster, 0)
            moved = s is not None and s["node"] != leader and int(s["epoch"]) > before["epoch"]
            return s if moved else None

        poll(unclean_leader, 20, "an out-of-ISR follower elected for key 0")
        # The ISR refills quickly once the new leader runs, so the controller's log is
        # where the unclean election shows.
        poll(lambda: unclean_logged(cluster), 10, "the controller to log an unclean election")
    finally:
        stopped = fault.invoke(Phase.STOP, {})
    assert isinstance(stopped, dict) and stopped["verified"] is True, stopped
    assert stopped["restarted"] == [leader]
    assert state(cluster.container(leader)) == "running"
    poll(lambda: full_isr(cluster), 40, "a full ISR on key 0 after the restart")
