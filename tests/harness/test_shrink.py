"""Shrinking a failing schedule (harness/shrink.py) against fake trials: which candidates
are tried, what is kept, and when it stops."""

from __future__ import annotations

import pytest

from harness.contract.history import Phase
from harness.contract.roles import FaultOp
from harness.contract.schedule import Period, Schedule, periods
from harness.shrink import Outcome, Shrinker, reproduction
from tests.fake_clock import FakeClock


def _period(package: str, at: float, length: float = 4.0, **value: object) -> list[FaultOp]:
    return [
        FaultOp(at, Phase.START, package, dict(value)),
        FaultOp(at + length, Phase.STOP, package, {}),
    ]


def _schedule(*groups: list[FaultOp], limit: float = 60.0) -> Schedule:
    ops = sorted((op for g in groups for op in g), key=lambda o: o.at)
    return Schedule(tuple(ops), limit, keys=4, concurrency=10)


class NeedsAll:
    """Fails (lost-write) only when every fault whose ``id`` is in ``needed`` is in the
    schedule and, optionally, only from the ``from_attempt``-th try of a candidate on;
    each try advances ``clock`` by the candidate's time limit."""

    def __init__(
        self, needed: set[int], from_attempt: int = 0, clock: FakeClock | None = None
    ) -> None:
        self.needed = needed
        self.from_attempt = from_attempt
        self.clock = clock
        self.calls: list[Schedule] = []

    def __call__(self, candidate: Schedule, attempt: int) -> Outcome:
        self.calls.append(candidate)
        if self.clock is not None:
            self.clock.sleep(candidate.time_limit)
        ids = {op.value["id"] for op in candidate.ops if isinstance(op.value, dict) and op.value}
        hit = self.needed <= ids and attempt >= self.from_attempt
        return Outcome({"lost-write": 3} if hit else {}, f"run-{len(self.calls)}")


_NINE = ["kill", "pause", "partition", "kill", "clock", "pause", "partition", "slow-disk", "kill"]


def _nine() -> Schedule:
    return _schedule(*(_period(p, 5.0 + 6 * n, id=n) for n, p in enumerate(_NINE)))


def test_periods_pair_each_start_with_its_packages_next_stop() -> None:
    ops = [*_period("kill", 1.0), *_period("pause", 2.0, 10.0), *_period("kill", 6.0)]
    ops.append(FaultOp(30.0, Phase.STOP, "partition", {}))  # heals nothing started
    ops.append(FaultOp(40.0, Phase.START, "clock", {}))  # ended by the final heal
    got = periods(ops)
    assert [(p.start.package, p.start.at, p.end) for p in got] == [
        ("kill", 1.0, 5.0),
        ("pause", 2.0, 12.0),
        ("kill", 6.0, 10.0),
        ("clock", 40.0, 40.0),
    ]
    assert got[-1].stop is None and isinstance(got[0], Period)


def test_ddmin_finds_the_two_faults_the_failure_needs() -> None:
    trial = NeedsAll({2, 6})
    shrunk = Shrinker(_nine(), {"lost-write"}, trial, tries=1, budget_s=1e9).run()
    kept = periods(shrunk.best.ops)
    assert [p.start.package for p in kept] == ["partition", "partition"]
    # the stops pass drops the last partition's stop (the first one's stays: the second
    # start would find its package's fault still active)
    assert len(shrunk.best.ops) == 3
    assert [p.stop is None for p in kept] == [False, True]
    assert shrunk.stopped == "minimal"
    # the time pass: ends 5 s after the last fault (a start the final heal ends), first
    # fault 3 s after the start
    assert shrunk.best.time_limit == pytest.approx(41.0 + 5.0 - 14.0)
    assert min(op.at for op in shrunk.best.ops) == pytest.approx(3.0)
    # the load pass halves keys to 1 and processes to 2 (the fake fails at any size)
    assert (shrunk.best.keys, shrunk.best.concurrency) == (1, 2)
    assert [s.stage for s in shrunk.steps if s.kept][-1] == "load"
    assert {s.stage for s in shrunk.steps} == {"faults", "stops", "time", "load"}


