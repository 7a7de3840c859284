"""The replog client's routing and its one error table, against a fake broker client."""

from __future__ import annotations

from typing import Any

import pytest

import harness.systems.replog_client as rc
from harness.contract.history import OpType
from harness.systems.replog_client import ERROR_TABLE, ReplogLogClient, error_name, outcome
from replog.client import ReplogError


class FakeBrokers:
    """Stands in for `ReplogClient`: per address, scripted answers."""

    def __init__(self) -> None:
        self.leader = "n1"
        self.logs: dict[int, list[int]] = {0: [], 1: []}
        self.fail_next: dict[str, BaseException] = {}
        self.calls: list[tuple[str, str]] = []

    def factory(self, address: str, timeout: float = 5.0) -> Any:
        brokers = self

        class C:
            def __init__(self) -> None:
                self.node = address.split(":")[0]

            def __enter__(self) -> C:
                return self

            def __exit__(self, *a: object) -> None:
                pass

            def close(self) -> None:
                pass

            def _maybe_fail(self, what: str) -> None:
                brokers.calls.append((self.node, what))
                exc = brokers.fail_next.pop(f"{self.node}:{what}", None)
                if exc is not None:
                    raise exc

            def metadata(self) -> dict[str, Any]:
                self._maybe_fail("metadata")
                parts = {str(k): {"leader": brokers.leader, "leader_epoch": 1} for k in (0, 1)}
                return {"controller_epoch": 1, "brokers": ["n1", "n2"], "partitions": parts}

            def produce(self, key: int, value: int, acks: Any = "all", timeout_ms: int = 0) -> int:
                self._maybe_fail("produce")
                if self.node != brokers.leader:
                    raise ReplogError("NOT_LEADER", "not me")
                brokers.logs[key].append(value)
                return len(brokers.logs[key]) - 1

            def fetch(self, key: int, offset: int, max_records: int = 1000) -> Any:
                self._maybe_fail("fetch")
                log = brokers.logs[key]
                return [(o, log[o]) for o in range(offset, min(len(log), offset + 2))], len(log)

            def list_offsets(self, key: int) -> dict[str, int]:
                self._maybe_fail("list_offsets")
                return {"start": 0, "hw": len(brokers.logs[key]), "leo": len(brokers.logs[key])}

        return C()


@pytest.fixture
def brokers(monkeypatch: pytest.MonkeyPatch) -> FakeBrokers:
    b = FakeBrokers()
    monkeypatch.setattr(rc, "ReplogClient", b.factory)
    return b


def client() -> ReplogLogClient:
    c = ReplogLogClient({"n1": "n1:1", "n2": "n2:1"}, final_read_timeout=2.0)
    c.open()
    return c


def test_send_poll_ok_through_the_leader(brokers: FakeBrokers) -> None:
    c = client()
    done = c.invoke("send", {"key": 0, "value": 7})
    assert (done.type, done.value, done.node) == (
        OpType.OK,
        {"key": 0, "value": 7, "offset": 0},
        "n1",
    )
    done = c.invoke("poll", {"key": 0, "from": 0})
    assert done.type == OpType.OK
    assert done.value == {"key": 0, "from": 0, "records": [[0, 7]], "hw": 1}


def test_not_leader_fails_and_the_next_op_follows_the_new_leader(brokers: FakeBrokers) -> None:
    c = client()
    assert c.invoke("send", {"key": 0, "value": 1}).type == OpType.OK
    brokers.leader = "n2"
    done = c.invoke("send", {"key": 0, "value": 2})
    assert (done.type, done.error, done.node) == (OpType.FAIL, "NOT_LEADER", "n1")
    done = c.invoke("send", {"key": 0, "value": 3})
    assert (done.type, done.node) == (OpType.OK, "n2")


@pytest.mark.parametrize(
    ("exc", "send", "poll"),
    [
        (ReplogError("REQUEST_TIMED_OUT", "hw"), OpType.INFO, OpType.FAIL),
        (ReplogError("NOT_ENOUGH_REPLICAS", "isr"), OpType.FAIL, OpType.FAIL),
        (ReplogError("LEADERSHIP_LOST", "x"), OpType.INFO, OpType.FAIL),
        (ReplogError("SOMETHING_NEW", "x"), OpType.INFO, OpType.FAIL),
        (TimeoutError("slow"), OpType.INFO, OpType.FAIL),
        (ConnectionRefusedError("down"), OpType.FAIL, OpType.FAIL),
        (ConnectionResetError("reset"), OpType.INFO, OpType.FAIL),
    ],
)
def test_error_table(brokers: FakeBrokers, exc: BaseException, send: OpType, poll: OpType) -> None:
    c = client()
    brokers.fail_next["n1:produce"] = exc
    s = c.invoke("send", {"key": 0, "value": 1})
    brokers.fail_next["n1:fetch"] = exc
    p = c.invoke("poll", {"key": 0, "from": 0})
    assert (s.type, p.type) == (send, poll)
    assert s.error == p.error == error_name(exc)


def test_no_leader_anywhere_is_a_definite_failure(brokers: FakeBrokers) -> None:
    brokers.leader = ""
    done = client().invoke("send", {"key": 0, "value": 1})
    assert (done.type, done.error) == (OpType.FAIL, "NO_LEADER")


def test_final_read_reads_everything_up_to_the_hw_across_a_leader_change(
    brokers: FakeBrokers,
) -> None:
    brokers.logs[1] = [10, 11, 12, 13, 14]
    brokers.fail_next["n1:fetch"] = ReplogError("NOT_LEADER", "moved")
    done = client().invoke("final-read", {"key": 1})
    assert done.type == OpType.OK
    assert done.value == {"key": 1, "records": [[i, 10 + i] for i in range(5)], "hw": 5,
                          "complete": True}  # fmt: skip


def test_final_read_that_cannot_finish_is_info(brokers: FakeBrokers) -> None:
    brokers.leader = ""
    done = client().invoke("final-read", {"key": 0})
    assert done.type == OpType.INFO
    assert done.error == "FINAL_READ_GAVE_UP:NO_LEADER"


def test_every_replog_error_code_is_in_the_table() -> None:
    from replog.wire import ErrorCode

    missing = {c.value for c in ErrorCode} - set(ERROR_TABLE)
    # broker-to-broker/controller codes never reach a client
    assert missing <= {"STALE_CONTROLLER_EPOCH", "STALE_ISR_VERSION"}, missing
    assert outcome("REQUEST_TIMED_OUT").write == OpType.INFO
