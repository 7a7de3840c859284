"""`KafkaSystem.replica_states` and its sources, from recorded Admin and offset answers.

Three sources are merged into the states the checkers read (``replica-state`` values):
the Admin API's metadata (replicas, ISR, its leader) with ``ListOffsets(latest)`` (the
leader's HW), the leader-epoch watcher's statistics (who leads, in which epoch), and
each replica's own files (``kafka_logdump.py --summary``: LEO, checkpointed HW, the
epoch of its newest data). The fakes answer with confluent-kafka's own metadata classes
and futures, and the log dumps with the JSON the tool prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import confluent_kafka as ck
import docker.errors
import pytest
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    ClusterMetadata,
)

from harness.contract.history import JSON
from harness.contract.plan import ClusterPlan, ClusterSpec
from harness.systems.kafka import CHECKPOINT_WAIT_S, TOPIC, KafkaSystem
from harness.systems.kafka_admin import (
    LeaderEpochWatcher,
    PartitionMeta,
    describe_partitions,
)
from harness.systems.kafka_client import KafkaClient
from harness.systems.kafka_files import LOGDUMP
from tests.kafka.admin_fakes import (
    E,
    FakeAdmin,
    healthy_meta,
    kafka_error,
    metadata,
    partition,
)


class StatsConsumer:
    """The leader-epoch watcher's consumer: ``poll`` serves ``stats`` to its stats_cb."""

    def __init__(self, conf: dict[str, Any], stats: dict[str, Any]) -> None:
        self.conf = conf
        self.stats = stats
        self.assigned: list[tuple[int, int]] = []
        self.paused: list[int] = []
        self.closed = False

    def assign(self, tps: list[ck.TopicPartition]) -> None:
        self.assigned = [(tp.partition, tp.offset) for tp in tps]

    def pause(self, tps: list[ck.TopicPartition]) -> None:
        self.paused = [tp.partition for tp in tps]

    def poll(self, timeout: float) -> None:
        self.conf["stats_cb"](json.dumps(self.stats))

    def close(self) -> None:
        self.closed = True


def leader_stats(leaders: dict[int, tuple[int, int]]) -> dict[str, Any]:
    parts: dict[str, Any] = {
        str(p): {"leader": b, "leader_epoch": e} for p, (b, e) in leaders.items()
    }
    parts["-1"] = {"leader": -1}  # librdkafka's "unassigned partition" entry
    return {"topics": {TOPIC: {"partitions": parts}}}


def summary(leo: int, hw: int | None, epochs: list[list[int]]) -> dict[str, Any]:
    return {"leo": leo, "hw_checkpoint": hw, "epochs": epochs, "records": []}


class Container:
    """``exec_run`` of kafka_logdump.py: JSON output, an exit code, or the engine's refusal."""

    def __init__(self, answer: dict[str, Any] | bytes | BaseException, exit_code: int = 0) -> None:
        self.answer = answer
        self.exit_code = exit_code
        self.commands: list[list[str]] = []

    def exec_run(self, cmd: list[str], stdout: bool, stderr: bool) -> SimpleNamespace:
        self.commands.append(cmd)
        if isinstance(self.answer, BaseException):
            raise self.answer
        out = self.answer if isinstance(self.answer, bytes) else json.dumps(self.answer).encode()
        return SimpleNamespace(exit_code=self.exit_code, output=out)


@dataclass
class KafkaCluster:
    """A rendered 3-broker Kafka plan with fake containers."""

    plan: ClusterPlan
    system: KafkaSystem
    containers: dict[str, Container]

    @property
    def run_id(self) -> str:
        return self.plan.run_id

    def container(self, node: str) -> Container:
        return self.containers[node]

    def endpoint(self, proxy: str) -> str:
        return f"127.0.0.1:{proxy}"


@dataclass
class Rig:
    system: KafkaSystem
    cluster: KafkaCluster
    admin: FakeAdmin
    consumers: list[StatsConsumer]
    connects: list[str]
    slept: list[float]

    def disks(self, **per_node: dict[str, Any] | bytes | BaseException) -> None:
        for node, answer in per_node.items():
            self.cluster.containers[node] = Container(answer)

    def states(self) -> list[dict[str, JSON]]:
        return self.system.replica_states(self.cluster)  # type: ignore[arg-type]


