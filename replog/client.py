"""A synchronous, blocking-socket client for one replog broker.

One object holds one TCP connection and is used by one thread. Every call is bounded by
the client's ``timeout`` (a socket timeout raises `TimeoutError`); connection problems
raise `ConnectionError`/`OSError`; a broker error reply raises `ReplogError` whose
``code`` is one of `replog.wire.ErrorCode`. After any failure the connection is closed
and the next call opens a fresh one, so a caller never sees a reply meant for an earlier
request.

    >>> c = ReplogClient("127.0.0.1:9092")
    >>> off = c.produce(0, 17)                   # acks=all: returns once the HW passed it
    >>> records, hw = c.fetch(0, 0)              # [(offset, value), ...] below the HW
"""

from __future__ import annotations

import itertools
import socket
import time
from typing import Any

from replog.wire import ErrorCode, FrameError, Message, encode, read_frame_blocking, split_address

__all__ = ["ErrorCode", "ReplogClient", "ReplogError"]


class ReplogError(Exception):
    """An error reply from a broker: ``code`` (an `ErrorCode` value) and ``message``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ReplogClient:
    """Blocking client of one broker at ``"host:port"``; see the module docstring."""

    def __init__(self, address: str, timeout: float = 5.0) -> None:
        self.address = address
        self.timeout = timeout
        self._host, self._port = split_address(address)
        self._sock: socket.socket | None = None
        self._ids = itertools.count(1)

    # -- connection ---------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (the next call reopens it)."""
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def __enter__(self) -> ReplogClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self, deadline: float) -> socket.socket:
        if self._sock is None:
            remaining = max(deadline - time.monotonic(), 0.001)
            sock = socket.create_connection((self._host, self._port), timeout=remaining)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
        return self._sock

    def _recv_exactly(self, sock: socket.socket, n: int, deadline: float) -> bytes:
        chunks: list[bytes] = []
        got = 0
        while got < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no complete reply from {self.address} in {self.timeout}s")
            sock.settimeout(remaining)
            chunk = sock.recv(min(n - got, 1 << 20))
            if not chunk:
                raise ConnectionError(f"{self.address} closed the connection mid-reply")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def call(self, msg: Message, expect_reply: bool = True) -> Message:
        """Send one request and return its reply (raises `ReplogError` on an error reply)."""
        deadline = time.monotonic() + self.timeout
        req_id = next(self._ids)
        frame = encode({**msg, "id": req_id})
        try:
            sock = self._connect(deadline)
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sock.sendall(frame)
            if not expect_reply:
                return {"id": req_id}
            reply = read_frame_blocking(lambda n: self._recv_exactly(sock, n, deadline))
        except FrameError as e:
            self.close()
            raise ConnectionError(f"garbled reply from {self.address}: {e}") from e
        except (OSError, TimeoutError):
            self.close()
            raise
        if reply.get("id") != req_id:
            self.close()
            raise ConnectionError(
                f"reply id {reply.get('id')!r} from {self.address} does not match request "
                f"id {req_id}; connection reset"
            )
        if reply.get("error"):
            raise ReplogError(str(reply["error"]), str(reply.get("message", "")))
        return reply

    # -- client API -----------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """``{"controller_epoch", "brokers": [alive ids], "partitions": {"<key>": {"leader",
        "leader_epoch", "isr", "replicas"}}}`` as this broker last heard from the controller."""
        r = self.call({"type": "metadata"})
        return {k: r[k] for k in ("controller_epoch", "brokers", "partitions")}

    def produce(self, key: int, value: int, acks: int | str = "all", timeout_ms: int = 5000) -> int:
        """Append `value` to partition `key`; the record's offset (-1 for acks=0).

        acks=0: fire and forget. acks=1: answered once the leader appended (and flushed,
        per its flush policy). acks="all" (or -1): answered once the HW passed the record;
        ``REQUEST_TIMED_OUT`` after `timeout_ms` means the record may still commit.
        """
        acks_norm = _normalise_acks(acks)
        msg = {"type": "produce", "key": key, "value": value, "acks": acks_norm}
        msg["timeout_ms"] = timeout_ms
        if acks_norm == 0:
            self.call(msg, expect_reply=False)
            return -1
        return int(self.call(msg)["offset"])

    def fetch(
        self, key: int, offset: int, max_records: int = 1000
    ) -> tuple[list[tuple[int, int]], int]:
        """Records from `offset` below the leader's HW, and that HW."""
        r = self.call({"type": "fetch", "key": key, "offset": offset, "max_records": max_records})
        return [(int(o), int(v)) for o, v in r["records"]], int(r["hw"])

    def list_offsets(self, key: int) -> dict[str, int]:
        """``{"start", "hw", "leo"}`` of the leader's log of `key`."""
        r = self.call({"type": "list_offsets", "key": key})
        return {"start": int(r["start"]), "hw": int(r["hw"]), "leo": int(r["leo"])}

    def replica_states(self) -> list[dict[str, Any]]:
        """Every replica on this broker: key, node, role, leo, hw, epoch, isr, epoch_cache."""
        return list(self.call({"type": "replica_states"})["replicas"])

    def dump(self, key: int) -> dict[str, Any]:
        """This broker's whole log of `key`: key, node, hw, leo, records, epochs."""
        r = self.call({"type": "dump", "key": key})
        return {k: r[k] for k in ("key", "node", "hw", "leo", "records", "epochs")}


def _normalise_acks(acks: int | str) -> int:
    if acks in ("all", -1, "-1"):
        return -1
    if acks in (0, 1, "0", "1"):
        return int(acks)
    raise ValueError(f"acks must be 0, 1 or 'all' (-1), got {acks!r}")
