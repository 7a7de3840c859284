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
- ``unseen``: an acknowledged (k, v) for which no complete final read of k was invoked
  after the acknowledgement, and which no partial final read of k returned. It makes the
  verdict unknown, not invalid: the data may be there, nobody could look.
- An ``info`` send (outcome unknown) is never lost and never unseen: if its value shows
  up anywhere it happened (its offset then counts for `inconsistent-offsets`, see
  `checkers.offsets`); if it never shows up it did not, and both are legal.
- ``lost-read``, value form: a value returned by an ``ok`` poll (polls return only
  records below the HW, i.e. committed ones) is absent from a complete final read of its
  key invoked after the poll completed. One witness per value: the first poll that
  returned it and the final read.
- ``lost-read``, HW form: a poll that reported ``hw`` = H told a client that offsets
  0..H-1 were committed. A leader change may legally make a later HW *lower* (a new
  leader's HW can lag) and nothing here flags that; but if a complete final read invoked
  after that poll has no record at some offset below H, committed data disappeared. It
  is reported once per key (the poll with the highest HW and the final read), counting
  only offsets not already reported by the value form. This assumes logs start at
  offset 0 (no retention or compaction during a run), which holds for replog and for
  the Kafka topics floodmark creates.

Tiny example (value 8 acked at offset 1, missing from the complete final read)::

    {"index":3,"process":0,"type":"ok","f":"send","value":{"key":1,"value":8,"offset":1}}
    {"index":9,"process":5,"type":"ok","f":"final-read",
     "value":{"key":1,"records":[[0,7]],"hw":1,"complete":true}}
    -> lost-write: value 8 acked at key 1 offset 1 is missing from the final read
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar

from checkers.core import WitnessBook, witness
from harness.contract.glossary import Anomaly
from harness.contract.history import F, Op, OpType
from harness.contract.results import CheckResult, Witness


@dataclass(slots=True)
class _FinalRead:
    invoked_at: int
    op: Op
    by_value: dict[int, int]
    """value → offset, over the records this final read returned."""


@dataclass(slots=True)
class _Key:
    acked: dict[int, Op] = field(default_factory=dict)
    polled: dict[int, Op] = field(default_factory=dict)
    """value → the first ok poll that returned it."""
    top_poll: Op | None = None
    """The ok poll that reported the highest HW."""
    complete: list[_FinalRead] = field(default_factory=list)
    partial_values: set[int] = field(default_factory=set)
    partial_ops: list[Op] = field(default_factory=list)


class LossChecker:
    """Decides `lost-write`, `lost-read` and `unseen`; see the module docstring."""

    anomalies: ClassVar[tuple[Anomaly, ...]] = (
        Anomaly.LOST_WRITE,
        Anomaly.LOST_READ,
        Anomaly.UNSEEN,
    )
    fs: ClassVar[frozenset[str]] = frozenset({F.SEND, F.POLL, F.FINAL_READ})

    def __init__(self) -> None:
        self._keys: dict[int, _Key] = {}

    def _key(self, k: int) -> _Key:
        st = self._keys.get(k)
        if st is None:
            st = self._keys[k] = _Key()
        return st

    def observe(self, op: Op, invoke: Op | None) -> None:
        if op.type is OpType.INVOKE:
            return
        value = op.value
        if op.f == F.SEND:
            if op.type is OpType.OK:
                st = self._keys.get(value["key"]) or self._key(value["key"])
                st.acked.setdefault(value["value"], op)
        elif op.f == F.POLL:
            if op.type is OpType.OK:
                st = self._keys.get(value["key"]) or self._key(value["key"])
                polled = st.polled
                for _, v in value["records"]:
                    if v not in polled:
                        polled[v] = op
                hw = value["hw"]
                if st.top_poll is None or hw > st.top_poll.value["hw"]:
                    st.top_poll = op
        else:  # final read
            st = self._key(value["key"])
            records = value.get("records")
            if op.type is OpType.OK and value.get("complete") is True:
                invoked_at = invoke.index if invoke is not None else op.index
                by_value = {v: o for o, v in records}
                st.complete.append(_FinalRead(invoked_at, op, by_value))
            else:
                st.partial_ops.append(op)
                if records:
                    st.partial_values.update(v for _, v in records)

    def result(self) -> Mapping[Anomaly, CheckResult]:
        lost_write = WitnessBook(Anomaly.LOST_WRITE)
        lost_read = WitnessBook(Anomaly.LOST_READ)
        unseen = WitnessBook(Anomaly.UNSEEN)
        for k, st in self._keys.items():
            self._writes(k, st, lost_write, unseen)
            self._reads(k, st, lost_read)
        return {
            Anomaly.LOST_WRITE: lost_write.result(),
            Anomaly.LOST_READ: lost_read.result(),
            Anomaly.UNSEEN: unseen.result(),
        }

    @staticmethod
    def _after(st: _Key, index: int) -> list[_FinalRead]:
        """The complete final reads of a key invoked after op ``index``."""
        return [fr for fr in st.complete if fr.invoked_at > index]

    def _writes(self, k: int, st: _Key, lost: WitnessBook, unseen: WitnessBook) -> None:
        first_read = min((fr.invoked_at for fr in st.complete), default=None)
        for v, ack in st.acked.items():
            reads = (
                st.complete
                if first_read is not None and ack.index < first_read
                else self._after(st, ack.index)
            )
            if not reads:
                if v not in st.partial_values:
                    unseen.note(partial(_unseen, k, v, ack, st))
                continue
            for fr in reads:
                if v not in fr.by_value:
                    lost.note(partial(_lost_write, k, v, ack, fr))
                    break

    def _reads(self, k: int, st: _Key, lost: WitnessBook) -> None:
        first_read = min((fr.invoked_at for fr in st.complete), default=None)
        if first_read is None:
            return
        reported: set[int] = set()
        for v, poll in st.polled.items():
            reads = st.complete if poll.index < first_read else self._after(st, poll.index)
            for fr in reads:
                if v not in fr.by_value:
                    offset = _offset_of(poll, v)
                    reported.add(offset)
                    lost.note(partial(_lost_read, k, v, offset, poll, fr))
                    break
        top = st.top_poll
        if top is None:
            return
        hw: int = top.value["hw"]
        for fr in self._after(st, top.index):
            present = {o for o in fr.by_value.values() if 0 <= o < hw}
            accounted = present | {o for o in reported if 0 <= o < hw}
            missing = hw - len(accounted)  # offsets below hw neither read nor reported
            if missing > 0:
                first = 0  # the first of them; found in at most len(accounted) + 1 steps
                while first in accounted:
                    first += 1
                lost.note(partial(_lost_below_hw, k, hw, first, missing, top, fr))
                break


def _offset_of(poll: Op, v: int) -> int:
    for o, pv in poll.value["records"]:
        if pv == v:
            return int(o)
    raise AssertionError(f"value {v} was recorded from poll {poll.index} but is not in it")


def _lost_write(k: int, v: int, ack: Op, fr: _FinalRead) -> Witness:
    o: int = ack.value["offset"]
    return witness(
        f"value {v} acked at key {k} offset {o} (op {ack.index}) is missing from the "
        f"complete final read of key {k} (op {fr.op.index})",
        (ack, fr.op),
        key=k,
        offset=o,
        value=v,
    )


def _unseen(k: int, v: int, ack: Op, st: _Key) -> Witness:
    o: int = ack.value["offset"]
    if st.partial_ops:
        last = st.partial_ops[-1]
        why = (
            f"the final read of key {k} did not complete (op {last.index}: {last.type}"
            + (f", {last.error}" if last.error else "")
            + ")"
        )
        ops: tuple[Op, ...] = (ack, last)
    elif st.complete:
        why = f"no complete final read of key {k} was started after the acknowledgement"
        ops = (ack, st.complete[-1].op)
    else:
        why = f"the history has no final read of key {k}"
        ops = (ack,)
    return witness(
        f"value {v} acked at key {k} offset {o} (op {ack.index}) could not be looked for: " + why,
        ops,
        key=k,
        offset=o,
        value=v,
    )


def _lost_read(k: int, v: int, o: int, poll: Op, fr: _FinalRead) -> Witness:
    return witness(
        f"value {v} read by a poll at key {k} offset {o} (op {poll.index}) is missing from "
        f"the complete final read of key {k} (op {fr.op.index})",
        (poll, fr.op),
        key=k,
        offset=o,
        value=v,
    )


def _lost_below_hw(k: int, hw: int, first: int, missing: int, poll: Op, fr: _FinalRead) -> Witness:
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
