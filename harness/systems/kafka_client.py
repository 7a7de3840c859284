"""A floodmark `Client` for Apache Kafka, on confluent-kafka (librdkafka).

Operations (DESIGN.md §3); integer keys are the partitions of one topic:

- ``send {key, value}``: produce ``str(value)`` to partition ``key`` with ``acks=all``
  and wait for the delivery report. ``ok`` carries the offset the leader assigned.
- ``poll {key, from}``: read partition ``key`` from offset ``from`` until caught up with
  the HW (librdkafka's partition-EOF event) or ``max_records`` or the poll timeout.
  ``ok`` carries the records and ``hw``, the high watermark from the last fetch response
  (the HW of the broker that served the fetch: the leader, or with ``client_rack`` set, a
  follower in that rack).
- ``final-read {key}``: read partition ``key`` from its start up to the HW. ``complete`` is
  true when every offset below the HW was read.

Consumers never join a group: they ``assign`` one partition at the offset asked for, with
``auto.offset.reset=error`` so a missing offset is reported instead of silently skipped,
and ``isolation.level=read_uncommitted`` so the readable end is the HW (no transactions
are used, so the LSO would equal it anyway).

Indeterminacy is decided in ONE table, `ERROR_TABLE` (STYLE.md habit 3). Reads have no
side effects, so every read error is ``fail``. For sends, what an error proves depends
on whether the producer could have retried: with ``idempotence`` off the producer makes
exactly one attempt (``retries=0``), so a broker's rejection (``NOT_ENOUGH_REPLICAS``,
``NOT_LEADER_FOR_PARTITION``, ...) proves the write did not happen; with idempotence on,
librdkafka retries internally until ``message.timeout.ms`` and an earlier attempt may
have been appended, so the same error only says ``info``. Example::

    invoke send {"key": 0, "value": 17}
    ok     send {"key": 0, "value": 17, "offset": 5}
    invoke send {"key": 0, "value": 18}
    fail   send {"key": 0, "value": 18}   error NOT_ENOUGH_REPLICAS   (retries=0)
    invoke send {"key": 0, "value": 19}
    info   send {"key": 0, "value": 19}   error _MSG_TIMED_OUT

Topic setup and partition metadata (the Admin API) are in `harness.systems.kafka_admin`.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import confluent_kafka as ck

from harness.contract.history import JSON, OpType
from harness.contract.roles import Completion


class Certainty(enum.Enum):
    """What a Kafka error proves about a *send*."""

    DEFINITE = "definite"
    """The record was never appended anywhere: the request never left the client or no
    broker accepted it, however many attempts were made."""
    SINGLE_ATTEMPT = "single-attempt"
    """This attempt was rejected before the append; definite only when it was the only
    attempt (``retries=0``, i.e. idempotence off)."""
    UNKNOWN = "unknown"
    """The record may have been appended (timeouts, lost connections, errors after the
    append such as ``NOT_ENOUGH_REPLICAS_AFTER_APPEND``)."""


E = ck.KafkaError

ERROR_TABLE: Final[dict[int, tuple[Certainty, str]]] = {
    # Client-side refusals: nothing was sent.
    E._QUEUE_FULL: (Certainty.DEFINITE, "producer queue full; not sent"),
    E._UNKNOWN_PARTITION: (Certainty.DEFINITE, "no such partition in metadata; not sent"),
    E._UNKNOWN_TOPIC: (Certainty.DEFINITE, "no such topic in metadata; not sent"),
    E._INVALID_ARG: (Certainty.DEFINITE, "client refused the arguments; not sent"),
    E.MSG_SIZE_TOO_LARGE: (Certainty.DEFINITE, "broker refuses any attempt of this size"),
    E.INVALID_REQUIRED_ACKS: (Certainty.DEFINITE, "broker refuses these acks on any attempt"),
    E.TOPIC_AUTHORIZATION_FAILED: (Certainty.DEFINITE, "not authorised on any attempt"),
    # Broker rejections before the append (KafkaApis/ReplicaManager checks).
    E.NOT_ENOUGH_REPLICAS: (Certainty.SINGLE_ATTEMPT, "ISR < min.insync.replicas before append"),
    E.NOT_LEADER_FOR_PARTITION: (Certainty.SINGLE_ATTEMPT, "broker is not the leader"),
    E.LEADER_NOT_AVAILABLE: (Certainty.SINGLE_ATTEMPT, "no leader at the moment"),
    E.UNKNOWN_TOPIC_OR_PART: (Certainty.SINGLE_ATTEMPT, "broker does not host the partition"),
    E.FENCED_LEADER_EPOCH: (Certainty.SINGLE_ATTEMPT, "request carried a stale leader epoch"),
    E.UNKNOWN_LEADER_EPOCH: (Certainty.SINGLE_ATTEMPT, "request carried a future leader epoch"),
    E.KAFKA_STORAGE_ERROR: (Certainty.SINGLE_ATTEMPT, "log dir offline; append refused"),
    E.BROKER_NOT_AVAILABLE: (Certainty.SINGLE_ATTEMPT, "broker not available"),
    E.OUT_OF_ORDER_SEQUENCE_NUMBER: (Certainty.SINGLE_ATTEMPT, "idempotence sequence refused"),
    E.DUPLICATE_SEQUENCE_NUMBER: (Certainty.UNKNOWN, "an earlier attempt was appended"),
    # The append may have happened.
    E.NOT_ENOUGH_REPLICAS_AFTER_APPEND: (Certainty.UNKNOWN, "appended, ISR shrank meanwhile"),
    E.REQUEST_TIMED_OUT: (Certainty.UNKNOWN, "broker timed out waiting for the ISR"),
    E.NETWORK_EXCEPTION: (Certainty.UNKNOWN, "connection lost with the request in flight"),
    E._MSG_TIMED_OUT: (Certainty.UNKNOWN, "message.timeout.ms expired; maybe appended"),
    E._TIMED_OUT: (Certainty.UNKNOWN, "request timed out; maybe appended"),
    E._TRANSPORT: (Certainty.UNKNOWN, "connection failed with the request in flight"),
    E._PURGE_INFLIGHT: (Certainty.UNKNOWN, "purged while in flight; maybe appended"),
    E._PURGE_QUEUE: (Certainty.DEFINITE, "purged before it was sent"),
    E._ALL_BROKERS_DOWN: (Certainty.UNKNOWN, "all brokers down; an attempt may be in flight"),
    E._FATAL: (Certainty.UNKNOWN, "idempotent producer fatal error"),
}
"""Kafka error code -> what it proves about a send, with the reason. Codes not listed are
`Certainty.UNKNOWN` (never guess ``fail``)."""

LIBRDKAFKA_LOG: Final = logging.getLogger("floodmark.librdkafka")
"""librdkafka's own log lines (connection failures are expected under faults)."""

