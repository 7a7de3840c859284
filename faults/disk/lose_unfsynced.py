"""``lose-unfsynced``: a power-loss crash that drops every write a node had not fsynced.

It needs the lazyfs FUSE layer (``faults/agent/lazyfs.py``) mounted over the node's data
directory, which ``entrypoint.sh`` does when the node runs with ``FLOODMARK_LAZYFS=1``
(`NODE_ENV`; the harness sets it for every node when this package is selected). The
layer holds un-fsynced contents in memory; this fault:

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

from functools import partial
from typing import Final

from docker.errors import APIError
from docker.models.containers import Container

from harness.contract.history import JSON
from harness.contract.roles import Cluster, FaultOp, FaultPackage, NemesisContext

from ..common import (
    FaultError,
    NoTarget,
    agent,
    choose_target,
    resolve_target,
    skips_missing_targets,
    verified,
    wait_until,
)
from ..process import lazyfs_on, start_node, state
from ..schedule import cycle, heal

NODE_ENV: Final = {"FLOODMARK_LAZYFS": "1"}
MAX_PATHS: Final = 20


def _stopped(c: Container) -> bool:
    return state(c) == "stopped"


class LoseUnfsyncedFault:
    def __init__(self) -> None:
        self.cluster: Cluster | None = None
        self.down: list[str] = []

    def setup(self, cluster: Cluster) -> None:
        self.cluster = cluster

    @skips_missing_targets
    def invoke(self, f: str, value: JSON) -> JSON:
        cluster = self.cluster
        if cluster is None:
            raise FaultError("lose-unfsynced used before setup(cluster)")
        if f.startswith("stop-"):
            return self._restart(cluster, value)
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
                    f"{n} runs without the lazyfs layer (FLOODMARK_LAZYFS=1 not set), so "
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
            wait_until(partial(_stopped, c), 30.0, f"{n} to stop after SIGKILL")
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

    def _restart(self, cluster: Cluster, value: JSON) -> JSON:
        heal_all = isinstance(value, dict) and value.get("heal") == "all"
        nodes = list(self.down)
        if heal_all:
            nodes = [*nodes, *(n for n in cluster.plan.brokers if n not in nodes)]
        actions = {n: start_node(cluster, n) for n in nodes}
        self.down = []
        states = {n: state(cluster.container(n)) for n in nodes}
        modes = {n: a.get("lazyfs") for n, a in actions.items() if "lazyfs" in a}
        ok = all(s != "stopped" for s in states.values()) and all(
            m == "lazy" for m in modes.values()
        )
        return verified(
            ok,
            f"expected {nodes} running with a fresh lazyfs, states {states}, lazyfs {modes}",
            restarted=[n for n, a in actions.items() if a.get("started")],
            lazyfs=modes,
        )

    def teardown(self) -> None:
        self.cluster = None


def _generator(ctx: NemesisContext) -> list[FaultOp]:
    kinds = tuple(ctx.options.get("lose_unfsynced_targets") or ("one", "leader", "minority"))
    return list(
        cycle(
            ctx,
            "lose-unfsynced",
            lambda rng: choose_target(rng, ctx.brokers, None, ctx.keys, kinds),
        )
    )


LOSE_UNFSYNCED: Final = FaultPackage(
    name="lose-unfsynced",
    heal_order=30,
    fault=LoseUnfsyncedFault,
    generator=_generator,
    final=heal("lose-unfsynced"),
    colour="#8c564b",
    doc="Power-loss crash: drop every write not yet fsynced (lazyfs FUSE layer), SIGKILL, "
    "restart later.",
)
