"""``--jobs N``: the scheduler with fake workers (no process, no clock: a fake sleep)."""

from __future__ import annotations

import dataclasses
import io
import signal
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console

from harness.catalogue import CATALOGUE
from harness.certify import SuiteInterrupted, run_suite
from harness.jobs import Board, JobResult, ProcessJob, StopSignals, run_jobs
from harness.suite import Scenario, Suite, expand
from tests.harness.test_certify import FakeRunner


def scenarios(n: int, store: Path | None = None) -> Suite:
    raw = {"name": "j", "faults": [["kill"]], "seeds": list(range(1, n + 1))}
    return expand(raw, CATALOGUE, {"store": str(store)} if store else {})


class World:
    """Fake workers that each finish after ``ticks`` polls (one tick per sleep)."""

    def __init__(self, ticks: int = 3, codes: dict[int, int] | None = None) -> None:
        self.ticks = ticks
        self.codes = codes or {}
        self.jobs: dict[int, FakeJob] = {}
        self.max_running = 0
        self.stop = StopSignals()
        self.on_tick: list[Any] = []
        self.sleeps = 0

    def launch(self, i: int, sc: Scenario) -> FakeJob:
        job = FakeJob(self, i)
        self.jobs[i] = job
        self.max_running = max(self.max_running, self.running())
        return job

    def running(self) -> int:
        return sum(1 for j in self.jobs.values() if not j.finished)

    def sleep(self, _s: float) -> None:
        self.sleeps += 1
        for j in self.jobs.values():
            j.left -= 1
        for hook in self.on_tick:
            hook(self)


class FakeJob:
    def __init__(self, world: World, i: int) -> None:
        self.world, self.i = world, i
        self.left = world.ticks
        self.terminated = False
        self.finished = False

    def poll(self) -> JobResult | None:
        if self.left > 0:
            return None
        self.finished = True
        code = 130 if self.terminated else self.world.codes.get(self.i, 0)
        return JobResult(code, None, 1.0)

    def terminate(self) -> None:
        self.terminated = True
        self.left = min(self.left, 2)  # its teardown takes a while

    def status(self) -> str:
        return f"{self.left} ticks left"


class Seen:
    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[str] = []
        self.statuses: list[dict[int, str]] = []

    def started(self, i: int, sc: Scenario) -> None:
        self.starts.append(i)

    def finished(self, i: int, message: str) -> None:
        self.ends.append(message)

    def refresh(self, statuses: dict[int, str]) -> None:
        self.statuses.append(statuses)


def done(i: int, r: JobResult) -> str:
    return f"{i}:{r.code}"


@pytest.mark.parametrize("jobs", [1, 2, 3, 8])
def test_at_most_n_at_once_and_every_scenario_runs(jobs: int) -> None:
    w, seen = World(), Seen()
    got = run_jobs(scenarios(5).scenarios, jobs, w.launch, done, seen, w.stop, w.sleep)
    assert got is None
    assert w.max_running == min(jobs, 5) and sorted(seen.starts) == [0, 1, 2, 3, 4]
    assert sorted(seen.ends) == [f"{i}:0" for i in range(5)]
    assert any(len(s) == min(jobs, 5) for s in seen.statuses)


def test_a_signal_stops_every_running_worker_and_waits_for_their_teardown() -> None:
    w, seen = World(ticks=10), Seen()

    def interrupt(world: World) -> None:
        if world.sleeps == 3:
            world.stop.received = signal.SIGINT

    w.on_tick.append(interrupt)
    got = run_jobs(scenarios(5).scenarios, 2, w.launch, done, seen, w.stop, w.sleep)
    assert got == signal.SIGINT
    assert sorted(w.jobs) == [0, 1]  # nothing new started after the signal
    assert all(j.terminated and j.finished for j in w.jobs.values())
    assert sorted(seen.ends) == ["0:130", "1:130"]


def test_a_worker_ended_by_a_signal_stops_the_suite() -> None:
    w, seen = World(ticks=2, codes={0: 137}), Seen()
    w.jobs = {}
    got = run_jobs(scenarios(4).scenarios, 2, w.launch, done, seen, w.stop, w.sleep)
    assert got == 9 and sorted(w.jobs) == [0, 1]


def test_an_error_while_launching_leaves_no_worker_running() -> None:
    w, seen = World(ticks=5), Seen()

    def launch(i: int, sc: Scenario) -> FakeJob:
        if i == 1:
            raise OSError("cannot start a process")
        return w.launch(i, sc)

    with pytest.raises(OSError, match="cannot start"):
        run_jobs(scenarios(3).scenarios, 2, launch, done, seen, w.stop, w.sleep)
    assert w.jobs[0].terminated and w.jobs[0].finished


