"""`harness.run.run` end to end on a Docker-less cluster (tests/harness/fakes.py).

Every test runs the whole lifecycle: store, the fake driver's cluster, real workers and
monitor and nemesis threads on a `FakeLog`, final reads, the real checkers and report.
The load ends as soon as the log acknowledged a few writes (no sleeping). What is
asserted: the exit code, the outcome in test.json, and the teardown as the fakes saw it
(`Events`): workers stopped, then faults healed (while the monitor still samples),
then node logs collected (monitor stopped), then the cluster removed (history still
open), then the history closed; and every one of those steps also when another raised
or a signal arrived.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import orjson
import pytest

import harness.run
from faults.registry import FAULT_PACKAGES
from harness.contract.config import ConfigError, TestConfig
from harness.contract.glossary import Anomaly
from harness.contract.history import F, OpType
from harness.contract.layout import HISTORY, LATEST, RESULTS, TEST
from harness.contract.reader import iter_history, read_history
from harness.contract.results import Results
from harness.contract.verdict import Verdict
from harness.run import run
from harness.systems import SYSTEMS
from tests.harness.fakes import (
    Events,
    FakeDriver,
    FakeLog,
    FakeSystem,
    FakeUi,
    Hook,
    deliver,
    healthy_states,
    is_open,
    raises,
    state,
    witness_package,
)

KEYS = 2
SIGNALS = [signal.SIGINT, signal.SIGTERM]


class Escaped(BaseException):
    """A signal reached the test's own handler: `run` did not handle it."""


@pytest.fixture(autouse=True)
def signals_stay_here() -> Iterator[None]:
    """A signal that `run` does not handle raises `Escaped` instead of ending pytest."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise Escaped(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    yield
    for s, h in previous.items():
        signal.signal(s, h)


@pytest.fixture(autouse=True)
def harness_log_handlers() -> Iterator[None]:
    """`run` attaches its harness.log handler to the ``floodmark`` logger for the run
    only: after any run, the logger has the handlers it had before."""
    logger = logging.getLogger("floodmark")
    before, level = list(logger.handlers), logger.level
    yield
    assert logger.handlers == before, "a run left its harness.log handler attached"
    logger.setLevel(level)


@dataclass
class Rig:
    """One fake run's parts; `go` runs it and returns the exit code."""

    tmp: Path
    monkeypatch: pytest.MonkeyPatch
    log: FakeLog
    system: FakeSystem
    events: Events
    driver: FakeDriver
    ui: FakeUi

    def config(self, **changes: Any) -> TestConfig:
        base: dict[str, Any] = {
            "name": "unit", "system": "fake", "nodes": 3, "keys": KEYS,
            "replication_factor": 3, "time_limit": 5.0, "concurrency": 2, "rate": 5000.0,
            "seed": 7, "store": str(self.tmp / "store"), "recovery_timeout": 5.0,
            "monitor_interval": 0.05, "nemesis": ("witness",),
        }  # fmt: skip
        return TestConfig(**{**base, **changes})

    def go(self, **changes: Any) -> int:
        return run(self.config(**changes), self.ui, driver=self.driver)

    @property
    def run_dir(self) -> Path:
        return (self.tmp / "store" / "unit" / LATEST).resolve()

    def test_json(self) -> dict[str, Any]:
        body: dict[str, Any] = orjson.loads((self.run_dir / TEST).read_bytes())
        return body

    def outcome(self) -> dict[str, Any]:
        out: dict[str, Any] = self.test_json()["outcome"]
        return out

    def results(self) -> Results:
        return Results.read(self.run_dir)


