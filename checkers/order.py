"""Order within reads and within one producer: `poll-skip`, `nonmonotonic-poll`,
`nonmonotonic-send`.

Offsets of these logs are dense (no compaction, no transaction markers), so a read that
asks ``from`` = f must return offsets f, f+1, f+2, ... with nothing left out.

- ``poll-skip``: an ``ok`` poll's first record is after ``from``, or two successive
  records jump over an offset.
- ``nonmonotonic-poll``: an ``ok`` poll's first record is before ``from``, or its offsets
  go backwards or repeat.

Both are judged against the ``from`` the poll asked, so a consumer that seeks on purpose
(asks a ``from`` other than its last offset + 1) is never flagged. Final reads are reads
from offset 0 and are held to the same rules (a hole in a final read is a skip). Each
read is counted at most once per anomaly; the witness is the read itself.

- ``nonmonotonic-send``: per client process and key, an ``ok`` send whose offset is not
  greater than the previous ``ok`` send's offset from the same process on the same key.
  A process's sends are sequential (invoke, then its completion), so a later ack must
  land later in the log. Witness: both acks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Final

from checkers.core import OK, Handler, WitnessBook, witness
from harness.contract.glossary import Anomaly
from harness.contract.history import F, OpType
from harness.contract.reader import Line
from harness.contract.results import CheckResult

_OK: Final = OpType.OK
_POLL: Final = str(F.POLL)
_FINAL_READ: Final = str(F.FINAL_READ)


def _dense_from(records: list[tuple[int, int]], start: int) -> bool:
    """Are the records at offsets ``start``, ``start + 1``, ... (no gap, no step back)?"""
    n = len(records)
    return (
        records[0][0] == start
        and records[-1][0] == start + n - 1
        and (n < 3 or [o for o, _ in records] == list(range(start, start + n)))
    )


class PollOrderChecker:
    """Decides `poll-skip` and `nonmonotonic-poll`; see the module docstring."""

    anomalies: ClassVar[tuple[Anomaly, ...]] = (Anomaly.POLL_SKIP, Anomaly.NONMONOTONIC_POLL)
    wants: ClassVar[dict[str, frozenset[OpType]]] = {
        F.POLL: OK,
        F.FINAL_READ: frozenset({OpType.OK, OpType.INFO}),
    }

    def __init__(self) -> None:
        self._skip = WitnessBook(Anomaly.POLL_SKIP)
        self._back = WitnessBook(Anomaly.NONMONOTONIC_POLL)

    def handlers(self) -> dict[OpType, dict[str, Handler]]:
        reads: dict[str, Handler] = {_FINAL_READ: self._read}
        return {_OK: {_POLL: self._poll, **reads}, OpType.INFO: reads}

    def observe(self, op: Line, invoke: Line | None) -> None:
        self.handlers()[op.type][op.f](op, invoke)

    def _poll(self, op: Line, invoke: Line | None) -> None:
        """The common case, dense from ``from``, is settled by one comparison of lists."""
        value = op.value
        records: list[tuple[int, int]] = value.records
        if records and not _dense_from(records, value.start):
            self._slow(op, value.start, records)

    def _read(self, op: Line, invoke: Line | None) -> None:
        """A final read: a read from offset 0."""
        records: list[tuple[int, int]] = op.value.records
        if records and not _dense_from(records, 0):
            self._slow(op, 0, records)

    def _slow(self, op: Line, start: int, records: list[tuple[int, int]]) -> None:
        k: int = op.value.key
        skip: tuple[int, int] | None = None  # (offset expected, offset found)
        back: tuple[int, int] | None = None
        expected = start
        for o, _ in records:
            if o > expected and skip is None:
                skip = (expected, o)
            elif o < expected and back is None:
                back = (expected, o)
            expected = max(expected, o + 1)
        what = "poll" if op.f == _POLL else "final read"
        if skip is not None:
            exp, got = skip
            self._skip.note(
                lambda: witness(
                    f"a {what} of key {k} from offset {start} (op {op.index}) expected offset "
                    f"{exp} next but got {got}: offsets {exp}..{got - 1} were skipped",
                    (op,),
                    key=k,
                    offset=exp,
                    focus=(exp, got),
                )
            )
        if back is not None:
            exp, got = back
            self._back.note(
                lambda: witness(
                    f"a {what} of key {k} from offset {start} (op {op.index}) expected offset "
                    f"{exp} or later next but got {got}",
                    (op,),
                    key=k,
                    offset=got,
                    focus=(exp, got),
                )
            )

    def result(self) -> Mapping[Anomaly, CheckResult]:
        return {
            Anomaly.POLL_SKIP: self._skip.result(),
            Anomaly.NONMONOTONIC_POLL: self._back.result(),
        }


class SendOrderChecker:
    """Decides `nonmonotonic-send`; see the module docstring."""

    anomalies: ClassVar[tuple[Anomaly, ...]] = (Anomaly.NONMONOTONIC_SEND,)
    wants: ClassVar[dict[str, frozenset[OpType]]] = {F.SEND: frozenset({OpType.OK, OpType.INFO})}

    def __init__(self) -> None:
        self._last: dict[int | str, dict[int, Line]] = {}
        """process → key → its last ok send (a process retired by an info is forgotten)."""
        self._book = WitnessBook(Anomaly.NONMONOTONIC_SEND)

    def handlers(self) -> dict[OpType, dict[str, Handler]]:
        return {OpType.OK: {str(F.SEND): self._ok}, OpType.INFO: {str(F.SEND): self._retire}}

    def observe(self, op: Line, invoke: Line | None) -> None:
        self.handlers()[op.type][op.f](op, invoke)

    def _retire(self, op: Line, invoke: Line | None) -> None:
        """An info retires its process (DESIGN.md §3): it sends no more."""
        self._last.pop(op.process, None)

    def _ok(self, op: Line, invoke: Line | None) -> None:
        value = op.value
        k: int = value.key
        last = self._last.get(op.process)
        if last is None:
            last = self._last[op.process] = {}
        prev = last.get(k)
        last[k] = op
        if prev is None or value.offset > prev.value.offset:
            return
        self._book.note(
            lambda: witness(
                f"process {op.process} was acked offset {prev.value.offset} on key {k} "
                f"(op {prev.index}) and then offset {op.value.offset} (op {op.index})",
                (prev, op),
                key=k,
                offset=op.value.offset,
                value=op.value.value,
            )
        )

    def result(self) -> Mapping[Anomaly, CheckResult]:
        return {Anomaly.NONMONOTONIC_SEND: self._book.result()}