def test_run_suite_with_jobs_keeps_the_suites_order(tmp_path: Path) -> None:
    """Workers that finish out of order: summary rows still follow the suite."""
    suite = scenarios(4, tmp_path / "store")
    runner = FakeRunner({"-kill": {"valid": True}})
    finish_order = [2, 0, 3, 1]

    class Instant:
        def __init__(self, i: int, sc: Scenario) -> None:
            self.i, self.sc, self.polls = i, sc, 0

        def poll(self) -> JobResult | None:
            self.polls += 1
            if self.polls < 1 + finish_order.index(self.i):
                return None
            runner(self.sc.config)
            return JobResult(0, (tmp_path / "store" / self.sc.config.name / "latest").resolve(), 2)

        def terminate(self) -> None: ...

        def status(self) -> str:
            return "load"

    console = Console(file=io.StringIO(), force_terminal=False, width=120)
    out, results = run_suite(
        suite, tmp_path / "store", runner, jobs=4, launcher=Instant, console=console
    )
    assert [r.scenario.name for r in results] == [sc.name for sc in suite.scenarios]
    rows = orjson.loads((out / "summary.json").read_bytes())["rows"]
    assert [r["scenario"] for r in rows] == [sc.name for sc in suite.scenarios]
    assert all(r["verdict"] == "valid" for r in rows)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "[1/4] default/kill/seed-1: started" in text
    assert "default/kill/seed-3 → valid (valid)" in text


def test_run_suite_with_jobs_interrupted_writes_what_ran(tmp_path: Path) -> None:
    suite = scenarios(3, tmp_path / "store")

    class Killed:
        def __init__(self, i: int, sc: Scenario) -> None:
            self.i = i

        def poll(self) -> JobResult | None:
            return JobResult(143 if self.i == 0 else 0, None, 0.1)

        def terminate(self) -> None: ...

        def status(self) -> str:
            return ""

    console = Console(file=io.StringIO(), force_terminal=False)
    with pytest.raises(SuiteInterrupted) as e:
        run_suite(suite, tmp_path / "store", FakeRunner({}), jobs=2, launcher=Killed,
                  console=console)  # fmt: skip
    assert e.value.exit_code == 143
    summary = orjson.loads((e.value.out / "summary.json").read_bytes())
    assert summary["scenarios_run"] == 2 and summary["plan"]["scenarios"][2].endswith("seed-3")


def test_board_on_a_terminal_lists_every_running_scenario() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=160)
    clock = iter(range(100)).__next__
    board = Board(console, total=3, clock=lambda: float(clock()))
    sc = scenarios(3).scenarios
    table = board._render
    board.started(0, sc[0])
    board.started(1, sc[1])
    board.refresh({0: "load: ok 12", 1: "starting nodes"})
    rendered = Console(file=io.StringIO(), width=160)
    rendered.print(table())
    text = rendered.file.getvalue()  # type: ignore[attr-defined]
    assert "default/kill/seed-1" in text and "default/kill/seed-2" in text
    assert "load: ok 12" in text and "starting nodes" in text and "0/3 scenarios done" in text


def test_board_in_a_ci_log_prints_running_scenarios_every_so_often() -> None:
    console = Console(file=io.StringIO(), force_terminal=False, width=160)
    now = [0.0]
    board = Board(console, total=2, clock=lambda: now[0], every_s=30)
    board.started(0, scenarios(1).scenarios[0])
    board.refresh({0: "load"})
    now[0] = 31.0
    board.refresh({0: "final reads"})
    board.finished(0, "default/kill/seed-1 → valid (valid)")
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert text.splitlines() == [
        "[1/2] default/kill/seed-1: started",
        "    running default/kill/seed-1 (31 s): final reads",
        "[1/2] default/kill/seed-1 → valid (valid)",
    ]


def test_a_process_job_reports_its_run_dir_and_a_code_for_a_crash(tmp_path: Path) -> None:
    """A worker that dies before writing its code is unknown (2), never 'invalid' (1)."""
    sc = scenarios(1).scenarios[0]
    broken = dataclasses.replace(sc, config=dataclasses.replace(sc.config, nodes=0))
    job = ProcessJob(tmp_path, 0, broken)  # the worker's config check fails at once
    result = None
    while result is None:
        result = job.poll()
        if result is None:
            job._proc.wait()  # the process, not a clock
    assert result.code == 2 and result.run_dir is None
    assert "nodes" in job.log.read_text()