def test_a_candidate_is_kept_when_any_of_its_tries_fails() -> None:
    once = NeedsAll({2}, from_attempt=1)
    shrunk = Shrinker(_nine(), {"lost-write"}, once, tries=2, budget_s=1e9).run()
    assert [p.start.at for p in periods(shrunk.best.ops)] == [3.0]
    never = NeedsAll({2}, from_attempt=2)
    stuck = Shrinker(_nine(), {"lost-write"}, never, tries=2, budget_s=1e9).run()
    assert stuck.best == _nine()  # nothing reproduced: the original stays
    assert not any(s.kept for s in stuck.steps)


def test_only_an_anomaly_of_the_same_kind_counts() -> None:
    trial = NeedsAll({2})
    shrunk = Shrinker(_nine(), {"duplicate"}, trial, tries=1, budget_s=1e9).run()
    assert shrunk.best == _nine()


def test_the_budget_stops_the_shrink_and_keeps_the_best_so_far() -> None:
    clock = FakeClock()
    trial = NeedsAll({2, 6}, clock=clock)
    better: list[Schedule] = []
    shrunk = Shrinker(
        _nine(),
        {"lost-write"},
        trial,
        tries=1,
        budget_s=250.0,
        clock=clock,
        on_better=better.append,
    ).run()
    assert shrunk.stopped == "budget"
    spent = [c.time_limit for c in trial.calls]  # each try advances the clock this much
    assert sum(spent[:-1]) < 250.0 <= sum(spent)  # no try starts past the budget
    assert better and shrunk.best == better[-1]
    assert len(shrunk.best.ops) < len(_nine().ops)


def test_an_interrupt_keeps_the_best_so_far() -> None:
    inner = NeedsAll({2})

    def trial(candidate: Schedule, attempt: int) -> Outcome:
        if len(inner.calls) == 3:
            raise KeyboardInterrupt
        return inner(candidate, attempt)

    shrunk = Shrinker(_nine(), {"lost-write"}, trial, tries=1, budget_s=1e9).run()
    assert shrunk.stopped == "interrupted"
    assert len(shrunk.best.ops) < len(_nine().ops)


def test_the_reproduction_rate_counts_target_anomalies() -> None:
    trial = NeedsAll({2}, from_attempt=2)
    hits, outcomes = reproduction(_nine(), frozenset({"lost-write"}), trial, 4)
    assert (hits, len(outcomes)) == (2, 4)


def test_a_shrink_needs_a_target_and_a_try() -> None:
    with pytest.raises(ValueError, match="anomaly kinds"):
        Shrinker(_nine(), set(), NeedsAll(set()))
    with pytest.raises(ValueError, match="tries"):
        Shrinker(_nine(), {"lost-write"}, NeedsAll(set()), tries=0)


def test_each_step_is_reported_with_the_best_schedule_after_it() -> None:
    seen: list[tuple[bool, int, int]] = []
    shrinker = Shrinker(_nine(), {"lost-write"}, NeedsAll({2, 6}), tries=1, budget_s=1e9)
    shrinker.on_step = lambda step, best: seen.append((step.kept, step.ops, len(best.ops)))
    shrinker.run()
    assert seen and all(best == ops for kept, ops, best in seen if kept)
    assert any(kept for kept, _, _ in seen) and any(not kept for kept, _, _ in seen)


def test_a_candidate_without_the_last_faults_ends_its_load_soon_after_them() -> None:
    trial = NeedsAll({2, 6})
    Shrinker(_nine(), {"lost-write"}, trial, tries=1, budget_s=1e9).run()
    first, second = trial.calls[:2]
    assert max(op.at for op in first.ops) == 33.0  # the last half dropped first
    assert first.time_limit == pytest.approx(33.0 + 5.0)
    assert second.time_limit == 60.0  # kept the last fault (ends at 57 s): no cut
