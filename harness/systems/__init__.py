"""System adapters: the replicated logs floodmark can test, in one registry.

`SYSTEMS` maps a name to the ``module:Class`` of its `harness.protocols.System`
implementation, imported only when a run uses it (a system's client library, e.g.
confluent-kafka, need not be installed to test another). Adding a system is one module
plus one line here.
"""

from __future__ import annotations

import importlib

from harness.protocols import System

SYSTEMS: dict[str, str] = {
    "replog": "harness.systems.replog:ReplogSystem",
    "kafka": "harness.systems.kafka:KafkaSystem",
}


def load_system(name: str) -> System:
    """A fresh instance of the named system (one per run)."""
    try:
        target = SYSTEMS[name]
    except KeyError:
        raise KeyError(f"unknown system {name!r}; known: {sorted(SYSTEMS)}") from None
    module, _, cls = target.partition(":")
    system: System = getattr(importlib.import_module(module), cls)()
    return system
