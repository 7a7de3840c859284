"""`faults.default`: the background (seeded, one fault at a time, from the packages' own
generators) and the determinism of the whole default schedule on recorded samples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from faults.default import MIX, background, expand
from faults.registry import FAULT_PACKAGES
from faults.triggers.engine import Pace, TriggerEngine
from faults.triggers.registry import TRIGGERS
from faults.triggers.trigger import TIMER
from harness.contract.history import Phase
from harness.contract.roles import FaultOp
from harness.nemesis import context

RECORDED = Path(__file__).parent / "data" / "replog_rounds.jsonl"
BROKERS = ("n1", "n2", "n3")


def schedule(
    seed: int, nodes: tuple[str, ...] = BROKERS, **options: tuple[str, ...]
) -> list[FaultOp]:
    ctx = {n: context(seed, n, nodes, "controller", 3, 120.0, 10.0, options) for n in MIX}
    return background(seed, FAULT_PACKAGES, ctx, 120.0, 10.0)


def test_expand_names_the_packages_of_a_run() -> None:
    assert expand(("default",)) == MIX == tuple(FAULT_PACKAGES)
    assert expand(()) == () and expand(("none",)) == ()
    assert expand(("kill", "pause")) == ("kill", "pause")


def test_the_background_is_seeded_one_fault_at_a_time_and_says_timer() -> None:
    ops = schedule(4)
    assert ops == schedule(4) and ops != schedule(5)
    assert len(ops) >= 6 and all(0 < op.at < 120.0 for op in ops)
    assert [op.at for op in ops] == sorted(op.at for op in ops)
    for i, op in enumerate(ops):
        assert op.phase is (Phase.START if i % 2 == 0 else Phase.STOP)
        assert op.trigger == {"name": TIMER, "episode": i // 2}
        if op.phase is Phase.STOP:
            assert op.package == ops[i - 1].package and op.value == {}
    assert len({op.package for op in ops}) > 2  # a mix, not one package


def test_background_values_come_from_each_package_and_follow_its_options() -> None:
    ops = [op for seed in range(6) for op in schedule(seed, kill_targets=("leader",))]
    kills = [op.value for op in ops if op.package == "kill" and op.phase is Phase.START]
    assert kills and all(isinstance(v, dict) and v["target"] == "leader" for v in kills)
    parts = [op.value for op in ops if op.package == "partition" and op.phase is Phase.START]
    assert parts and all(isinstance(v, dict) and "mode" in v for v in parts)


def test_packages_that_cannot_act_on_the_cluster_are_left_out() -> None:
    ops = [op for seed in range(8) for op in schedule(seed, nodes=("n1",))]
    assert ops and "leader-crash" not in {op.package for op in ops}


def _rounds() -> list[tuple[float, list[dict[str, Any]]]]:
    lines = RECORDED.read_text().splitlines()[1:]  # the first line says where they come from
    rounds = [json.loads(line) for line in lines]
    t0 = rounds[0]["time_s"]
    return [(r["time_s"] - t0, r["states"]) for r in rounds]


def replay(seed: int) -> list[FaultOp]:
    """The recorded rounds through a fresh engine, as the nemesis feeds it (busy = the
    packages whose start it handed out and whose stop it has not)."""
    engine = TriggerEngine(seed, MIX, Pace.of(40.0, 10.0), 3)
    ops: list[FaultOp] = []
    busy: set[str] = set()
    for at, states in _rounds():
        for op in engine.step(states, at, frozenset(busy)):
            ops.append(op)
            (busy.add if op.phase is Phase.START else busy.discard)(op.package)
    return ops


def test_recorded_samples_give_the_same_decisions_op_for_op_triggers_included() -> None:
    first, second = replay(11), replay(11)
    assert first == second
    assert first, "the recorded run has danger points: some trigger must fire"
    for op in first:
        assert isinstance(op.trigger, dict) and op.trigger["name"] in TRIGGERS
    starts = [op for op in first if op.phase is Phase.START]
    assert {str(op.trigger["name"]) for op in starts if isinstance(op.trigger, dict)}
