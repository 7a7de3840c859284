"""The Kafka error table: what each error proves about a send, and read errors."""

from __future__ import annotations

import confluent_kafka as ck

from harness.contract.history import OpType
from harness.systems.kafka_client import ERROR_TABLE, Certainty, KafkaClientConfig, send_outcome

E = ck.KafkaError


def test_rejections_before_append_are_fail_only_for_a_single_attempt() -> None:
    for code in (E.NOT_ENOUGH_REPLICAS, E.NOT_LEADER_FOR_PARTITION, E.FENCED_LEADER_EPOCH):
        assert send_outcome(E(code), single_attempt=True) is OpType.FAIL
        assert send_outcome(E(code), single_attempt=False) is OpType.INFO


def test_possible_appends_are_always_info() -> None:
    for code in (E._MSG_TIMED_OUT, E.NOT_ENOUGH_REPLICAS_AFTER_APPEND, E.REQUEST_TIMED_OUT,
                 E._TRANSPORT, E.NETWORK_EXCEPTION):  # fmt: skip
        assert send_outcome(E(code), single_attempt=True) is OpType.INFO


def test_client_side_refusals_are_always_fail() -> None:
    for code in (E._QUEUE_FULL, E._UNKNOWN_PARTITION, E._PURGE_QUEUE):
        assert send_outcome(E(code), single_attempt=False) is OpType.FAIL


def test_unlisted_errors_are_never_guessed_fail() -> None:
    code = E.POLICY_VIOLATION
    assert code not in ERROR_TABLE
    assert send_outcome(E(code), single_attempt=True) is OpType.INFO


def test_every_entry_explains_itself() -> None:
    for certainty, why in ERROR_TABLE.values():
        assert isinstance(certainty, Certainty) and why


def test_producer_config_matches_the_table_assumptions() -> None:
    single = KafkaClientConfig("127.0.0.1:1", idempotence=False).producer_conf()
    assert single["acks"] == "all" and single["retries"] == 0
    idem = KafkaClientConfig("127.0.0.1:1", idempotence=True).producer_conf()
    assert idem["enable.idempotence"] is True and "retries" not in idem
    cons = KafkaClientConfig("127.0.0.1:1", client_rack="n2").consumer_conf()
    assert cons["auto.offset.reset"] == "error" and cons["client.rack"] == "n2"
    assert cons["isolation.level"] == "read_uncommitted"
