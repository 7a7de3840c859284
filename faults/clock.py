"""``clock``: shift or strobe a node's wall clock with libfaketime, at run time.

Nodes run with ``FLOODMARK_FAKETIME=1`` (the package's ``node_env``: the harness sets it
when this package is selected): ``entrypoint.sh`` preloads libfaketime into the node's process,
reading its offset from ``/run/floodmark/faketime`` at most 1 s stale. The fault drives
that file through ``agent/clock.py`` with ``docker exec``:

- ``shift``: the clock jumps ``offset`` seconds (ahead or behind) and stays there;
- ``strobe``: it flips between ``offset`` and 0 every ``period`` s (≥ 1 s, libfaketime's
  re-read interval) for ``duration`` s, from a detached process in the container;
- stop / heal: any strobe is stopped and the offset goes back to 0.

Verification reads the time the node's libc reports (``date`` run with the node
process's own environment, after checking libfaketime is mapped into that process) and
compares it with real time. History value::

    start-clock {"node": "n1", "mode": "shift", "offset": -30, "reported_offset": -29.98,
                 "verified": true}
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Final

from docker.models.containers import Container

from harness.contract.history import JSON
from harness.contract.roles import FaultPackage, NemesisContext

from .common import (
    FaultError,
    NoTarget,
    StartStopFault,
    agent,
    all_nodes,
    container_env,
    verified,
)
from .process import state
from .schedule import cycling, heal_all

SWITCH: Final = "FLOODMARK_FAKETIME"
"""The node environment variable (set to ``1``) that makes ``entrypoint.sh`` preload
libfaketime."""
OFFSETS: Final = (-300, -60, -10, -2, 2, 10, 60, 300)
TOLERANCE: Final = 1.5
"""Seconds between the asked and the reported offset still counted as applied."""
SETTLE: Final = 3.0


@dataclass(eq=False)
class ClockFault(StartStopFault):
    """Shift or strobe one node's clock; reset the skewed clocks on stop."""

    skewed: list[str] = field(default_factory=list, init=False)
    """The nodes whose clock a start set since the last stop."""

    def reported_offset(self, node: str, expect: float) -> dict[str, Any]:
        """Poll the node's reported time until it is within `TOLERANCE` of ``expect`` or
        `SETTLE` seconds pass; returns the last reading."""
        c = self.cluster.container(node)
        deadline = self.clock.now() + SETTLE
        while True:
            reading = agent(c, "clock.py", "verify")
            close = abs(float(reading["offset"]) - expect) <= TOLERANCE
            if close or self.clock.now() >= deadline:
                return reading
            self.clock.sleep(0.25)

    def start(self, value: JSON) -> JSON:
        cluster = self.cluster
        if not isinstance(value, dict) or "node" not in value or "offset" not in value:
            raise FaultError(f"start-clock expects {{'node', 'mode', 'offset'}}, got {value!r}")
        node, mode, offset = str(value["node"]), str(value.get("mode", "shift")), value["offset"]
        c = cluster.container(node)
        if not _faked(c):
            return verified(
                False,
                f"{node} runs without libfaketime ({SWITCH}=1 not set); select "
                "clock with --nemesis so the harness preloads it",
                value,
            )
        if state(c) != "running":
            raise NoTarget(f"{node} is {state(c)}, its clock cannot be set now")
        self.skewed.append(node)
        if mode == "strobe":
            period, duration = float(value.get("period", 1.0)), float(value["duration"])
            args = ["--offset", str(offset), "--period", str(period), "--duration", str(duration)]
            c.exec_run(["python3", "/opt/floodmark/agent/clock.py", "strobe", *args], detach=True)
        else:
            agent(c, "clock.py", "set", "--offset", str(offset))
        reading = self.reported_offset(node, float(offset))
        ok = (
            bool(reading.get("mapped"))
            and abs(float(reading["offset"]) - float(offset)) <= TOLERANCE
        )
        why = (
            "libfaketime is not mapped into the node's process (pid 1)"
            if not reading.get("mapped")
            else f"asked for {offset:+} s, the node reports {reading['offset']:+} s"
        )
        return verified(ok, why, value, reported_offset=reading["offset"])

    def stop(self, everything: bool) -> JSON:
        cluster = self.cluster
        nodes = list(dict.fromkeys(self.skewed))
        if everything:
            nodes = [n for n in all_nodes(cluster) if _faked(cluster.container(n))]
        readings: dict[str, JSON] = {}
        for n in nodes:
            c = cluster.container(n)
            if state(c) != "running":
                continue  # a stopped node's file is reset when it is reset next, or stays 0
            try:
                agent(c, "clock.py", "reset")
                readings[n] = self.reported_offset(n, 0.0)["offset"]
            except FaultError:
                if state(c) == "running":
                    raise
                continue  # it stopped meanwhile (its process exited): as above
        self.skewed = []
        off = {n: o for n, o in readings.items() if abs(float(o)) > TOLERANCE}
        return verified(not off, f"clocks still skewed after reset: {off}", reset=readings)


def _faked(container: Container) -> bool:
    return container_env(container).get(SWITCH) == "1"


def _start(ctx: NemesisContext, rng: random.Random) -> JSON:
    node = rng.choice([*ctx.brokers, *([ctx.controller] if ctx.controller else [])])
    offset = rng.choice(OFFSETS)
    if rng.random() < 0.3:
        return {
            "node": node,
            "mode": "strobe",
            "offset": offset,
            "period": 1.0,
            "duration": max(2.0, round(ctx.interval, 1)),
        }
    return {"node": node, "mode": "shift", "offset": offset}


CLOCK: Final = FaultPackage(
    name="clock",
    doc="Shift or strobe a node's wall clock (libfaketime); heal resets it to 0.",
    fault=ClockFault,
    generator=cycling(_start),
    final=heal_all,
    heal_order=40,
    node_env={SWITCH: "1"},
    colour="#17becf",
)
