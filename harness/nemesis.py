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

Under the default schedule (`faults.default`) the nemesis also has a
`faults.triggers.engine.TriggerEngine`: the monitor hands it each round of samples
(`Nemesis.observe`), and the ops the engine returns go through the same `Nemesis.execute`
(history, lock, heal). Each op's ``trigger`` is recorded in its value::

    {"process":"nemesis","type":"info","f":"start-kill",
     "value":{"target":"one","nodes":["n3"],"killed":["n3"],"verified":true,
              "trigger":{"name":"follower-restarted","key":0,"follower":"n1",
                         "leader":"n3","caught_up":false,...}}}
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from faults.common import FaultError
from faults.default import background, expand, is_default
from faults.registry import FAULT_PACKAGES
from faults.triggers.engine import Pace, TriggerEngine
from faults.triggers.trigger import FINAL_HEAL
from harness.contract.config import TestConfig
from harness.contract.history import JSON, NEMESIS, HistoryWriter, OpType, Phase
from harness.contract.roles import Cluster, Fault, FaultOp, FaultPackage, NemesisContext
from harness.contract.schedule import Schedule, load_schedule

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


def make_nemesis(
    cluster: Cluster,
    packages: Mapping[str, FaultPackage],
    contexts: Mapping[str, NemesisContext],
    history: HistoryWriter,
    *,
    seed: int,
    default: bool,
) -> Nemesis:
    """The run's nemesis: the packages' merged schedules (`build_schedule`), or for the
    default schedule its background (`faults.default.background`) and a trigger engine
    paced by the run's time limit and interval (any context has them)."""
    if not default or not contexts:
        return Nemesis(cluster, packages, contexts, build_schedule(packages, contexts), history)
    some = next(iter(contexts.values()))
    limit, interval = some.time_limit, some.interval
    schedule = background(seed, packages, contexts, limit, interval)
    rf = cluster.plan.replication_factor
    engine = TriggerEngine(seed, tuple(packages), Pace.of(limit, interval), rf)
    return Nemesis(cluster, packages, contexts, schedule, history, engine=engine)


@dataclasses.dataclass(frozen=True, slots=True)
class Faults:
    """What a run's nemesis works with, settled before any container starts."""

    packages: dict[str, FaultPackage]
    """The packages the run uses: those its ``nemesis`` names (`faults.default.expand`:
    the default schedule's mix, none for ``none``) and every package a replay executes."""
    replayed: Schedule | None = None
    """The schedule ``config.replay`` names (a schedule file, or a run directory whose
    history is read for it), read once; None when the run draws its own."""


def plan_faults(config: TestConfig) -> Faults:
    """The `Faults` of ``config`` (its replay already checked with the config)."""
    replayed = load_schedule(config.replay, FAULT_PACKAGES) if config.replay else None
    names = list(expand(config.nemesis))
    names += [op.package for op in replayed.ops] if replayed else []
    return Faults({name: FAULT_PACKAGES[name] for name in dict.fromkeys(names)}, replayed)


def run_nemesis(
    config: TestConfig, faults: Faults, cluster: Cluster, history: HistoryWriter
) -> Nemesis:
    """The nemesis of a run: a replay executes exactly the replayed schedule's ops (within
    the time limit, no triggers); otherwise `make_nemesis` draws the schedule."""
    seed, plan, packages = int(config.seed or 0), cluster.plan, faults.packages
    contexts = {
        name: context(
            seed, name, plan.brokers, plan.controller, config.keys, config.time_limit,
            config.nemesis_interval, options=config.nemesis_options,
        )
        for name in packages
    }  # fmt: skip
    if faults.replayed is not None:
        ops = [op for op in faults.replayed.ops if op.at <= config.time_limit]
        return Nemesis(cluster, packages, contexts, ops, history)
    default = is_default(config.nemesis)  # the default schedule: background + triggers
    return make_nemesis(cluster, packages, contexts, history, seed=seed, default=default)


