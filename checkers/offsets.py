"""What sits where: `inconsistent-offsets` and `duplicate`.

Every observation of committed data says "offset o of key k holds value v":

- an ``ok`` send (its acknowledged ``offset``),
- every record of an ``ok`` poll (polls return only records below the HW),
- every record of a final read, complete or not (what was read was there),
- every record of a ``replica-dump`` *below that dump's own HW*. Records at or above a
  replica's HW are uncommitted: they may legally be truncated and replaced (that is how
  the log repairs a deposed leader), so they are ignored here. `checkers.replicas`
  compares dumps with each other under the same rule.

An ``info`` send contributes nothing by itself (it has no offset); if its value shows up
in a poll, final read or dump, those observations place it like any other value.

- ``inconsistent-offsets``: one (k, o) observed holding two different values. Counted
  once per (k, o); the witness is the first op that showed each value.
- ``duplicate``: one value observed at two different offsets of one key (values are
  unique per run, so a value is written once). Counted once per (k, v); the witness is
  the first op that showed each offset.

Tiny example (offset 0 of key 1 acked for 7, polled as 9)::

    {"index":1,"process":0,"type":"ok","f":"send","value":{"key":1,"value":7,"offset":0}}
    {"index":3,"process":1,"type":"ok","f":"poll","value":{"key":1,"from":0,"records":[[0,9]],"hw":1}}
    -> inconsistent-offsets at key 1 offset 0: 7 (op 1) vs 9 (op 3)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from checkers.core import WitnessBook, witness
from harness.contract.glossary import Anomaly
from harness.contract.history import F, Op, OpType
from harness.contract.results import CheckResult


class OffsetsChecker:
    """Decides `inconsistent-offsets` and `duplicate`; see the module docstring."""

    anomalies: ClassVar[tuple[Anomaly, ...]] = (Anomaly.INCONSISTENT_OFFSETS, Anomaly.DUPLICATE)
    fs: ClassVar[frozenset[str]] = frozenset({F.SEND, F.POLL, F.FINAL_READ, F.REPLICA_DUMP})

    def __init__(self) -> None:
        self._at: dict[int, dict[int, tuple[int, Op]]] = {}
        """key → offset → (value, first op showing it there)."""
        self._where: dict[int, dict[int, tuple[int, Op]]] = {}
        """key → value → (offset, first op showing it there)."""
        self._conflicts: set[tuple[int, int]] = set()
        self._dupes: set[tuple[int, int]] = set()
        self._inconsistent = WitnessBook(Anomaly.INCONSISTENT_OFFSETS)
        self._duplicate = WitnessBook(Anomaly.DUPLICATE)

    def observe(self, op: Op, invoke: Op | None) -> None:
        typ = op.type
        if typ is OpType.INVOKE or typ is OpType.FAIL:
            return
        value = op.value
        f = op.f
        if f == F.SEND:
            if typ is OpType.OK:
                self._see(value["key"], value["offset"], value["value"], op)
            return
        records = value.get("records")
        if not records:
            return
        if f == F.POLL:
            if typ is not OpType.OK:
                return
        elif f == F.REPLICA_DUMP:
            hw = value["hw"]
            records = [r for r in records if r[0] < hw]
        self._see_all(value["key"], records, op)

    def _see_all(self, k: int, records: list[list[int]], op: Op) -> None:
        at = self._at.get(k)
        if at is None:
            at = self._at[k] = {}
            self._where[k] = {}
        where = self._where[k]
        for o, v in records:
            seen = at.get(o)
            if seen is None:
                at[o] = (v, op)
            elif seen[0] == v:
                continue  # (o, v) seen before: its placement was judged then
            else:
                self._conflict(k, o, seen, v, op)
            placed = where.get(v)
            if placed is None:
                where[v] = (o, op)
            elif placed[0] != o:
                self._duplicate_value(k, v, placed, o, op)

    def _see(self, k: int, o: int, v: int, op: Op) -> None:
        self._see_all(k, [[o, v]], op)

    def _conflict(self, k: int, o: int, first: tuple[int, Op], v: int, op: Op) -> None:
        if (k, o) in self._conflicts:
            return
        self._conflicts.add((k, o))
        v0, op0 = first
        self._inconsistent.note(
            lambda: witness(
                f"offset {o} of key {k} holds value {v0} in {_source(op0)} but value {v} in "
                f"{_source(op)}",
                (op0, op),
                key=k,
                offset=o,
                value=v,
                details={"values": [v0, v]},
            )
        )

    def _duplicate_value(self, k: int, v: int, first: tuple[int, Op], o: int, op: Op) -> None:
        if (k, v) in self._dupes:
            return
        self._dupes.add((k, v))
        o0, op0 = first
        self._duplicate.note(
            lambda: witness(
                f"value {v} of key {k} is at offset {o0} in {_source(op0)} and at offset {o} "
                f"in {_source(op)}",
                (op0, op),
                key=k,
                offset=o,
                value=v,
                details={"offsets": [o0, o]},
                focus=(o0, o),
            )
        )

    def result(self) -> Mapping[Anomaly, CheckResult]:
        return {
            Anomaly.INCONSISTENT_OFFSETS: self._inconsistent.result(),
            Anomaly.DUPLICATE: self._duplicate.result(),
        }


def _source(op: Op) -> str:
    """How a witness sentence names an op: ``poll ok (op 40)``, ``replica-dump of n2 (op 90)``."""
    if op.f == F.REPLICA_DUMP:
        return f"the replica dump of {op.value.get('node')} (op {op.index})"
    return f"{op.f} {op.type} (op {op.index})"
