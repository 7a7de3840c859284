"""The checker role and the values checkers return.

A checker is a *fold* over the history: the composer (`checkers.compose`) reads
``history.jsonl`` once, front to back, and hands every op whose ``f`` the checker asked
for to `Checker.observe`; at the end `Checker.result` turns what it kept into one
`CheckResult` per anomaly it decides. A checker keeps only what its witnesses need (the
first op that established a fact, e.g. the ack of a value), so checking is linear in
the number of ops and never holds the whole history in memory.

A `Witness` is one occurrence of an anomaly: a sentence a person can read, the key,
offset and value it is about, and the minimal set of ops that prove it (each with its
``index`` so it can be found in the history). Witness lists are capped (`WITNESS_CAP`)
while `CheckResult.count` counts every occurrence.

Ops inside witnesses are written as in the history, except that a ``records`` list
longer than `RECORDS_SHOWN` is cut down to the records around the offsets the witness
is about; the op's value then carries ``"records_elided": n`` (how many were left out)
so nobody mistakes the excerpt for the whole read.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Final, Protocol

from harness.contract.glossary import Anomaly
from harness.contract.history import JSON, Op
from harness.contract.verdict import Verdict

WITNESS_CAP: Final = 20
"""At most this many witnesses per anomaly are kept (`CheckResult.count` has them all)."""

NEMESIS_OPS: Final = "<nemesis>"
"""A pseudo ``f`` in a checker's ``fs``: every op of process ``"nemesis"``, whatever its
``f`` (fault packages name their ops ``start-<package>`` / ``stop-<package>``)."""

RECORDS_SHOWN: Final = 20
"""Longer ``records`` lists in witness ops are cut to an excerpt of this many."""


@dataclass(frozen=True, slots=True)
class Witness:
    """One occurrence of an anomaly and the ops that prove it."""

    message: str
    ops: tuple[Op, ...]
    key: int | None = None
    offset: int | None = None
    value: int | None = None
    details: Mapping[str, JSON] = field(default_factory=dict)
    focus: tuple[int, ...] = ()
    """Offsets to keep when long ``records`` lists in `ops` are excerpted."""

    def to_json(self) -> dict[str, JSON]:
        d: dict[str, JSON] = {"message": self.message}
        if self.key is not None:
            d["key"] = self.key
        if self.offset is not None:
            d["offset"] = self.offset
        if self.value is not None:
            d["value"] = self.value
        d.update(self.details)
        focus = self.focus or ((self.offset,) if self.offset is not None else ())
        d["ops"] = [op_json(op, focus) for op in self.ops]
        return d


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What one checker decided about one anomaly."""

    verdict: Verdict
    count: int = 0
    witnesses: tuple[Witness, ...] = ()
    error: str | None = None

    def to_json(self) -> dict[str, JSON]:
        d: dict[str, JSON] = {
            "valid": self.verdict.to_json(),
            "count": self.count,
            "witnesses": [w.to_json() for w in self.witnesses],
        }
        if self.error is not None:
            d["error"] = self.error
        return d

    @classmethod
    def failed(cls, error: str) -> CheckResult:
        """The checker itself broke: its verdict is unknown, never valid."""
        return cls(Verdict.UNKNOWN, error=error)


class Checker(Protocol):
    """A fold over the history deciding one or more anomalies.

    ``fs`` names the operations (``op.f``) the checker wants; the composer passes it
    only those. ``observe`` receives each such op in history order and, for a client
    completion, the ``invoke`` it completes (``None`` otherwise). ``result`` is called
    once at the end and returns a result for every anomaly in ``anomalies``.
    """

    anomalies: ClassVar[tuple[Anomaly, ...]]
    fs: ClassVar[frozenset[str]]

    def observe(self, op: Op, invoke: Op | None) -> None: ...

    def result(self) -> Mapping[Anomaly, CheckResult]: ...


class WitnessBook:
    """Counts every occurrence of one anomaly and keeps the first `cap` witnesses.

    ``note`` takes a function building the witness so that occurrences past the cap
    cost nothing but the count.
    """

    __slots__ = ("cap", "count", "witnesses")

    def __init__(self, cap: int = WITNESS_CAP) -> None:
        self.cap = cap
        self.count = 0
        self.witnesses: list[Witness] = []

    def note(self, build: Callable[[], Witness]) -> None:
        self.count += 1
        if len(self.witnesses) < self.cap:
            self.witnesses.append(build())

    def result(self, if_any: Verdict = Verdict.INVALID) -> CheckResult:
        """``if_any`` when something was noted, else valid."""
        verdict = if_any if self.count else Verdict.VALID
        return CheckResult(verdict, self.count, tuple(self.witnesses))


def op_json(op: Op, focus: Collection[int] = ()) -> dict[str, JSON]:
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
