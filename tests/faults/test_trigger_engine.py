"""`faults.triggers.engine`: one decision per round, paced, reproducible op for op."""

from __future__ import annotations

import dataclasses
import random

from faults.triggers.engine import Pace, TriggerEngine, decide
from faults.triggers.isr import ISR_ALONE, LEADER_CUT
from faults.triggers.power import MASS_CRASH
from faults.triggers.truncation import FOLLOWER_BACK, FOLLOWER_RESTARTED
from harness.contract.history import Phase
from tests.faults.rounds import healthy, replace, seen

ALL = ("kill", "pause", "partition", "lose-unfsynced")
PACE = Pace(time_limit=60.0, duration=(2.0, 3.0), cool_down=4.0, warm_up=1.0)
ALONE = replace(healthy(), 0, "n1", isr=["n1"])


def engine(seed: int = 1, packages: tuple[str, ...] = ALL) -> TriggerEngine:
    triggers = (ISR_ALONE, FOLLOWER_BACK, FOLLOWER_RESTARTED)
    return TriggerEngine(seed, packages, PACE, 3, triggers=triggers)


def test_decide_fires_a_start_now_and_its_stop_later_both_naming_the_trigger() -> None:
    start, stop = decide(seen(ALONE, at=5.0), random.Random(3), [ISR_ALONE], ALL, PACE)
    assert (start.at, start.phase, start.value) == (
        5.0,
        Phase.START,
        {"target": "leader", "key": 0},
    )
    assert start.package in ("kill", "lose-unfsynced") and stop.package == start.package
    assert start.trigger == {"name": "isr-alone", "key": 0, "leader": "n1", "epoch": 1,
                             "leo": 10, "hw": 10, "isr": ["n1"]}  # fmt: skip
    assert stop.phase is Phase.STOP and 7.0 <= stop.at <= 8.0 and stop.value == {}
    assert stop.trigger == {"name": "isr-alone", "stops": start.f,
                            "after_s": round(stop.at - 5.0, 3)}  # fmt: skip


def test_decide_fires_nothing_on_a_quiet_state_or_when_its_packages_are_busy() -> None:
    rng = random.Random(3)
    assert decide(seen(healthy()), rng, [ISR_ALONE], ALL, PACE) == []
    busy = seen(ALONE, busy=frozenset({"kill", "lose-unfsynced"}))
    assert decide(busy, rng, [ISR_ALONE], ALL, PACE) == []
    assert decide(seen(ALONE), rng, [ISR_ALONE], ("pause",), PACE) == []  # not in the run
    assert decide(seen(ALONE), rng, [], ALL, PACE) == []  # no trigger allowed


def test_a_chance_below_one_is_drawn_from_the_rng() -> None:
    state = seen(healthy(leo=12), healthy(leo=10))
    fired = [bool(decide(state, random.Random(s), [MASS_CRASH], ALL, PACE)) for s in range(200)]
    assert 0 < sum(fired) < 200


def test_the_engine_holds_one_fault_stops_it_on_time_then_cools_down() -> None:
    e = engine()
    assert e.step(ALONE, 0.5, frozenset()) == []  # warm-up
    (start,) = e.step(ALONE, 1.0, frozenset())
    assert start.phase is Phase.START and e.pending is not None
    assert e.step(ALONE, 1.5, frozenset({start.package})) == []  # one at a time
    stop_at = e.pending.at
    (stop,) = e.step(ALONE, stop_at, frozenset({start.package}))
    assert stop.phase is Phase.STOP and stop.package == start.package
    # cool-down: the state still shows the danger point, but nothing fires until it ends
    assert e.step(ALONE, stop_at + 1.0, frozenset()) == []
    assert e.step(ALONE, stop_at + PACE.cool_down - 0.1, frozenset()) == []
    assert [op.phase for op in e.step(ALONE, stop_at + 2 * PACE.cool_down, frozenset())] == [
        Phase.START
    ]


def test_a_recovery_trigger_may_fire_once_in_the_cool_down() -> None:
    e = engine()
    assert len(e.step(ALONE, 1.0, frozenset())) == 1
    assert e.pending is not None
    stop_at = e.pending.at
    down = replace(healthy(), 0, "n2", role="offline", leo=-1, hw=-1, isr=[])
    assert [op.phase for op in e.step(down, stop_at, frozenset())] == [Phase.STOP]
    back = healthy()
    (chained,) = e.step(back, stop_at + 0.5, frozenset())  # inside the cool-down
    assert isinstance(chained.trigger, dict) and chained.trigger["name"] == "follower-back"
    assert e.pending is not None
    second_stop = e.pending.at
    e.step(back, second_stop, frozenset())
    e.step(down, second_stop + 0.5, frozenset())
    assert e.step(back, second_stop + 1.0, frozenset()) == []  # not twice in a row


