"""The replog `Client`: routes each op to the key's leader, and ONE error table.

A client belongs to one logical process. It knows every broker's client proxy
(``client-nX``, published on 127.0.0.1), learns leaders from ``metadata`` and sends
produce/fetch to the leader of the key. Errors that say the leader moved (NOT_LEADER,
UNKNOWN_PARTITION, FENCED_EPOCH, LEADERSHIP_LOST, connection trouble) drop the cached
metadata; the next op asks again (with tenacity, for a bounded time).

`ERROR_TABLE` decides, per error, whether a *write* and a *read* definitely did not
happen (``fail``) or may have (``info``). Timeouts on sends are ``info``, on reads
``fail`` (a read that did not come back changed nothing). Anything not in the table is
``info`` for writes and ``fail`` for reads, and named in the op's ``error`` field.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import tenacity

from harness.contract.history import JSON, F, OpType
from harness.contract.roles import Completion
from replog.client import ReplogClient, ReplogError


@dataclass(frozen=True, slots=True)
class Outcome:
    write: OpType
    read: OpType
    stale_route: bool
    """The leader may have moved: refresh metadata before the next op."""
    why: str


FAIL, INFO = OpType.FAIL, OpType.INFO

ERROR_TABLE: Final[dict[str, Outcome]] = {
    # Broker error replies (replog.wire.ErrorCode); refused before anything was written.
    "NOT_LEADER": Outcome(FAIL, FAIL, True, "not the leader; nothing written"),
    "NOT_ENOUGH_REPLICAS": Outcome(FAIL, FAIL, False, "ISR < min.insync.replicas; refused"),
    "UNKNOWN_PARTITION": Outcome(FAIL, FAIL, True, "broker does not host the key"),
    "OFFSET_OUT_OF_RANGE": Outcome(FAIL, FAIL, False, "fetch offset beyond the log"),
    "INVALID_REQUEST": Outcome(FAIL, FAIL, False, "malformed request; refused"),
    "UNKNOWN_REQUEST_TYPE": Outcome(FAIL, FAIL, False, "request type unknown; refused"),
    "BROKER_NOT_AVAILABLE": Outcome(FAIL, FAIL, True, "broker starting or stopping"),
    "FENCED_EPOCH": Outcome(FAIL, FAIL, True, "stale leader epoch; refused"),
    "UNKNOWN_LEADER_EPOCH": Outcome(FAIL, FAIL, True, "newer leader epoch; refused"),
    # Appended to the leader's log, outcome unknown: it may still commit.
    "REQUEST_TIMED_OUT": Outcome(INFO, FAIL, False, "HW did not pass the record in time"),
    "LEADERSHIP_LOST": Outcome(INFO, FAIL, True, "leader deposed before the HW passed"),
    "NOT_ENOUGH_REPLICAS_AFTER_APPEND": Outcome(INFO, FAIL, False, "appended, ISR shrank"),
    # Transport (raised by the socket, not sent by a broker).
    "CONNECTION_REFUSED": Outcome(FAIL, FAIL, True, "connection refused; nothing sent"),
    "NO_LEADER": Outcome(FAIL, FAIL, True, "no known leader for the key; nothing sent"),
    "TIMEOUT": Outcome(INFO, FAIL, True, "no reply in time; the request may have landed"),
    "CONNECTION_LOST": Outcome(INFO, FAIL, True, "connection broke mid-request"),
}
UNKNOWN_ERROR: Final = Outcome(INFO, FAIL, True, "error not in the table")


def error_name(exc: BaseException) -> str:
    """The error table's name for an exception raised by `ReplogClient`."""
    if isinstance(exc, ReplogError):
        return exc.code
    if isinstance(exc, ConnectionRefusedError):
        return "CONNECTION_REFUSED"
    if isinstance(exc, TimeoutError):
        return "TIMEOUT"
    if isinstance(exc, OSError):
        return "CONNECTION_LOST"
    return type(exc).__name__


def outcome(name: str) -> Outcome:
    return ERROR_TABLE.get(name, UNKNOWN_ERROR)


class NoLeader(Exception):
    """No broker could say who leads the key (raised before anything is sent)."""


