"""The checker role, and how checkers build what they report.

A checker is a *fold* over the history. The composer (`checkers.compose`) reads
``history.jsonl`` once, front to back, and calls ``observe(op, invoke)`` for every op
whose ``f`` and ``type`` the checker asked for in ``wants`` (``invoke`` is the op a
client completion completes, ``None`` otherwise); at the end ``result()`` turns what it
kept into one `CheckResult` per anomaly it decides. The ops are
`harness.contract.reader.Line` s: their ``value`` is typed (`SendValue`, `PollValue`, ...),
so a checker reads ``op.value.key``, never a dict it must check first. A checker keeps
only what its witnesses need (the first op that established a fact, e.g. the ack of a
value), so checking is linear in the number of ops and never holds the whole history in
memory. A tiny one::

    class CountSends:
        anomalies = (Anomaly.DUPLICATE,)
        wants = {F.SEND: frozenset({OpType.OK})}
        def __init__(self): self.book = WitnessBook(Anomaly.DUPLICATE); self.seen = {}
        def observe(self, op, invoke):
            if op.value.value in self.seen:
                first = self.seen[op.value.value]
                self.book.note(lambda: witness("seen twice", (first, op)))
            self.seen.setdefault(op.value.value, op)
        def result(self): return {Anomaly.DUPLICATE: self.book.result()}

A witness (`harness.contract.results.Witness`) is one occurrence of an anomaly: a
sentence a person can read, the key, offset and value it is about, and the minimal set
of ops that prove it (each with its ``index`` so it can be found in the history). Build
one with `witness`; `WitnessBook` caps the list (`WITNESS_CAP`) while counting every
occurrence, and gives the anomaly's result as the glossary says (invalid, or unknown
for ``unseen`` and the like).

Ops inside witnesses are written as in the history, except that a ``records`` list
longer than `RECORDS_SHOWN` is cut down to the records around the offsets the witness
is about; the op's value then carries ``"records_elided": n`` (how many were left out)
so nobody mistakes the excerpt for the whole read.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import ClassVar, Final, Protocol, runtime_checkable

import numpy as np
from msgspec import structs

from harness.contract.glossary import Anomaly
from harness.contract.history import JSON, OpType
from harness.contract.reader import Line
from harness.contract.results import CheckResult, Witness
from harness.contract.verdict import Verdict

WITNESS_CAP: Final = 20
"""At most this many witnesses per anomaly are kept (`CheckResult.count` has them all)."""

NEMESIS_OPS: Final = "<nemesis>"
"""A pseudo ``f`` in a checker's ``wants``: every op of process ``"nemesis"``, whatever
its ``f`` (fault packages name their ops ``start-<package>`` / ``stop-<package>``)."""

EVERY: Final = frozenset(OpType)
"""Every op type: ``wants = {F.FINAL_READ: EVERY}``."""
COMPLETIONS: Final = frozenset({OpType.OK, OpType.FAIL, OpType.INFO})
OK: Final = frozenset({OpType.OK})

OFFSET: Final = itemgetter(0)
"""A record's offset (records are ``[offset, value]`` pairs)."""
VALUE: Final = itemgetter(1)
"""A record's value."""

RECORDS_SHOWN: Final = 20
"""Longer ``records`` lists in witness ops are cut to an excerpt of this many."""


def witness(
    message: str,
    ops: Sequence[Line],
    *,
    key: int | None = None,
    offset: int | None = None,
    value: int | None = None,
    details: Mapping[str, JSON] | None = None,
    focus: tuple[int, ...] = (),
) -> Witness:
    """A witness proven by ``ops``; long ``records`` lists are excerpted around ``focus``
    (by default the witness's offset)."""
    around = focus or ((offset,) if offset is not None else ())
    return Witness(
        message, tuple(op_json(op, around) for op in ops), key, offset, value, dict(details or {})
    )


class Checker(Protocol):
    """A fold over the history deciding one or more anomalies.

    ``wants`` names the operations (``op.f``) the checker wants and, for each, the op
    types; the composer passes it only those. ``observe`` receives each such op in
    history order and, for a client completion, the ``invoke`` it completes (``None``
    otherwise). ``result`` is called once at the end and returns a result for every
    anomaly in ``anomalies``.
    """

    anomalies: ClassVar[tuple[Anomaly, ...]]
    wants: ClassVar[dict[str, frozenset[OpType]]]

    def observe(self, op: Line, invoke: Line | None) -> None: ...

    def result(self) -> Mapping[Anomaly, CheckResult]: ...