def make_rig(
    meta: list[ClusterMetadata | BaseException],
    offsets: dict[int, tuple[int, int] | BaseException],
    leaders: dict[int, tuple[int, int]],
    profile: str = "safe",
) -> Rig:
    admin = FakeAdmin([healthy_meta(), *meta], offsets)  # the first answer is the setup's
    consumers: list[StatsConsumer] = []
    connects: list[str] = []
    slept: list[float] = []

    def connect(bootstrap: str) -> FakeAdmin:
        connects.append(bootstrap)
        return admin

    def consumer(conf: dict[str, Any]) -> StatsConsumer:
        consumers.append(StatsConsumer(conf, leader_stats(leaders)))
        return consumers[-1]

    system = KafkaSystem(connect=connect, consumer=consumer, sleep=slept.append)
    plan = system.render(ClusterSpec("r1", 3, 2, 3, profile))
    cluster = KafkaCluster(plan, system, {})
    return Rig(system, cluster, admin, consumers, connects, slept)


def row(key: int, node: str, role: str, leo: int, hw: int, epoch: int, isr: list[str]) -> Any:
    return {"key": key, "node": node, "role": role, "leo": leo, "hw": hw, "epoch": epoch,
            "isr": isr}  # fmt: skip


ALL = ["n1", "n2", "n3"]


# -- the merge -------------------------------------------------------------------------------


def test_steady_state_leader_hw_from_list_offsets_followers_from_their_files() -> None:
    r = make_rig([healthy_meta()], {0: (10, 4), 1: (3, 2)}, {0: (1, 4), 1: (2, 2)})
    r.disks(
        n1={"partitions": {"0": summary(10, 9, [[0, 0], [4, 6]]), "1": summary(3, 3, [[2, 0]])}},
        n2={"partitions": {"0": summary(10, 10, [[4, 6]]), "1": summary(3, 2, [[2, 0]])}},
        n3={"partitions": {"0": summary(8, 12, [[4, 6]]), "1": summary(2, 2, [[2, 0]])}},
    )
    assert r.states() == [
        row(0, "n1", "leader", 10, 10, 4, ALL),  # HW from ListOffsets, epoch from metadata
        row(0, "n2", "follower", 10, 10, 4, ALL),
        row(0, "n3", "follower", 8, 8, 4, ALL),  # checkpointed HW capped at the LEO
        row(1, "n2", "leader", 3, 3, 2, ["n2", "n3", "n1"]),
        row(1, "n3", "follower", 2, 2, 2, ["n2", "n3", "n1"]),
        row(1, "n1", "follower", 3, 3, 2, ["n2", "n3", "n1"]),
    ]
    assert r.consumers[0].assigned == [(0, ck.OFFSET_END), (1, ck.OFFSET_END)]
    assert r.consumers[0].paused == [0, 1]
    for node, c in r.cluster.containers.items():
        assert c.commands == [["python3", LOGDUMP, "/data/kafka", TOPIC, "--summary"]], node


def test_after_a_leader_change_the_old_leader_is_a_follower_of_its_newest_epoch() -> None:
    moved = metadata(partition(0, 2, [1, 2, 3], [2, 3]), partition(1, 2, [2, 3, 1], [2, 3]))
    r = make_rig([moved], {0: (7, 5), 1: (3, 2)}, {0: (2, 5), 1: (2, 2)})
    n1 = {"partitions": {"0": summary(9, 7, [[4, 0]]), "1": summary(3, 3, [[2, 0]])}}
    n2 = {"partitions": {"0": summary(7, 6, [[4, 0], [5, 7]]), "1": summary(3, 3, [[2, 0]])}}
    n3 = {"partitions": {"0": summary(7, 7, [[4, 0]]), "1": summary(3, 3, [[2, 0]])}}
    r.disks(n1=n1, n2=n2, n3=n3)
    by = {(s["key"], s["node"]): s for s in r.states()}
    assert by[(0, "n2")] == row(0, "n2", "leader", 7, 7, 5, ["n2", "n3"])
    # n1 led epoch 4 and holds 2 records nobody else has; it is out of the ISR now
    assert by[(0, "n1")] == row(0, "n1", "follower", 9, 7, 4, ["n2", "n3"])
    assert by[(0, "n3")]["role"] == "follower"


def test_a_follower_out_of_the_isr_keeps_reporting_its_own_files() -> None:
    shrunk = metadata(partition(0, 1, [1, 2, 3], [1, 2]), partition(1, 2, [2, 3, 1], [2, 1]))
    r = make_rig([shrunk], {0: (10, 4), 1: (3, 2)}, {0: (1, 4), 1: (2, 2)})
    parts = {"0": summary(10, 10, [[4, 0]]), "1": summary(3, 3, [[2, 0]])}
    behind = {"0": summary(4, 4, [[3, 0]]), "1": summary(1, 1, [[2, 0]])}
    r.disks(n1={"partitions": parts}, n2={"partitions": parts}, n3={"partitions": behind})
    by = {(s["key"], s["node"]): s for s in r.states()}
    assert by[(0, "n3")] == row(0, "n3", "follower", 4, 4, 3, ["n1", "n2"])
    assert by[(0, "n1")]["isr"] == ["n1", "n2"]


