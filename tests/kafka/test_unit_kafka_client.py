"""`KafkaClient` against a fake librdkafka: the completions it makes of what comes back.

The fakes answer the way confluent-kafka does (delivery reports through the callback
on ``poll``, partition-EOF events, ``KafkaException(KafkaError)``); time is a fake clock
that only the fakes' waits advance, so a timeout costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import confluent_kafka as ck
import pytest

from harness.contract.history import JSON, OpType
from harness.systems.kafka_client import (
    CLIENT_TIMEOUT,
    ERROR_TABLE,
    Certainty,
    KafkaClient,
    KafkaClientConfig,
    decode_value,
)

E = ck.KafkaError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Msg:
    """What ``poll`` and delivery reports hand out (the methods of ``ck.Message``)."""

    _offset: int | None = None
    _value: bytes | None = None
    _error: ck.KafkaError | None = None

    def offset(self) -> int | None:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def error(self) -> ck.KafkaError | None:
        return self._error


Delivery = Callable[[ck.KafkaError | None, Msg], None]


@dataclass
class FakeProducer:
    """Answers each ``produce`` from ``script``: an offset (delivered ok), a
    ``KafkaError`` (a failed delivery report), an exception to raise from ``produce``, or
    None (no report ever comes)."""

    conf: dict[str, Any]
    clock: Clock
    script: list[int | ck.KafkaError | BaseException | None]
    produced: list[tuple[str, bytes, int]] = field(default_factory=list)
    pending: list[tuple[Delivery, ck.KafkaError | None, Msg]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def produce(self, topic: str, *, value: bytes, partition: int, on_delivery: Delivery) -> None:
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        self.produced.append((topic, value, partition))
        if isinstance(step, int):
            self.pending.append((on_delivery, None, Msg(step, value)))
        elif isinstance(step, ck.KafkaError):
            self.pending.append((on_delivery, step, Msg(None, value)))

    def poll(self, timeout: float) -> int:
        self.clock.now += timeout
        served, self.pending = self.pending, []
        for cb, err, msg in served:
            cb(err, msg)
        return len(served)

    def purge(self, in_queue: bool, in_flight: bool, blocking: bool) -> None:
        self.calls.append(f"purge in_queue={in_queue} in_flight={in_flight} blocking={blocking}")

    def flush(self, timeout: float) -> int:
        self.calls.append(f"flush {timeout}")
        return 0


@dataclass
class FakeConsumer:
    """One topic's partitions (offset i holds ``logs[key][i]``) served from the assigned
    offset, then a partition-EOF event at the log's end; the watermark reported is ``hw``
    (default: the log's end). ``errors[key]`` is raised as an error
    event after that many records; ``silent`` keys never answer."""

    conf: dict[str, Any]
    clock: Clock
    logs: dict[int, list[bytes | None]]
    hw: dict[int, int] = field(default_factory=dict)
    errors: dict[int, tuple[int, int]] = field(default_factory=dict)
    silent: set[int] = field(default_factory=set)
    assigned: list[tuple[int, int]] = field(default_factory=list)
    closed: bool = False
    _key: int = -1
    _next: int = 0
    _served: int = 0

    def high(self, key: int) -> int:
        """The watermark reported (``hw`` overrides the end of the log, e.g. a stale one)."""
        return self.hw.get(key, len(self.logs[key]))

    def assign(self, tps: list[ck.TopicPartition]) -> None:
        (tp,) = tps
        self._key, self._served = tp.partition, 0
        self._next = 0 if tp.offset == ck.OFFSET_BEGINNING else tp.offset
        self.assigned.append((tp.partition, tp.offset))

    def poll(self, timeout: float) -> Msg | None:
        key = self._key
        if key in self.silent:
            self.clock.now += timeout
            return None
        if key in self.errors and self._served == self.errors[key][0]:
            return Msg(_error=ck.KafkaError(self.errors[key][1]))
        if self._next >= len(self.logs[key]):
            return Msg(_error=ck.KafkaError(E._PARTITION_EOF))
        msg = Msg(self._next, self.logs[key][self._next])
        self._next += 1
        self._served += 1
        return msg

    def get_watermark_offsets(
        self, tp: ck.TopicPartition, cached: bool = False
    ) -> tuple[int, int | None]:
        assert cached, "a read asks for the cached watermarks (no extra round trip)"
        return 0, None if tp.partition in self.silent else self.high(tp.partition)

    def unassign(self) -> None:
        self._key = -1

    def close(self) -> None:
        self.closed = True


@dataclass
class Rig:
    clock: Clock
    client: KafkaClient
    producers: list[FakeProducer]
    consumers: list[FakeConsumer]


def rig(
    script: list[int | ck.KafkaError | BaseException | None] | None = None,
    logs: dict[int, list[bytes | None]] | None = None,
    idempotence: bool = True,
    **consumer: Any,
) -> Rig:
    clock = Clock()
    producers: list[FakeProducer] = []
    consumers: list[FakeConsumer] = []

    def producer(conf: dict[str, Any]) -> Any:
        producers.append(FakeProducer(conf, clock, list(script or [])))
        return producers[-1]

    def make_consumer(conf: dict[str, Any]) -> Any:
        consumers.append(FakeConsumer(conf, clock, logs or {0: []}, **consumer))
        return consumers[-1]

    config = KafkaClientConfig(bootstrap="127.0.0.1:1", idempotence=idempotence, client_id="p3")
    client = KafkaClient(config, producer=producer, consumer=make_consumer, clock=clock)
    client.open()
    return Rig(clock, client, producers, consumers)


def send(r: Rig, value: int = 17, key: int = 0) -> tuple[OpType, JSON, str | None]:
    done = r.client.invoke("send", {"key": key, "value": value})
    return done.type, done.value, done.error


# -- send --------------------------------------------------------------------------------------


def test_an_acknowledged_send_is_ok_with_the_offset_the_leader_assigned() -> None:
    r = rig([5, 6])
    assert send(r, 17, key=1) == (OpType.OK, {"key": 1, "value": 17, "offset": 5}, None)
    assert send(r, 18, key=1)[1] == {"key": 1, "value": 18, "offset": 6}
    (p,) = r.producers  # one producer per client, reused
    assert p.produced == [("floodmark", b"17", 1), ("floodmark", b"18", 1)]
    assert p.conf["acks"] == "all" and p.conf["client.id"] == "p3"


def test_a_full_queue_is_a_definite_fail() -> None:
    r = rig([BufferError("queue full")])
    assert send(r) == (OpType.FAIL, {"key": 0, "value": 17}, "_QUEUE_FULL")


@pytest.mark.parametrize(
    ("code", "expected"),
    [(E._UNKNOWN_PARTITION, OpType.FAIL), (E._TRANSPORT, OpType.INFO)],
    ids=["refused-locally", "maybe-sent"],
)
def test_an_error_raised_by_produce_goes_through_the_table(code: int, expected: OpType) -> None:
    r = rig([ck.KafkaException(ck.KafkaError(code))], idempotence=True)
    assert send(r) == (expected, {"key": 0, "value": 17}, ck.KafkaError(code).name())


def _expected(certainty: Certainty, idempotence: bool) -> OpType:
    if certainty is Certainty.DEFINITE:
        return OpType.FAIL
    if certainty is Certainty.SINGLE_ATTEMPT and not idempotence:
        return OpType.FAIL
    return OpType.INFO


@pytest.mark.parametrize("idempotence", [True, False], ids=["idempotent", "one-attempt"])
@pytest.mark.parametrize("code", sorted(ERROR_TABLE), ids=lambda c: ck.KafkaError(c).name())
def test_every_failed_delivery_is_decided_by_the_error_table(code: int, idempotence: bool) -> None:
    r = rig([ck.KafkaError(code)], idempotence=idempotence)
    certainty, _why = ERROR_TABLE[code]
    kind, value, error = send(r)
    assert kind is _expected(certainty, idempotence)
    assert (value, error) == ({"key": 0, "value": 17}, ck.KafkaError(code).name())


def test_the_same_rejection_is_fail_only_when_it_was_the_one_attempt() -> None:
    for idempotence, expected in [(False, OpType.FAIL), (True, OpType.INFO)]:
        r = rig([ck.KafkaError(E.NOT_ENOUGH_REPLICAS)], idempotence=idempotence)
        assert send(r)[0] is expected
        assert ("retries" in r.producers[0].conf) is not idempotence


def test_an_error_missing_from_the_table_is_never_guessed_fail() -> None:
    code = E.POLICY_VIOLATION
    assert code not in ERROR_TABLE
    r = rig([ck.KafkaError(code)], idempotence=False)
    assert send(r) == (OpType.INFO, {"key": 0, "value": 17}, "POLICY_VIOLATION")


def test_no_delivery_report_by_the_deadline_is_info_client_timeout() -> None:
    r = rig([None])
    start = r.clock.now
    assert send(r) == (OpType.INFO, {"key": 0, "value": 17}, CLIENT_TIMEOUT)
    assert r.clock.now - start >= 10.0 + 5.0  # message.timeout.ms plus the margin


def test_close_drops_queued_records_without_blocking_and_closes_the_consumer() -> None:
    r = rig([1], logs={0: [b"1"]})
    send(r)
    r.client.invoke("poll", {"key": 0, "from": 0})
    r.client.close()
    assert r.producers[0].calls == ["purge in_queue=True in_flight=False blocking=False", "flush 0"]
    assert r.consumers[0].closed
    r.client.close()  # closing twice is harmless
    assert len(r.producers[0].calls) == 2


def test_an_unknown_operation_is_a_client_bug_that_says_what_it_does() -> None:
    r = rig()
    with pytest.raises(ValueError, match="send, poll and final-read"):
        r.client.invoke("cas", {"key": 0})


# -- poll ---------------------------------------------------------------------------------


def test_a_poll_reads_from_its_offset_to_the_hw() -> None:
    r = rig(logs={0: [b"10", b"11", b"12"], 1: [b"20"]})
    done = r.client.invoke("poll", {"key": 0, "from": 1})
    assert (done.type, done.value) == (
        OpType.OK,
        {"key": 0, "from": 1, "records": [[1, 11], [2, 12]], "hw": 3},
    )
    (c,) = r.consumers
    assert c.assigned == [(0, 1)]
    assert c.conf["auto.offset.reset"] == "error" and c.conf["enable.partition.eof"] is True


def test_a_poll_stops_at_max_records() -> None:
    r = rig(logs={0: [str(i).encode() for i in range(600)]})
    done = r.client.invoke("poll", {"key": 0, "from": 0})
    assert len(done.value["records"]) == KafkaClientConfig("x").max_records


def test_a_poll_error_before_any_record_is_fail_and_after_some_keeps_them() -> None:
    r = rig(logs={0: [b"1", b"2"], 1: [b"3"]}, errors={0: (0, E.UNKNOWN_TOPIC_OR_PART)})
    done = r.client.invoke("poll", {"key": 0, "from": 0})
    assert (done.type, done.error) == (OpType.FAIL, "UNKNOWN_TOPIC_OR_PART")
    r = rig(logs={0: [b"1", b"2"]}, errors={0: (1, E.NOT_LEADER_FOR_PARTITION)})
    done = r.client.invoke("poll", {"key": 0, "from": 0})
    assert (done.type, done.value["records"]) == (OpType.OK, [[0, 1]])


def test_a_poll_that_hears_nothing_is_fail_client_timeout() -> None:
    r = rig(logs={0: [b"1"]}, silent={0})
    done = r.client.invoke("poll", {"key": 0, "from": 0})
    assert (done.type, done.error) == (OpType.FAIL, CLIENT_TIMEOUT)


def test_a_caught_up_empty_poll_is_ok() -> None:
    r = rig(logs={0: []})
    done = r.client.invoke("poll", {"key": 0, "from": 0})
    assert (done.type, done.value["records"], done.value["hw"]) == (OpType.OK, [], 0)


# -- final read ---------------------------------------------------------------------------


def test_a_final_read_is_complete_when_it_read_everything_below_the_hw() -> None:
    r = rig(logs={0: [b"1", None, b"x"]})
    done = r.client.invoke("final-read", {"key": 0})
    assert done.type is OpType.OK
    assert done.value == {
        "key": 0,
        "records": [[0, 1], [1, None], [2, "x"]],
        "hw": 3,
        "complete": True,
    }
    assert r.consumers[0].assigned == [(0, ck.OFFSET_BEGINNING)]


def test_a_final_read_reads_on_in_chunks_from_where_the_last_one_ended() -> None:
    n = 10_003
    r = rig(logs={0: [b"7"] * n})
    done = r.client.invoke("final-read", {"key": 0})
    assert r.consumers[0].assigned == [(0, ck.OFFSET_BEGINNING), (0, 10_000)]
    assert [rec[0] for rec in done.value["records"]] == list(range(n))
    assert done.value["complete"] is True


def test_a_final_read_that_stops_early_is_ok_but_not_complete() -> None:
    r = rig(logs={0: [b"1", b"2", b"3"]}, errors={0: (2, E.NOT_LEADER_FOR_PARTITION)})
    done = r.client.invoke("final-read", {"key": 0})
    assert (done.type, done.value["records"], done.value["complete"]) == (
        OpType.OK,
        [[0, 1], [1, 2]],
        False,
    )


def test_records_at_or_beyond_the_reported_hw_make_a_final_read_incomplete() -> None:
    r = rig(logs={0: [b"1", b"2"]}, hw={0: 1})  # a watermark older than the last fetch
    done = r.client.invoke("final-read", {"key": 0})
    assert (done.value["records"], done.value["hw"]) == ([[0, 1], [1, 2]], 1)
    assert done.value["complete"] is False


def test_a_final_read_without_any_record_fails_with_the_reason() -> None:
    r = rig(logs={0: [b"1"]}, errors={0: (0, E._TRANSPORT)})
    done = r.client.invoke("final-read", {"key": 0})
    assert (done.type, done.error) == (OpType.FAIL, "_TRANSPORT")
    r = rig(logs={0: [b"1"]}, silent={0})
    done = r.client.invoke("final-read", {"key": 0})
    assert (done.type, done.error) == (OpType.FAIL, CLIENT_TIMEOUT)
    assert r.clock.now - 100.0 >= KafkaClientConfig("x").final_read_timeout_s


# -- configuration ------------------------------------------------------------------------


def test_values_decode_to_integers_when_they_are_decimal_text() -> None:
    assert [decode_value(b"42"), decode_value(b"-3"), decode_value(b"hi"), decode_value(None)] == [
        42,
        -3,
        "hi",
        None,
    ]


def test_a_client_rack_makes_the_consumer_fetch_from_that_replica() -> None:
    assert KafkaClientConfig("b:1", client_rack="n2").consumer_conf()["client.rack"] == "n2"
    assert "client.rack" not in KafkaClientConfig("b:1").consumer_conf()
    one = KafkaClientConfig("b:1", idempotence=False).producer_conf()
    assert (one["retries"], one["max.in.flight.requests.per.connection"]) == (0, 1)
