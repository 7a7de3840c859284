"""System adapters: the replicated logs floodmark can test, in one registry.

`SYSTEMS` maps a name to the class of its `harness.contract.roles.System`
implementation. Adding a system is one module plus one line here. Every system's client
library is a dependency of floodmark (confluent-kafka for Kafka), so the registry imports
them all; nothing is probed at run time.
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