RigMaker = Callable[..., Rig]


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RigMaker:
    """``rig(on_start=..., on_load=..., ...)``: a fake system, driver and UI, registered
    as system ``fake`` and fault package ``witness``."""

    def make(
        *,
        on_start: Hook | None = None,
        on_load: Hook | None = None,
        on_collect_logs: Hook | None = None,
        on_remove: Hook | None = None,
        on_phase: dict[str, Hook] | None = None,
        heal_fails: bool = False,
        states: list[dict[str, Any]] | None = None,
        **log_options: Any,
    ) -> Rig:
        log = FakeLog(KEYS, **log_options)
        dumps = [{"key": 0, "node": "n1", "hw": 0, "leo": 0, "records": []}]
        system = FakeSystem(healthy_states(KEYS) if states is None else states, log.answer, dumps)
        events = Events()
        driver = FakeDriver(events, on_start, on_collect_logs, on_remove)
        ui = FakeUi(ready=log.acked, on_load=on_load, on_phase=on_phase)
        monkeypatch.setitem(SYSTEMS, "fake", lambda: system)
        monkeypatch.setitem(
            FAULT_PACKAGES, "witness", witness_package(events, system, heal_fails=heal_fails)
        )
        return Rig(tmp_path, monkeypatch, log, system, events, driver, ui)

    return make


def assert_full_teardown(r: Rig, healed: bool = True) -> None:
    """Workers stopped before the heal, the heal while the monitor ran, logs collected
    after the monitor stopped, the cluster removed before the history was closed, and
    nothing after the removal."""
    names = r.events.names
    expected = ["images", "start", "heal-witness", "collect-logs", "remove"]
    if not healed:
        expected.remove("heal-witness")
    assert names == expected
    if healed:
        assert r.events.detail("heal-witness") == "open clients: 0, monitor: True"
    assert r.events.detail("collect-logs") == "monitor alive: False"
    assert r.events.detail("remove") == "history open: True"
    assert not is_open(r.run_dir / HISTORY), "history.jsonl was left open"
    assert r.system.open_clients() == 0


# -- exit codes ------------------------------------------------------------------------------


def test_a_clean_run_exits_0_after_a_full_teardown_in_reverse_order(rig: RigMaker) -> None:
    r = rig()
    assert r.go() == 0
    assert_full_teardown(r)
    assert r.results().verdict is Verdict.VALID
    outcome = r.outcome()
    assert outcome["status"] == "completed"
    assert outcome["recovered"] is True
    assert outcome["final_reads"] == {"ok": KEYS}
    assert outcome["monitor_samples"] >= 1
    assert outcome["worker_errors"] == []
    ops, _ = read_history(r.run_dir / HISTORY)
    dumps = [op for op in ops if op.f == F.REPLICA_DUMP]
    assert [(op.node, op.value["key"]) for op in dumps] == [("n1", 0)]
    assert r.ui.phases[-1].startswith("report: ")
    assert r.test_json()["versions"]["images"] == {}
    assert set(r.test_json()["timings"]) >= {"images", "cluster_healthy", "torn_down", "checked"}


def test_a_lost_acknowledged_write_exits_1(rig: RigMaker) -> None:
    r = rig(lose=[1])  # worker 0's first value: always acknowledged before the load ends
    assert r.go() == 1
    results = r.results()
    assert results.verdict is Verdict.INVALID
    assert results.checkers[Anomaly.LOST_WRITE].count == 1
    assert_full_teardown(r)


def broken_report(*_args: Any) -> None:
    raise RuntimeError("template missing")


def test_a_report_that_fails_keeps_a_proven_anomaly_at_exit_1(
    rig: RigMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness.run, "render_report", broken_report)
    r = rig(lose=[1])
    assert r.go() == 1  # the verdict is proven and written: the report is not the verdict
    assert r.results().verdict is Verdict.INVALID
    assert any("the report could not be written" in n for n in r.ui.notes), r.ui.notes


def test_a_report_that_fails_after_a_valid_verdict_exits_2(
    rig: RigMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness.run, "render_report", broken_report)
    r = rig()
    assert r.go() == 2
    assert r.results().verdict is Verdict.VALID
    assert any("floodmark report" in n for n in r.ui.notes), r.ui.notes


