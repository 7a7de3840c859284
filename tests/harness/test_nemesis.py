"""The nemesis seam: seeded schedules, execution into the history, heal, failures."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from faults.registry import FAULT_PACKAGES
from harness.contract.history import HistoryWriter, Phase
from harness.contract.reader import read_history
from harness.contract.roles import FaultOp, NemesisContext
from harness.nemesis import Nemesis, build_schedule, context
from tests.harness.fakes import RecordingFault, fault_cluster, recording_package


def contexts(seed: int, limit: float = 10.0, interval: float = 1.0) -> dict[str, NemesisContext]:
    return {"fake": context(seed, "fake", ("n1", "n2", "n3"), "controller", 3, limit, interval)}


def test_schedule_is_a_pure_function_of_the_seed() -> None:
    p = {"fake": recording_package()}
    a = build_schedule(p, contexts(7))
    assert a == build_schedule(p, contexts(7))
    assert a != build_schedule(p, contexts(8))
    assert [op.at for op in a] == sorted(op.at for op in a)
    assert all(0 <= op.at <= 10.0 for op in a)
    assert {op.f for op in a} == {"start-fake", "stop-fake"}


def test_a_generator_schedules_only_its_own_package() -> None:
    stray = recording_package(generator=lambda ctx: [FaultOp(1.0, Phase.START, "other")])
    with pytest.raises(ValueError, match="only its own ops"):
        build_schedule({"fake": stray}, contexts(1))


def test_each_fault_is_built_once_with_the_cluster(tmp_path: Path) -> None:
    built: list[RecordingFault] = []
    cluster = fault_cluster()
    with HistoryWriter(tmp_path / "h.jsonl") as h:
        n = Nemesis(cluster, {"fake": recording_package(built=built)}, contexts(1), [], h)
    assert [f.cluster for f in built] == [cluster]
    assert n.faults == {"fake": built[0]}


def test_nemesis_runs_the_schedule_logs_results_and_heals(tmp_path: Path) -> None:
    built: list[RecordingFault] = []
    p = {"fake": recording_package(built=built)}
    ctx = contexts(3, limit=0.5, interval=0.1)
    h = HistoryWriter(tmp_path / "h.jsonl")
    n = Nemesis(fault_cluster(), p, ctx, build_schedule(p, ctx), h)
    n.begin()
    deadline = time.monotonic() + 5
    while n.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    n.stop()
    n.heal()
    h.close()
    ops, _ = read_history(tmp_path / "h.jsonl")
    (fault,) = built
    assert len(fault.calls) == len(n.schedule) + 1 == len(ops)
    assert all(op.process == "nemesis" and op.type == "info" for op in ops)
    assert [op.f for op in ops[:-1]] == [s.f for s in n.schedule]
    assert [op.fault for op in ops[:-1]] == [s.fault for s in n.schedule]
    assert fault.calls[0] == (Phase.START, n.schedule[0].value)
    first = n.schedule[0]
    assert ops[0].value == {
        "did": "start",
        "target": first.value,
        "at": round(first.at, 3),
        "requested": first.value,
    }
    assert ops[-1].f == "stop-fake" and fault.calls[-1] == (Phase.STOP, "heal")  # the heal op


def test_a_fault_that_raises_is_recorded_unverified(tmp_path: Path) -> None:
    h = HistoryWriter(tmp_path / "h.jsonl")
    n = Nemesis(fault_cluster(), {"fake": recording_package()}, contexts(1), [], h)
    n.execute(FaultOp(0, Phase.START, "fake", "explode"))
    h.close()
    (op,) = read_history(tmp_path / "h.jsonl")[0]
    assert op.f == "start-fake"
    assert op.value == {"requested": "explode", "verified": False, "at": 0,
                        "why": "RuntimeError: could not reach the node"}  # fmt: skip
    assert op.error == "RuntimeError"


def test_an_explained_fault_error_is_logged_as_its_message_and_the_trace_kept_apart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    h = HistoryWriter(tmp_path / "h.jsonl")
    n = Nemesis(fault_cluster(), {"fake": recording_package()}, contexts(1), [], h)
    with caplog.at_level(logging.INFO, logger="floodmark"):
        n.execute(FaultOp(0, Phase.STOP, "fake", "refused"))
        n.execute(FaultOp(0, Phase.START, "fake", "explode"))
    h.close()
    refused, trace, explode = caplog.records
    assert refused.levelno == logging.ERROR and refused.exc_info is None
    assert "stop-fake failed: expected one JSON line" in refused.getMessage()
    assert trace.levelno == logging.INFO and trace.exc_info is not None  # harness.log only
    assert explode.levelno == logging.ERROR and explode.exc_info is not None  # a bug: traced
    ops = read_history(tmp_path / "h.jsonl")[0]
    assert [op.error for op in ops] == ["FaultError", "RuntimeError"]


def test_final_heal_runs_in_heal_order_not_selection_order(tmp_path: Path) -> None:
    """Thaw before reconnecting, reconnect before restarting, restart before resetting
    clocks: a clock reset skips a stopped node, so it must come after the restarts."""
    names = {"clock": 40, "kill": 30, "partition": 20, "pause": 10}
    packages = {name: recording_package(name, order) for name, order in names.items()}
    ctxs = {n: context(1, n, ("n1", "n2"), None, 1, 1.0, 1.0) for n in names}
    h = HistoryWriter(tmp_path / "h.jsonl")
    Nemesis(fault_cluster(), packages, ctxs, [], h).heal()
    h.close()
    ops, _ = read_history(tmp_path / "h.jsonl")
    assert [op.f for op in ops] == ["stop-pause", "stop-partition", "stop-kill", "stop-clock"]


def test_registered_packages_heal_in_a_safe_order() -> None:
    P = FAULT_PACKAGES
    assert P["pause"].heal_order < P["partition"].heal_order == P["link"].heal_order
    restarts = (P["kill"], P["lose-unfsynced"], P["leader-crash"])
    assert all(P["partition"].heal_order < r.heal_order < P["clock"].heal_order for r in restarts)
    assert P["slow-disk"].heal_order > P["kill"].heal_order
