"""The nemesis: executes the seeded fault schedule and records what each fault did.

The schedule is computed before the load starts, from the seed, the config and the node
names only (`build_schedule`), so the same seed gives the same faults, op for op; targets
such as "the leader of key k" are resolved by the fault when its op runs. Each package
gets its own RNG (``Random(f"{seed}/nemesis/{name}")``), so adding a package does not
change another's schedule.

Each package's fault is built once, with the running cluster (`FaultPackage.fault`).
Every action becomes one history op, process ``"nemesis"``, type ``info``, ``f`` the
op's phase and package (``start-partition``...), ``value`` = what the fault reports it
did::

    {"process":"nemesis","type":"info","f":"start-partition",
     "value":{"shape":"majority","cut":{"n1":["n2","n3"]}}}

A fault that raises is recorded with ``"verified": false`` and ``"why"`` (and the op's
``error``), and the run goes on; the verdict then cannot be trusted to have tested that
fault. `Nemesis.heal` runs every package's final (heal) ops in heal order, also when the
run is interrupted; they are the faults' cleanup.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping, Sequence

from harness.contract.history import JSON, NEMESIS, HistoryWriter, OpType
from harness.contract.roles import Cluster, Fault, FaultOp, FaultPackage, NemesisContext

log = logging.getLogger("floodmark")


def context(
    seed: int,
    package: str,
    brokers: tuple[str, ...],
    controller: str | None,
    keys: int,
    time_limit: float,
    interval: float,
    options: Mapping[str, Sequence[str]] | None = None,
) -> NemesisContext:
    """A package's context; ``options`` are the run's ``nemesis_options`` (all of them:
    each package reads only its own)."""
    return NemesisContext(
        package=package,
        rng=random.Random(f"{seed}/nemesis/{package}"),
        brokers=brokers,
        controller=controller,
        keys=keys,
        time_limit=time_limit,
        interval=interval,
        options={k: list(v) for k, v in (options or {}).items()},
    )


def build_schedule(
    packages: Mapping[str, FaultPackage], contexts: Mapping[str, NemesisContext]
) -> list[FaultOp]:
    """Every package's ops within the time limit, merged in time order (stable)."""
    merged: list[FaultOp] = []
    for name, pkg in packages.items():
        ctx = contexts[name]
        for op in pkg.generator(ctx):
            if op.package != name:
                raise ValueError(
                    f"the {name} package's generator scheduled {op.f} at {op.at}; a package "
                    "schedules only its own ops (build them from its NemesisContext)"
                )
            if op.at < 0 or op.at > ctx.time_limit:
                continue
            merged.append(op)
    merged.sort(key=lambda op: op.at)
    return merged


class Nemesis(threading.Thread):
    """Runs a schedule against the faults of ``cluster``, recording each action in the
    history."""

    def __init__(
        self,
        cluster: Cluster,
        packages: Mapping[str, FaultPackage],
        contexts: Mapping[str, NemesisContext],
        schedule: Sequence[FaultOp],
        history: HistoryWriter,
    ) -> None:
        super().__init__(name="nemesis", daemon=True)
        self.packages = packages
        self.contexts = contexts
        self.schedule = schedule
        self.history = history
        self.faults: dict[str, Fault] = {name: pkg.fault(cluster) for name, pkg in packages.items()}
        self.stopping = threading.Event()
        self.t0 = time.monotonic()
        self.done = 0
        self._lock = threading.Lock()

    def begin(self) -> None:
        """Start executing the schedule; op times count from now."""
        self.t0 = time.monotonic()
        self.start()

    def run(self) -> None:
        for op in self.schedule:
            delay = self.t0 + op.at - time.monotonic()
            if delay > 0 and self.stopping.wait(delay):
                return
            if self.stopping.is_set():
                return
            self.execute(op)
            self.done += 1

    def execute(self, op: FaultOp) -> None:
        with self._lock:  # heal must not interleave with a half-done action
            fault = self.faults[op.package]
            try:
                did: JSON = fault.invoke(op.phase, op.value)
                self.history.append(NEMESIS, OpType.INFO, op.f, did)
            except Exception as e:
                log.exception("nemesis: %s %s failed", op.package, op.f)
                why = f"{type(e).__name__}: {e}"
                value = {"requested": op.value, "verified": False, "why": why}
                self.history.append(NEMESIS, OpType.INFO, op.f, value, error=type(e).__name__)

    def stop(self, timeout: float = 30.0) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join(timeout)

    def heal(self) -> None:
        """Every package's final ops (resume, heal links, restart, reset clocks, unthrottle),
        in `FaultPackage.heal_order`."""
        for name, pkg in sorted(self.packages.items(), key=lambda item: item[1].heal_order):
            for op in pkg.final(self.contexts[name]):
                self.execute(op)
