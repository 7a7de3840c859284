"""Lost data: `lost-write`, `lost-read`, and `unseen` (acknowledged but not checkable).

The final read of a key is the reference: fresh clients read every partition from offset
0 after the cluster recovered. A final read is *complete* when its completion is ``ok``
and its value says ``"complete": true``; any other final read (``info``, ``fail``, or
``complete`` false/missing) is partial: the records it did return still count as seen.

Semantics, exactly:

- An ``ok`` send is acknowledged. ``lost-write``: an acknowledged (k, v) is absent from a
  complete final read of k *invoked after the acknowledgement* (a final read running
  concurrently with a send cannot be expected to contain it). One witness per lost
  value: the ``ok`` send and the final read.
- Every value an ``ok`` poll returned (polls return only records below the HW, i.e.
  committed ones) is looked for like an acknowledged write. ``lost-read``, value form:
  such a value is absent from a complete final read of its key invoked after the poll
  completed. One witness per value: the first poll that returned it and the final read.
- A complete final read that holds a value shows that the value exists, whenever that
  read began: such a value is looked for and found, never unseen.
- ``unseen``: an acknowledged or polled (k, v) for which no complete final read of k was
  invoked after the acknowledgement (or the poll), and which no final read of k, complete
  or partial, returned. It makes the verdict unknown, not invalid: the data may be there,
  nobody could look. A value both acknowledged and polled is unseen once.
- An ``info`` send (outcome unknown) is never lost and never unseen: if its value shows
  up anywhere it happened (its offset then counts for `inconsistent-offsets`, see
  `checkers.offsets`); if it never shows up it did not, and both are legal.
- ``lost-read``, HW form: a poll that reported ``hw`` = H told a client that offsets
  0..H-1 were committed. A leader change may legally make a later HW *lower* (a new
  leader's HW can lag) and nothing here flags that; but every complete final read must
  have a record at each offset below every HW an ok poll reported *before that read was
  invoked* (checking the highest of them checks them all). A value held at two offsets is
  a `duplicate` (`checkers.offsets`) and its record counts as present at both. It is
  reported once per key (the poll with the highest HW before the read, and the read),
  counting only offsets not already reported by the value form. This assumes logs start
  at offset 0 (no retention or compaction during a run), which holds for replog and for
  the Kafka topics floodmark creates.

What was *looked for* (`LossChecker.looked_for`): each acknowledged or polled value, and
each HW check, that met a complete final read. A history in which nothing was looked for
proves nothing, so `checkers.compose` makes its verdict unknown, not valid.

Tiny example (value 8 acked at offset 1, missing from the complete final read)::

    {"index":3,"process":0,"type":"ok","f":"send","value":{"key":1,"value":8,"offset":1}}
    {"index":9,"process":5,"type":"ok","f":"final-read",
     "value":{"key":1,"records":[[0,7]],"hw":1,"complete":true}}
    -> lost-write: value 8 acked at key 1 offset 1 is missing from the final read
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from itertools import filterfalse
from typing import ClassVar, Final

from checkers.core import EVERY, OK, VALUE, Handler, Kept, WitnessBook, witness
from harness.contract.glossary import Anomaly
from harness.contract.history import F, OpType
from harness.contract.reader import Line
from harness.contract.results import CheckResult, Witness

_FAIL: Final = OpType.FAIL
_FINAL_READ: Final = str(F.FINAL_READ)
_INFO: Final = OpType.INFO
_INVOKE: Final = OpType.INVOKE
_OK: Final = OpType.OK
_POLL: Final = str(F.POLL)
_SEND: Final = str(F.SEND)


@dataclass(slots=True)
class _FinalRead:
    invoked_at: int
    kept: Kept
    """The read itself, kept compact (`checkers.core.Kept`)."""
    top_before: Line | None
    """The ok poll with the highest HW completed before this read was invoked."""
    values: set[int] = field(default_factory=set)
    """The values this final read returned (filled in by `LossChecker.result`, one key at
    a time: a final read holds a whole log)."""

    def held_below(self, hw: int) -> set[int] | int:
        """The offsets below ``hw`` this read holds a record at (a value at two offsets
        counts at both); for a dense read (offsets 0, 1, 2, ...) just how many: the
        offsets below that number."""
        if self.kept.dense:
            return max(0, min(hw, len(self.kept.offsets)))
        return {o for o in self.kept.offsets if 0 <= o < hw}

    @property
    def op(self) -> Line:
        return self.kept.op


@dataclass(slots=True)
class _Key:
    acked: dict[int, Line] = field(default_factory=dict)
    polled: dict[int, Line] = field(default_factory=dict)
    """value → the first ok poll that returned it."""
    top_poll: Line | None = None
    """The ok poll that reported the highest HW so far."""
    top_hw: int = 0
    """Its HW."""
    complete: list[_FinalRead] = field(default_factory=list)
    partial_values: set[int] = field(default_factory=set)
    partial_ops: list[Line] = field(default_factory=list)


class LossChecker:
    """Decides `lost-write`, `lost-read` and `unseen`; see the module docstring."""

    anomalies: ClassVar[tuple[Anomaly, ...]] = (
        Anomaly.LOST_WRITE,
        Anomaly.LOST_READ,
        Anomaly.UNSEEN,
    )
    wants: ClassVar[dict[str, frozenset[OpType]]] = {
        F.SEND: OK,
        F.POLL: OK,
        F.FINAL_READ: EVERY,
    }

    def __init__(self) -> None:
        self._keys: dict[int, _Key] = {}
        self._top_at_invoke: dict[int, Line | None] = {}
        """A final read's invoke index → its key's highest-HW poll at that moment."""
        self._looked_for = 0

    def _key(self, k: int) -> _Key:
        st = self._keys.get(k)
        if st is None:
            st = self._keys[k] = _Key()
        return st

    def handlers(self) -> dict[OpType, dict[str, Handler]]:
        final: dict[str, Handler] = {_FINAL_READ: self._final_read}
        return {
            _OK: {_SEND: self._ack, _POLL: self._poll, **final},
            _INVOKE: final,
            _FAIL: final,
            _INFO: final,
        }

    def observe(self, op: Line, invoke: Line | None) -> None:
        self.handlers()[op.type][op.f](op, invoke)

    def _ack(self, op: Line, invoke: Line | None) -> None:
        value = op.value
        st = self._keys.get(value.key) or self._key(value.key)
        st.acked.setdefault(value.value, op)

    def _poll(self, op: Line, invoke: Line | None) -> None:
        value = op.value
        st = self._keys.get(value.key) or self._key(value.key)
        polled = st.polled
        for v in filterfalse(polled.__contains__, map(VALUE, value.records)):
            polled[v] = op  # the first poll that showed v (most were shown before)
        if value.hw > st.top_hw or st.top_poll is None:
            st.top_poll, st.top_hw = op, value.hw

    def _final_read(self, op: Line, invoke: Line | None) -> None:
        value = op.value
        st = self._key(value.key)
        if op.type is _INVOKE:
            self._top_at_invoke[op.index] = st.top_poll
            return
        top = self._top_at_invoke.pop(invoke.index, None) if invoke is not None else None
        records = value.records
        if op.type is _OK and value.complete is True:
            invoked_at = invoke.index if invoke is not None else op.index
            st.complete.append(_FinalRead(invoked_at, Kept.of(op), top))
        else:
            st.partial_ops.append(op)
            if records:
                st.partial_values.update(v for _, v in records)

    def looked_for(self) -> int:
        """Values (and HW checks) looked for in a complete final read (after `result`)."""
        return self._looked_for

    def result(self) -> Mapping[Anomaly, CheckResult]:
        lost_write = WitnessBook(Anomaly.LOST_WRITE)
        lost_read = WitnessBook(Anomaly.LOST_READ)
        unseen = WitnessBook(Anomaly.UNSEEN)
        self._looked_for = 0
        for k, st in self._keys.items():
            for fr in st.complete:
                fr.values = set(fr.kept.values)
            not_seen = self._writes(k, st, lost_write, unseen)
            self._reads(k, st, lost_read, unseen, not_seen)
            for fr in st.complete:
                fr.values = set()
        return {
            Anomaly.LOST_WRITE: lost_write.result(),
            Anomaly.LOST_READ: lost_read.result(),
            Anomaly.UNSEEN: unseen.result(),
        }

    def _lookup(self, st: _Key, index: int, v: int) -> list[_FinalRead] | None:
        """The complete final reads of the key invoked after op ``index`` that must hold
        ``v``; ``[]`` when none must but one does (it exists); None when ``v`` could not
        be looked for at all (unseen, unless a partial read returned it)."""
        complete = st.complete
        after = [fr for fr in complete if fr.invoked_at > index]
        if after:
            self._looked_for += 1
            return after
        if any(v in fr.values for fr in complete):
            self._looked_for += 1
            return after
        return None

    def _writes(self, k: int, st: _Key, lost: WitnessBook, unseen: WitnessBook) -> set[int]:
        """Judge every acknowledged value; returns those that were unseen."""
        not_seen: set[int] = set()
        for v, ack, fr in self._judge(st, st.acked, not_seen):
            if fr is None:
                unseen.note(partial(_unseen, k, v, ack, st))
            else:
                lost.note(partial(_lost_write, k, v, ack, fr))
        return not_seen

    def _judge(
        self, st: _Key, first: dict[int, Line], not_seen: set[int]
    ) -> Iterator[tuple[int, Line, _FinalRead | None]]:
        """``(v, op, final read missing v)`` for each lost value of ``first`` (value → the
        op that showed it first, in history order), ``(v, op, None)`` for each unseen one
        (added to ``not_seen``); counts what was looked for."""
        complete = st.complete
        if not first:
            return
        if complete and next(reversed(first.values())).index < min(
            fr.invoked_at for fr in complete
        ):
            # Every value was shown before any final read began (the usual case): every
            # complete final read must hold all of them; set differences in C find those
            # it does not.
            self._looked_for += len(first)
            missing = [
                set() if fr.values.issuperset(first) else first.keys() - fr.values
                for fr in complete
            ]
            if any(missing):
                for v, op in first.items():
                    fr = next((fr for fr, m in zip(complete, missing, strict=True) if v in m), None)
                    if fr is not None:
                        yield v, op, fr
            return
        for v, op in first.items():
            reads = self._lookup(st, op.index, v)
            if reads is None:
                if v not in st.partial_values and v not in not_seen:
                    not_seen.add(v)
                    yield v, op, None
                continue
            for fr in reads:
                if v not in fr.values:
                    yield v, op, fr
                    break

    def _reads(
        self, k: int, st: _Key, lost: WitnessBook, unseen: WitnessBook, not_seen: set[int]
    ) -> None:
        reported: set[int] = set()
        complete = st.complete
        for v, poll, fr in self._judge(st, st.polled, not_seen):
            if fr is None:
                unseen.note(partial(_unseen, k, v, poll, st))
            else:
                offset = _offset_of(poll, v)
                reported.add(offset)
                lost.note(partial(_lost_read, k, v, offset, poll, fr))
        for fr in complete:
            top = fr.top_before
            if top is None or top.value.hw <= 0:
                continue
            self._looked_for += 1
            hw: int = top.value.hw
            present = fr.held_below(hw)
            if isinstance(present, int):  # offsets 0 .. present - 1
                below = present
                accounted = {o for o in reported if below <= o < hw}
                first = below
            else:
                below, first = 0, 0
                accounted = present | {o for o in reported if 0 <= o < hw}
            missing = hw - below - len(accounted)  # offsets below hw neither read nor reported
            if missing > 0:
                # the first of them; found in at most len(accounted) + 1 steps
                while first in accounted:
                    first += 1
                lost.note(partial(_lost_below_hw, k, hw, first, missing, top, fr))
                break


def _offset_of(poll: Line, v: int) -> int:
    for o, pv in poll.value.records:
        if pv == v:
            return int(o)
    raise AssertionError(f"value {v} was recorded from poll {poll.index} but is not in it")


def _lost_write(k: int, v: int, ack: Line, fr: _FinalRead) -> Witness:
    o: int = ack.value.offset
    return witness(
        f"value {v} acked at key {k} offset {o} (op {ack.index}) is missing from the "
        f"complete final read of key {k} (op {fr.op.index})",
        (ack, fr.op),
        key=k,
        offset=o,
        value=v,
    )


def _unseen(k: int, v: int, seen: Line, st: _Key) -> Witness:
    if seen.f == _SEND:
        o: int = seen.value.offset
        what = f"value {v} acked at key {k} offset {o} (op {seen.index})"
        after = "the acknowledgement"
    else:
        o = _offset_of(seen, v)
        what = f"value {v} read by a poll at key {k} offset {o} (op {seen.index})"
        after = "the poll"
    if st.partial_ops:
        last = st.partial_ops[-1]
        why = (
            f"the final read of key {k} did not complete (op {last.index}: {last.type}"
            + (f", {last.error}" if last.error else "")
            + ")"
        )
        ops: tuple[Line, ...] = (seen, last)
    elif st.complete:
        why = f"no complete final read of key {k} was started after {after}"
        ops = (seen, st.complete[-1].op)
    else:
        why = f"the history has no final read of key {k}"
        ops = (seen,)
    return witness(
        f"{what} could not be looked for: " + why,
        ops,
        key=k,
        offset=o,
        value=v,
    )


def _lost_read(k: int, v: int, o: int, poll: Line, fr: _FinalRead) -> Witness:
    return witness(
        f"value {v} read by a poll at key {k} offset {o} (op {poll.index}) is missing from "
        f"the complete final read of key {k} (op {fr.op.index})",
        (poll, fr.op),
        key=k,
        offset=o,
        value=v,
    )


def _lost_below_hw(
    k: int, hw: int, first: int, missing: int, poll: Line, fr: _FinalRead
) -> Witness:
    return witness(
        f"a poll of key {k} (op {poll.index}) saw hw {hw}, so offsets below {hw} were "
        f"committed, but the complete final read (op {fr.op.index}) has no record at "
        f"{missing} of them (first: offset {first})",
        (poll, fr.op),
        key=k,
        offset=first,
        details={"hw": hw, "missing_offsets": missing},
        focus=(first, hw - 1),
    )