@pytest.mark.parametrize(
    "answer",
    [
        docker.errors.APIError("container is paused"),
        b"",  # the container stopped while the tool ran
        b'{"partitions": {"0"',  # cut short
        {"error": "no such directory /data/kafka"},
    ],
    ids=["engine-refuses", "no-output", "cut-short", "tool-error"],
)
def test_a_broker_whose_files_cannot_be_read_is_offline_for_every_key_it_hosts(
    answer: Any,
) -> None:
    r = make_rig([healthy_meta()], {0: (10, 4), 1: (3, 2)}, {0: (1, 4), 1: (2, 2)})
    parts = {"0": summary(10, 10, [[4, 0]]), "1": summary(3, 3, [[2, 0]])}
    r.disks(n1={"partitions": parts}, n2={"partitions": parts}, n3=answer)
    states = r.states()
    offline = [(s["key"], s["node"]) for s in states if s["role"] == "offline"]
    assert offline == [(0, "n3"), (1, "n3")]
    assert next(s for s in states if s["node"] == "n3") == row(0, "n3", "offline", -1, -1, -1, [])
    assert len(states) == 6


def test_a_failing_logdump_exit_code_and_a_missing_partition_are_offline_too() -> None:
    r = make_rig([healthy_meta()], {0: (10, 4), 1: (3, 2)}, {0: (1, 4), 1: (2, 2)})
    parts = {"0": summary(10, 10, [[4, 0]]), "1": summary(3, 3, [[2, 0]])}
    r.disks(n1={"partitions": parts}, n2={"partitions": {"1": parts["1"]}})
    r.cluster.containers["n3"] = Container({"partitions": parts}, exit_code=1)
    offline = [(s["key"], s["node"]) for s in r.states() if s["role"] == "offline"]
    assert offline == [(0, "n2"), (0, "n3"), (1, "n3")]


def test_without_metadata_every_broker_is_asked_and_no_isr_is_claimed() -> None:
    r = make_rig([kafka_error(E._TRANSPORT)], {}, {0: (1, 4)})
    parts = {"0": summary(5, 4, [[4, 0]]), "1": summary(3, 3, [[2, 0]])}
    r.disks(n1={"partitions": parts}, n2={"partitions": parts}, n3={"partitions": parts})
    states = r.states()
    assert [(s["key"], s["node"]) for s in states] == [(k, n) for k in range(2) for n in ALL]
    assert all(s["isr"] == [] for s in states)
    # The watcher still names key 0's leader; its HW then comes from its own files.
    assert states[0] == row(0, "n1", "leader", 5, 4, 4, [])
    assert all(s["role"] == "follower" for s in states if s["key"] == 1)


def test_a_leader_whose_list_offsets_failed_reports_its_checkpointed_hw() -> None:
    r = make_rig([healthy_meta()], {0: kafka_error(E._TIMED_OUT), 1: (3, 2)}, {0: (1, 4)})
    parts = {"0": summary(10, 8, [[4, 0]]), "1": summary(3, 3, [[2, 0]])}
    r.disks(n1={"partitions": parts}, n2={"partitions": parts}, n3={"partitions": parts})
    by = {(s["key"], s["node"]): s for s in r.states()}
    assert by[(0, "n1")] == row(0, "n1", "leader", 10, 8, 4, ALL)


def test_when_the_watcher_and_the_metadata_disagree_the_watcher_names_the_leader() -> None:
    # metadata still says n1 leads key 0, the newer statistics say n3 (epoch 6)
    r = make_rig([healthy_meta()], {0: (10, 4)}, {0: (3, 6)})
    parts = {"0": summary(10, 9, [[4, 0]]), "1": summary(3, 3, [[2, 0]])}
    r.disks(n1={"partitions": parts}, n2={"partitions": parts}, n3={"partitions": parts})
    by = {(s["key"], s["node"]): s for s in r.states()}
    assert by[(0, "n3")] == row(0, "n3", "leader", 10, 9, 6, ALL)  # HW: its own, not n1's
    assert by[(0, "n1")]["role"] == "follower"


def test_a_replica_without_checkpoint_or_epochs_reports_minus_one() -> None:
    r = make_rig([healthy_meta()], {}, {})
    parts = {"0": summary(0, None, []), "1": summary(0, None, [])}
    r.disks(n1={"partitions": parts}, n2={"partitions": parts}, n3={"partitions": parts})
    assert {(s["hw"], s["epoch"], s["role"]) for s in r.states()} == {(-1, -1, "follower")}


