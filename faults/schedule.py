"""The seeded fault schedule: a pure function of (seed, config, nodes), never of timing.

Each package's generator turns a `NemesisContext` (seeded RNG, brokers, controller, keys,
time limit, mean interval) into `FaultOp` s: ``start-<package>`` at some time, the
matching ``stop-<package>`` later, and so on until the time limit. Targets and shapes
are drawn from the RNG when the schedule is built, so the same seed and config give the
same ops, target for target; only "the leader of key k" is looked up when the op runs
(the *choice* of k is seeded).

`harness.nemesis.build_schedule` merges the packages' ops by time, each package with
its own RNG derived from the seed and its name (adding a package does not change
another's schedule). Example for ``--nemesis kill,pause --nemesis-interval 10``::

    FaultOp(at=8.1, f="start-kill", value={"target": "one", "nodes": ["n2"]})
    FaultOp(at=11.9, f="start-pause", value={"target": "leader", "key": 1})
    FaultOp(at=17.3, f="stop-kill", value={})
    ...
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence

from harness.contract.history import JSON
from harness.contract.roles import FaultOp, NemesisContext


def cycle(
    ctx: NemesisContext,
    package: str,
    start_value: Callable[[random.Random], JSON],
) -> Iterator[FaultOp]:
    """Alternate ``start-<package>`` and ``stop-<package>`` until the time limit.

    Gaps and fault durations are each ``interval x U(0.5, 1.5)``; a stop that would fall
    after the time limit is left to the package's final (heal) ops.
    """
    rng = ctx.rng
    t = ctx.interval * rng.uniform(0.5, 1.5)
    while t < ctx.time_limit:
        yield FaultOp(round(t, 3), f"start-{package}", start_value(rng))
        t += ctx.interval * rng.uniform(0.5, 1.5)
        if t >= ctx.time_limit:
            return
        yield FaultOp(round(t, 3), f"stop-{package}", {})
        t += ctx.interval * rng.uniform(0.5, 1.5)


def heal(package: str) -> Callable[[NemesisContext], Sequence[FaultOp]]:
    """The final ops of a package: one ``stop-<package>`` that heals everything it may
    have left (whatever the schedule did)."""

    def final(ctx: NemesisContext) -> Sequence[FaultOp]:
        return [FaultOp(ctx.time_limit, f"stop-{package}", {"heal": "all"})]

    return final
