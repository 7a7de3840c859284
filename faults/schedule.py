"""The seeded fault schedule: a pure function of (seed, config, nodes), never of timing.

Each package's generator turns a `NemesisContext` (its package, seeded RNG, brokers,
controller, keys, time limit, mean interval, options) into `FaultOp` s: a
`Phase.START` op at some time, the matching `Phase.STOP` later, and so on until the
time limit. Targets and shapes are drawn from the RNG when the schedule is built, so the
same seed and config give the same ops, target for target; only "the leader of key k" is
looked up when the op runs (the *choice* of k is seeded).

`harness.nemesis.build_schedule` merges the packages' ops by time, each package with
its own RNG derived from the seed and its name (adding a package does not change
another's schedule). Example for ``--nemesis kill,pause --nemesis-interval 10``::

    FaultOp(at=8.1, phase=Phase.START, package="kill",
            value={"target": "one", "nodes": ["n2"]})     # history f: "start-kill"
    FaultOp(at=11.9, phase=Phase.START, package="pause", value={"target": "leader", "key": 1})
    FaultOp(at=17.3, phase=Phase.STOP, package="kill", value={})
    ...

Every package ends with `heal_all`: one stop valued ``{"heal": "all"}`` at the time
limit, which undoes whatever the schedule (or an interrupted run) left.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from harness.contract.history import JSON, Phase
from harness.contract.roles import FaultOp, NemesisContext
from harness.contract.schedule import HEAL_ALL


def cycle(ctx: NemesisContext, start_value: Callable[[random.Random], JSON]) -> Iterator[FaultOp]:
    """Alternate start and stop ops of ``ctx.package`` until the time limit.

    Gaps and fault durations are each ``interval x U(0.5, 1.5)``; a stop that would fall
    after the time limit is left to the package's final (heal) ops.
    """
    rng = ctx.rng
    t = ctx.interval * rng.uniform(0.5, 1.5)
    while t < ctx.time_limit:
        yield FaultOp(round(t, 3), Phase.START, ctx.package, start_value(rng))
        t += ctx.interval * rng.uniform(0.5, 1.5)
        if t >= ctx.time_limit:
            return
        yield FaultOp(round(t, 3), Phase.STOP, ctx.package, {})
        t += ctx.interval * rng.uniform(0.5, 1.5)


def cycling(
    start_value: Callable[[NemesisContext, random.Random], JSON],
) -> Callable[[NemesisContext], list[FaultOp]]:
    """A package's generator: `cycle`, each start valued ``start_value(ctx, rng)``."""

    def generator(ctx: NemesisContext) -> list[FaultOp]:
        return list(cycle(ctx, lambda rng: start_value(ctx, rng)))

    return generator


def heal_all(ctx: NemesisContext) -> list[FaultOp]:
    """A package's final ops: one stop that heals everything it may have left, whatever
    the schedule did (the fault sees it through `heals_everything`)."""
    return [FaultOp(ctx.time_limit, Phase.STOP, ctx.package, dict(HEAL_ALL))]