def test_results_that_cannot_be_written_exit_2_with_the_verdict_said(
    rig: RigMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unwritable(self: Results, directory: Any, text: Any = None) -> Path:
        raise OSError("No space left on device")

    monkeypatch.setattr(Results, "write", unwritable)
    r = rig(lose=[1])
    assert r.go() == 2  # nothing on disk says invalid: not exit 1
    assert any("results.json could not be written" in n and "invalid" in n for n in r.ui.notes)
    assert not (r.run_dir / RESULTS).exists()


def test_final_reads_that_fail_leave_the_verdict_unknown_and_exit_2(rig: RigMaker) -> None:
    r = rig(final_reads=OpType.FAIL)
    assert r.go() == 2
    results = r.results()
    assert results.verdict is Verdict.UNKNOWN
    assert results.checkers[Anomaly.UNSEEN].count >= r.log.acks_wanted
    assert r.outcome()["final_reads"] == {"fail": KEYS}


def test_a_heal_that_raises_is_unverified_and_the_rest_of_teardown_runs(rig: RigMaker) -> None:
    r = rig(heal_fails=True)
    assert r.go() == 2
    assert r.results().checkers[Anomaly.UNVERIFIED_FAULT].count == 1
    assert_full_teardown(r)


def test_a_bad_profile_is_refused_before_the_driver_is_touched(rig: RigMaker) -> None:
    r = rig()
    with pytest.raises(ConfigError, match="replog"):
        r.go(profile="kafka-9")
    assert r.events.names == []
    assert not (r.tmp / "store").exists()


def test_a_crash_while_starting_exits_2_and_still_removes_the_cluster(rig: RigMaker) -> None:
    r = rig(on_start=raises(RuntimeError("no route to the engine")))
    assert r.go() == 2
    assert r.outcome() == {"status": "error", "error": "RuntimeError: no route to the engine"}
    assert_full_teardown(r, healed=False)
    assert any("no route to the engine" in n for n in r.ui.notes)
    assert not (r.run_dir / RESULTS).exists()


def test_a_client_crash_in_the_final_reads_exits_2_after_teardown(rig: RigMaker) -> None:
    r = rig(on_final_read=raises(ValueError("decoder bug")))
    assert r.go() == 2
    assert r.outcome()["error"] == "ValueError: decoder bug"
    assert_full_teardown(r)


def test_an_unhealthy_cluster_is_a_setup_failure_with_exit_2(
    rig: RigMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness.run, "STARTUP_TIMEOUT_S", 0.0)
    no_leader = [state(k, n, "follower", ["n1", "n2", "n3"]) for k in range(KEYS)
                 for n in ("n1", "n2", "n3")]  # fmt: skip
    r = rig(states=no_leader)
    assert r.go() == 2
    outcome = r.outcome()
    assert outcome["status"] == "setup-failed"
    assert "did not get a leader and a full ISR" in outcome["error"]
    assert "{0: 'no leader', 1: 'no leader'}" in outcome["error"]
    assert_full_teardown(r, healed=False)


def test_a_cluster_that_does_not_recover_is_noted_and_still_checked(rig: RigMaker) -> None:
    r = rig()
    half = [state(k, "n1", "leader", ["n1"]) for k in range(KEYS)]
    r.ui.on_phase["healing faults"] = lambda: r.system.states.__setitem__(slice(None), half)
    assert r.go(recovery_timeout=0.01) == 0
    assert r.outcome()["recovered"] is False
    assert any(n.startswith("not recovered after 0.01 s") for n in r.ui.notes)


def test_a_failing_removal_exits_2_and_the_history_is_still_closed(rig: RigMaker) -> None:
    r = rig(on_remove=raises(RuntimeError("engine went away")))
    assert r.go() == 2
    assert r.outcome()["error"] == "RuntimeError: engine went away"
    assert_full_teardown(r)


def test_a_failing_log_collection_does_not_stop_the_removal(rig: RigMaker) -> None:
    r = rig(on_collect_logs=raises(OSError("disk full")))
    assert r.go() == 0
    assert_full_teardown(r)


def test_a_history_that_cannot_be_checked_exits_2(rig: RigMaker) -> None:
    def corrupt() -> None:
        with (r.run_dir / HISTORY).open("ab") as fh:
            fh.write(b'{"index": "not an op"}\n{"index": 1}\n')

    r = rig(on_remove=corrupt)
    assert r.go() == 2
    assert r.outcome()["status"] == "completed"
    assert any(n.startswith("history could not be checked") for n in r.ui.notes)
    assert not (r.run_dir / RESULTS).exists()


# -- signals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_signal_while_the_cluster_starts_tears_down_and_exits_128_plus_n(
    rig: RigMaker, signum: int
) -> None:
    r = rig(on_start=deliver(signum))
    assert r.go() == 128 + signum
    assert r.outcome() == {"status": "interrupted", "signal": signal.Signals(signum).name}
    assert_full_teardown(r, healed=False)
    assert not (r.run_dir / RESULTS).exists()
    assert any(n.startswith(f"interrupted by {signal.Signals(signum).name}") for n in r.ui.notes)


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_signal_during_the_load_stops_workers_heals_and_exits_128_plus_n(
    rig: RigMaker, signum: int
) -> None:
    r = rig(on_load=deliver(signum))
    assert r.go() == 128 + signum
    assert r.outcome()["status"] == "interrupted"
    assert_full_teardown(r)
    assert not (r.run_dir / RESULTS).exists()


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_signal_during_the_final_reads_tears_down_and_exits_128_plus_n(
    rig: RigMaker, signum: int
) -> None:
    r = rig(on_final_read=deliver(signum))
    assert r.go() == 128 + signum
    assert r.outcome()["status"] == "interrupted"
    assert_full_teardown(r)
    finals = [op for op in iter_history(r.run_dir / HISTORY) if op.f == F.FINAL_READ]
    assert finals, "the signal came before any final read"
    assert not (r.run_dir / RESULTS).exists()


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_signal_during_the_check_exits_128_plus_n(rig: RigMaker, signum: int) -> None:
    r = rig(on_phase={"verdict:": deliver(signum)})
    assert r.go() == 128 + signum
    assert_full_teardown(r)
    outcome = r.outcome()
    assert outcome["status"] == "completed" and outcome["interrupted"] == "check", outcome
    assert outcome["signal"] == signal.Signals(signum).name