@dataclass(frozen=True, slots=True)
class Kept:
    """An op with a long ``records`` list (a final read, a replica dump), kept compact:
    the records as two machine-integer arrays (a Python tuple of two ints costs 14 times
    the 16 bytes), the op itself without them. `op` gives the op back whole; ``dense``
    says whether its offsets are exactly 0, 1, 2, ... (then ``values[o]`` is the record at
    offset o).

    `of` makes one per op: the checkers observing the same read (loss, offsets, replicas)
    share it, so a whole log is converted once, not once per checker."""

    stub: Line
    offsets: Sequence[int]
    values: Sequence[int]
    dense: bool

    @classmethod
    def of(cls, op: Line) -> Kept:
        last = _LAST_KEPT[0]
        if last is not None and last.source is op:
            return last.kept
        records: list[tuple[int, int]] = op.value.records or []
        n = len(records)
        offsets: Sequence[int]
        values: Sequence[int]
        try:  # numpy converts to machine integers at under half the cost of an array
            o = np.fromiter(map(OFFSET, records), dtype=np.int64, count=n)
            v = np.fromiter(map(VALUE, records), dtype=np.int64, count=n)
        except OverflowError:  # beyond 64 bits: plain lists
            offsets, values = [o for o, _ in records], [v for _, v in records]
            dense = offsets == list(range(n))
        else:
            offsets, values = array("q", o.tobytes()), array("q", v.tobytes())
            dense = bool(np.array_equal(o, np.arange(n)))
        stub = structs.replace(op, value=structs.replace(op.value, records=[]))
        kept = cls(stub, offsets, values, dense)
        _LAST_KEPT[0] = _Memo(op, kept)
        return kept

    @property
    def op(self) -> Line:
        records = list(zip(self.offsets, self.values, strict=True))
        return structs.replace(self.stub, value=structs.replace(self.stub.value, records=records))


@dataclass(frozen=True, slots=True)
class _Memo:
    source: Line
    kept: Kept


_LAST_KEPT: Final[list[_Memo | None]] = [None]
"""The last `Kept` made and the op it was made of: every checker observing one op is
called before the next op, so one entry is the whole cache (it holds only that op)."""


Handler = Callable[[Line, "Line | None"], None]
"""What observes one op (``op``, ``invoke``)."""


@runtime_checkable
class Routed(Protocol):
    """A checker that gives the composer one method per kind of op, so that the hot path
    of, say, an ok send takes no branch inside the checker. ``handlers()`` maps op type
    → ``f`` → method and covers exactly the checker's ``wants``; ``observe`` still takes
    any op (and calls the same methods)."""

    def handlers(self) -> dict[OpType, dict[str, Handler]]: ...


class Covers(Protocol):
    """A checker that looks values up (in a complete final read) says how many it looked
    for; a run in which no such checker looked anything up is not valid but unknown:
    nothing was checked."""

    def looked_for(self) -> int:
        """How many values (or HWs) were looked for; call after ``result``."""
        ...


class WitnessBook:
    """Counts every occurrence of one anomaly and keeps the first `cap` witnesses.

    ``note`` takes a function building the witness so that occurrences past the cap
    cost nothing but the count.
    """

    __slots__ = ("anomaly", "cap", "count", "witnesses")

    def __init__(self, anomaly: Anomaly, cap: int = WITNESS_CAP) -> None:
        self.anomaly = anomaly
        self.cap = cap
        self.count = 0
        self.witnesses: list[Witness] = []

    def note(self, build: Callable[[], Witness]) -> None:
        self.count += 1
        if len(self.witnesses) < self.cap:
            self.witnesses.append(build())

    def result(self) -> CheckResult:
        """Valid when nothing was noted, else what the glossary says the anomaly makes."""
        verdict = self.anomaly.found if self.count else Verdict.VALID
        return CheckResult(verdict, self.count, tuple(self.witnesses))


def op_json(op: Line, focus: Collection[int] = ()) -> dict[str, JSON]:
    """``op`` as in the history, a long ``records`` list cut to the records around ``focus``."""
    d = op.to_json()
    value = d.get("value")
    if not isinstance(value, dict):
        return d
    records = value.get("records")
    if not isinstance(records, list) or len(records) <= RECORDS_SHOWN:
        return d
    d["value"] = {**value, "records": (kept := _excerpt(records, focus))}
    d["value"]["records_elided"] = len(records) - len(kept)
    return d


def _excerpt(records: list[JSON], focus: Collection[int]) -> list[JSON]:
    """At most `RECORDS_SHOWN` records: those nearest the focus offsets, in their order."""
    if not focus:
        return records[:RECORDS_SHOWN]
    per = max(1, RECORDS_SHOWN // len(focus))
    chosen: set[int] = set()
    for target in focus:
        chosen.update(
            heapq.nsmallest(per, range(len(records)), key=lambda i: abs(records[i][0] - target))
        )
    return [records[i] for i in sorted(chosen)[:RECORDS_SHOWN]]