class ReplogLogClient:
    """`harness.contract.roles.Client` for replog: ops ``send``, ``poll``, ``final-read``."""

    def __init__(
        self,
        endpoints: Mapping[str, str],
        timeout: float = 6.0,
        produce_timeout_ms: int = 5000,
        metadata_retry_for: float = 2.0,
        final_read_timeout: float = 30.0,
    ) -> None:
        """``endpoints``: broker id → ``host:port`` of its client proxy."""
        self.endpoints = dict(endpoints)
        self.timeout = timeout
        self.produce_timeout_ms = produce_timeout_ms
        self.metadata_retry_for = metadata_retry_for
        self.final_read_timeout = final_read_timeout
        self._conns: dict[str, ReplogClient] = {}
        self._leaders: dict[int, str] | None = None

    def open(self) -> None:
        """Connections open lazily on first use (a down broker must not fail `open`)."""

    def close(self) -> None:
        for c in self._conns.values():
            c.close()
        self._conns.clear()

    # -- ops --------------------------------------------------------------------------

    def invoke(self, f: str, value: JSON) -> Completion:
        if f == F.SEND:
            return self._guard(f, value, write=True, body=self._send)
        if f == F.POLL:
            return self._guard(f, value, write=False, body=self._poll)
        if f == F.FINAL_READ:
            return self._final_read(value)
        raise ValueError(f"replog client: unknown op {f!r}; expected send, poll or final-read")

    def _guard(self, f: str, value: JSON, write: bool, body: Any) -> Completion:
        node: str | None = None
        try:
            node = self._leader(int(value["key"]))
            result: Completion = body(node, value)
            return result
        except NoLeader:
            return Completion(OpType.FAIL, value, None, "NO_LEADER")
        except (ReplogError, OSError) as e:
            name = error_name(e)
            out = outcome(name)
            if out.stale_route:
                self._forget(node)
            return Completion(out.write if write else out.read, value, node, name)

    def _send(self, node: str, value: JSON) -> Completion:
        offset = self._conn(node).produce(
            int(value["key"]), int(value["value"]), acks="all", timeout_ms=self.produce_timeout_ms
        )
        return Completion(OpType.OK, {**value, "offset": offset}, node)

    def _poll(self, node: str, value: JSON) -> Completion:
        records, hw = self._conn(node).fetch(int(value["key"]), int(value["from"]))
        ok = {**value, "records": [[o, v] for o, v in records], "hw": hw}
        return Completion(OpType.OK, ok, node)

    def _final_read(self, value: JSON) -> Completion:
        """Read the key from offset 0 up to the leader's HW at the start of the read.

        Retries (new leader, reconnect) until `final_read_timeout`; gives up as ``info``
        (the checkers then call unseen values unknown rather than lost)."""
        key = int(value["key"])
        deadline = time.monotonic() + self.final_read_timeout
        last_error = "TIMEOUT"
        node: str | None = None
        target: int | None = None
        records: list[list[int]] = []
        while time.monotonic() < deadline:
            try:
                node = self._leader(key)
                conn = self._conn(node)
                if target is None:
                    target = conn.list_offsets(key)["hw"]
                while len(records) < target:
                    got, _hw = conn.fetch(key, len(records))
                    if not got:
                        break
                    for o, v in got:
                        if o != len(records):
                            raise ValueError(
                                f"final read of key {key} from {node}: expected offset "
                                f"{len(records)}, got {o} (offsets must be dense)"
                            )
                        if o < target:
                            records.append([o, v])
                if len(records) >= target:
                    done = {"key": key, "records": records, "hw": target, "complete": True}
                    return Completion(OpType.OK, done, node)
                time.sleep(0.1)  # below the target but nothing new yet: HW catching up
            except NoLeader:
                last_error = "NO_LEADER"
                time.sleep(0.2)
            except (ReplogError, OSError) as e:
                last_error = error_name(e)
                self._forget(node)
                time.sleep(0.2)
        return Completion(OpType.INFO, {"key": key}, node, f"FINAL_READ_GAVE_UP:{last_error}")

    # -- routing ----------------------------------------------------------------------

    def _conn(self, node: str) -> ReplogClient:
        c = self._conns.get(node)
        if c is None:
            c = self._conns[node] = ReplogClient(self.endpoints[node], timeout=self.timeout)
        return c

    def _forget(self, node: str | None) -> None:
        self._leaders = None
        if node is not None and node in self._conns:
            self._conns.pop(node).close()

    def _leader(self, key: int) -> str:
        if self._leaders is None or key not in self._leaders:
            self._leaders = self._fetch_leaders()
        leader = self._leaders.get(key)
        if leader is None or leader not in self.endpoints:
            self._leaders = None
            raise NoLeader(f"no leader known for key {key}")
        return leader

    def _fetch_leaders(self) -> dict[int, str]:
        """Metadata from any broker that answers, retried for `metadata_retry_for` s."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type((OSError, ReplogError, NoLeader)),
            stop=tenacity.stop_after_delay(self.metadata_retry_for),
            wait=tenacity.wait_exponential(multiplier=0.05, max=0.5),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._leaders_once()
        except (OSError, ReplogError) as e:
            raise NoLeader(f"no broker answered metadata: {e!r}") from e
        raise AssertionError("unreachable: tenacity neither returned nor raised")

    def _leaders_once(self) -> dict[int, str]:
        errors: list[str] = []
        best: dict[int, tuple[int, str]] = {}
        for node in sorted(self.endpoints):
            with ReplogClient(self.endpoints[node], timeout=min(self.timeout, 1.0)) as c:
                try:
                    md = c.metadata()
                except (OSError, ReplogError) as e:
                    errors.append(f"{node}: {error_name(e)}")
                    continue
            for k, p in md["partitions"].items():
                leader, epoch = p.get("leader"), int(p.get("leader_epoch", -1))
                if leader and (int(k) not in best or epoch > best[int(k)][0]):
                    best[int(k)] = (epoch, str(leader))
            if best:
                return {k: n for k, (_e, n) in best.items()}
        raise NoLeader("metadata from no broker: " + ", ".join(errors))