CLIENT_TIMEOUT: Final = "client-timeout"
"""Error name when the client's own deadline passed before librdkafka reported anything."""


def send_outcome(err: ck.KafkaError, single_attempt: bool) -> OpType:
    """``fail`` or ``info`` for a failed delivery, from `ERROR_TABLE`."""
    certainty, _ = ERROR_TABLE.get(err.code(), (Certainty.UNKNOWN, ""))
    if certainty is Certainty.DEFINITE:
        return OpType.FAIL
    if certainty is Certainty.SINGLE_ATTEMPT and single_attempt:
        return OpType.FAIL
    return OpType.INFO


@dataclass(frozen=True, slots=True)
class KafkaClientConfig:
    """How a `KafkaClient` talks to the cluster.

    ``bootstrap``: ``host:port,...`` of the EXTERNAL listeners (through Toxiproxy).
    ``client_rack``: set to a node name to fetch from that node's replica
    (``replica.selector.class`` is rack aware on floodmark's brokers of 2.4 or newer;
    ``broker.rack`` is the node name).
    """

    bootstrap: str
    topic: str = "floodmark"
    idempotence: bool = True
    message_timeout_ms: int = 10_000
    request_timeout_ms: int = 5_000
    poll_timeout_s: float = 2.0
    max_records: int = 500
    final_read_timeout_s: float = 30.0
    client_rack: str | None = None
    client_id: str = "floodmark"

    def producer_conf(self) -> dict[str, Any]:
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "client.id": self.client_id,
            "logger": LIBRDKAFKA_LOG,
            "acks": "all",
            "enable.idempotence": self.idempotence,
            "linger.ms": 0,
            "compression.type": "none",
            "message.timeout.ms": self.message_timeout_ms,
            "request.timeout.ms": self.request_timeout_ms,
            "socket.connection.setup.timeout.ms": self.request_timeout_ms,
            "reconnect.backoff.max.ms": 1000,
            "topic.metadata.refresh.interval.ms": 5000,
        }
        if not self.idempotence:
            conf["retries"] = 0  # one attempt per send: broker rejections are definite
            conf["max.in.flight.requests.per.connection"] = 1
        return conf

    def consumer_conf(self) -> dict[str, Any]:
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "client.id": self.client_id,
            "logger": LIBRDKAFKA_LOG,
            "group.id": f"floodmark-unused-{self.client_id}",  # required; never joined
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "error",
            "enable.partition.eof": True,
            "isolation.level": "read_uncommitted",
            "socket.timeout.ms": max(self.request_timeout_ms, 1000),
            "socket.connection.setup.timeout.ms": self.request_timeout_ms,
            "reconnect.backoff.max.ms": 1000,
            "topic.metadata.refresh.interval.ms": 5000,
            "fetch.wait.max.ms": 100,
        }
        if self.client_rack is not None:
            conf["client.rack"] = self.client_rack
        return conf