def test_nothing_fires_in_the_last_cool_down_but_a_pending_stop_still_comes() -> None:
    e = TriggerEngine(1, ALL, Pace(10.0, (6.0, 7.0), 4.0, 1.0), 3, triggers=(ISR_ALONE,))
    assert e.pace.last_fire == 6.0
    assert len(e.step(ALONE, 5.9, frozenset())) == 1
    assert e.pending is not None
    late = e.pending.at
    assert late > 10.0  # after the time limit: the final heal may come first
    assert [op.phase for op in e.step(ALONE, late, frozenset())] == [Phase.STOP]
    assert e.step(ALONE, late + 20, frozenset()) == []
    fresh = TriggerEngine(1, ALL, Pace(10.0, (6.0, 7.0), 4.0, 1.0), 3, triggers=(ISR_ALONE,))
    assert fresh.step(ALONE, 6.0, frozenset()) == []


def test_pace_follows_the_interval_with_floors() -> None:
    assert Pace.of(30, 10) == Pace(30, (1.0, 7.0), 5.0, 5.0)
    assert Pace.of(30, 1) == Pace(30, (1.0, 3.0), 2.0, 2.0)
    assert Pace.of(60, 20) == Pace(60, (2.0, 14.0), 10.0, 10.0)


def test_a_restart_is_answered_at_once_by_the_restart_triggers_only() -> None:
    e = engine()
    e.step(healthy(), 0.5, frozenset())  # warm-up: nothing, but the round is kept
    assert e.restarted([], 0.6, frozenset()) == []
    (kill,) = e.restarted(["n2"], 0.6, frozenset())  # before the warm-up ends, on purpose
    assert kill.package == "kill" and kill.value == {"target": "leader", "key": 0}
    assert isinstance(kill.trigger, dict) and kill.trigger["name"] == "follower-restarted"
    assert e.pending is not None and e.pending.package == "kill"
    assert e.restarted(["n3"], 0.7, frozenset()) == []  # one triggered fault at a time


def test_a_restart_fires_nothing_when_the_follower_left_the_isr_or_after_the_limit() -> None:
    shrunk = [{**s, "isr": ["n1", "n3"]} for s in healthy()]
    e = engine()
    e.step(shrunk, 0.5, frozenset())
    assert e.restarted(["n2"], 0.6, frozenset()) == []
    late = engine()
    late.step(healthy(), 0.5, frozenset())
    assert late.restarted(["n2"], PACE.last_fire, frozenset()) == []


def test_a_follow_up_answers_the_state_the_active_fault_made_once() -> None:
    cut_now = dataclasses.replace(LEADER_CUT, chance=1.0)
    e = TriggerEngine(1, ALL, PACE, 3, triggers=(cut_now, ISR_ALONE))
    (cut,) = e.step(healthy(), 1.0, frozenset())
    assert cut.package == "partition" and e.pending is not None
    assert e.pending.at >= 1.0 + LEADER_CUT.min_lasts_s  # long enough for the ISR to shrink
    cut_ends = e.pending.at
    assert e.step(healthy(), 1.5, frozenset({"partition"})) == []  # no ISR of one yet
    (crash,) = e.step(ALONE, 2.0, frozenset({"partition"}))  # the cut leader acks alone
    assert crash.package in ("kill", "lose-unfsynced")
    assert crash.value == {"target": "leader", "key": 0}
    assert isinstance(crash.trigger, dict) and crash.trigger["name"] == "isr-alone"
    assert e.follow_up is not None
    busy = frozenset({"partition", crash.package})
    assert e.step(ALONE, 2.5, busy) == []  # one follow-up per fault
    last = max(cut_ends, e.follow_up.at)
    stops = [op for t in (cut_ends, e.follow_up.at) for op in e.step(ALONE, t, busy)]
    assert sorted(op.package for op in stops) == sorted(["partition", crash.package])
    assert all(op.phase is Phase.STOP for op in stops)
    assert e.step(ALONE, last + 0.5, frozenset()) == []  # the cool-down follows the last stop
