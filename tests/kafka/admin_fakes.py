"""Recorded answers of Kafka's Admin API for the adapter's unit tests: confluent-kafka's
own metadata classes and futures (`FakeAdmin`, `metadata`, `partition`, `kafka_error`)."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import confluent_kafka as ck
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    ClusterMetadata,
    ListOffsetsResultInfo,
    PartitionMetadata,
    TopicMetadata,
)

from harness.systems.kafka import TOPIC

E = ck.KafkaError


def kafka_error(code: int) -> ck.KafkaException:
    return ck.KafkaException(ck.KafkaError(code))


def done(value: Any = None, error: BaseException | None = None) -> Future[Any]:
    fut: Future[Any] = Future()
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(value)
    return fut


def partition(pid: int, leader: int, replicas: list[int], isr: list[int]) -> PartitionMetadata:
    pm = PartitionMetadata()
    pm.id, pm.leader, pm.replicas, pm.isrs = pid, leader, replicas, isr
    return pm


def metadata(*parts: PartitionMetadata, error: ck.KafkaError | None = None) -> ClusterMetadata:
    tm = TopicMetadata()
    tm.topic, tm.error = TOPIC, error
    tm.partitions = {p.id: p for p in parts}
    cm = ClusterMetadata()
    cm.topics = {TOPIC: tm}
    return cm


@dataclass
class FakeAdmin:
    """An AdminClient whose answers are set by the test: ``meta`` for ``list_topics`` (a
    list is answered in turn; an exception is raised), ``offsets`` (partition -> offset
    and leader epoch, or an exception) for ``list_offsets``, ``creates`` for
    ``create_topics`` (None: created; an exception: refused)."""

    meta: list[ClusterMetadata | BaseException]
    offsets: dict[int, tuple[int, int] | BaseException] = field(default_factory=dict)
    creates: list[BaseException | None] = field(default_factory=lambda: [None])
    created: list[Any] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)
    cluster: ClusterMetadata = field(default_factory=ClusterMetadata)

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> ClusterMetadata:
        if topic is None:  # the whole cluster: brokers and controller
            self.asked.append("list_topics")
            return self.cluster
        self.asked.append(f"list_topics {topic}")
        answer = self.meta[0] if len(self.meta) == 1 else self.meta.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def list_offsets(
        self, tps: dict[ck.TopicPartition, Any], request_timeout: float
    ) -> dict[ck.TopicPartition, Future[Any]]:
        out: dict[ck.TopicPartition, Future[Any]] = {}
        for tp in tps:
            answer = self.offsets.get(tp.partition, kafka_error(E._TIMED_OUT))
            if isinstance(answer, BaseException):
                out[tp] = done(error=answer)
            else:
                out[tp] = done(ListOffsetsResultInfo(answer[0], -1, answer[1]))
        return out

    def create_topics(self, topics: list[Any], **_timeouts: float) -> dict[str, Future[None]]:
        self.created += topics
        answer = self.creates.pop(0) if self.creates else None
        return {t.topic: done(None, answer) for t in topics}


def healthy_meta() -> ClusterMetadata:
    return metadata(partition(0, 1, [1, 2, 3], [1, 2, 3]), partition(1, 2, [2, 3, 1], [2, 3, 1]))