class Nemesis(threading.Thread):
    """Runs a schedule against the faults of ``cluster``, recording each action in the
    history; with an ``engine`` (the default schedule), also the faults its triggers
    fire on the monitor's rounds of samples (`observe`)."""

    def __init__(
        self,
        cluster: Cluster,
        packages: Mapping[str, FaultPackage],
        contexts: Mapping[str, NemesisContext],
        schedule: Sequence[FaultOp],
        history: HistoryWriter,
        engine: TriggerEngine | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name="nemesis", daemon=True)
        self.packages = packages
        self.contexts = contexts
        self.schedule = schedule
        self.history = history
        self.engine = engine
        self.clock = clock
        self.faults: dict[str, Fault] = {name: pkg.fault(cluster) for name, pkg in packages.items()}
        self.stopping = threading.Event()
        self.t0 = clock()
        self.done = 0
        self.active: dict[str, str] = {}
        """Package → what started its active fault (a trigger's name, or ``"schedule"``)."""
        self._lock = threading.Lock()
        self._began = threading.Event()
        self._rounds: queue.Queue[list[dict[str, JSON]] | None] = queue.Queue()
        self._held: set[str] = set()  # packages whose scheduled start was skipped

    def begin(self) -> None:
        """Start executing the schedule; op times count from now."""
        self.t0 = self.clock()
        self._began.set()
        self.start()

    def observe(self, states: Sequence[Mapping[str, JSON]]) -> None:
        """One round of monitor samples (`harness.monitor.Monitor`'s ``on_sample``): queued
        for the engine's triggers; ignored without an engine, before `begin`, after `stop`."""
        if self.engine is not None and self._began.is_set() and not self.stopping.is_set():
            self._rounds.put([dict(s) for s in states])

    def run(self) -> None:
        pending = list(self.schedule)
        while not self.stopping.is_set():
            now = self.clock() - self.t0
            while pending and pending[0].at <= now and not self.stopping.is_set():
                self._scheduled(pending.pop(0))
            if self.engine is None and not pending:
                return
            timeout = pending[0].at - now if pending else 1.0
            try:
                states = self._rounds.get(timeout=max(0.0, timeout))
            except queue.Empty:
                continue
            while states is not None and not self._rounds.empty():
                states = self._rounds.get_nowait()  # decide on the latest round only
            if states is None or self.engine is None:
                continue
            at = self.clock() - self.t0
            for op in self.engine.step(states, at, frozenset(self.active)):
                if self.stopping.is_set():
                    return
                self._act(op)

    def _scheduled(self, op: FaultOp) -> None:
        """A precomputed op, unless a trigger holds its package (then its start and the
        matching stop are skipped: one package never has two faults at once)."""
        name = op.package
        if op.phase is Phase.START and self.active.get(name, SCHEDULE) != SCHEDULE:
            log.info("nemesis: skipping scheduled %s at %.3f: %s holds it", op.f, op.at,
                     self.active[name])  # fmt: skip
            self._held.add(name)
            return
        if op.phase is Phase.STOP and name in self._held:
            self._held.discard(name)
            return
        self._act(op)

    def _act(self, op: FaultOp) -> None:
        """`execute`, counted; after a stop that restarted nodes, the engine's
        `TriggerEngine.restarted` ops at once (before a restarted follower can fetch)."""
        did = self.execute(op)
        self.done += 1
        restarted = did.get("restarted") if isinstance(did, dict) else None
        if self.engine is None or op.phase is not Phase.STOP or not isinstance(restarted, list):
            return
        at = self.clock() - self.t0
        for chained in self.engine.restarted(map(str, restarted), at, frozenset(self.active)):
            if not self.stopping.is_set():
                self._act(chained)

    def execute(self, op: FaultOp) -> JSON:
        """Do ``op`` with its package's fault and record it; returns what was recorded."""
        with self._lock:  # heal must not interleave with a half-done action
            fault = self.faults[op.package]
            try:
                recorded = _recorded(fault.invoke(op.phase, op.value), op)
                self.history.append(NEMESIS, OpType.INFO, op.f, recorded)
            except Exception as e:
                if isinstance(e, FaultError):  # expected and explained: its message, no trace
                    log.error("nemesis: %s %s failed: %s", op.package, op.f, e)
                    log.info("nemesis: %s %s failed", op.package, op.f, exc_info=True)
                else:
                    log.exception("nemesis: %s %s failed", op.package, op.f)
                why = f"{type(e).__name__}: {e}"
                recorded = _recorded({"verified": False, "why": why}, op)
                self.history.append(NEMESIS, OpType.INFO, op.f, recorded, error=type(e).__name__)
            if op.phase is Phase.START:
                trigger = op.trigger.get("name") if isinstance(op.trigger, dict) else None
                self.active[op.package] = str(trigger or SCHEDULE)
            else:
                self.active.pop(op.package, None)
            return recorded

    def stop(self, timeout: float = 30.0) -> None:
        self.stopping.set()
        self._rounds.put(None)
        if self.is_alive():
            self.join(timeout)

    def heal(self) -> None:
        """Every package's final ops (resume, heal links, restart, reset clocks, unthrottle),
        in `FaultPackage.heal_order` (under the default schedule each names the trigger
        ``final-heal``)."""
        why: JSON = {"name": FINAL_HEAL} if self.engine is not None else None
        for name, pkg in sorted(self.packages.items(), key=lambda item: item[1].heal_order):
            for op in pkg.final(self.contexts[name]):
                self.execute(op if why is None else dataclasses.replace(op, trigger=why))


SCHEDULE: Final = "schedule"
"""`Nemesis.active`'s word for a fault the precomputed schedule started."""


def _recorded(did: JSON, op: FaultOp) -> JSON:
    """The value to record: what the fault did, plus the op as it was scheduled (``"at"``,
    ``"requested"``: what `harness.contract.schedule.recorded` replays) and its
    ``"trigger"`` when it has one."""
    value: dict[str, JSON] = dict(did) if isinstance(did, dict) else {"result": did}
    value.update({"at": round(op.at, 3), "requested": op.value})
    if op.trigger is not None:
        value["trigger"] = op.trigger
    return value
