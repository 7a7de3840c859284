"""harness.systems.kafka_zookeeper: the few ZooKeeper requests the monitor sends, against a
fake socket holding ZooKeeper's answers, and the leaders and epochs read from the partition
state znodes (which is where a ZooKeeper-mode cluster's replica states get their epochs)."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest

from harness.contract.plan import ClusterSpec
from harness.systems.kafka import TOPIC, KafkaSystem
from harness.systems.kafka_zookeeper import (
    CLOSE_SESSION,
    GET_DATA,
    NO_NODE,
    ZkPartitionStates,
    ZooKeeperError,
    get_data,
    state_path,
)
from tests.kafka.admin_fakes import FakeAdmin, healthy_meta
from tests.kafka.test_unit_kafka_states import Container, KafkaCluster, summary


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def connect_response() -> bytes:
    return frame(struct.pack(">iiq", 0, 6000, 0x1234) + struct.pack(">i", 16) + bytes(16))


def data_reply(xid: int, data: bytes | None, err: int = 0) -> bytes:
    body = struct.pack(">iqi", xid, 7, err)
    if err == 0:
        body += struct.pack(">i", -1) if data is None else struct.pack(">i", len(data)) + data
        body += bytes(68)  # the Stat, which the client skips
    return frame(body)


class FakeSocket:
    """Hands out ``answer`` a few bytes at a time (as TCP may) and keeps what was sent."""

    def __init__(self, answer: bytes, chunk: int = 5) -> None:
        self.answer = answer
        self.chunk = chunk
        self.sent = b""
        self.timeout: float | None = None

    def __enter__(self) -> FakeSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def settimeout(self, t: float) -> None:
        self.timeout = t

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def recv(self, n: int) -> bytes:
        out, self.answer = self.answer[: min(n, self.chunk)], self.answer[min(n, self.chunk) :]
        return out


def requests(sent: bytes) -> list[bytes]:
    out = []
    while sent:
        (n,) = struct.unpack_from(">i", sent)
        out.append(sent[4 : 4 + n])
        sent = sent[4 + n :]
    return out


def test_get_data_opens_a_session_reads_pipelined_znodes_and_closes_it() -> None:
    state = b'{"controller_epoch":1,"leader":2,"version":1,"leader_epoch":3,"isr":[2,3,1]}'
    sock = FakeSocket(connect_response() + data_reply(1, state) + data_reply(2, None, NO_NODE))
    opened: list[tuple[tuple[str, int], float]] = []

    def connect(address: tuple[str, int], timeout: float) -> Any:
        opened.append((address, timeout))
        return sock

    paths = [state_path(TOPIC, 0), state_path(TOPIC, 1)]
    got = get_data(("127.0.0.1", 2181), paths, timeout_s=1.5, connect=connect)
    assert got == {paths[0]: state, paths[1]: None}
    assert opened == [(("127.0.0.1", 2181), 1.5)] and sock.timeout == 1.5
    hello, first, second, bye = requests(sock.sent)
    assert struct.unpack_from(">iqiq", hello) == (0, 0, 10_000, 0)  # a new session
    for xid, (req, path) in enumerate(zip((first, second), paths, strict=True), start=1):
        assert struct.unpack_from(">ii", req) == (xid, GET_DATA)
        (n,) = struct.unpack_from(">i", req, 8)
        assert req[12 : 12 + n].decode() == path and req[12 + n :] == b"\0"  # no watch
    assert struct.unpack(">ii", bye) == (3, CLOSE_SESSION)
    assert paths[0] == "/brokers/topics/floodmark/partitions/0/state"


def test_a_reply_out_of_order_or_a_closed_connection_is_an_error() -> None:
    def answering(answer: bytes) -> Any:
        return lambda address, timeout: FakeSocket(answer)

    with pytest.raises(ZooKeeperError, match="expected the reply to request 1, got xid 9"):
        get_data(("h", 1), ["/a"], connect=answering(connect_response() + data_reply(9, b"x")))
    with pytest.raises(ZooKeeperError, match="closed the connection"):
        get_data(("h", 1), ["/a"], connect=answering(connect_response()[:6]))


def znode(leader: int, epoch: int, isr: list[int]) -> bytes:
    return json.dumps({"controller_epoch": 1, "leader": leader, "version": 1,
                       "leader_epoch": epoch, "isr": isr}).encode()  # fmt: skip


def test_leaders_come_from_the_state_znodes_and_none_when_zookeeper_is_away() -> None:
    asked: list[tuple[tuple[str, int], list[str]]] = []
    answer = {state_path(TOPIC, 0): znode(2, 5, [2, 3]), state_path(TOPIC, 1): znode(-1, 6, []),
              state_path(TOPIC, 2): None}  # fmt: skip

    def fetch(address: tuple[str, int], paths: list[str]) -> dict[str, bytes | None]:
        asked.append((address, paths))
        return answer

    states = ZkPartitionStates("127.0.0.1:40123", TOPIC, 3, fetch=fetch)
    assert states.leaders() == {0: ("n2", 5)}  # no leader, no znode: not in the answer
    assert asked == [(("127.0.0.1", 40123), [state_path(TOPIC, p) for p in range(3)])]

    def away(address: tuple[str, int], paths: list[str]) -> dict[str, bytes | None]:
        raise TimeoutError("timed out")

    assert ZkPartitionStates("127.0.0.1:1", TOPIC, 3, fetch=away).leaders() == {}


class ZkCluster(KafkaCluster):
    def endpoint(self, proxy: str) -> str:
        return "127.0.0.1:2181" if proxy == "admin-zk" else f"127.0.0.1:{proxy}"


def test_in_zookeeper_mode_the_replica_states_take_leaders_and_epochs_from_zookeeper() -> None:
    admin = FakeAdmin([healthy_meta(), healthy_meta()], {0: (4, -1), 1: (2, -1)})
    znodes: dict[str, bytes | None] = {
        state_path(TOPIC, 0): znode(1, 3, [1, 2, 3]),
        state_path(TOPIC, 1): znode(2, 0, [2]),
    }
    read: list[tuple[str, int]] = []

    def fetch(address: tuple[str, int], paths: list[str]) -> dict[str, bytes | None]:
        read.append(address)
        return znodes

    def no_consumer(conf: dict[str, Any]) -> Any:
        raise AssertionError("ZooKeeper mode needs no leader-epoch watcher")

    system = KafkaSystem(connect=lambda b: admin, consumer=no_consumer, znodes=fetch)
    plan = system.render(ClusterSpec("r1", 3, 2, 3, "safe", {"kafka.version": "0.10.2.2"}))
    part = {"0": summary(4, 4, []), "1": summary(2, 2, [])}  # 0.10 keeps no epoch file
    cluster = ZkCluster(plan, system, {b: Container({"partitions": part}) for b in plan.brokers})
    states = system.replica_states(cluster)  # type: ignore[arg-type]
    leaders = {(s["key"], s["node"], s["epoch"]) for s in states if s["role"] == "leader"}
    assert leaders == {(0, "n1", 3), (1, "n2", 0)}
    followers = [s for s in states if s["role"] == "follower"]
    assert followers and all(s["epoch"] == -1 for s in followers)
    assert read == [("127.0.0.1", 2181)]
