"""The nemesis seam: seeded schedules, execution into the history, heal, failures."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from harness.contract.history import JSON, HistoryWriter, read_history
from harness.contract.roles import Cluster, FaultOp, FaultPackage, NemesisContext
from harness.nemesis import Nemesis, build_schedule, context


class RecordingFault:
    def __init__(self) -> None:
        self.calls: list[tuple[str, JSON]] = []
        self.torn_down = False

    def setup(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def invoke(self, f: str, value: JSON) -> JSON:
        self.calls.append((f, value))
        if value == "explode":
            raise RuntimeError("could not reach the node")
        return {"did": f, "target": value}

    def teardown(self) -> None:
        self.torn_down = True


def gen(ctx: NemesisContext) -> Iterable[FaultOp]:
    t = 0.0
    while True:
        t += ctx.rng.uniform(0.5, 1.5) * ctx.interval
        if t > ctx.time_limit:
            return
        target = ctx.rng.choice(ctx.brokers)
        yield FaultOp(t, "start-fake", target)
        yield FaultOp(t + 0.01, "stop-fake", target)


def pkg(fault: RecordingFault) -> FaultPackage:
    return FaultPackage("fake", lambda: fault, gen, lambda ctx: [FaultOp(0, "stop-fake")], "#123")


def contexts(seed: int, limit: float = 10.0, interval: float = 1.0) -> dict[str, NemesisContext]:
    return {"fake": context(seed, "fake", ("n1", "n2", "n3"), "controller", 3, limit, interval)}


def test_schedule_is_a_pure_function_of_the_seed() -> None:
    p = {"fake": pkg(RecordingFault())}
    a = build_schedule(p, contexts(7))
    assert a == build_schedule(p, contexts(7))
    assert a != build_schedule(p, contexts(8))
    assert [s.op.at for s in a] == sorted(s.op.at for s in a)
    assert all(0 <= s.op.at <= 10.0 for s in a)


def test_nemesis_runs_the_schedule_logs_results_and_heals(tmp_path: Path) -> None:
    fault = RecordingFault()
    p = {"fake": pkg(fault)}
    ctx = contexts(3, limit=0.5, interval=0.1)
    h = HistoryWriter(tmp_path / "h.jsonl")
    n = Nemesis(p, ctx, build_schedule(p, ctx), h)
    n.setup(object())  # type: ignore[arg-type]
    n.begin()
    deadline = time.monotonic() + 5
    while n.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    n.stop()
    n.heal()
    n.teardown()
    h.close()
    ops, _ = read_history(tmp_path / "h.jsonl")
    assert len(fault.calls) == len(n.schedule) + 1 == len(ops)
    assert all(op.process == "nemesis" and op.type == "info" for op in ops)
    assert ops[0].value == {"did": "start-fake", "target": n.schedule[0].op.value}
    assert ops[-1].f == "stop-fake"  # the heal op
    assert fault.torn_down


def test_a_fault_that_raises_is_recorded_unverified(tmp_path: Path) -> None:
    fault = RecordingFault()
    h = HistoryWriter(tmp_path / "h.jsonl")
    n = Nemesis({"fake": pkg(fault)}, contexts(1), [], h)
    n.setup(object())  # type: ignore[arg-type]
    n.execute("fake", FaultOp(0, "start-fake", "explode"))
    h.close()
    (op,) = read_history(tmp_path / "h.jsonl")[0]
    assert op.value == {"requested": "explode", "verified": False,
                        "why": "RuntimeError: could not reach the node"}  # fmt: skip
    assert op.error == "RuntimeError"


def test_final_heal_runs_in_heal_order_not_selection_order(tmp_path: Path) -> None:
    """Thaw before reconnecting, reconnect before restarting, restart before resetting
    clocks: a clock reset skips a stopped node, so it must come after the restarts."""
    from dataclasses import replace

    fault = RecordingFault()
    names = {"clock": 40, "kill": 30, "partition": 20, "pause": 10}

    def final(name: str) -> Callable[[NemesisContext], Sequence[FaultOp]]:
        return lambda _ctx: [FaultOp(0, f"stop-{name}", "heal")]

    packages = {
        name: replace(pkg(fault), name=name, heal_order=order, final=final(name))
        for name, order in names.items()
    }
    ctxs = {n: context(1, n, ("n1", "n2"), None, 1, 1.0, 1.0) for n in names}
    h = HistoryWriter(tmp_path / "h.jsonl")
    n = Nemesis(packages, ctxs, [], h)
    n.setup(object())  # type: ignore[arg-type]
    n.heal()
    h.close()
    assert [f for f, _ in fault.calls] == [
        "stop-pause",
        "stop-partition",
        "stop-kill",
        "stop-clock",
    ]


def test_registered_packages_heal_in_a_safe_order() -> None:
    from faults.registry import FAULT_PACKAGES as P

    assert P["pause"].heal_order < P["partition"].heal_order == P["link"].heal_order
    restarts = (P["kill"], P["lose-unfsynced"], P["leader-crash"])
    assert all(P["partition"].heal_order < r.heal_order < P["clock"].heal_order for r in restarts)
    assert P["slow-disk"].heal_order > P["kill"].heal_order
