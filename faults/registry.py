"""The fault registry: package name → `harness.protocols.FaultPackage`.

`floodmark run --nemesis a,b` validates names against this dict before any container
starts, and the run's nemesis thread executes the chosen packages' seeded schedules.
Adding a fault is one module plus one line here.
"""

from __future__ import annotations

from harness.protocols import FaultPackage

FAULT_PACKAGES: dict[str, FaultPackage] = {}
