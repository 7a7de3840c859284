"""A trigger as a value: where it sees a danger point, and the fault it answers with.

`Trigger.spot` looks at a `faults.triggers.seen.Seen` and returns every `Spot` (a danger
point with the state that shows it), drawing nothing at random, so a test can say
"fires on this state, not on that one". `Trigger.act` turns one spot into an `Action`
(a fault package and the start value its fault understands), drawing any choice from
the engine's seeded RNG, among the packages the run has and that are not busy.

A spot's ``state`` becomes the ``trigger`` of the nemesis op (with the trigger's name)::

    {"f": "start-kill", "value": {"target": "leader", "key": 1, "nodes": ["n2"], ...,
       "trigger": {"name": "isr-alone", "key": 1, "leader": "n2", "epoch": 4,
                   "leo": 310, "hw": 310, "isr": ["n2"]}}}
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from harness.contract.history import JSON

from .seen import Seen

TIMER: Final = "timer"
"""The trigger name of the default schedule's seeded background faults (`faults.default`):
they fire on time, not on a state."""
FINAL_HEAL: Final = "final-heal"
"""The trigger name of the default schedule's final heal ops (`harness.nemesis.Nemesis.heal`)."""


@dataclass(frozen=True, slots=True)
class Spot:
    """A danger point: the key it is about and the state that shows it (JSON)."""

    key: int
    state: dict[str, JSON]


@dataclass(frozen=True, slots=True)
class Action:
    """What to start: ``package``'s fault with ``value`` (its start-op value)."""

    package: str
    value: JSON


Act = Callable[[Spot, Seen, random.Random, Sequence[str]], Action | None]
"""``(spot, seen, rng, packages available) -> action`` (None: none of its packages is
available)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Trigger:
    """One protocol-aware trigger (registered in `faults.triggers.registry.TRIGGERS`)."""

    name: str
    """Its name in the history (``"trigger": {"name": ...}``) and the docs."""
    family: str
    """The module it lives in: ``isr``, ``truncation``, ``election``, ``power``."""
    doc: str
    """One line: the danger point, the fault, the bug it finds."""
    packages: tuple[str, ...]
    """The fault packages it may start (the run must have one, not busy)."""
    spot: Callable[[Seen], list[Spot]]
    act: Act
    chance: float = 1.0
    """Probability that a spot fires (per round of samples): below 1 for danger points
    that last (a healthy, writing cluster), so their moment is drawn, not always the first."""
    on_restart: bool = False
    """Looks at restarts (`faults.triggers.seen.Seen.restarting`), not at rounds of samples:
    the engine asks it right after the nemesis restarted crashed nodes, before they can have
    fetched anything (`faults.triggers.engine.TriggerEngine.restarted`)."""
    in_recovery: bool = False
    """May fire during the cool-down after another trigger's fault (once per cool-down):
    its danger point is the recovery itself (a node coming back, a new leader)."""
    follows_up: bool = False
    """May also fire (once) while another trigger's fault is active: its danger point is
    what that fault makes (a leader cut from its followers is left alone in its ISR)."""
    min_lasts_s: float = 0.0
    """Its fault lasts at least this long: the state it makes takes time to form (an ISR
    shrinks only after ``replica.lag.time.max.ms``)."""


def pick(rng: random.Random, wanted: Sequence[str], available: Sequence[str]) -> str | None:
    """One of ``wanted`` that is ``available`` (seeded), or None."""
    usable = [p for p in wanted if p in available]
    return rng.choice(usable) if usable else None


def one(node: str) -> dict[str, JSON]:
    """The target spec of one node (`faults.common.resolve_target`)."""
    return {"target": "one", "nodes": [node]}


def leader_of(key: int) -> dict[str, JSON]:
    """The target spec of a key's leader, looked up when the op runs: in the run it is
    the node the trigger saw leading; in a replay (`floodmark run --replay`) it is the
    key's leader then, which the fault is about, whatever earlier faults a shrink dropped."""
    return {"target": "leader", "key": key}
