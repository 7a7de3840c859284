"""The faults a witness lived through, and the trigger each recorded.

A witness's *life* runs from the write it is about (the time the offset was written, when
known: its ack, or the first replica-state sample holding it) or its earliest op, to its
latest op (typically the read that missed the write). Every fault period whose window
``[start, stop]`` (an unstopped one: to the end of the history) meets that life is named
in the report's anomaly section with the trigger its start op recorded (the default
schedule records one in each op: ``"trigger": {"name": "isr-alone", "key": 1, ...}``;
a package's own seeded schedule records none, shown as ``seeded schedule``), instead of
only the one fault nearest in time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from harness.contract.history import JSON
from harness.contract.results import Witness
from reports.scan import NS, FaultPeriod

SEEDED: Final = "seeded schedule"
"""What a fault without a recorded trigger is shown as."""


@dataclass(frozen=True, slots=True)
class Life:
    start: float
    end: float
    how: str


@dataclass(frozen=True, slots=True)
class FaultInLife:
    """A fault period that overlaps a witness's life, and why it happened."""

    period: FaultPeriod
    trigger: str
    state: Mapping[str, JSON]


def life(w: Witness, written_at: float | None) -> Life | None:
    """The witness's life (None when none of its ops has a time and the write's is unknown)."""
    times = [int(op["time"]) / NS for op in w.ops if type(op.get("time")) is int]
    if not times and written_at is None:
        return None
    start = min([*times, *([written_at] if written_at is not None else [])])
    end = max([*times, start])
    how = "from the write" if written_at is not None else "from its earliest op"
    return Life(start, end, f"{how} to its latest op")


def overlapping(faults: list[FaultPeriod], span: Life | None) -> list[FaultInLife]:
    """Every period meeting ``span``, in start order, each with its trigger."""
    if span is None:
        return []
    out = []
    for p in faults:
        if p.start <= span.end and (p.stop is None or p.stop >= span.start):
            name, state = trigger_of(p)
            out.append(FaultInLife(p, name, state))
    return out


def trigger_of(p: FaultPeriod) -> tuple[str, Mapping[str, JSON]]:
    """The trigger name the period's start op recorded and the state it saw."""
    value = p.start_value
    trigger = value.get("trigger") if isinstance(value, dict) else None
    if not isinstance(trigger, dict):
        return SEEDED, {}
    state = {k: v for k, v in trigger.items() if k != "name"}
    return str(trigger.get("name", "?")), state
