"""``lose-unfsynced``: a power-loss crash that drops every write a node had not fsynced.

It needs the lazyfs FUSE layer (``faults/agent/lazyfs.py``) mounted over the node's data
directory, which ``entrypoint.sh`` does when the node runs with ``FLOODMARK_LAZYFS=1``
(the package's ``node_env``: the harness sets it for every node when this package is
selected). The layer holds un-fsynced contents in memory; this fault:

1. tells the layer to ``crash``: it drops what is pending, reports exactly what (files,
   bytes), and fails every later file operation with EIO (the disk lost power);
2. SIGKILLs the container (the daemon dies with whatever memory was left);
3. on ``stop-lose-unfsynced``, starts the container again: the entrypoint mounts a fresh
   layer over what had really reached the disk.

It works for any system whose data directory floodmark mounts (it acts on files, not on
replog's internals). History value::

    start-lose-unfsynced {"target": "one", "nodes": ["n2"], "killed": ["n2"],
        "lost": {"n2": {"files": 3, "bytes": 5120, "paths": {"/p0/00000.log": {...}}}},
        "verified": true}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Final

from docker.errors import APIError
from docker.models.containers import Container

from harness.contract.history import JSON
from harness.contract.roles import FaultPackage, NemesisOption

from ..common import (
    TARGETS,
    NoTarget,
    StartStopFault,
    agent,
    resolve_target,
    target_schedule,
    verified,
    wait_until,
)
from ..process import LAZYFS_SWITCH, lazyfs_on, restart_nodes, state
from ..schedule import heal_all

MAX_PATHS: Final = 20


def _stopped(c: Container) -> bool:
    return state(c) == "stopped"


@dataclass(eq=False)
class LoseUnfsyncedFault(StartStopFault):
    """Crash nodes as a power loss would (lazyfs drops the un-fsynced); restart on stop."""

    down: list[str] = field(default_factory=list, init=False)
    """The nodes a start crashed since the last stop (restarted by the stop)."""

    def start(self, value: JSON) -> JSON:
        cluster = self.cluster
        nodes = resolve_target(cluster, value)
        lost: dict[str, JSON] = {}
        problems: list[str] = []
        killed: list[str] = []
        down: list[str] = []
        for n in nodes:
            c = cluster.container(n)
            if state(c) == "paused":
                c.unpause()
            if state(c) != "running":
                down.append(n)
                continue
            if not lazyfs_on(c):
                problems.append(
                    f"{n} runs without the lazyfs layer ({LAZYFS_SWITCH}=1 not set), so "
                    "nothing un-fsynced can be dropped; select lose-unfsynced with --nemesis "
                    "so the harness mounts it"
                )
                continue
            reply = agent(c, "lazyfs.py", "ctl", "crash")
            if not reply.get("ok"):
                problems.append(f"{n}: lazyfs crash failed: {reply.get('error')}")
                continue
            dropped = reply.get("dropped") or {}
            lost[n] = {
                "files": len(dropped),
                "bytes": sum(int(d["bytes"]) for d in dropped.values()),
                "paths": dict(list(dropped.items())[:MAX_PATHS]),
            }
            try:
                c.kill(signal="SIGKILL")
            except APIError as e:
                # The node may die by itself first: every file operation now fails with
                # EIO, and e.g. a booting Kafka exits on it. It is down all the same.
                if "is not running" not in str(e):
                    raise
            wait_until(partial(_stopped, c), 30.0, f"{n} to stop after SIGKILL", clock=self.clock)
            killed.append(n)
            if n not in self.down:
                self.down.append(n)
        spec = dict(value) if isinstance(value, dict) else {}
        if down and not killed and not problems:
            raise NoTarget(f"{down} were not running: nothing un-fsynced to lose")
        return verified(
            not problems and bool(killed),
            "; ".join(problems) or "no node was crashed",
            spec,
            nodes=nodes,
            killed=killed,
            not_running=down,
            lost=lost,
        )

    def stop(self, everything: bool) -> JSON:
        cluster = self.cluster
        nodes = list(self.down)
        if everything:
            nodes = [*nodes, *(n for n in cluster.plan.brokers if n not in nodes)]
        done = restart_nodes(cluster, nodes, self.clock)
        self.down = []
        modes = {n: a.get("lazyfs") for n, a in done.actions.items() if "lazyfs" in a}
        return verified(
            done.all_up and all(m == "lazy" for m in modes.values()),
            f"expected {nodes} running with a fresh lazyfs, states {done.states}, lazyfs {modes}",
            restarted=done.restarted,
            lazyfs=modes,
        )


TARGETS_OPTION: Final = NemesisOption(
    "lose_unfsynced_targets",
    "whom a power-loss crash may hit",
    choices=tuple(k for k in TARGETS if k != "controller"),
    default=("one", "leader", "minority"),
)

LOSE_UNFSYNCED: Final = FaultPackage(
    name="lose-unfsynced",
    doc="Power-loss crash: drop every write not yet fsynced (lazyfs FUSE layer), SIGKILL, "
    "restart later.",
    fault=LoseUnfsyncedFault,
    generator=target_schedule(TARGETS_OPTION, controller=False),
    final=heal_all,
    heal_order=30,
    options=(TARGETS_OPTION,),
    node_env={LAZYFS_SWITCH: "1"},
    colour="#8c564b",
)
