"""Shrinking a failing run to a minimal reproduction: delta debugging over its schedule.

The input is a failing run's recorded `harness.contract.schedule.Schedule` and the anomaly kinds it
proved (``lost-write``, ...). A *candidate* is a smaller schedule; it is kept when one of
``tries`` replays of it (`Trial`: an ordinary run in the store, replaying exactly the
candidate's ops) proves an anomaly of one of those kinds. The passes, each to a local
minimum before the next:

1. **fault periods** (a start op with the stop that ends it: dropping one drops both, so
   no candidate stops a fault it never started): ddmin, which drops halves of the
   periods, then quarters, ..., then single periods, the latest chunk first. A
   candidate that dropped the last faults also ends its load `TAIL_S` after the last one
   left (never later than the best did): the quiet load after them proves nothing, and
   the tries get shorter as the shrink goes;
2. **stops**: each remaining fault's stop op dropped, singly, so that fault lasts until
   the final heal at the time limit (a fault whose end does not matter is one op); only
   a package's last fault, as a later start of the package would find it still active;
3. **time**: the time limit cut to a few seconds after the last fault ends, then every
   fault moved earlier so the first starts after a short warm-up;
4. **load**: fewer keys, then fewer client processes, halving each while it still fails.

It stops at a local minimum, when the budget is spent (checked before every try) or when
interrupted (Ctrl-C: the run being tried tears down as any run does, and the best
schedule so far is kept). The best schedule is handed to ``on_better`` each time it
improves, so a file of it survives anything.

Example: 9 periods of a 60-s run that lost writes; ddmin keeps ``kill`` at 12 s and
``partition`` at 31 s (and ends the load at 36 s), the partition's stop goes, and the
time pass moves both 9 s earlier::

    Shrinker(schedule, {"lost-write"}, trial, tries=2, budget_s=1200).run()
    -> Shrunk(best=Schedule(ops=(start-partition@3.0, stop-partition@8.1, start-kill@..)))
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

from harness.contract.schedule import Period, Schedule, periods, with_periods

WARM_UP_S: Final = 3.0
"""The load runs this long before the first fault of a schedule the time pass moved."""
TAIL_S: Final = 5.0
"""The load goes on this long after the last fault of a schedule the time pass cut."""
MIN_TIME_LIMIT_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """One try: the safety anomalies its run proved (kind → count), and where the run is."""

    anomalies: Mapping[str, int]
    run_dir: str


class Trial(Protocol):
    """Replays a candidate once (``attempt`` counts from 0) as an ordinary run."""

    def __call__(self, candidate: Schedule, attempt: int) -> Outcome: ...


@dataclass(frozen=True, slots=True)
class Step:
    """One candidate tried: which pass, what it changed, and what its tries found."""

    stage: str
    what: str
    ops: int
    kept: bool
    outcomes: tuple[Outcome, ...]


@dataclass(slots=True)
class Shrunk:
    """What a shrink found: the smallest schedule that still failed, every step, and why
    it stopped (``"minimal"``, ``"budget"``, ``"interrupted"``)."""

    original: Schedule
    best: Schedule
    steps: list[Step] = field(default_factory=list)
    stopped: str = "minimal"
    elapsed_s: float = 0.0


class _Stop(Exception):
    """The budget is spent: unwind to `Shrinker.run`."""


class Shrinker:
    """Delta debugging of one failing schedule (see the module docstring)."""

    def __init__(
        self,
        schedule: Schedule,
        target: frozenset[str] | set[str],
        trial: Trial,
        *,
        tries: int = 2,
        budget_s: float = 1200.0,
        on_step: Callable[[Step, Schedule], None] = lambda _s, _b: None,
        on_better: Callable[[Schedule], None] = lambda _b: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if tries < 1:
            raise ValueError(f"tries must be at least 1, got {tries}")
        if not target:
            raise ValueError("a shrink needs the anomaly kinds the failing run proved")
        self.target = frozenset(target)
        self.trial = trial
        self.tries = tries
        self.budget_s = budget_s
        self.on_step = on_step
        self.on_better = on_better
        self.clock = clock
        self.result = Shrunk(schedule, schedule)
        self._t0 = clock()

    def run(self) -> Shrunk:
        """Shrink to a local minimum, the budget or an interrupt; the best so far wins."""
        self._t0 = self.clock()
        try:
            self._periods()
            self._stops()
            self._time()
            self._load()
        except _Stop:
            self.result.stopped = "budget"
        except KeyboardInterrupt:
            self.result.stopped = "interrupted"
        self.result.elapsed_s = round(self.clock() - self._t0, 3)
        return self.result

    def fails(self, candidate: Schedule, stage: str, what: str) -> bool:
        """Try ``candidate`` up to ``tries`` times; kept (the new best) on the first try
        that proves a target anomaly."""
        outcomes: list[Outcome] = []
        kept = False
        for attempt in range(self.tries):
            if self.clock() - self._t0 >= self.budget_s:
                self._record(Step(stage, what, len(candidate.ops), False, tuple(outcomes)))
                raise _Stop
            outcome = self.trial(candidate, attempt)
            outcomes.append(outcome)
            if not self.target.isdisjoint(outcome.anomalies):
                kept = True
                break
        if kept:
            self.result.best = candidate
            self.on_better(candidate)
        self._record(Step(stage, what, len(candidate.ops), kept, tuple(outcomes)))
        return kept

    def _record(self, step: Step) -> None:
        self.result.steps.append(step)
        self.on_step(step, self.result.best)

    def _periods(self) -> None:
        """ddmin over the fault periods: drop one of n chunks; on a failure keep the rest
        and coarsen, else refine until chunks are single periods."""
        current = list(periods(self.result.best.ops))
        n = 2
        while current:
            chunks = _split(current, min(n, len(current)))
            for i in reversed(range(len(chunks))):  # the last first: its candidate ends sooner
                chunk = chunks[i]
                rest = [p for j, c in enumerate(chunks) if j != i for p in c]
                what = f"drop {len(chunk)} of {len(current)} fault period(s)"
                candidate = _trimmed(with_periods(self.result.best, rest))
                if self.fails(candidate, "faults", what):
                    current = rest
                    n = max(n - 1, 2)
                    break
            else:
                if n >= len(current):
                    return
                n = min(2 * n, len(current))

    def _stops(self) -> None:
        """Drop each fault's stop op, singly, while the run still fails."""
        tried = 0
        while True:
            best = self.result.best
            ps = periods(best.ops)
            last_of = {p.start.package: p for p in ps}  # a later start would find it active
            stopped = [p for p in ps if p.stop is not None and last_of[p.start.package] is p]
            if tried >= len(stopped):
                return
            p = stopped[tried]
            candidate = dataclasses.replace(
                best, ops=tuple(op for op in best.ops if op is not p.stop)
            )
            what = f"drop the stop of {p.start.f} at {p.start.at:g} s (it lasts to the final heal)"
            if not self.fails(candidate, "stops", what):
                tried += 1

    def _time(self) -> None:
        """Cut the run after the last fault, then move every fault earlier."""
        best = self.result.best
        cut = _trimmed(best)
        if cut.time_limit < best.time_limit:
            was = f"(was {best.time_limit:g} s)"
            self.fails(cut, "time", f"end the load at {cut.time_limit:g} s {was}")
        best = self.result.best
        first = min((op.at for op in best.ops), default=0.0)
        shift = round(first - WARM_UP_S, 3)
        if shift > 0:
            moved = tuple(dataclasses.replace(op, at=round(op.at - shift, 3)) for op in best.ops)
            limit = max(MIN_TIME_LIMIT_S, round(best.time_limit - shift, 3))
            self.fails(
                dataclasses.replace(best, ops=moved, time_limit=limit),
                "time",
                f"move every fault {shift:g} s earlier",
            )

    def _load(self) -> None:
        """Halve the keys, then the client processes, while the run still fails."""
        self._halve("keys", 1, lambda s: s.keys, lambda s, n: dataclasses.replace(s, keys=n))
        self._halve(
            "concurrency",
            2,
            lambda s: s.concurrency,
            lambda s, n: dataclasses.replace(s, concurrency=n),
        )

    def _halve(
        self,
        name: str,
        floor: int,
        get: Callable[[Schedule], int],
        put: Callable[[Schedule, int], Schedule],
    ) -> None:
        while True:
            best = self.result.best
            now = get(best)
            fewer = max(floor, now // 2)
            if fewer >= now or not self.fails(
                put(best, fewer), "load", f"{name} {fewer} (was {now})"
            ):
                return


def _trimmed(schedule: Schedule) -> Schedule:
    """``schedule`` with its load ending `TAIL_S` after its last fault (a fault the final
    heal ends counts from its start), if that is earlier than it ends now."""
    last = max((p.end for p in periods(schedule.ops)), default=0.0)
    limit = max(MIN_TIME_LIMIT_S, round(last + TAIL_S, 3))
    return (
        dataclasses.replace(schedule, time_limit=limit) if limit < schedule.time_limit else schedule
    )


def _split(items: list[Period], n: int) -> list[list[Period]]:
    """``items`` in ``n`` contiguous chunks of near-equal size."""
    size, extra = divmod(len(items), n)
    out: list[list[Period]] = []
    start = 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(items[start:end])
        start = end
    return out


def reproduction(
    schedule: Schedule, target: frozenset[str], trial: Trial, tries: int
) -> tuple[int, list[Outcome]]:
    """How many of ``tries`` replays of ``schedule`` proved a target anomaly."""
    outcomes = [trial(schedule, attempt) for attempt in range(tries)]
    return sum(not target.isdisjoint(o.anomalies) for o in outcomes), outcomes
