"""Kafka's Admin API as the harness uses it: topic setup, partition metadata, leader epochs.

`harness.systems.kafka` creates the topic once the cluster is up (`ensure_topic`) and,
for every monitor sample, reads the controller's view of each partition
(`describe_partitions`: leader, replicas, ISR, and the leader's HW from
``ListOffsets(latest)``) and the current leader epochs (`LeaderEpochWatcher`). Node names
are ``n<broker id>``: broker 2 is ``n2``. Example of one partition's metadata::

    PartitionMeta(key=0, leader="n1", replicas=["n1", "n2", "n3"], isr=["n1", "n2"],
                  hw=17, epoch=3)

The clients that produce and consume (and the error table) are in
`harness.systems.kafka_client`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import confluent_kafka as ck
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    NewTopic,
    OffsetSpec,
)

from harness.contract.layout import LOGS
from harness.systems.kafka_client import LIBRDKAFKA_LOG


@dataclass(frozen=True, slots=True)
class PartitionMeta:
    """One partition as the Admin API sees it (node names are ``n<broker id>``)."""

    key: int
    leader: str | None
    replicas: list[str]
    isr: list[str]
    hw: int
    """``ListOffsets(latest)`` answered by the leader: its HW; -1 if it did not answer."""
    epoch: int
    """The leader epoch returned with that offset; -1 if unknown."""


def _node(broker_id: int) -> str:
    return f"n{broker_id}"


def admin_client(bootstrap: str, timeout_ms: int = 5000) -> Any:
    """A confluent-kafka ``AdminClient`` (reuse it: each one opens its own connections)."""
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "logger": LIBRDKAFKA_LOG,
        "socket.timeout.ms": timeout_ms,
        "socket.connection.setup.timeout.ms": timeout_ms,
        "reconnect.backoff.max.ms": 1000,
    }
    return AdminClient(conf)


class TopicSetupError(RuntimeError):
    """The floodmark topic could not be created or did not become healthy in time."""


RECONNECT_AFTER = 3
"""Consecutive refused CreateTopics after which `ensure_topic` makes a new AdminClient."""


def _cluster_view(admin: Any) -> str:
    """The brokers and controller a fresh Metadata request names (asking also refreshes
    the client's cached controller, which CreateTopics is sent to)."""
    try:
        meta = admin.list_topics(timeout=5)
    except ck.KafkaException as e:
        return f"Metadata: {e.args[0].name()}"
    brokers = sorted(meta.brokers)
    return f"metadata names brokers {brokers} and controller {meta.controller_id}"


def ensure_topic(
    bootstrap: str,
    topic: str,
    partitions: int,
    replication_factor: int,
    configs: dict[str, str],
    timeout_s: float,
    connect: Callable[[str], Any] = admin_client,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Create ``topic`` if it does not exist, then wait (polling) until every partition
    has a leader and ``replication_factor`` in-sync replicas. ``connect`` makes the
    AdminClient (`admin_client`); ``clock`` and ``sleep`` pace the polling."""
    admin = connect(bootstrap)
    deadline = clock() + timeout_s
    last = "no answer yet"
    created = False
    refused = 0
    while clock() < deadline:
        if not created:
            fut = admin.create_topics(
                [NewTopic(topic, partitions, replication_factor, config=configs)],
                operation_timeout=10,
                request_timeout=10,
            )[topic]
            try:
                fut.result(timeout=15)
                created = True
            except ck.KafkaException as e:
                err = e.args[0]
                if err.code() == ck.KafkaError.TOPIC_ALREADY_EXISTS:
                    created = True
                else:
                    refused += 1
                    last = f"CreateTopics: {err.name()} {err.str()}; {_cluster_view(admin)}"
                    if refused % RECONNECT_AFTER == 0:
                        # A client that has waited this long for a controller may hold a
                        # stale view of the cluster: start again from the bootstrap list.
                        admin = connect(bootstrap)
        if created:
            try:
                meta = admin.list_topics(topic, timeout=5)
            except ck.KafkaException as e:
                last = f"Metadata: {e.args[0].name()}"
            else:
                tm = meta.topics.get(topic)
                if tm is not None and tm.error is None and len(tm.partitions) == partitions:
                    bad = [
                        p
                        for p in tm.partitions.values()
                        if p.leader < 0 or len(p.isrs) < replication_factor
                    ]
                    if not bad:
                        return
                    last = f"{len(bad)} partitions without a leader or a full ISR"
                else:
                    last = f"topic metadata: {tm.error if tm is not None else 'absent'}"
        sleep(0.5)
    raise TopicSetupError(
        f"topic {topic!r} ({partitions} partitions, RF {replication_factor}) was not ready "
        f"after {timeout_s:.0f} s; last: {last}. Check the broker logs in the run directory "
        f'({LOGS}/*.log): did every broker register with the controller ("unfenced")?'
    )


def describe_partitions(admin: Any, topic: str, timeout_s: float = 3.0) -> dict[int, PartitionMeta]:
    """Leader, replicas and ISR of every partition, with the leader's HW and epoch.
    Empty when the cluster does not answer within ``timeout_s``."""
    try:
        meta = admin.list_topics(topic, timeout=timeout_s)
    except ck.KafkaException:
        return {}
    tm = meta.topics.get(topic)
    if tm is None or tm.error is not None:
        return {}
    tps = {ck.TopicPartition(topic, p): OffsetSpec.latest() for p in tm.partitions}  # type: ignore[no-untyped-call]
    offsets: dict[int, tuple[int, int]] = {}
    if tps:
        futs = admin.list_offsets(tps, request_timeout=timeout_s)
        for tp, fut in futs.items():
            try:
                info = fut.result(timeout=timeout_s + 1)
            except ck.KafkaException:
                continue
            epoch = getattr(info, "leader_epoch", None)
            offsets[tp.partition] = (int(info.offset), int(epoch) if epoch is not None else -1)
    out: dict[int, PartitionMeta] = {}
    for p, pm in tm.partitions.items():
        hw, epoch = offsets.get(p, (-1, -1))
        out[p] = PartitionMeta(
            key=p,
            leader=_node(pm.leader) if pm.leader >= 0 else None,
            replicas=[_node(r) for r in pm.replicas],
            isr=[_node(r) for r in pm.isrs],
            hw=hw,
            epoch=epoch,
        )
    return out


class LeaderEpochWatcher:
    """Each partition's current leader and leader epoch, as one metadata response gives
    them (librdkafka's statistics: ``topics.<t>.partitions.<p>.leader`` and
    ``leader_epoch``). The Admin API does not expose the leader epoch, and the epoch
    ``ListOffsets`` returns is that of the newest *record*, which lags a leader change
    until the new leader appends. A consumer with every partition assigned and paused
    (it never fetches) keeps the metadata fresh every ``refresh_ms``."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        partitions: int,
        refresh_ms: int = 500,
        consumer: Callable[[dict[str, Any]], Any] = ck.Consumer,
    ) -> None:
        """``consumer`` makes the (paused) consumer from its config (``ck.Consumer``)."""
        self._latest: dict[int, tuple[int, int]] = {}
        self._topic = topic
        conf: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "logger": LIBRDKAFKA_LOG,
            "group.id": "floodmark-monitor-unused",
            "enable.auto.commit": False,
            "statistics.interval.ms": refresh_ms,
            "topic.metadata.refresh.interval.ms": refresh_ms,
            "stats_cb": self._on_stats,
        }
        self._consumer = consumer(conf)
        tps = [ck.TopicPartition(topic, p, ck.OFFSET_END) for p in range(partitions)]
        self._consumer.assign(tps)
        self._consumer.pause(tps)

    def _on_stats(self, raw: str) -> None:
        parts = json.loads(raw).get("topics", {}).get(self._topic, {}).get("partitions", {})
        latest: dict[int, tuple[int, int]] = {}
        for p, st in parts.items():
            if int(p) >= 0 and int(st.get("leader", -1)) >= 0:
                latest[int(p)] = (int(st["leader"]), int(st.get("leader_epoch", -1)))
        self._latest = latest

    def leaders(self) -> dict[int, tuple[str, int]]:
        """partition -> (leader node, leader epoch) from the latest statistics."""
        self._consumer.poll(0)  # serves the statistics callback
        return {p: (_node(b), e) for p, (b, e) in self._latest.items()}

    def close(self) -> None:
        self._consumer.close()
