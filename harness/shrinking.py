"""``floodmark shrink RUN_DIR``: the failing run's schedule cut down to a minimal
reproduction, every try an ordinary replay run in the store.

1. **plan**: the run's config (test.json), the anomaly kinds it proved (results.json,
   verdict invalid), and the schedule its history recorded (`harness.contract.schedule`).
   A run that proved nothing, or whose history predates recorded schedules, is refused
   (`ShrinkError`, exit 2) before anything starts.
2. **shrink**: `harness.shrink.Shrinker` with a `StoreTrial`: each candidate is written to
   ``RUN_DIR/shrink/candidate-NNN.json`` and run as ``floodmark run --replay`` of it (test
   name ``<name>-shrink``, the run's seed plus the try number), then judged by its
   results.json.
3. **confirm**: the minimal schedule replayed ``final_tries`` times: its reproduction rate.
4. **write**: ``RUN_DIR/shrink/minimal.json`` (after every improvement, so an interrupted
   shrink keeps the best so far), ``shrink.html`` beside it, and the command that replays
   it: ``floodmark run --replay RUN_DIR/shrink/minimal.json``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from harness.catalogue import CATALOGUE
from harness.contract import layout
from harness.contract.config import ConfigError, TestConfig, build_config
from harness.contract.glossary import SAFETY
from harness.contract.results import Results, ResultsError
from harness.contract.schedule import Schedule, ScheduleError, load_schedule
from harness.contract.verdict import Verdict
from harness.shrink import Outcome, Shrinker, Shrunk, Step, reproduction
from harness.store import on_open
from reports.shrink import ShrinkView, StepRow, render_shrink

INTERRUPTED: Final = 128
"""A run's exit code from this on means a signal stopped it (128 + N)."""
RunOne = Callable[[TestConfig], int]
"""Runs one config to its end (`harness.run.run` with a quiet display); its exit code."""


class ShrinkError(ValueError):
    """The run cannot be shrunk: not a failing run, or no replayable schedule (exit 2)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What a shrink starts from."""

    run_dir: Path
    config: TestConfig
    schedule: Schedule
    target: frozenset[str]
    anomalies: dict[str, int]


def proven(results: Results) -> dict[str, int]:
    """The safety anomalies a results.json proved (verdict invalid), with their counts."""
    safety = {str(a) for a in SAFETY}
    return {
        name: r.count
        for name, r in results.checkers.items()
        if name in safety and r.verdict is Verdict.INVALID and r.count
    }


def plan(run_dir: str | Path) -> Plan:
    """Read a failing run; `ShrinkError` says why it cannot be shrunk."""
    p = Path(run_dir)
    try:
        schedule = load_schedule(p, CATALOGUE.nemeses)
        results = Results.read(p)
    except (ScheduleError, ResultsError) as e:
        raise ShrinkError(str(e)) from None
    found = proven(results)
    if not found:
        raise ShrinkError(
            f"{p} proved no safety anomaly (verdict {results.verdict}); a shrink needs a "
            "failing run to cut down"
        )
    try:
        config = build_config(dict(schedule.config or {}), CATALOGUE)
    except ConfigError as e:
        raise ShrinkError(f"{p / layout.TEST}: its config does not load: {e}") from None
    return Plan(p, config, schedule, frozenset(found), found)


def replay_base(path: str) -> dict[str, Any]:
    """``floodmark run --replay PATH``'s starting config, under the config file and the
    options: the replayed run's own config (a run directory's test.json, or the one a
    schedule file carries), with the schedule's load size and ``replay`` set."""
    try:
        schedule = load_schedule(path, CATALOGUE.nemeses)
    except ScheduleError as e:
        raise ConfigError([f"replay: {e}"]) from None
    base: dict[str, Any] = dict(schedule.config or {})
    base.update(
        time_limit=schedule.time_limit,
        keys=schedule.keys,
        concurrency=schedule.concurrency,
        replay=str(Path(path).absolute()),
    )
    return base


