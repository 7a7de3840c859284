"""Leaders and leader epochs of a ZooKeeper-mode Kafka cluster, read from ZooKeeper.

In ZooKeeper mode the Kafka controller (one of the brokers) writes each partition's
leader, leader epoch and ISR to the znode ``/brokers/topics/<topic>/partitions/<p>/state``
and sends the brokers copies of it. The metadata the brokers serve to clients carries
the leader epoch only from Kafka 2.1 on (Metadata v7), so for the releases before it the
monitor reads the znode itself, through the ``admin-zk`` proxy (published, never faulted)::

    /brokers/topics/floodmark/partitions/0/state
      {"controller_epoch":1,"leader":2,"version":1,"leader_epoch":3,"isr":[2,3,1]}
    -> ZkPartitionStates.leaders() == {0: ("n2", 3)}

It is the controller's view, like the KRaft metadata `kafka_admin.LeaderEpochWatcher`
reads, and `ZkPartitionStates` answers the same ``leaders()``. The client speaks the few
requests of ZooKeeper's wire protocol it needs (length-prefixed jute records over one TCP
connection: a session, pipelined ``getData``, ``closeSession``), with the stdlib only; a
ZooKeeper that does not answer in time gives no leaders (the sample then has none).
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Callable
from typing import Final

NO_NODE: Final = -101
"""ZooKeeper's error code for a znode that does not exist (``KeeperException.NoNode``)."""
GET_DATA: Final = 4
CLOSE_SESSION: Final = -11
SESSION_TIMEOUT_MS: Final = 10_000

_INT = struct.Struct(">i")
_REPLY = struct.Struct(">iqi")  # xid, zxid, err


class ZooKeeperError(OSError):
    """ZooKeeper answered something this client did not expect."""


def state_path(topic: str, partition: int) -> str:
    return f"/brokers/topics/{topic}/partitions/{partition}/state"


def _frame(payload: bytes) -> bytes:
    return _INT.pack(len(payload)) + payload


def _string(text: str) -> bytes:
    raw = text.encode()
    return _INT.pack(len(raw)) + raw


def connect_request(timeout_ms: int = SESSION_TIMEOUT_MS) -> bytes:
    """A new session: protocol 0, no zxid seen, no session id, an empty password, not
    read-only (``ConnectRequest``)."""
    return _frame(struct.pack(">iqiq", 0, 0, timeout_ms, 0) + _INT.pack(16) + bytes(16) + b"\0")


def get_data_request(xid: int, path: str) -> bytes:
    """``getData(path, watch=false)``: request header (xid, type) and the request."""
    return _frame(struct.pack(">ii", xid, GET_DATA) + _string(path) + b"\0")


def close_request(xid: int) -> bytes:
    return _frame(struct.pack(">ii", xid, CLOSE_SESSION))


class _Reader:
    """Length-prefixed frames from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = b""

    def _take(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self._sock.recv(65536)
            if not chunk:
                got = len(self._buf)
                raise ZooKeeperError(f"ZooKeeper closed the connection ({got} of {n} bytes)")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def frame(self) -> bytes:
        (n,) = _INT.unpack(self._take(4))
        return self._take(n)


def get_data(
    address: tuple[str, int],
    paths: list[str],
    timeout_s: float = 2.0,
    connect: Callable[[tuple[str, int], float], socket.socket] = socket.create_connection,
) -> dict[str, bytes | None]:
    """The data of each znode in ``paths`` (None for one that does not exist), in one
    session opened and closed for the purpose. ``connect`` opens the TCP connection
    (``socket.create_connection``; a fake in unit tests)."""
    with connect(address, timeout_s) as sock:
        sock.settimeout(timeout_s)
        reader = _Reader(sock)
        sock.sendall(connect_request())
        reader.frame()  # ConnectResponse: protocol, timeout, session id, password
        sock.sendall(b"".join(get_data_request(xid, p) for xid, p in enumerate(paths, 1)))
        out: dict[str, bytes | None] = {}
        for xid, path in enumerate(paths, 1):
            frame = reader.frame()
            got, _zxid, err = _REPLY.unpack_from(frame)
            if got != xid:
                raise ZooKeeperError(f"expected the reply to request {xid}, got xid {got}")
            if err == NO_NODE:
                out[path] = None
                continue
            if err != 0:
                raise ZooKeeperError(f"getData {path}: ZooKeeper error {err}")
            (n,) = _INT.unpack_from(frame, _REPLY.size)
            start = _REPLY.size + _INT.size
            out[path] = None if n < 0 else frame[start : start + n]
        sock.sendall(close_request(len(paths) + 1))
        return out


class ZkPartitionStates:
    """Each partition's leader and leader epoch from its state znode (see the module
    docstring); the same ``leaders()``/``close()`` as `kafka_admin.LeaderEpochWatcher`."""

    def __init__(
        self,
        endpoint: str,
        topic: str,
        partitions: int,
        fetch: Callable[[tuple[str, int], list[str]], dict[str, bytes | None]] = get_data,
    ) -> None:
        """``endpoint`` is ``host:port`` of the ZooKeeper node (its admin proxy); ``fetch``
        reads znodes (`get_data`; a fake in unit tests)."""
        host, _, port = endpoint.rpartition(":")
        self._address = (host, int(port))
        self._paths = {p: state_path(topic, p) for p in range(partitions)}
        self._fetch = fetch

    def leaders(self) -> dict[int, tuple[str, int]]:
        """partition -> (leader node, leader epoch); empty when ZooKeeper does not answer,
        and without the partitions that have no leader (``"leader": -1``) or no znode."""
        try:
            data = self._fetch(self._address, list(self._paths.values()))
        except OSError:
            return {}
        out: dict[int, tuple[str, int]] = {}
        for p, path in self._paths.items():
            raw = data.get(path)
            if raw is None:
                continue
            state = json.loads(raw)
            if int(state.get("leader", -1)) >= 0:
                out[p] = (f"n{int(state['leader'])}", int(state.get("leader_epoch", -1)))
        return out

    def close(self) -> None:
        """Nothing held open: each ``leaders()`` has its own session."""