def decode_value(raw: bytes | None) -> JSON:
    """Record value as written by `KafkaClient` (decimal text) -> int; else the text."""
    if raw is None:
        return None
    text = raw.decode("utf-8", "replace")
    try:
        return int(text)
    except ValueError:
        return text


@dataclass(frozen=True, slots=True)
class ReadResult:
    """What one read of a partition saw: records in order, the HW from the last fetch
    response (-1 if none came), and whether it caught up with that HW."""

    records: list[list[JSON]]
    hw: int
    caught_up: bool
    error: str | None


def read_partition(
    consumer: ck.Consumer,
    topic: str,
    key: int,
    start: int,
    deadline: float,
    max_records: int,
    clock: Callable[[], float] = time.monotonic,
) -> ReadResult:
    """Assign ``topic``/``key`` at ``start`` (an offset, or ``ck.OFFSET_BEGINNING``) and
    consume until the partition-EOF event, ``max_records`` or ``deadline`` (on ``clock``)."""
    tp = ck.TopicPartition(topic, key, start)
    consumer.assign([tp])
    records: list[list[JSON]] = []
    caught_up = False
    error: str | None = None
    while len(records) < max_records and not caught_up and error is None:
        left = deadline - clock()
        if left <= 0:
            break
        # poll() returns as soon as one message or event is ready (consume() would wait
        # for a whole batch or its full timeout).
        msg = consumer.poll(min(left, 0.2))
        if msg is None:
            continue
        err = msg.error()
        if err is None:
            records.append([msg.offset(), decode_value(msg.value())])
        elif err.code() == E._PARTITION_EOF:
            caught_up = True
        else:
            error = err.name()
    _, high = consumer.get_watermark_offsets(ck.TopicPartition(topic, key), cached=True)
    consumer.unassign()
    return ReadResult(records, high if high is not None else -1, caught_up, error)


