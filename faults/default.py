"""The default schedule: every fault package, and protocol-aware triggers.

``floodmark run`` without ``--nemesis`` (or with ``--nemesis default``) gets it; it
knows nothing of which bug, if any, the system has. Two parts share the run's nemesis
(`harness.nemesis.Nemesis`), so recording, its lock and the final heal stay one path:

- **the background** (`background`), precomputed from (seed, config, nodes) like any
  package's schedule: one fault at a time, gaps and durations of
  ``interval x U(0.5, 1.5)``, each fault of a package drawn from `mix` with a start
  value drawn by *that package's own generator* (its shapes, targets, options), from
  ``Random(f"{seed}/nemesis/default/{i}")``. Each op's trigger is ``{"name": "timer",
  "episode": i}``.
- **the triggers** (`faults.triggers`): after every round of monitor samples, the
  `faults.triggers.engine.TriggerEngine` may start one fault where replication is
  fragile (a leader alone in its ISR, a follower just back, a leader change, a healthy
  cluster writing) and stop it a few seconds later; a cool-down lets the cluster
  recover. Their choices come from ``Random(f"{seed}/nemesis/default/triggers")`` and
  the states seen.

A trigger never starts a package whose fault is active; a background start whose
package a trigger holds is skipped with its stop (logged in ``harness.log``), so one
package never has two faults at once. ``nemesis_options`` narrow the background's draws
as they narrow a package's own schedule; triggers aim at the nodes they saw. At the end
every package of the mix heals with its own final ops, in heal order (`heal_all`).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from typing import Final

from harness.contract.config import DEFAULT_NEMESIS, NO_NEMESIS
from harness.contract.history import JSON, Phase
from harness.contract.roles import FaultOp, FaultPackage, NemesisContext

from .registry import FAULT_PACKAGES
from .triggers.trigger import TIMER

MIX: Final = tuple(FAULT_PACKAGES)
"""The packages of the default schedule: every registered one (the config's validation
of ``nemesis_options`` relies on that: `harness.contract.config.DEFAULT_NEMESIS`)."""


def is_default(nemesis: tuple[str, ...]) -> bool:
    return nemesis == (DEFAULT_NEMESIS,)


def expand(nemesis: tuple[str, ...]) -> tuple[str, ...]:
    """The fault packages a run's ``nemesis`` names: `MIX` for the default schedule,
    nothing for ``none``, else the names themselves."""
    if is_default(nemesis):
        return MIX
    return tuple(n for n in nemesis if n != NO_NEMESIS)


def background(
    seed: int,
    packages: Mapping[str, FaultPackage],
    contexts: Mapping[str, NemesisContext],
    time_limit: float,
    interval: float,
) -> list[FaultOp]:
    """The default schedule's seeded background: one fault at a time until the time
    limit (a stop that would fall after it is left to the final heal)."""
    rng = random.Random(f"{seed}/nemesis/default/background")
    usable = [n for n in packages if _start_value(packages[n], contexts[n], 0, seed) is not None]
    ops: list[FaultOp] = []
    t, episode = interval * rng.uniform(0.5, 1.5), 0
    while usable and t < time_limit:
        name = rng.choice(usable)
        value = _start_value(packages[name], contexts[name], episode, seed)
        why: dict[str, JSON] = {"name": TIMER, "episode": episode}
        ops.append(FaultOp(round(t, 3), Phase.START, name, value, trigger=why))
        t += interval * rng.uniform(0.5, 1.5)
        if t < time_limit:
            ops.append(FaultOp(round(t, 3), Phase.STOP, name, {}, trigger=why))
        t += interval * rng.uniform(0.5, 1.5)
        episode += 1
    return ops


def _start_value(pkg: FaultPackage, ctx: NemesisContext, episode: int, seed: int) -> JSON:
    """The start value ``pkg``'s own generator draws first, from this episode's RNG
    (None when the package cannot act on this cluster, e.g. too few nodes)."""
    rng = random.Random(f"{seed}/nemesis/default/{episode}")
    one_start = dataclasses.replace(ctx, rng=rng, time_limit=2.0, interval=1.0)
    try:
        ops = list(pkg.generator(one_start))
    except ValueError:
        return None
    starts = [op.value for op in ops if op.phase is Phase.START]
    return starts[0] if starts else None
