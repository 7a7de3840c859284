"""The fault registry: package name → `harness.contract.roles.FaultPackage`.

`floodmark run --nemesis a,b` validates names against this dict before any container
starts, and the run's nemesis thread executes the chosen packages' seeded schedules.
Adding a fault is one module plus one line here.

Some packages need a layer inside every node container, switched on by environment
variables the node image's ``entrypoint.sh`` reads; `node_env` gives the harness the
variables for a selection (put them in `harness.contract.plan.ClusterSpec.env`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from harness.contract.roles import FaultPackage

from . import clock, leader_crash
from .disk import lose_unfsynced, slow
from .network import link, partition
from .process import KILL, PAUSE

FAULT_PACKAGES: dict[str, FaultPackage] = {
    p.name: p
    for p in (
        partition.PARTITION,
        link.LINK,
        KILL,
        PAUSE,
        slow.SLOW_DISK,
        lose_unfsynced.LOSE_UNFSYNCED,
        clock.CLOCK,
        leader_crash.LEADER_CRASH,
    )
}

NODE_ENV: Final[dict[str, dict[str, str]]] = {
    "lose-unfsynced": lose_unfsynced.NODE_ENV,
    "clock": clock.NODE_ENV,
}
"""Package name → environment every node container needs for it (entrypoint layers)."""

NEEDS_FUSE: Final = frozenset({"lose-unfsynced"})
"""Packages whose nodes need ``--device /dev/fuse --cap-add SYS_ADMIN``."""


def node_env(names: Iterable[str]) -> dict[str, str]:
    """The node environment the selected packages need (``{}`` for none of them)."""
    env: dict[str, str] = {}
    for name in names:
        env.update(NODE_ENV.get(name, {}))
    return env
