"""Liveness: did the cluster make progress again after the faults? (``results.json["liveness"]``)

A fold like the others (``observe(op, invoke)`` for the final reads, the
``replica-state`` samples and every nemesis op, then ``result()``), deciding the two
liveness anomalies of the glossary. They never change the run's verdict; certification
reads them (and the facts below) instead of walking the history again.

- ``unfinished-final-read``: a final read that ended ``fail`` or ``info``, or was invoked
  and never completed. One witness per such read: its invoke and its completion. (A
  partial ``ok`` read, ``"complete": false``, finished: what it could not show is
  ``unseen``, decided by `checkers.loss`.)
- ``unrecovered``: after the last nemesis op (the final heal) the monitor sampled the
  key, but no sample showed its leader with a full ISR, i.e. an ISR as large as the
  largest one the key ever had (the run starts only once every ISR is full). Witness: the
  last nemesis op and the key's last sample.

`LivenessChecker.section` builds the whole liveness section of ``results.json``
(`harness.contract.results.Liveness`): per key, how its last final read ended and how
long after the final heal its ISR was full again (``recovered_s``), the fault packages
that really acted (a ``start-<package>`` op is in the history), and the anomalies. The
windows without an ok op are not folded again here: `checkers.stats.StatsFold` already
folds every send and poll, and `checkers.compose` hands its figures over.

Tiny example (key 2's final read gave up)::

    {"index":40,"process":9,"type":"invoke","f":"final-read","value":{"key":2}}
    {"index":41,"process":9,"type":"info","f":"final-read","value":{"key":2},"error":"timeout"}
    -> unfinished-final-read: the final read of key 2 (op 41) ended info (timeout)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar, Final

from msgspec import UNSET

from checkers.core import EVERY, NEMESIS_OPS, WitnessBook, witness
from harness.contract.glossary import Anomaly
from harness.contract.history import JSON, NEMESIS, F, FaultF, OpType, Phase
from harness.contract.reader import Line
from harness.contract.results import CheckResult, FinalRead, KeyLiveness, Liveness, Witness

_FINAL_READ: Final = str(F.FINAL_READ)
_INVOKE: Final = OpType.INVOKE
_OK: Final = OpType.OK
_REPLICA_STATE: Final = str(F.REPLICA_STATE)


_ENDED: Final = {OpType.FAIL: FinalRead.FAIL, OpType.INFO: FinalRead.INFO}


@dataclass(slots=True)
class _Key:
    final: FinalRead = FinalRead.NONE
    final_ops: tuple[Line, ...] = ()
    full_isr: int = 0
    """The largest ISR sampled for the key's leader."""
    leader_samples: list[tuple[int, int]] = field(default_factory=list)
    """(time, ISR size) of the leader samples since the last nemesis op."""
    last_sample: Line | None = None
    sampled_since_heal: bool = False