def replay_config(config: TestConfig, schedule: Schedule, path: Path, seed: int) -> TestConfig:
    """``config`` replaying the schedule file at ``path``, with its load size."""
    return dataclasses.replace(
        config,
        time_limit=schedule.time_limit,
        keys=schedule.keys,
        concurrency=schedule.concurrency,
        replay=str(path),
        seed=seed,
    )


class StoreTrial:
    """A `harness.shrink.Trial`: a candidate as an ordinary replay run in the store."""

    def __init__(self, config: TestConfig, work: Path, run: RunOne) -> None:
        self.config = dataclasses.replace(config, name=f"{config.name}-shrink")
        self.work = work
        self.run = run
        self.tried = 0

    def __call__(self, candidate: Schedule, attempt: int) -> Outcome:
        self.tried += 1
        path = self.work / f"candidate-{self.tried:03}.json"
        candidate.dump(path)
        seed = int(self.config.seed or 0) + attempt
        opened: list[Path] = []
        stop_watching = on_open(lambda run_dir: opened.append(run_dir.path))
        try:
            code = self.run(replay_config(self.config, candidate, path, seed))
        finally:
            stop_watching()
        if code >= INTERRUPTED:  # the run was stopped by a signal: so is the shrink
            raise KeyboardInterrupt
        if not opened:
            return Outcome({}, "")
        try:
            found = proven(Results.read(opened[-1]))
        except ResultsError:
            found = {}
        return Outcome(found, str(opened[-1]))


@dataclass(frozen=True, slots=True)
class Summary:
    """What a shrink wrote and found."""

    shrunk: Shrunk
    minimal_file: Path
    page: Path
    command: str
    reproduced: tuple[int, int]


def shrink(
    p: Plan,
    run: RunOne,
    *,
    budget_s: float,
    tries: int,
    final_tries: int,
    on_step: Callable[[Step, Schedule], None] = lambda _s, _b: None,
) -> Summary:
    """Shrink ``p``'s schedule (see the module docstring); the best schedule so far is in
    ``minimal.json`` whatever happens."""
    work = p.run_dir / layout.SHRINK
    work.mkdir(exist_ok=True)
    minimal = work / layout.MINIMAL

    def better(candidate: Schedule) -> None:
        dataclasses.replace(candidate, config=p.config.to_json()).dump(minimal)

    better(p.schedule)

    trial = StoreTrial(p.config, work, run)
    shrinker = Shrinker(
        p.schedule,
        p.target,
        trial,
        tries=tries,
        budget_s=budget_s,
        on_step=on_step,
        on_better=better,
    )
    shrunk = shrinker.run()
    hits, outcomes = 0, list[Outcome]()
    if shrunk.stopped != "interrupted" and final_tries > 0:
        hits, outcomes = reproduction(shrunk.best, p.target, trial, final_tries)
    failing = [o for o in outcomes if not p.target.isdisjoint(o.anomalies)] or [
        o for s in shrunk.steps if s.kept for o in s.outcomes[-1:]
    ]
    minimal_anomalies = dict(failing[-1].anomalies) if failing else {}
    command = f"floodmark run --replay {minimal}"
    page = render_shrink(
        ShrinkView(
            run=str(p.run_dir),
            original=p.schedule,
            minimal=shrunk.best,
            original_anomalies=p.anomalies,
            minimal_anomalies=minimal_anomalies,
            reproduced=(hits, len(outcomes)),
            command=command,
            stopped=shrunk.stopped,
            elapsed_s=shrunk.elapsed_s,
            steps=[
                StepRow(s.stage, s.what, s.ops, s.kept, tuple(o.run_dir for o in s.outcomes))
                for s in shrunk.steps
            ],
        ),
        work,
    )
    return Summary(shrunk, minimal, page, command, (hits, len(outcomes)))


def describe(schedule: Schedule) -> str:
    """A schedule in one line per op, for the terminal."""
    return "\n".join(
        f"  {op.at:8.3f} s  {op.f:<22} {json.dumps(op.value, sort_keys=True)[:80]}"
        for op in schedule.ops
    )
