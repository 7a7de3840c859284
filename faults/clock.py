"""``clock``: shift or strobe a node's wall clock with libfaketime, at run time.

Nodes run with ``FLOODMARK_FAKETIME=1`` (`NODE_ENV`; the harness sets it when this
package is selected): ``entrypoint.sh`` preloads libfaketime into the node's process,
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

import time
from typing import Any, Final

from harness.contract.history import JSON
from harness.contract.roles import Cluster, FaultOp, FaultPackage, NemesisContext

from .common import (
    FaultError,
    NoTarget,
    agent,
    all_nodes,
    container_env,
    skips_missing_targets,
    verified,
)
from .process import state
from .schedule import cycle, heal

NODE_ENV: Final = {"FLOODMARK_FAKETIME": "1"}
OFFSETS: Final = (-300, -60, -10, -2, 2, 10, 60, 300)
TOLERANCE: Final = 1.5
"""Seconds between the asked and the reported offset still counted as applied."""
SETTLE: Final = 3.0


def reported_offset(cluster: Cluster, node: str, expect: float) -> dict[str, Any]:
    """Poll the node's reported time until it is within `TOLERANCE` of ``expect`` or
    `SETTLE` seconds pass; returns the last reading."""
    c = cluster.container(node)
    deadline = time.monotonic() + SETTLE
    while True:
        reading = agent(c, "clock.py", "verify")
        close = abs(float(reading["offset"]) - expect) <= TOLERANCE
        if close or time.monotonic() >= deadline:
            return reading
        time.sleep(0.25)


class ClockFault:
    def __init__(self) -> None:
        self.cluster: Cluster | None = None
        self.skewed: list[str] = []

    def setup(self, cluster: Cluster) -> None:
        self.cluster = cluster

    @skips_missing_targets
    def invoke(self, f: str, value: JSON) -> JSON:
        cluster = self.cluster
        if cluster is None:
            raise FaultError("clock used before setup(cluster)")
        if f.startswith("stop-"):
            return self._reset(cluster, value)
        if not isinstance(value, dict) or "node" not in value or "offset" not in value:
            raise FaultError(f"start-clock expects {{'node', 'mode', 'offset'}}, got {value!r}")
        node, mode, offset = str(value["node"]), str(value.get("mode", "shift")), value["offset"]
        c = cluster.container(node)
        if container_env(c).get("FLOODMARK_FAKETIME") != "1":
            return verified(
                False,
                f"{node} runs without libfaketime (FLOODMARK_FAKETIME=1 not set); select "
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
        reading = reported_offset(cluster, node, float(offset))
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

    def _reset(self, cluster: Cluster, value: JSON) -> JSON:
        nodes = list(dict.fromkeys(self.skewed))
        if isinstance(value, dict) and value.get("heal") == "all":
            nodes = [n for n in all_nodes(cluster) if _faked(cluster, n)]
        readings: dict[str, JSON] = {}
        for n in nodes:
            c = cluster.container(n)
            if state(c) != "running":
                continue  # a stopped node's file is reset when it is reset next, or stays 0
            try:
                agent(c, "clock.py", "reset")
                readings[n] = reported_offset(cluster, n, 0.0)["offset"]
            except FaultError:
                if state(c) == "running":
                    raise
                continue  # it stopped meanwhile (its process exited): as above
        self.skewed = []
        off = {n: o for n, o in readings.items() if abs(float(o)) > TOLERANCE}
        return verified(not off, f"clocks still skewed after reset: {off}", reset=readings)

    def teardown(self) -> None:
        self.cluster = None


def _faked(cluster: Cluster, node: str) -> bool:
    return container_env(cluster.container(node)).get("FLOODMARK_FAKETIME") == "1"


def _generator(ctx: NemesisContext) -> list[FaultOp]:
    def start(rng: Any) -> JSON:
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

    return list(cycle(ctx, "clock", start))


CLOCK: Final = FaultPackage(
    name="clock",
    heal_order=40,
    fault=ClockFault,
    generator=_generator,
    final=heal("clock"),
    colour="#17becf",
    doc="Shift or strobe a node's wall clock (libfaketime); heal resets it to 0.",
)
