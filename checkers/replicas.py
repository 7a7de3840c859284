"""Inside the replicas: `hw-above-leo`, `epoch-split-brain`, `replica-divergence`.

These read the monitor's observations (process ``"monitor"``, type ``info``):
``replica-state`` samples taken during the run and ``replica-dump`` s taken after
recovery.

- ``hw-above-leo``: a sample (or dump) whose ``hw`` exceeds its own ``leo``. Every such
  observation counts; the witness is the observation.
- ``epoch-split-brain``: two *different* nodes report ``role`` ``leader`` for one key
  with the same ``epoch``. Counted once per (key, epoch, node pair); the witness is the
  first leader sample of each node. The same node reporting itself leader of an epoch
  many times is normal.
- ``replica-divergence``: two dumps of one key disagree at an offset below *both* of
  their HWs: different values, or a record present in one and absent from the other.
  Above either HW a replica holds uncommitted records that may legally differ (a
  deposed leader's unreplicated tail), so those are not compared. Counted once per
  (key, pair of dumps); the witness names the first differing offset and how many
  differ, with both dumps. Two dumps of the same node (a retried dump) are compared too:
  committed data must not change.

Tiny example (n1 and n2 agree on nothing below their HWs of 2)::

    {"index":50,"process":"monitor","type":"info","f":"replica-dump",
     "value":{"key":0,"node":"n1","hw":2,"leo":2,"records":[[0,5],[1,6]]}}
    {"index":51,"process":"monitor","type":"info","f":"replica-dump",
     "value":{"key":0,"node":"n2","hw":2,"leo":3,"records":[[0,5],[1,9],[2,10]]}}
    -> replica-divergence at key 0 offset 1: n1 has 6, n2 has 9
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import ClassVar, Final

from checkers.core import EVERY, Kept, WitnessBook, witness
from harness.contract.glossary import Anomaly
from harness.contract.history import F, OpType
from harness.contract.reader import Line
from harness.contract.results import CheckResult, Witness

_REPLICA_STATE: Final = str(F.REPLICA_STATE)


class ReplicaStateChecker:
    """Decides `hw-above-leo` and `epoch-split-brain`; see the module docstring."""

    anomalies: ClassVar[tuple[Anomaly, ...]] = (Anomaly.HW_ABOVE_LEO, Anomaly.EPOCH_SPLIT_BRAIN)
    wants: ClassVar[dict[str, frozenset[OpType]]] = {F.REPLICA_STATE: EVERY, F.REPLICA_DUMP: EVERY}

    def __init__(self) -> None:
        self._hw = WitnessBook(Anomaly.HW_ABOVE_LEO)
        self._split = WitnessBook(Anomaly.EPOCH_SPLIT_BRAIN)
        self._leaders: dict[tuple[int, int], dict[str, Line]] = {}
        """(key, epoch) → node → its first leader sample."""

    def observe(self, op: Line, invoke: Line | None) -> None:
        value = op.value
        k: int = value.key
        node: str = value.node
        hw: int = value.hw
        leo: int = value.leo
        if hw > leo:
            self._hw.note(
                lambda: witness(
                    f"{op.f} of {node} for key {k} (op {op.index}) has hw {hw} above its leo {leo}",
                    (op,),
                    key=k,
                    details={"node": node, "hw": hw, "leo": leo},
                )
            )
        if op.f != _REPLICA_STATE or value.role != "leader":
            return
        epoch: int = value.epoch
        nodes = self._leaders.setdefault((k, epoch), {})
        if node in nodes:
            return
        for other, first in nodes.items():
            self._split.note(partial(_split_brain, k, epoch, other, first, node, op))
        nodes[node] = op

    def result(self) -> Mapping[Anomaly, CheckResult]:
        return {
            Anomaly.HW_ABOVE_LEO: self._hw.result(),
            Anomaly.EPOCH_SPLIT_BRAIN: self._split.result(),
        }


def _split_brain(k: int, epoch: int, a: str, first: Line, b: str, op: Line) -> Witness:
    return witness(
        f"{a} (op {first.index}) and {b} (op {op.index}) both report themselves leader of "
        f"key {k} in epoch {epoch}",
        (first, op),
        key=k,
        details={"epoch": epoch, "nodes": [a, b]},
    )


@dataclass(frozen=True, slots=True)
class _Dump:
    kept: Kept
    hw: int
    dense: bool

    @classmethod
    def of(cls, op: Line) -> _Dump:
        kept = Kept.of(op)
        return cls(kept, op.value.hw, kept.dense)

    @property
    def op(self) -> Line:
        return self.kept.op

    @property
    def values(self) -> Sequence[int]:
        return self.kept.values

    def committed(self) -> dict[int, int]:
        """offset → value, records below this dump's HW only."""
        hw = self.hw
        kept = self.kept
        return {o: v for o, v in zip(kept.offsets, kept.values, strict=True) if o < hw}


class DivergenceChecker:
    """Decides `replica-divergence`; see the module docstring."""

    anomalies: ClassVar[tuple[Anomaly, ...]] = (Anomaly.REPLICA_DIVERGENCE,)
    wants: ClassVar[dict[str, frozenset[OpType]]] = {
        F.REPLICA_DUMP: frozenset({OpType.OK, OpType.INFO})
    }

    def __init__(self) -> None:
        self._dumps: dict[int, list[_Dump]] = {}

    def observe(self, op: Line, invoke: Line | None) -> None:
        self._dumps.setdefault(op.value.key, []).append(_Dump.of(op))

    def result(self) -> Mapping[Anomaly, CheckResult]:
        book = WitnessBook(Anomaly.REPLICA_DIVERGENCE)
        for k, dumps in self._dumps.items():
            for i, a in enumerate(dumps):
                for b in dumps[i + 1 :]:
                    _compare(k, a, b, book)
        return {Anomaly.REPLICA_DIVERGENCE: book.result()}


def _agree(a: _Dump, b: _Dump) -> bool:
    """Whether two dense dumps certainly agree below both HWs (compared in C)."""
    if not (a.dense and b.dense):
        return False
    below = max(0, min(a.hw, b.hw))
    return a.values[: min(below, len(a.values))] == b.values[: min(below, len(b.values))]


def _compare(k: int, a: _Dump, b: _Dump, book: WitnessBook) -> None:
    if _agree(a, b):
        return
    below = min(a.hw, b.hw)
    ca, cb = a.committed(), b.committed()
    # Only offsets some dump holds can differ (an offset both lack agrees); iterating them,
    # not range(below), keeps this linear in the records whatever the HWs claim.
    held = {o for o in ca if o < below} | {o for o in cb if o < below}
    differ = sorted(o for o in held if ca.get(o) != cb.get(o))
    if not differ:
        return
    o = differ[0]
    na, nb = a.kept.stub.value.node, b.kept.stub.value.node
    ia, ib = a.kept.stub.index, b.kept.stub.index

    def show(v: int | None) -> str:
        return "nothing" if v is None else str(v)

    book.note(
        lambda: witness(
            f"replicas {na} (op {ia}, hw {a.hw}) and {nb} (op {ib}, hw {b.hw}) of key {k} "
            f"disagree at {len(differ)} offset(s) below both HWs; first "
            f"at offset {o}: {na} has {show(ca.get(o))}, {nb} has {show(cb.get(o))}",
            (a.op, b.op),
            key=k,
            offset=o,
            details={"nodes": [na, nb], "differing_offsets": len(differ)},
        )
    )
