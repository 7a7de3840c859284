"""A tiny builder of hand-written histories for checker tests.

Each client call appends an invoke and its completion with consecutive indexes and
returns the completion; times advance 1 ms per op. Example::

    h = History()
    ack = h.send(0, key=1, value=7, offset=0)
    h.final_read(9, key=1, records=[[0, 7]])
    results = h.check()
"""

from __future__ import annotations

from pathlib import Path

from checkers import check_ops
from harness.contract.history import JSON, Op, OpType
from harness.contract.results import Results


class History:
    def __init__(self) -> None:
        self.ops: list[Op] = []

    def add(
        self,
        process: int | str,
        type: str,
        f: str,
        value: JSON,
        *,
        error: str | None = None,
        dt_ms: int = 1,
    ) -> Op:
        t = (self.ops[-1].time if self.ops else 0) + dt_ms * 1_000_000
        op = Op(len(self.ops), t, process, OpType(type), f, value, None, error)
        self.ops.append(op)
        return op

    def call(
        self, process: int, f: str, invoke: JSON, done: JSON, type: str = "ok", dt_ms: int = 1
    ) -> Op:
        self.add(process, "invoke", f, invoke)
        error = None if type == "ok" else "timeout"
        return self.add(process, type, f, done, error=error, dt_ms=dt_ms)

    def send(
        self, process: int, key: int, value: int, offset: int | None = None, type: str = "ok"
    ) -> Op:
        inv = {"key": key, "value": value}
        done = {**inv, "offset": offset} if type == "ok" else inv
        return self.call(process, "send", inv, done, type)

    def poll(
        self, process: int, key: int, frm: int, records: list[list[int]], hw: int, type: str = "ok"
    ) -> Op:
        inv = {"key": key, "from": frm}
        done = {**inv, "records": records, "hw": hw} if type == "ok" else inv
        return self.call(process, "poll", inv, done, type)

    def final_read(
        self,
        process: int,
        key: int,
        records: list[list[int]] | None,
        complete: bool = True,
        type: str = "ok",
    ) -> Op:
        done: dict[str, JSON] = {"key": key}
        if records is not None:
            hw = records[-1][0] + 1 if records else 0
            done.update(records=records, hw=hw, complete=complete)
        return self.call(process, "final-read", {"key": key}, done, type)

    def state(
        self, key: int, node: str, role: str = "follower", leo: int = 0, hw: int = 0, epoch: int = 1
    ) -> Op:
        value = {"key": key, "node": node, "role": role, "leo": leo, "hw": hw, "epoch": epoch}
        return self.add("monitor", "info", "replica-state", {**value, "isr": [node]})

    def dump(
        self, key: int, node: str, records: list[list[int]], hw: int, leo: int | None = None
    ) -> Op:
        leo = len(records) if leo is None else leo
        value = {"key": key, "node": node, "hw": hw, "leo": leo, "records": records}
        return self.add("monitor", "info", "replica-dump", value)

    def check(self) -> Results:
        return check_ops(self.ops)

    def write(self, directory: Path) -> Path:
        path = directory / "history.jsonl"
        path.write_bytes(b"".join(op.dumps() for op in self.ops))
        return path


def indexes(results: Results, anomaly: str, witness: int = 0) -> list[int]:
    """The op indexes of one witness of one anomaly."""
    w = results.checkers[anomaly].witnesses[witness]
    return [int(op["index"]) for op in w.ops]


def counts(results: Results) -> dict[str, int]:
    """Anomaly → count, for the anomalies that occurred."""
    return {name: r.count for name, r in results.checkers.items() if r.count}
