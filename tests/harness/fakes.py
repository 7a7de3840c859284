"""Docker-less fakes of the spine's roles, for unit tests."""

from __future__ import annotations

import threading
from typing import Any

from harness.contract.history import JSON, OpType
from harness.contract.plan import ClusterPlan, ClusterSpec
from harness.contract.roles import Client, Cluster, Completion
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