def test_a_second_signal_during_teardown_is_ignored_until_teardown_is_done(
    rig: RigMaker,
) -> None:
    r = rig(on_load=deliver(signal.SIGINT), on_collect_logs=deliver(signal.SIGTERM))
    assert r.go() == 128 + signal.SIGINT  # the first signal names the exit code
    assert_full_teardown(r)
    assert r.outcome()["signal"] == "SIGINT"


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_signal_during_the_teardown_of_a_crashed_run_does_not_cut_it_short(
    rig: RigMaker, signum: int
) -> None:
    r = rig(on_start=raises(RuntimeError("boom")), on_collect_logs=deliver(signum))
    assert r.go() == 128 + signum
    assert_full_teardown(r, healed=False)
    assert r.outcome() == {"status": "error", "error": "RuntimeError: boom"}


def test_a_signal_and_a_failing_teardown_step_still_run_the_later_steps(rig: RigMaker) -> None:
    r = rig(on_load=deliver(signal.SIGTERM), on_collect_logs=raises(OSError("disk full")))
    assert r.go() == 128 + signal.SIGTERM
    assert_full_teardown(r)


# -- the pieces ----------------------------------------------------------------------------------


def test_the_test_pause_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOODMARK_TEST_PAUSE", "final-read=0.25")
    assert harness.run._test_pause("final-read") == 0.25
    assert harness.run._test_pause("load") == 0.0
    monkeypatch.delenv("FLOODMARK_TEST_PAUSE")
    assert harness.run._test_pause("final-read") == 0.0


def test_interrupted_names_its_signal() -> None:
    e = harness.run.Interrupted(signal.SIGTERM)
    assert (str(e), e.signum) == ("SIGTERM", signal.SIGTERM)
