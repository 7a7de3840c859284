"""The nemesis under the default schedule: triggered ops go through `Nemesis.execute`
(recorded with their trigger), the background yields a package a trigger holds, and the
final heal names itself."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from faults.default import MIX
from faults.registry import FAULT_PACKAGES
from faults.triggers.engine import Pace, TriggerEngine
from faults.triggers.isr import ISR_ALONE
from faults.triggers.truncation import FOLLOWER_RESTARTED
from harness.contract.history import JSON, NEMESIS, HistoryWriter, Phase
from harness.contract.reader import read_history
from harness.contract.roles import FaultOp, FaultPackage
from harness.monitor import Monitor
from harness.nemesis import Nemesis, context, make_nemesis
from tests.faults.rounds import healthy, replace
from tests.harness.fakes import (
    FakeCluster,
    FakeSystem,
    RecordingFault,
    fault_cluster,
    recording_package,
)

NAMES = ("kill", "lose-unfsynced", "pause", "partition")
ALONE = replace(healthy(), 0, "n1", isr=["n1"])


def packages() -> dict[str, FaultPackage]:
    return {n: recording_package(name=n, heal_order=i) for i, n in enumerate(NAMES)}


def contexts(limit: float = 30.0) -> dict[str, Any]:
    return {n: context(1, n, ("n1", "n2", "n3"), "controller", 2, limit, 1.0) for n in NAMES}


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_make_nemesis_builds_the_background_and_an_engine_for_the_default(tmp_path: Path) -> None:
    with HistoryWriter(tmp_path / "h.jsonl") as h:
        plain = make_nemesis(fault_cluster(), packages(), contexts(), h, seed=1, default=False)
        mixed = make_nemesis(fault_cluster(), packages(), contexts(), h, seed=1, default=True)
    assert plain.engine is None and all(op.trigger is None for op in plain.schedule)
    assert mixed.engine is not None and mixed.engine.packages == NAMES
    assert mixed.schedule and all(
        isinstance(op.trigger, dict) and op.trigger["name"] == "timer" for op in mixed.schedule
    )


def test_a_triggered_fault_is_executed_and_recorded_with_its_trigger(tmp_path: Path) -> None:
    clock = Clock()
    engine = TriggerEngine(1, NAMES, Pace(30.0, (2.0, 3.0), 2.0, 1.0), 3, triggers=(ISR_ALONE,))
    h = HistoryWriter(tmp_path / "h.jsonl")
    n = Nemesis(fault_cluster(), packages(), contexts(), [], h, engine=engine, clock=clock)
    n.observe(ALONE)  # before begin: ignored
    n.begin()
    clock.t += 5.0
    n.observe(ALONE)
    deadline = time.monotonic() + 5
    while n.done < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    n.stop()
    n.heal()
    h.close()
    ops, _ = read_history(tmp_path / "h.jsonl")
    first = ops[0]
    assert first.process == NEMESIS and first.f in ("start-kill", "start-lose-unfsynced")
    assert isinstance(first.value, dict)
    assert first.value["target"] == {"target": "leader", "key": 0}  # looked up when it runs
    assert first.value["trigger"] == {"name": "isr-alone", "key": 0, "leader": "n1",
                                      "epoch": 1, "leo": 10, "hw": 10, "isr": ["n1"]}  # fmt: skip
    heals = ops[1:]
    assert [op.f for op in heals] == [f"stop-{p}" for p in NAMES]  # heal order
    assert all(isinstance(op.value, dict) and op.value["trigger"] == {"name": "final-heal"}
               for op in heals)  # fmt: skip
    assert n.active == {}


def test_a_scheduled_start_yields_to_a_trigger_holding_its_package(tmp_path: Path) -> None:
    engine = TriggerEngine(1, NAMES, Pace.of(30.0, 1.0), 3)
    with HistoryWriter(tmp_path / "h.jsonl") as h:
        n = Nemesis(fault_cluster(), packages(), contexts(), [], h, engine=engine)
        why = {"name": "isr-alone", "key": 0}
        n.execute(FaultOp(1.0, Phase.START, "kill", {"target": "one"}, trigger=why))
        assert n.active == {"kill": "isr-alone"}
        n._scheduled(FaultOp(2.0, Phase.START, "kill", {"target": "all"}))  # held: skipped
        n._scheduled(FaultOp(3.0, Phase.START, "pause", {"target": "one"}))  # free: runs
        n._scheduled(FaultOp(4.0, Phase.STOP, "kill", {}))  # the skipped start's stop
        assert n.active == {"kill": "isr-alone", "pause": "schedule"}
        n.execute(FaultOp(5.0, Phase.STOP, "kill", {}, trigger=why))
        n._scheduled(FaultOp(6.0, Phase.START, "kill", {"target": "one"}))  # free again
    ops, _ = read_history(tmp_path / "h.jsonl")
    assert [op.f for op in ops] == ["start-kill", "start-pause", "stop-kill", "start-kill"]
    assert n.active == {"kill": "schedule", "pause": "schedule"}


def test_the_monitor_hands_each_round_to_on_sample(tmp_path: Path) -> None:
    heard: list[list[dict[str, Any]]] = []
    cluster = FakeCluster(fault_cluster().plan, FakeSystem(healthy()))
    with HistoryWriter(tmp_path / "h.jsonl") as h:
        m = Monitor(cluster, h, 0.5, on_sample=heard.append)
        m.sample()
        m.sample()
    assert len(heard) == 2 and heard[0] == healthy()
    assert len(read_history(tmp_path / "h.jsonl")[0]) == 2 * len(healthy())


def test_the_default_mix_is_every_registered_package() -> None:
    assert tuple(FAULT_PACKAGES) == MIX


class Restarting(RecordingFault):
    """A crash fault whose stop says it restarted ``n2`` (as kill's stop does)."""

    def invoke(self, phase: Phase, value: JSON) -> JSON:
        super().invoke(phase, value)
        return {"restarted": ["n2"], "verified": True} if phase is Phase.STOP else {"ok": 1}


def test_a_restart_is_followed_at_once_by_the_leader_kill_it_triggers(tmp_path: Path) -> None:
    pkgs = {**packages(), "kill": dataclasses.replace(packages()["kill"], fault=Restarting)}
    engine = TriggerEngine(1, NAMES, Pace.of(30.0, 1.0), 3, triggers=(FOLLOWER_RESTARTED,))
    engine.step(healthy(), 0.0, frozenset())  # the latest round: n1 leads, n2 in its ISR
    with HistoryWriter(tmp_path / "h.jsonl") as h:
        n = Nemesis(fault_cluster(), pkgs, contexts(), [], h, engine=engine, clock=Clock())
        n._scheduled(FaultOp(1.0, Phase.START, "kill", {"target": "one", "nodes": ["n2"]}))
        n._scheduled(FaultOp(2.0, Phase.STOP, "kill", {}))
    ops, _ = read_history(tmp_path / "h.jsonl")
    assert [op.f for op in ops] == ["start-kill", "stop-kill", "start-kill"]
    chained = ops[2].value
    assert isinstance(chained, dict) and isinstance(chained["trigger"], dict)
    assert chained["trigger"]["name"] == "follower-restarted"
    assert chained["trigger"]["follower"] == "n2" and chained["trigger"]["leader"] == "n1"
    assert n.active == {"kill": "follower-restarted"} and n.done == 3