class KafkaClient:
    """One logical client process: a producer and a consumer, opened lazily per role.

    ``invoke`` never raises for a Kafka error; it maps it through `ERROR_TABLE`.
    ``producer`` and ``consumer`` make the librdkafka handles from their configs, and
    ``clock`` (monotonic seconds) times the waits: confluent-kafka's and real time by
    default, fakes in unit tests.
    """

    def __init__(
        self,
        config: KafkaClientConfig,
        producer: Callable[[dict[str, Any]], ck.Producer] = ck.Producer,
        consumer: Callable[[dict[str, Any]], ck.Consumer] = ck.Consumer,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._make_producer = producer
        self._make_consumer = consumer
        self._clock = clock
        self._producer: ck.Producer | None = None
        self._consumer: ck.Consumer | None = None

    def open(self) -> None:
        """Nothing to connect eagerly: librdkafka connects on first use, so a client can be
        opened while a broker is partitioned away."""

    def close(self) -> None:
        if self._producer is not None:
            # Drop queued records (their sends are already `info` or done); never block.
            self._producer.purge(in_queue=True, in_flight=False, blocking=False)
            self._producer.flush(0)
            self._producer = None
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def invoke(self, f: str, value: JSON) -> Completion:
        if f == "send":
            return self._send(value)
        if f == "poll":
            return self._poll(value)
        if f == "final-read":
            return self._final_read(value)
        raise ValueError(
            f"KafkaClient got op {f!r} with value {value!r}; it performs only send, poll and "
            "final-read (DESIGN.md §3). Check the workload's generator."
        )

    # -- send ---------------------------------------------------------------------------

    def _send(self, value: JSON) -> Completion:
        if self._producer is None:
            self._producer = self._make_producer(self.config.producer_conf())
        producer = self._producer
        key, v = int(value["key"]), value["value"]
        reports: list[tuple[ck.KafkaError | None, int]] = []

        def on_delivery(err: ck.KafkaError | None, msg: ck.Message) -> None:
            offset = msg.offset()
            reports.append((err, offset if err is None and offset is not None else -1))

        try:
            producer.produce(
                self.config.topic, value=str(v).encode(), partition=key, on_delivery=on_delivery
            )
        except BufferError:
            return Completion(OpType.FAIL, value, error="_QUEUE_FULL")
        except ck.KafkaException as e:
            err = e.args[0]
            return Completion(send_outcome(err, single_attempt=True), value, error=err.name())
        # librdkafka reports every message within message.timeout.ms; the margin covers
        # the report's own way back.
        deadline = self._clock() + self.config.message_timeout_ms / 1000 + 5.0
        while not reports and self._clock() < deadline:
            producer.poll(0.1)
        if not reports:
            return Completion(OpType.INFO, value, error=CLIENT_TIMEOUT)
        err, offset = reports[0]
        if err is None:
            return Completion(OpType.OK, {**value, "offset": offset})
        outcome = send_outcome(err, single_attempt=not self.config.idempotence)
        return Completion(outcome, value, error=err.name())

    # -- reads --------------------------------------------------------------------------

    def _consumer_for_reads(self) -> ck.Consumer:
        if self._consumer is None:
            self._consumer = self._make_consumer(self.config.consumer_conf())
        return self._consumer

    def _poll(self, value: JSON) -> Completion:
        key, start = int(value["key"]), int(value["from"])
        deadline = self._clock() + self.config.poll_timeout_s
        res = read_partition(
            self._consumer_for_reads(),
            self.config.topic,
            key,
            start,
            deadline,
            self.config.max_records,
            self._clock,
        )
        if res.error is not None and not res.records:
            return Completion(OpType.FAIL, value, error=res.error)
        if not res.records and not res.caught_up:
            # Learned nothing (no fetch answered in time); a read timeout is a fail.
            return Completion(OpType.FAIL, value, error=CLIENT_TIMEOUT)
        return Completion(OpType.OK, {**value, "records": res.records, "hw": res.hw})

    def _final_read(self, value: JSON) -> Completion:
        key = int(value["key"])
        deadline = self._clock() + self.config.final_read_timeout_s
        consumer = self._consumer_for_reads()
        records: list[list[JSON]] = []
        res = ReadResult([], -1, False, None)
        start: int = ck.OFFSET_BEGINNING
        # Read in chunks until caught up with the HW (or the deadline).
        while self._clock() < deadline:
            res = read_partition(
                consumer, self.config.topic, key, start, deadline, 10_000, self._clock
            )
            records.extend(res.records)
            if res.records:
                start = int(res.records[-1][0]) + 1
            if res.error is not None or res.caught_up:
                break
        if res.error is not None and not records:
            return Completion(OpType.FAIL, value, error=res.error)
        if not res.caught_up and not records:
            return Completion(OpType.FAIL, value, error=CLIENT_TIMEOUT)
        hw = res.hw
        complete = res.caught_up and res.error is None and (not records or records[-1][0] < hw)
        return Completion(OpType.OK, {**value, "records": records, "hw": hw, "complete": complete})