def test_the_topic_is_set_up_once_and_the_admin_client_reused() -> None:
    r = make_rig([healthy_meta()], {0: (1, 1)}, {0: (1, 1)})
    parts = {"0": summary(1, 1, [[1, 0]]), "1": summary(0, 0, [])}
    r.disks(n1={"partitions": parts}, n2={"partitions": parts}, n3={"partitions": parts})
    r.states()
    r.states()
    (topic,) = r.admin.created
    assert (topic.topic, topic.num_partitions, topic.replication_factor) == (TOPIC, 2, 3)
    assert topic.config == {"min.insync.replicas": "2", "unclean.leader.election.enable": "false"}
    assert len(r.consumers) == 1
    bootstrap = ",".join(f"127.0.0.1:admin-{n}" for n in ALL)
    assert r.connects == [bootstrap, bootstrap]  # one for the setup, one kept for sampling


def test_the_unclean_profile_creates_the_topic_with_its_settings() -> None:
    r = make_rig([healthy_meta()], {}, {}, profile="unclean")
    r.system.setup(r.cluster)  # type: ignore[arg-type]
    assert r.admin.created[0].config == {
        "min.insync.replicas": "1",
        "unclean.leader.election.enable": "true",
    }


def test_replica_dumps_wait_for_the_checkpoints_and_skip_unreadable_nodes() -> None:
    r = make_rig([], {}, {})
    full = {"leo": 2, "hw_checkpoint": 5, "epochs": [[1, 0]], "records": [[0, 7], [1, 8]]}
    r.disks(
        n1={"partitions": {"1": full, "0": {**full, "records": [[0, 1]], "leo": 1}}},
        n2=docker.errors.APIError("stopped"),
        n3={"partitions": {}},
    )
    dumps = r.system.dump_replicas(r.cluster)  # type: ignore[arg-type]
    assert r.slept == [CHECKPOINT_WAIT_S]
    assert dumps == [
        {"key": 0, "node": "n1", "hw": 1, "leo": 1, "records": [[0, 1]]},
        {"key": 1, "node": "n1", "hw": 2, "leo": 2, "records": [[0, 7], [1, 8]]},
    ]
    assert r.cluster.containers["n1"].commands == [["python3", LOGDUMP, "/data/kafka", TOPIC]]


def test_a_client_bootstraps_through_the_client_proxies() -> None:
    r = make_rig([], {}, {})
    client = r.system.client(r.cluster, 4)  # type: ignore[arg-type]
    assert isinstance(client, KafkaClient)
    assert client.config.bootstrap == ",".join(f"127.0.0.1:client-{n}" for n in ALL)
    assert (client.config.client_id, client.config.idempotence) == ("floodmark-p4", True)


# -- the Admin API pieces ----------------------------------------------------------------------


def test_describe_partitions_names_nodes_and_keeps_the_leader_epoch() -> None:
    admin = FakeAdmin(
        [metadata(partition(0, 3, [3, 1], [3]), partition(1, -1, [1, 2], []))],
        {0: (12, -1), 1: kafka_error(E.NOT_LEADER_FOR_PARTITION)},  # -1: no epoch
    )
    assert describe_partitions(admin, TOPIC) == {
        0: PartitionMeta(0, "n3", ["n3", "n1"], ["n3"], 12, -1),
        1: PartitionMeta(1, None, ["n1", "n2"], [], -1, -1),
    }


@pytest.mark.parametrize(
    "answer",
    [kafka_error(E._TRANSPORT), metadata(error=ck.KafkaError(E.UNKNOWN_TOPIC_OR_PART))],
    ids=["no-answer", "topic-error"],
)
def test_describe_partitions_is_empty_when_the_cluster_cannot_say(answer: Any) -> None:
    assert describe_partitions(FakeAdmin([answer]), TOPIC) == {}
    assert describe_partitions(FakeAdmin([ClusterMetadata()]), TOPIC) == {}


def test_describe_partitions_of_a_topic_without_partitions_asks_no_offsets() -> None:
    assert describe_partitions(FakeAdmin([metadata()], {0: kafka_error(E._FAIL)}), TOPIC) == {}


def test_the_watcher_reports_the_latest_statistics_and_closes_its_consumer() -> None:
    made: list[StatsConsumer] = []

    def consumer(conf: dict[str, Any]) -> StatsConsumer:
        made.append(StatsConsumer(conf, leader_stats({0: (2, 7), 1: (-1, 3)})))
        return made[-1]

    w = LeaderEpochWatcher("b:1", TOPIC, 2, refresh_ms=250, consumer=consumer)
    assert w.leaders() == {0: ("n2", 7)}  # no leader for 1, and never partition -1
    (c,) = made
    assert c.conf["statistics.interval.ms"] == 250
    assert c.conf["topic.metadata.refresh.interval.ms"] == 250
    c.stats = leader_stats({0: (3, 8), 1: (1, 4)})
    assert w.leaders() == {0: ("n3", 8), 1: ("n1", 4)}
    w.close()
    assert c.closed
