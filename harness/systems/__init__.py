"""System adapters: the replicated logs floodmark can test, in one registry.

`SYSTEMS` maps a name to the class of its `harness.contract.roles.System`
implementation (a system's client library, e.g. confluent-kafka, is imported only when a
run uses that system). Adding a system is one module plus one line here.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.contract.roles import System
from harness.systems.kafka import KafkaSystem
from harness.systems.replog import ReplogSystem

SYSTEMS: dict[str, Callable[[], System]] = {
    "replog": ReplogSystem,
    "kafka": KafkaSystem,
}


def load_system(name: str) -> System:
    """A fresh instance of the named system (one per run)."""
    try:
        target = SYSTEMS[name]
    except KeyError:
        raise KeyError(f"unknown system {name!r}; known: {sorted(SYSTEMS)}") from None
    return target()
