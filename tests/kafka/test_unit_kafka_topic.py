"""`ensure_topic`: the Kafka topic is created once the cluster is up, and setup says what
it saw when the cluster never becomes ready (recorded Admin answers, an injected clock)."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka.admin import BrokerMetadata, ClusterMetadata  # type: ignore[attr-defined]

from harness.systems.kafka import TOPIC
from harness.systems.kafka_admin import RECONNECT_AFTER, TopicSetupError, ensure_topic
from tests.kafka.admin_fakes import E, FakeAdmin, healthy_meta, kafka_error, metadata, partition


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def setup_topic(admin: FakeAdmin, clock: Clock, timeout_s: float = 10.0) -> None:
    ensure_topic("b:1", TOPIC, 2, 3, {"min.insync.replicas": "2"}, timeout_s,
                 connect=lambda _b: admin, clock=clock, sleep=clock.sleep)  # fmt: skip


def test_ensure_topic_creates_then_waits_for_leaders_and_full_isrs() -> None:
    no_isr = metadata(partition(0, 1, [1, 2, 3], [1]), partition(1, 2, [2, 3, 1], [2, 3, 1]))
    admin = FakeAdmin(
        [kafka_error(E._TRANSPORT), no_isr, metadata(partition(0, 1, [1, 2, 3], [1, 2, 3])),
         healthy_meta()],
        creates=[kafka_error(E._TRANSPORT), None],
    )  # fmt: skip
    clock = Clock()
    setup_topic(admin, clock)
    assert len(admin.created) == 2  # the first CreateTopics did not arrive
    assert clock.slept == [0.5] * 4
    assert len(admin.meta) == 1  # every answer but the last was asked for


def test_ensure_topic_reconnects_when_the_controller_stays_unknown() -> None:
    """CreateTopics waits for a controller the client has never been told of: every
    refusal says what Metadata names, and after RECONNECT_AFTER refusals in a row a new
    AdminClient starts again from the bootstrap list."""
    no_controller = ClusterMetadata()
    no_controller.brokers = {b: BrokerMetadata() for b in (1, 2, 3)}
    stale = FakeAdmin(
        [healthy_meta()], creates=[kafka_error(E._TIMED_OUT)] * RECONNECT_AFTER,
        cluster=no_controller,
    )  # fmt: skip
    fresh = FakeAdmin([healthy_meta()])
    clients = [stale, fresh]
    clock = Clock()
    ensure_topic("b:1", TOPIC, 2, 3, {}, 60.0, connect=lambda _b: clients.pop(0),
                 clock=clock, sleep=clock.sleep)  # fmt: skip
    assert clients == [] and len(stale.created) == RECONNECT_AFTER and len(fresh.created) == 1
    assert stale.asked == ["list_topics"] * RECONNECT_AFTER


def test_ensure_topic_says_which_controller_metadata_named() -> None:
    no_controller = ClusterMetadata()
    no_controller.brokers = {b: BrokerMetadata() for b in (2, 1)}
    admin = FakeAdmin([healthy_meta()], creates=[kafka_error(E._TIMED_OUT)] * 99,
                      cluster=no_controller)  # fmt: skip
    clock = Clock()
    with pytest.raises(TopicSetupError) as e:
        setup_topic(admin, clock, timeout_s=3.0)
    assert "metadata names brokers [1, 2] and controller -1" in str(e.value)
    assert "logs/*.log" in str(e.value)


def test_ensure_topic_accepts_an_existing_topic() -> None:
    admin = FakeAdmin([healthy_meta()], creates=[kafka_error(E.TOPIC_ALREADY_EXISTS)])
    clock = Clock()
    setup_topic(admin, clock)
    assert clock.slept == []


@pytest.mark.parametrize(
    ("answer", "last"),
    [
        (metadata(partition(0, -1, [1, 2, 3], []), partition(1, 2, [2, 3, 1], [2, 3, 1])),
         "1 partitions without a leader or a full ISR"),
        (ClusterMetadata(), "topic metadata: absent"),
        (kafka_error(E._TRANSPORT), "Metadata: _TRANSPORT"),
    ],
    ids=["no-leader", "absent", "no-answer"],
)  # fmt: skip
def test_ensure_topic_gives_up_at_the_deadline_saying_what_it_saw_last(
    answer: Any, last: str
) -> None:
    clock = Clock()
    with pytest.raises(TopicSetupError, match="was not ready after 3 s") as e:
        setup_topic(FakeAdmin([answer]), clock, timeout_s=3.0)
    assert f"last: {last}." in str(e.value)
    assert "Check the broker logs" in str(e.value)
    assert clock.now >= 3.0


def test_ensure_topic_reports_a_refused_create() -> None:
    admin = FakeAdmin([healthy_meta()], creates=[kafka_error(E.POLICY_VIOLATION)] * 10)
    with pytest.raises(TopicSetupError, match="last: CreateTopics: POLICY_VIOLATION"):
        setup_topic(admin, Clock(), timeout_s=1.0)
