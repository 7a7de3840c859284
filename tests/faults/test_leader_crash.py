"""leader-crash's seeded schedule and its delay option, and the fault itself against the
fake cluster (tests/faults/fakes.py): it kills the leader only once its ISR is seen shrunk
to itself, and skips (kills nothing, heals the cut) when that state is not reached."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

import pytest

from faults.common import FaultError
from faults.leader_crash import (
    ISR_TIMEOUT,
    LEADER_CRASH,
    LeaderCrashFault,
    default_delay,
    delay_of,
)
from faults.registry import FAULT_PACKAGES, check_options
from harness.contract.history import Phase
from harness.contract.roles import FaultOp, NemesisContext
from harness.nemesis import build_schedule, context
from tests.faults.fakes import FakeWorld, fake_world

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


# -- the fault, against the fake cluster ----------------------------------------------------


@pytest.fixture
def world() -> Iterator[FakeWorld]:
    with fake_world() as w:
        w.leaders[0] = "n2"
        yield w


def crash(world: FakeWorld) -> LeaderCrashFault:
    return LeaderCrashFault(world.cluster, clock=world.clock)


def killed(world: FakeWorld, node: str) -> bool:
    return ("kill", "SIGKILL") in world.containers[node].calls


def test_kills_the_leader_once_its_isr_shrank_and_the_delay_passed(world: FakeWorld) -> None:
    world.lag = 1.0  # followers leave the ISR 1 s after their fetch links are cut
    fault = crash(world)
    did = fault.invoke(Phase.START, {"key": 0, "delay_s": 2.0})
    assert isinstance(did, dict) and did["verified"] is True, did
    assert did["leader"] == "n2" and did["killed"] == ["n2"] and did["state"] == "stopped"
    assert did["isr_alone_after_s"] == pytest.approx(1.0, abs=0.21)
    assert did["isolated_s"] == pytest.approx(2.0, abs=0.01)
    assert did["leader_before_kill"] == "n2"
    assert sorted(map(tuple, did["cut"])) == [
        ("n1", "n2"),
        ("n2", "n1"),
        ("n2", "n3"),
        ("n3", "n2"),
    ]
    assert killed(world, "n2") and not killed(world, "n1") and not killed(world, "n3")
    assert isinstance(did["healed"], dict) and did["healed"]["verified"] is True
    assert world.cut() == {}, "its links are healed right after the kill"
    assert fault.down == ["n2"]
    undo = fault.invoke(Phase.STOP, {})
    assert isinstance(undo, dict) and undo["verified"] is True and undo["restarted"] == ["n2"]
    assert world.containers["n2"].status == "running"


def test_a_slow_shrink_delays_the_kill_until_it_is_seen(world: FakeWorld) -> None:
    world.lag = 6.0  # longer than delay_s: the kill waits for the shrink, not the delay
    did = crash(world).invoke(Phase.START, {"key": 0, "delay_s": 2.0})
    assert isinstance(did, dict) and did["verified"] is True and did["killed"] == ["n2"]
    assert did["isr_alone_after_s"] == pytest.approx(6.0, abs=0.21)
    assert did["isolated_s"] == did["isr_alone_after_s"]


def test_an_isr_that_never_shrinks_is_skipped_nothing_killed_cut_healed(
    world: FakeWorld,
) -> None:
    world.lag = None  # replica.lag.time.max.ms longer than the wait
    fault = crash(world)
    did = fault.invoke(Phase.START, {"key": 0, "delay_s": 2.0})
    assert isinstance(did, dict) and did["verified"] is None, did
    assert did["skipped"] == (
        f"the ISR of key 0 did not shrink to n2 alone within {ISR_TIMEOUT:g} s of the cut "
        "(last reported ['n1', 'n2', 'n3']); n2 was not killed"
    )
    assert did["killed"] == [] and did["isr"] == ["n1", "n2", "n3"]
    assert not any(killed(world, n) for n in world.plan.brokers)
    assert world.cut() == {} and fault.down == []
    assert world.clock.slept == pytest.approx(ISR_TIMEOUT, abs=0.21), "bounded by the timeout"
    assert world.system.calls > 100, "it polled the replica states all along"


def test_the_wait_for_the_shrink_is_bounded_by_the_given_timeout(world: FakeWorld) -> None:
    world.lag = None
    fault = LeaderCrashFault(world.cluster, clock=world.clock, isr_timeout=5.0)
    did = fault.invoke(Phase.START, {"key": 0, "delay_s": 1.0})
    assert isinstance(did, dict) and "within 5 s of the cut" in str(did["skipped"])
    assert world.clock.slept == pytest.approx(5.0, abs=0.21)


def test_a_leadership_moved_while_isolated_is_skipped(world: FakeWorld) -> None:
    world.lag = 0.5

    def controller_moves_it(slept: float) -> None:
        if slept >= 1.0:
            world.leaders[0], world.epochs[0] = "n1", 2

    world.clock.on_sleep.append(controller_moves_it)
    did = crash(world).invoke(Phase.START, {"key": 0, "delay_s": 2.0})
    assert isinstance(did, dict) and did["verified"] is None
    assert did["skipped"] == "n2 no longer led key 0 when the kill was due; not killed"
    assert not killed(world, "n2") and world.cut() == {}


def test_a_cut_that_is_not_confirmed_kills_nothing(world: FakeWorld) -> None:
    world.leaky.add("n1-n2")  # a probe gets through the disabled proxy
    did = crash(world).invoke(Phase.START, {"key": 0, "delay_s": 2.0})
    assert isinstance(did, dict) and did["verified"] is False and did["killed"] == []
    assert "the cut of n2 from its peers was not confirmed" in str(did["why"])
    assert not killed(world, "n2") and world.cut() == {}, "the cut is healed anyway"


def test_a_heal_that_fails_after_the_skip_is_unverified(world: FakeWorld) -> None:
    world.lag = None
    fault = LeaderCrashFault(world.cluster, clock=world.clock, isr_timeout=1.0)
    original = fault.partition.stop

    def stuck_heal(everything: bool) -> object:
        world.toxiproxy.ignore.add("n1-n2")
        return original(everything)

    fault.partition.stop = stuck_heal  # type: ignore[method-assign]
    did = fault.invoke(Phase.START, {"key": 0, "delay_s": 0.5})
    assert isinstance(did, dict) and did["verified"] is False
    assert "and its links were not healed" in str(did["why"]) and did["killed"] == []


def test_a_leaderless_key_is_skipped(world: FakeWorld) -> None:
    world.containers["n2"].status = "exited"
    did = crash(world).invoke(Phase.START, {"key": 0, "delay_s": 2.0})
    assert isinstance(did, dict) and did["verified"] is None
    assert "no leader" in str(did["skipped"]) and world.cut() == {}


def test_a_malformed_start_is_an_error(world: FakeWorld) -> None:
    with pytest.raises(FaultError, match="start-leader-crash expects"):
        crash(world).invoke(Phase.START, {"key": 0})


def test_heal_all_restarts_every_stopped_node_and_undoes_any_cut(world: FakeWorld) -> None:
    world.containers["n3"].status = "exited"
    fault = crash(world)
    fault.partition.touched["n1-n2"] = "refuse"
    world.cluster.toxiproxy.disable("n1-n2")
    undo = fault.invoke(Phase.STOP, {"heal": "all"})
    assert isinstance(undo, dict) and undo["verified"] is True, undo
    assert undo["restarted"] == ["n3"] and world.cut() == {}
    assert isinstance(undo["healed"], dict) and undo["healed"]["healed"] == {"n1-n2": "enabled"}