class LivenessChecker:
    """Decides `unfinished-final-read` and `unrecovered`; see the module docstring."""

    anomalies: ClassVar[tuple[Anomaly, ...]] = (
        Anomaly.UNFINISHED_FINAL_READ,
        Anomaly.UNRECOVERED,
    )
    wants: ClassVar[dict[str, frozenset[OpType]]] = {
        F.FINAL_READ: EVERY,
        F.REPLICA_STATE: EVERY,
        NEMESIS_OPS: EVERY,
    }

    def __init__(self) -> None:
        self._keys: defaultdict[int, _Key] = defaultdict(_Key)
        self._faults: dict[str, None] = {}
        self._heal: Line | None = None
        self._unfinished = WitnessBook(Anomaly.UNFINISHED_FINAL_READ)

    def observe(self, op: Line, invoke: Line | None) -> None:
        if op.process == NEMESIS:
            self._nemesis(op)
        elif op.f == _FINAL_READ:
            self._final_read(op, invoke)
        elif op.f == _REPLICA_STATE:
            self._sample(op)

    def _nemesis(self, op: Line) -> None:
        fault = FaultF.parse(op.f)
        if fault is not None and fault.phase is Phase.START:
            self._faults.setdefault(fault.package, None)
        self._heal = op
        for st in self._keys.values():  # recovery counts from the last fault op on
            st.leader_samples.clear()
            st.sampled_since_heal = False

    def _final_read(self, op: Line, invoke: Line | None) -> None:
        st = self._keys[op.value.key]
        if op.type is _INVOKE:
            st.final, st.final_ops = FinalRead.PENDING, (op,)
            return
        ops = (op,) if invoke is None else (invoke, op)
        if op.type is _OK:
            complete = op.value.complete is True
            # nothing to witness: the read (which may hold a whole log) is not kept
            st.final, st.final_ops = (FinalRead.OK if complete else FinalRead.PARTIAL), ()
            return
        st.final, st.final_ops = _ENDED[op.type], ops
        self._unfinished.note(partial(_unfinished, op, ops))

    def _sample(self, op: Line) -> None:
        value = op.value
        st = self._keys[value.key]
        st.last_sample = op
        st.sampled_since_heal = True
        if value.role == "leader":
            isr = value.isr
            size = len(isr) if isinstance(isr, list) else 0
            st.full_isr = max(st.full_isr, size)
            st.leader_samples.append((op.time, size))

    def _recovered_at(self, st: _Key) -> int | None:
        return next((t for t, size in st.leader_samples if size >= st.full_isr), None)

    def result(self) -> Mapping[Anomaly, CheckResult]:
        unrecovered = WitnessBook(Anomaly.UNRECOVERED)
        for k, st in sorted(self._keys.items()):
            if st.final is FinalRead.PENDING:
                self._unfinished.note(partial(_unfinished, st.final_ops[0], st.final_ops))
            last = st.last_sample
            if st.sampled_since_heal and last is not None and self._recovered_at(st) is None:
                unrecovered.note(partial(_unrecovered, k, st, last, self._heal))
        return {
            Anomaly.UNFINISHED_FINAL_READ: self._unfinished.result(),
            Anomaly.UNRECOVERED: unrecovered.result(),
        }

    def section(
        self,
        anomalies: Mapping[str, CheckResult],
        longest_gap_s: float | None,
        availability: Mapping[str, JSON],
    ) -> Liveness:
        """``results.json["liveness"]``: this fold's facts and ``anomalies`` (its
        results), with the windows without an ok op that `checkers.stats` measured: the
        longest on any key and ``stats.availability``."""
        since = self._heal.time if self._heal is not None else 0
        keys: dict[int, KeyLiveness] = {}
        for k in sorted({int(k) for k in availability} | set(self._keys)):
            st = self._keys.get(k, _Key())
            at = self._recovered_at(st)
            keys[k] = KeyLiveness(
                longest_gap_s=_gap(availability.get(str(k))),
                recovered_s=None if at is None else round((at - since) / 1e9, 3),
                final_read=st.final,
            )
        return Liveness(tuple(sorted(self._faults)), longest_gap_s, keys, dict(anomalies))


def _unfinished(op: Line, ops: tuple[Line, ...]) -> Witness:
    k: int = op.value.key
    if op.type is _INVOKE:
        how = "was invoked and never completed"
    else:
        how = f"ended {op.type}" + (f" ({op.error})" if op.error else "")
    return witness(f"the final read of key {k} (op {op.index}) {how}", ops, key=k)


def _unrecovered(k: int, st: _Key, last: Line, heal: Line | None) -> Witness:
    since = f"the last fault op (op {heal.index})" if heal is not None else "the start"
    return witness(
        f"after {since} no sample of key {k} showed its leader with a full ISR "
        f"({st.full_isr} replicas); the last one (op {last.index}) was {last.value.role} "
        f"{last.value.node} with ISR {_isr(last.value.isr)}",
        (last,) if heal is None else (heal, last),
        key=k,
    )


def _gap(availability: JSON) -> float | None:
    gap = availability.get("longest_gap_s") if isinstance(availability, dict) else None
    return float(gap) if isinstance(gap, int | float) else None


def _isr(isr: JSON) -> JSON:
    return None if isr is UNSET else isr
