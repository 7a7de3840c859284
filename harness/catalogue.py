"""The catalogue a config is validated against: every registry's names and the fault
options' validation, in one value (`harness.contract.config.Catalogue`)."""

from __future__ import annotations

from typing import Final

from faults.registry import FAULT_PACKAGES, check_options
from harness.contract.config import Catalogue
from harness.systems import SYSTEMS
from workloads import WORKLOADS

CATALOGUE: Final = Catalogue(
    nemeses=frozenset(FAULT_PACKAGES),
    systems=frozenset(SYSTEMS),
    workloads=frozenset(WORKLOADS),
    check_options=check_options,
)
