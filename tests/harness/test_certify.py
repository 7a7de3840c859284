"""Certification suites: expansion, validation, verdict rules and outputs (fake runner)."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import orjson
import pytest

from checkers import check_history
from harness.catalogue import CATALOGUE
from harness.certify import detection_table, run_suite, scenario_result, suite_verdict
from harness.contract.config import TestConfig
from harness.contract.history import HistoryWriter, OpType
from harness.contract.results import (
    CheckResult,
    FinalRead,
    KeyLiveness,
    Liveness,
    Results,
    Witness,
)
from harness.contract.verdict import Verdict
from harness.suite import BUILTIN_SUITES, SuiteError, expand, load_suite

KNOWN = CATALOGUE


def _suite(raw: dict[str, Any]) -> Any:
    return expand(raw, KNOWN, overrides={})


@pytest.mark.parametrize("name", BUILTIN_SUITES)
def test_builtin_suites_expand_and_validate(name: str) -> None:
    suite = load_suite(name, KNOWN)
    assert suite.scenarios, name
    assert len({s.name for s in suite.scenarios}) == len(suite.scenarios)
    for sc in suite.scenarios:
        assert set(sc.config.nemesis) == set(sc.faults)


def test_smoke_fits_its_budget() -> None:
    suite = load_suite("smoke", KNOWN)
    # load time plus ~60 s of setup, recovery, final reads and teardown per scenario
    planned = sum(sc.config.time_limit + 60 for sc in suite.scenarios)
    assert suite.budget_minutes is not None and planned <= suite.budget_minutes * 60


def test_matrix_is_the_product_and_per_system_faults_override() -> None:
    suite = _suite(
        {
            "name": "m",
            "systems": [
                {"label": "a", "config": {"profile": "kafka-0.11"}},
                {"label": "b", "faults": [["kill"]], "expect": "invalid", "bug": "x"},
            ],
            "faults": [["partition"], ["pause", "link"]],
            "workloads": [{"rate": 50}, {"rate": 100}],
            "repeats": 2,
            "seed": 10,
        }
    )
    names = [s.name for s in suite.scenarios]
    assert len(names) == 2 * 2 * 2 + 1 * 2 * 2
    assert "a/pause+link/seed-11" in names and "b/kill/seed-10" in names
    b = [s for s in suite.scenarios if s.system_label == "b"]
    assert all(s.faults == ("kill",) and s.expect == Verdict.INVALID for s in b)
    assert {s.config.rate for s in suite.scenarios} == {50.0, 100.0}


def test_every_problem_is_reported_before_anything_runs() -> None:
    with pytest.raises(SuiteError) as e:
        _suite(
            {
                "systems": [{"label": "a", "config": {"nodes": 42}}],
                "faults": [["no-such-fault"]],
            }
        )
    text = str(e.value)
    assert "nodes" in text and "no-such-fault" in text


def test_unknown_suite_and_unknown_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="built-in suites"):
        load_suite("no-such-suite", KNOWN)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsystemz: []\n")
    with pytest.raises(SuiteError, match="unknown keys"):
        load_suite(str(bad), KNOWN)


class FakeRunner:
    """Writes a run directory like `harness.run.run` does, with a chosen outcome."""

    def __init__(self, plan: dict[str, dict[str, Any]]) -> None:
        self.plan = plan
        self.calls: list[str] = []

    def __call__(self, config: TestConfig) -> int:
        self.calls.append(config.name)
        o = next(v for k, v in self.plan.items() if k in config.name)
        run_dir = Path(config.store) / config.name / f"run{len(self.calls)}"
        run_dir.mkdir(parents=True)
        with HistoryWriter(run_dir / "history.jsonl") as h:
            h.append(0, OpType.INVOKE, "send", {"key": 0, "value": 1})
            h.append(0, OpType.OK, "send", {"key": 0, "value": 1, "offset": 0})
            h.append("nemesis", OpType.INFO, "start-kill", {"nodes": ["n1"]})
            if o.get("stall_s"):
                h._t0 -= int(o["stall_s"] * 1e9)  # the clock jumps: a long stretch, no ok op
            h.append(0, OpType.INVOKE, "poll", {"key": 0, "from": 0})
            h.append(0, OpType.OK, "poll", {"key": 0, "from": 0, "records": [[0, 1]], "hw": 1})
            h.append("nemesis", OpType.INFO, "stop-kill", {})
            h.append(1, OpType.INVOKE, "final-read", {"key": 0})
            final_type = OpType.FAIL if o.get("final_read_fails") else OpType.OK
            h.append(1, final_type, "final-read", {"key": 0, "records": [[0, 1]], "hw": 1})
        # The real checkers' results (liveness included), with the planned verdict.
        checked = check_history(run_dir)
        checkers = dict(checked.checkers)
        if o["valid"] is False:
            ops = ({"index": 1, "time": 3_000_000_000},)
            checkers["lost-write"] = CheckResult(Verdict.INVALID, 2, (Witness("<b>lost</b>", ops),))
        planned = Verdict.from_json(o["valid"])
        dataclasses.replace(checked, verdict=planned, checkers=checkers).write(run_dir)
        (run_dir / "test.json").write_bytes(
            orjson.dumps({"outcome": {"status": "completed", "recovered": True}})
        )
        latest = Path(config.store) / config.name / "latest"
        latest.unlink(missing_ok=True)
        latest.symlink_to(run_dir.name)
        return {True: 0, False: 1}.get(o["valid"], 2)


def _two_system_suite(tmp_path: Path) -> Any:
    return _suite(
        {
            "name": "t",
            "defaults": {"store": str(tmp_path / "store"), "time_limit": 5},
            "systems": [
                {"label": "safe", "config": {}},
                {"label": "buggy", "expect": "invalid", "bug": "the bug", "config": {}},
            ],
            "faults": [["kill"]],
            "seeds": [1, 2],
        }
    )


def test_invalid_safe_scenario_makes_the_suite_invalid(tmp_path: Path) -> None:
    suite = _two_system_suite(tmp_path)
    runner = FakeRunner({"-safe-": {"valid": False}, "-buggy-": {"valid": False}})
    out, results = run_suite(suite, tmp_path / "store", runner)
    assert suite_verdict(results) == Verdict.INVALID
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["verdict"] == "invalid"
    assert sorted(summary["invalid"]) == ["safe/kill/seed-1", "safe/kill/seed-2"]
    junit = ET.parse(out / "junit.xml").getroot()
    assert junit.find("testsuite").get("failures") == "2"  # type: ignore[union-attr]
    html = (out / "certificate.html").read_text()
    assert "INVALID" in html and "<b>lost</b>" not in html


def test_known_bug_that_escapes_fails_the_suite_and_caught_one_passes(tmp_path: Path) -> None:
    suite = _two_system_suite(tmp_path)
    _, caught = run_suite(
        suite,
        tmp_path / "store",
        FakeRunner({"-safe-": {"valid": True}, "-buggy-": {"valid": False}}),
    )
    assert suite_verdict(caught) == Verdict.VALID
    table = {row.configuration: row for row in detection_table(caught)}
    assert table["the bug"].rate == 1.0 and table["the bug"].median_first_anomaly_s == 3.0
    assert table["safe (safe)"].false_alarms == 0

    suite2 = _two_system_suite(tmp_path / "2")
    _, escaped = run_suite(
        suite2,
        tmp_path / "2" / "store",
        FakeRunner({"-safe-": {"valid": True}, "-buggy-": {"valid": True}}),
    )
    assert suite_verdict(escaped) == Verdict.INVALID
    assert detection_table(escaped)[1].rate == 0.0


def test_liveness_problem_is_reported_apart_and_makes_the_suite_unknown(tmp_path: Path) -> None:
    suite = _suite(
        {
            "name": "l",
            "defaults": {"store": str(tmp_path / "store")},
            "systems": [{"label": "safe", "config": {}}],
            "faults": [["kill"]],
        }
    )
    _, results = run_suite(
        suite,
        tmp_path / "store",
        FakeRunner({"-safe-": {"valid": True, "stall_s": 45, "final_read_fails": True}}),
    )
    (r,) = results
    assert r.verdict == Verdict.VALID
    assert len(r.liveness) == 2
    assert r.liveness[0].startswith("no ok client operation for 45.0 s during the load")
    assert r.liveness[1] == "final read did not complete for keys [0]"
    assert r.faults_exercised == ["kill"]
    assert suite_verdict(results) == Verdict.UNKNOWN


def test_short_stall_and_healthy_end_are_not_liveness_problems(tmp_path: Path) -> None:
    suite = _suite(
        {
            "name": "l",
            "defaults": {"store": str(tmp_path / "store"), "nemesis_interval": 10},
            "systems": [{"label": "safe", "config": {}}],
            "faults": [["kill"]],
        }
    )
    _, results = run_suite(
        suite, tmp_path / "store", FakeRunner({"-safe-": {"valid": True, "stall_s": 15}})
    )
    assert results[0].liveness == [] and suite_verdict(results) == Verdict.VALID


def test_an_interrupted_run_stops_the_suite_with_what_ran_written(tmp_path: Path) -> None:
    from harness.certify import SuiteInterrupted

    suite = _two_system_suite(tmp_path)
    runner = FakeRunner({"-safe-": {"valid": True}, "-buggy-": {"valid": False}})

    def interrupted(config: TestConfig) -> int:
        runner(config)
        return 130 if len(runner.calls) == 2 else 0

    with pytest.raises(SuiteInterrupted) as e:
        run_suite(suite, tmp_path / "store", interrupted)
    assert e.value.exit_code == 130 and len(runner.calls) == 2
    summary = orjson.loads((e.value.out / "summary.json").read_bytes())
    assert summary["scenarios_run"] == 2 and summary["scenarios_planned"] == 4


def test_a_run_that_never_opened_its_directory_is_not_confused_with_an_older_one(
    tmp_path: Path,
) -> None:
    suite = _suite(
        {
            "name": "o",
            "defaults": {"store": str(tmp_path / "store")},
            "systems": [{"label": "safe", "config": {}}],
            "faults": [["kill"]],
            "seeds": [1, 2],
        }
    )
    runner = FakeRunner({"-safe-": {"valid": True}})
    calls = 0

    def second_fails_early(config: TestConfig) -> int:
        nonlocal calls
        calls += 1
        return runner(config) if calls == 1 else 2

    _, results = run_suite(suite, tmp_path / "store", second_fails_early)
    assert results[0].run_dir is not None and results[1].run_dir is None
    assert results[1].outcome == Verdict.UNKNOWN


def _one_scenario(tmp_path: Path) -> Any:
    suite = _suite(
        {
            "name": "r",
            "defaults": {"store": str(tmp_path / "store")},
            "systems": [{"label": "safe", "config": {}}],
            "faults": [["kill"]],
        }
    )
    return suite.scenarios[0]


def test_liveness_comes_from_results_json_not_from_the_history(tmp_path: Path) -> None:
    sc = _one_scenario(tmp_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "history.jsonl").write_text("this history is never read again\n")
    live = Liveness(
        faults_exercised=("pause",),
        longest_gap_s=None,  # not one ok op
        keys={1: KeyLiveness(3.0, None, FinalRead.PENDING)},
    )
    Results(Verdict.VALID, {}, {}, "h", "t", live).write(run_dir)
    r = scenario_result(sc, run_dir, 0, 1.0)
    assert r.faults_exercised == ["pause"]
    assert r.liveness == [
        "no ok client operation for 1000000000.0 s during the load (limit 20 s)",
        "final read did not complete for keys [1]",
    ]
    assert r.outcome == Verdict.UNKNOWN


def test_results_without_liveness_or_unreadable_are_not_taken_as_healthy(tmp_path: Path) -> None:
    sc = _one_scenario(tmp_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "results.json").write_bytes(orjson.dumps({"valid": True, "checkers": {}}))
    r = scenario_result(sc, run_dir, 0, 1.0)
    assert r.liveness and "no liveness section" in r.liveness[0]
    assert r.outcome == Verdict.UNKNOWN
    (run_dir / "results.json").write_text("{torn")
    r = scenario_result(sc, run_dir, 0, 1.0)
    assert r.error is not None and "not valid JSON" in r.error
