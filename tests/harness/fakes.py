"""Docker-less fakes of the spine's roles, for unit tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

from harness.contract.history import JSON, OpType, Phase
from harness.contract.plan import ClusterPlan, ClusterSpec
from harness.contract.roles import (
    Client,
    Cluster,
    Completion,
    FaultOp,
    FaultPackage,
    NemesisContext,
)
from harness.systems.replog import ReplogSystem


class ScriptedClient:
    """Answers ops from a script: a callable (f, value) -> Completion."""

    def __init__(self, answer: Any, log: list[tuple[str, int]], process: int) -> None:
        self.answer = answer
        self.log = log
        self.process = process
        self.opened = False
        self.closed = False

    def open(self) -> None:
        self.opened = True
        self.log.append(("open", self.process))

    def invoke(self, f: str, value: JSON) -> Completion:
        assert self.opened and not self.closed, "invoke on a client that is not open"
        result: Completion = self.answer(self.process, f, value)
        return result

    def close(self) -> None:
        self.closed = True
        self.log.append(("close", self.process))


class FakeSystem:
    """A system whose replica states come from a mutable list (no Docker, no network)."""

    name = "fake"

    def __init__(self, states: list[dict[str, JSON]]) -> None:
        self.states = states
        self.lock = threading.Lock()
        self.calls = 0

    def images(self) -> list[str]:
        return []

    def render(self, spec: ClusterSpec) -> ClusterPlan:
        return ReplogSystem().render(spec)

    def client(self, cluster: Cluster, process: int) -> Client:
        raise NotImplementedError

    def replica_states(self, cluster: Cluster) -> list[dict[str, JSON]]:
        with self.lock:
            self.calls += 1
            return [dict(s) for s in self.states]

    def dump_replicas(self, cluster: Cluster) -> list[dict[str, JSON]]:
        return []


class FakeCluster:
    """Just enough of `Cluster` for the monitor and health checks."""

    def __init__(self, plan: ClusterPlan, system: FakeSystem) -> None:
        self.plan = plan
        self.system = system
        self.run_id = plan.run_id


def state(key: int, node: str, role: str, isr: list[str], epoch: int = 1) -> dict[str, JSON]:
    return {"key": key, "node": node, "role": role, "leo": 5, "hw": 5, "epoch": epoch,
            "isr": isr}  # fmt: skip


def ok(value: JSON, **extra: Any) -> Completion:
    return Completion(OpType.OK, {**value, **extra}, "n1")


def fault_cluster() -> Cluster:
    """A 3-node replog cluster as a fault factory receives it (no Docker: only ``plan``,
    ``system`` and ``run_id`` are there, which is all a `RecordingFault` looks at)."""
    plan = ReplogSystem().render(ClusterSpec("r1", 3, 2, 3, "kafka-0.11"))
    return cast(Cluster, FakeCluster(plan, FakeSystem([])))


class RecordingFault:
    """A `harness.contract.roles.Fault` that records each phase and value it is asked to
    do and reports them back; the value ``"explode"`` makes it raise (a fault that could
    not act at all)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.calls: list[tuple[Phase, JSON]] = []

    def invoke(self, phase: Phase, value: JSON) -> JSON:
        self.calls.append((phase, value))
        if value == "explode":
            raise RuntimeError("could not reach the node")
        return {"did": phase.value, "target": value}


def start_stop_each_interval(ctx: NemesisContext) -> Iterable[FaultOp]:
    """A seeded schedule: a start and, 10 ms later, its stop on a random broker."""
    t = 0.0
    while True:
        t += ctx.rng.uniform(0.5, 1.5) * ctx.interval
        if t > ctx.time_limit:
            return
        target = ctx.rng.choice(ctx.brokers)
        yield FaultOp(t, Phase.START, ctx.package, target)
        yield FaultOp(t + 0.01, Phase.STOP, ctx.package, target)


def heal_once(ctx: NemesisContext) -> Sequence[FaultOp]:
    return [FaultOp(0, Phase.STOP, ctx.package, "heal")]


def recording_package(
    name: str = "fake",
    heal_order: int = 50,
    built: list[RecordingFault] | None = None,
    generator: Callable[[NemesisContext], Iterable[FaultOp]] = start_stop_each_interval,
) -> FaultPackage:
    """A package of `RecordingFault` s; every fault it builds is appended to ``built``."""

    def fault(cluster: Cluster) -> RecordingFault:
        made = RecordingFault(cluster)
        if built is not None:
            built.append(made)
        return made

    return FaultPackage(
        name=name, doc="records what it is asked to do", fault=fault, generator=generator,
        final=heal_once, heal_order=heal_order, colour="#123456",
    )  # fmt: skip
