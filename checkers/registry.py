"""The checkers floodmark runs, by name: adding a checker is one module and one line here.

A checker name is the name of the fold; the anomalies it decides (its ``anomalies``)
are what appear in ``results.json``. Every anomaly of `harness.contract.glossary.Anomaly`
is decided by exactly one registered checker, the one its glossary entry names (a unit
test holds this).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from checkers.core import Checker
from checkers.faults import FaultsChecker
from checkers.liveness import LivenessChecker
from checkers.loss import LossChecker
from checkers.offsets import OffsetsChecker
from checkers.order import PollOrderChecker, SendOrderChecker
from checkers.replicas import DivergenceChecker, ReplicaStateChecker

CHECKERS: Final[dict[str, Callable[[], Checker]]] = {
    "loss": LossChecker,
    "offsets": OffsetsChecker,
    "poll-order": PollOrderChecker,
    "send-order": SendOrderChecker,
    "replica-state": ReplicaStateChecker,
    "replica-divergence": DivergenceChecker,
    "faults": FaultsChecker,
    "liveness": LivenessChecker,
}
