"""leader-crash's seeded schedule and its delay option (no Docker)."""

from __future__ import annotations

import itertools
import random

import pytest

from faults.leader_crash import LEADER_CRASH, default_delay, delay_of
from faults.registry import FAULT_PACKAGES, check_options
from harness.contract.history import Phase
from harness.contract.roles import FaultOp, NemesisContext
from harness.nemesis import build_schedule, context

BROKERS = ("n1", "n2", "n3")


def ctx(
    seed: int, interval: float = 5.0, options: dict[str, list[str]] | None = None
) -> NemesisContext:
    return NemesisContext(
        package="leader-crash",
        rng=random.Random(seed),
        brokers=BROKERS,
        controller="controller",
        keys=3,
        time_limit=60.0,
        interval=interval,
        options=dict(options or {}),
    )


def ops(c: NemesisContext) -> list[FaultOp]:
    return list(LEADER_CRASH.generator(c))


def test_registered_under_its_name() -> None:
    assert FAULT_PACKAGES["leader-crash"] is LEADER_CRASH
    assert LEADER_CRASH.colour.startswith("#") and LEADER_CRASH.doc


def test_schedule_alternates_start_and_stop_with_a_seeded_key_and_the_delay() -> None:
    got = ops(ctx(7))
    assert got, "a 60 s run at a 5 s interval must schedule some leader crashes"
    assert [op.f for op in got] == [
        "start-leader-crash" if i % 2 == 0 else "stop-leader-crash" for i in range(len(got))
    ]
    assert all(a.at < b.at for a, b in itertools.pairwise(got))
    assert all(0 < op.at <= 60.0 for op in got)
    starts = [op.value for op in got if op.f == "start-leader-crash"]
    for v in starts:
        assert isinstance(v, dict) and v["delay_s"] == 2.0 and v["key"] in (0, 1, 2)
    # Keys are drawn from the seed, not fixed: over several seeds more than one key shows.
    keys = {
        v["key"]
        for s in range(10)
        for v in (op.value for op in ops(ctx(s)))
        if isinstance(v, dict) and "key" in v
    }
    assert len(keys) > 1


def test_same_seed_same_schedule_and_seeds_differ() -> None:
    assert ops(ctx(3)) == ops(ctx(3))
    assert ops(ctx(3)) != ops(ctx(4))
    contexts = {"leader-crash": context(3, "leader-crash", BROKERS, "controller", 3, 60.0, 5.0)}
    again = {"leader-crash": context(3, "leader-crash", BROKERS, "controller", 3, 60.0, 5.0)}
    first = build_schedule({"leader-crash": LEADER_CRASH}, contexts)
    assert first == build_schedule({"leader-crash": LEADER_CRASH}, again)


def test_final_heal_restarts_everything_at_the_time_limit() -> None:
    (heal,) = LEADER_CRASH.final(ctx(1))
    assert heal == FaultOp(60.0, Phase.STOP, "leader-crash", {"heal": "all"})
    assert heal.f == "stop-leader-crash"


def test_delay_default_follows_the_interval_within_bounds() -> None:
    assert default_delay(5.0) == 2.0
    assert default_delay(1.0) == 1.0
    assert default_delay(100.0) == 5.0
    assert delay_of(ctx(1, interval=10.0)) == 4.0


def test_delay_option_is_used_and_checked() -> None:
    c = ctx(1, options={"leader_crash_delay_s": ["3.5"]})
    assert delay_of(c) == 3.5
    assert {op.value["delay_s"] for op in ops(c) if isinstance(op.value, dict) and op.value} == {
        3.5
    }
    with pytest.raises(ValueError, match="number of seconds"):
        delay_of(ctx(1, options={"leader_crash_delay_s": ["soon"]}))
    with pytest.raises(ValueError, match="one number"):
        delay_of(ctx(1, options={"leader_crash_delay_s": ["1", "2"]}))
    assert check_options({"leader_crash_delay_s": ("2",)}, ("leader-crash",)) == []
    assert check_options({"leader_crash_delay_s": ("x",)}, ("leader-crash",))
    assert check_options({"leader_crash_delay_s": ("-1",)}, ("leader-crash",))
    assert check_options({"leader_crash_delay_s": ("1", "2")}, ("leader-crash",))
    assert check_options({"leader_crash_delay_s": ("2",)}, ("kill",))  # package not in run


def test_needs_two_brokers() -> None:
    one = NemesisContext("leader-crash", random.Random(1), ("n1",), None, 1, 60.0, 5.0)
    with pytest.raises(ValueError, match="at least 2 brokers"):
        ops(one)
