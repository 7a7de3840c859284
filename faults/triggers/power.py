"""The power trigger: crash a majority or every node at once while the cluster writes.

``mass-crash``: every key has a leader with a full ISR, no fault is active but those
that leave every node up and connected (`BESIDE`: a clock skew, a slow disk, a degraded
link), and the leaders' LEOs grew since the previous round (records are being written,
so every replica holds some it may not have fsynced). With chance `CHANCE` per round,
power-loss (``lose-unfsynced``) or SIGKILL a majority or all of the brokers together:
KIP-101 scenario 2, and no-flush configurations, lose acked data here.

The danger point is un-fsynced data on *every* replica at once, so the draw leans to it
(`ALL_ODDS`, `POWER_ODDS`): with a majority down the survivor still holds every acked
record, and a power loss drops what a SIGKILL keeps in the page cache. Measured
(``self-test-default``, 2026-12-03): firing only when no fault at all was active, at 0.1
a round and half of the crashes a power loss of all, a no-flush configuration saw no
power loss of every broker in 5 of 8 runs, and those 5 were its misses.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Final

from harness.contract.history import JSON

from .isr import CRASHES
from .seen import Seen
from .trigger import Action, Spot, Trigger

ALL_ODDS: Final = 0.85
"""Chance that a mass crash takes every broker (else a majority)."""
POWER_ODDS: Final = 0.8
"""Chance that a mass crash is a power loss, when the run has both crash packages."""
CHANCE: Final = 0.2
"""Per round of samples (two a second by default): a healthy, writing cluster is crashed
after about 2.5 seconds on average, at a moment the seed draws."""
BESIDE: Final = frozenset({"clock", "slow-disk", "link"})
"""Packages whose active fault leaves every node up and reachable: a mass crash may come
while one of them is active (the fault goes on, or its restart lifts it: slow-disk)."""


def _writing(seen: Seen) -> list[Spot]:
    if seen.busy - BESIDE or not seen.before or not seen.healthy():
        return []
    leos: dict[str, JSON] = {}
    grew = 0
    for key in seen.sampled_keys():
        lead, old = seen.leader(key), seen.leader(key, seen.before)
        if lead is None:
            return []
        leos[str(key)] = lead.leo
        grew += max(0, lead.leo - old.leo) if old is not None else 0
    if grew == 0:
        return []
    return [Spot(-1, {"healthy": True, "leader_leos": leos, "written": grew})]


def _crash_many(
    _spot: Spot, seen: Seen, rng: random.Random, available: Sequence[str]
) -> Action | None:
    usable = [p for p in CRASHES if p in available]
    if not usable:
        return None
    power = "lose-unfsynced" in usable and (len(usable) == 1 or rng.random() < POWER_ODDS)
    package = "lose-unfsynced" if power else "kill"
    nodes = sorted({node for _, node in seen.now})
    kind = "all" if rng.random() < ALL_ODDS else "majority"
    if kind == "majority":
        nodes = sorted(rng.sample(nodes, len(nodes) // 2 + 1))
    return Action(package, {"target": kind, "nodes": list(nodes)})


MASS_CRASH: Final = Trigger(
    name="mass-crash",
    family="power",
    doc="a healthy cluster is writing (no fault active but a clock skew, slow disk or "
    "degraded link): power-loss or kill every broker (or a majority) at once (KIP-101 "
    "scenario 2, no-flush configurations)",
    packages=CRASHES,
    spot=_writing,
    act=_crash_many,
    chance=CHANCE,
)
