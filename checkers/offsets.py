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
  the first op that showed each of its first two offsets, in the order the history
  showed them. Decided at the end from every (offset, value) seen (a comparison in C
  when no value repeats), so the stream pays one lookup per record.

Tiny example (offset 0 of key 1 acked for 7, polled as 9)::

    {"index":1,"process":0,"type":"ok","f":"send","value":{"key":1,"value":7,"offset":0}}
    {"index":3,"process":1,"type":"ok","f":"poll","value":{"key":1,"from":0,"records":[[0,9]],"hw":1}}
    -> inconsistent-offsets at key 1 offset 0: 7 (op 1) vs 9 (op 3)
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence
from itertools import filterfalse
from typing import ClassVar, Final

from checkers.core import OK, Handler, Kept, WitnessBook, witness
from harness.contract.glossary import Anomaly
from harness.contract.history import F, OpType
from harness.contract.reader import Line
from harness.contract.results import CheckResult

_REPLICA_DUMP: Final = str(F.REPLICA_DUMP)
_SEND: Final = str(F.SEND)
_LONG: Final = 256
"""Reads of at least this many records (final reads, replica dumps: whole logs) are
compared with `_Placed.agreed` first."""


class _Placed:
    """What one key's observations placed where: the first value seen at each offset and
    the op that first showed it there; pairs (offset, value) that contradict it, with the
    op that first showed each."""

    __slots__ = ("agreed", "op_at", "others", "value_at")

    def __init__(self) -> None:
        self.value_at: dict[int, int] = {}
        self.op_at: dict[int, Line] = {}
        self.others: dict[tuple[int, int], Line] = {}
        self.agreed: array[int] = array("q")
        """The values at offsets 0, 1, 2, ... of the longest long read whose every record
        ``value_at`` holds as it is (``value_at`` only grows: this stays true)."""

    def agrees(self, values: Sequence[int], n: int) -> bool:
        """Whether the first ``n`` of a dense read's ``values`` (offsets 0, 1, 2, ...) are
        those of `agreed`: then every one was seen before as it is. Compared in C on
        machine integers; a dictionary lookup per record of a whole log, the other way, is
        a cache miss each."""
        return n <= len(self.agreed) and values[:n] == self.agreed[:n]

    def agreed_on(self, values: Sequence[int], n: int) -> None:
        """The first ``n`` of a dense read's ``values``, each of which ``value_at`` now
        holds as it is, become `agreed` when longer (values beyond 64 bits, kept as a
        list, are not)."""
        if n > len(self.agreed) and isinstance(values, array):
            self.agreed = values[:n]

    def placements(self) -> list[tuple[int, int, Line]]:
        """Every distinct (offset, value) seen, with the op that first showed it."""
        op_at = self.op_at
        placed = [(o, v, op_at[o]) for o, v in self.value_at.items()]
        placed.extend((o, v, op) for (o, v), op in self.others.items())
        return placed


