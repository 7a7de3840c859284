"""`unverified-fault`: fault actions that did not demonstrably take effect.

Every fault verifies its own effect and says so in the nemesis op it writes (process
``"nemesis"``, type ``info``): ``"verified": true`` when a probe confirmed it,
``"verified": false`` with ``"why"`` when it could not be confirmed or the fault raised,
``"verified": null`` with ``"skipped"`` when nothing was to be done on purpose (no
leader for the key, the target already down). A run whose schedule did not happen as
recorded did not test what it claims, so each ``false`` makes the verdict *unknown*
(never invalid: no data was shown to be lost), with the op as the witness::

    {"index":812,"process":"nemesis","type":"info","f":"start-partition",
     "value":{"shape":"one","verified":false,"why":"probe n1→n2 still answered"}}
    -> unverified-fault: start-partition (op 812) did not take effect: probe n1→n2 ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from checkers.core import EVERY, NEMESIS_OPS, WitnessBook, witness
from harness.contract.glossary import Anomaly
from harness.contract.history import OpType
from harness.contract.reader import Line
from harness.contract.results import CheckResult


class FaultsChecker:
    """Decides `unverified-fault`; see the module docstring."""

    anomalies: ClassVar[tuple[Anomaly, ...]] = (Anomaly.UNVERIFIED_FAULT,)
    wants: ClassVar[dict[str, frozenset[OpType]]] = {NEMESIS_OPS: EVERY}

    def __init__(self) -> None:
        self._book = WitnessBook(Anomaly.UNVERIFIED_FAULT)

    def observe(self, op: Line, invoke: Line | None) -> None:
        value = op.value
        if not isinstance(value, dict) or value.get("verified") is not False:
            return
        why = str(value.get("why") or op.error or "no reason given")
        self._book.note(
            lambda: witness(f"{op.f} (op {op.index}) did not take effect: {why}", (op,))
        )

    def result(self) -> Mapping[Anomaly, CheckResult]:
        return {Anomaly.UNVERIFIED_FAULT: self._book.result()}
