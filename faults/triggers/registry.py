"""The trigger registry: name → `faults.triggers.trigger.Trigger`, in the order the docs
use. A new trigger is one value in its family's module plus one line here."""

from __future__ import annotations

from typing import Final

from ..registry import by_name
from . import election, isr, power, truncation
from .trigger import FINAL_HEAL, TIMER

TRIGGERS: Final = by_name(
    "triggers",
    isr.ISR_ALONE,
    isr.LEADER_CUT,
    truncation.FOLLOWER_RESTARTED,
    truncation.FOLLOWER_BACK,
    election.LEADER_CHANGE,
    power.MASS_CRASH,
    isr.FOLLOWER_BEHIND,
    reserved=(TIMER, FINAL_HEAL),
)
"""Every protocol-aware trigger of the default schedule, by name."""


def reference() -> list[tuple[str, str, str, str]]:
    """One row per trigger for the docs: name, family, packages it may start, what it does
    (the README's table of the default schedule; a test keeps the two equal)."""
    return [
        (f"`{t.name}`", t.family, ", ".join(f"`{p}`" for p in t.packages), t.doc)
        for t in TRIGGERS.values()
    ]