class OffsetsChecker:
    """Decides `inconsistent-offsets` and `duplicate`; see the module docstring."""

    anomalies: ClassVar[tuple[Anomaly, ...]] = (Anomaly.INCONSISTENT_OFFSETS, Anomaly.DUPLICATE)
    wants: ClassVar[dict[str, frozenset[OpType]]] = {
        F.SEND: OK,
        F.POLL: OK,
        F.FINAL_READ: frozenset({OpType.OK, OpType.INFO}),
        F.REPLICA_DUMP: frozenset({OpType.OK, OpType.INFO}),
    }

    def __init__(self) -> None:
        self._keys: dict[int, _Placed] = {}
        self._conflicts: set[tuple[int, int]] = set()
        self._inconsistent = WitnessBook(Anomaly.INCONSISTENT_OFFSETS)
        self._duplicate = WitnessBook(Anomaly.DUPLICATE)

    def handlers(self) -> dict[OpType, dict[str, Handler]]:
        reads: dict[str, Handler] = {str(F.FINAL_READ): self._records, _REPLICA_DUMP: self._records}
        return {
            OpType.OK: {_SEND: self._send, str(F.POLL): self._poll, **reads},
            OpType.INFO: reads,
        }

    def observe(self, op: Line, invoke: Line | None) -> None:
        self.handlers()[op.type][op.f](op, invoke)

    def _send(self, op: Line, invoke: Line | None) -> None:
        """The commonest op: one record."""
        value = op.value
        k: int = value.key
        st = self._keys.get(k)
        if st is None:
            st = self._keys[k] = _Placed()
        o: int = value.offset
        seen = st.value_at.get(o)
        if seen is None:
            st.value_at[o] = value.value
            st.op_at[o] = op
        elif seen != value.value:
            self._see_all(k, st, ((o, value.value),), op)

    def _poll(self, op: Line, invoke: Line | None) -> None:
        """The second commonest op: a few records, nearly always each seen before as it is
        (looked up in C, as in `_place`)."""
        value = op.value
        records: list[tuple[int, int]] = value.records
        if records:
            st = self._keys.get(value.key)
            if st is None:
                st = self._keys[value.key] = _Placed()
            if not all(map(st.value_at.items().__contains__, records)):
                self._see_all(value.key, st, records, op)

    def _records(self, op: Line, invoke: Line | None) -> None:
        value = op.value
        records: list[tuple[int, int]] = value.records
        if not records:
            return
        k: int = value.key
        st = self._keys.get(k)
        if st is None:
            st = self._keys[k] = _Placed()
        dump = op.f == _REPLICA_DUMP  # only records below a dump's HW are committed
        if len(records) >= _LONG:  # a whole log (final read, dump): the dense fast path
            kept = Kept.of(op)  # shared with the other checkers of this op
            if kept.dense:
                n = max(0, min(len(records), value.hw)) if dump else len(records)
                if not st.agrees(kept.values, n) and self._place(k, st, records[:n], op):
                    st.agreed_on(kept.values, n)
                return
        if dump:
            hw: int = value.hw
            records = [r for r in records if r[0] < hw]
        self._place(k, st, records, op)

    def _place(self, k: int, st: _Placed, records: list[tuple[int, int]], op: Line) -> bool:
        """Place ``records``; True when each now stands in ``value_at`` as it is. Nearly
        every read shows only what was seen before (a record acked, then polled by each
        consumer, then read back): those are told apart in C, and change nothing (a value
        placed stays), so only the others are placed one by one, in their order."""
        fresh = list(filterfalse(st.value_at.items().__contains__, records))
        return not fresh or self._see_all(k, st, fresh, op)

    def _see_all(self, k: int, st: _Placed, records: Iterable[tuple[int, int]], op: Line) -> bool:
        """Place every record; True when each now stands in ``value_at`` as it is."""
        value_at = st.value_at
        agree = True
        for o, v in records:
            seen = value_at.get(o)
            if seen is None:
                value_at[o] = v
                st.op_at[o] = op
            elif seen != v:
                agree = False
                if (o, v) not in st.others:
                    st.others[(o, v)] = op
                    self._conflict(k, o, (seen, st.op_at[o]), v, op)
        return agree

    def _conflict(self, k: int, o: int, first: tuple[int, Line], v: int, op: Line) -> None:
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

    def _duplicates(self) -> None:
        """`duplicate`, from every placement at once: a value placed at two offsets of a
        key. Witnesses in the order the history showed the second offset."""
        found: list[tuple[tuple[int, int], int, int, tuple[int, Line], int, Line]] = []
        for k, st in self._keys.items():
            if not st.others and len(set(st.value_at.values())) == len(st.value_at):
                continue  # the common case, settled in C: no value at two offsets
            by_value: dict[int, list[tuple[int, int, Line]]] = {}
            for o, v, op in st.placements():
                by_value.setdefault(v, []).append((op.index, o, op))
            for v, places in by_value.items():
                if len(places) > 1:
                    places.sort(key=lambda p: (p[0], p[1]))
                    (_, o0, op0), (i, o, op) = places[0], places[1]
                    found.append(((i, o), k, v, (o0, op0), o, op))
        for _, k, v, first, o, op in sorted(found, key=lambda d: d[0]):
            self._duplicate_value(k, v, first, o, op)

    def _duplicate_value(self, k: int, v: int, first: tuple[int, Line], o: int, op: Line) -> None:
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
        self._duplicate = WitnessBook(Anomaly.DUPLICATE)
        self._duplicates()
        return {
            Anomaly.INCONSISTENT_OFFSETS: self._inconsistent.result(),
            Anomaly.DUPLICATE: self._duplicate.result(),
        }


def _source(op: Line) -> str:
    """How a witness sentence names an op: ``poll ok (op 40)``, ``replica-dump of n2 (op 90)``."""
    if op.f == _REPLICA_DUMP:
        return f"the replica dump of {op.value.node} (op {op.index})"
    return f"{op.f} {op.type} (op {op.index})"
