"""A run's recorded fault schedule (harness/replay.py): read out of a history, written to
and read from a schedule file, and refused with a clear message when it is not one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.contract.history import NEMESIS, Op, OpType, Phase
from harness.contract.roles import FaultOp
from harness.contract.schedule import (
    Schedule,
    ScheduleError,
    load_schedule,
    parse_schedule,
    recorded,
)

PACKAGES = frozenset({"kill", "partition"})


def _nemesis(index: int, f: str, value: object) -> Op:
    return Op(index, index * 1000, NEMESIS, OpType.INFO, f, value)


def _history() -> list[Op]:
    return [
        Op(0, 0, 0, OpType.INVOKE, "send", {"key": 0, "value": 1}),
        _nemesis(
            1,
            "start-kill",
            {"killed": ["n2"], "at": 12.4, "requested": {"target": "leader", "key": 1}},
        ),
        _nemesis(
            2,
            "start-partition",
            {
                "cut": {"n1": ["n2"]},
                "at": 13.0,
                "requested": {"shape": "one"},
                "trigger": {"name": "isr-alone", "key": 1},
            },
        ),
        _nemesis(3, "stop-kill", {"restarted": ["n2"], "at": 19.0, "requested": {}}),
        _nemesis(4, "stop-partition", {"healed": True, "at": 30.0, "requested": {"heal": "all"}}),
        Op(5, 5000, "monitor", OpType.INFO, "replica-state", {"key": 0}),
    ]


def test_the_recorded_schedule_is_the_requested_ops_without_the_final_heal() -> None:
    s = recorded(_history(), 30.0, 2, 6)
    assert s.ops == (
        FaultOp(12.4, Phase.START, "kill", {"target": "leader", "key": 1}),
        FaultOp(13.0, Phase.START, "partition", {"shape": "one"}, {"name": "isr-alone", "key": 1}),
        FaultOp(19.0, Phase.STOP, "kill", {}),
    )
    assert (s.time_limit, s.keys, s.concurrency) == (30.0, 2, 6)


def test_a_history_without_recorded_schedules_is_refused_with_the_op() -> None:
    old = [_nemesis(0, "start-kill", {"killed": ["n2"]})]
    with pytest.raises(ScheduleError, match=r"nemesis op 0 \(start-kill\).*predates"):
        recorded(old, 30.0, 1, 1)


def test_a_schedule_file_round_trips(tmp_path: Path) -> None:
    s = recorded(_history(), 30.0, 3, 10)
    path = tmp_path / "schedule.json"
    s.dump(path)
    assert load_schedule(path, PACKAGES) == s


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "expected a floodmark schedule"),
        ({"floodmark_schedule": 2}, "expected a floodmark schedule"),
        ({"floodmark_schedule": 1, "time_limit": "x"}, "'time_limit' to be a number"),
        (
            {"floodmark_schedule": 1, "time_limit": 5, "keys": 0, "concurrency": 1},
            "'keys' to be an integer >= 1, got 0",
        ),
        (
            {"floodmark_schedule": 1, "time_limit": 5, "keys": 1, "concurrency": 1, "ops": {}},
            "'ops' to be a list",
        ),
        (
            {
                "floodmark_schedule": 1,
                "time_limit": 5,
                "keys": 1,
                "concurrency": 1,
                "ops": [{"at": 9, "f": "start-kill"}],
            },
            r"ops\[0\]: 'at' is 9.0, outside the run",
        ),
        (
            {
                "floodmark_schedule": 1,
                "time_limit": 5,
                "keys": 1,
                "concurrency": 1,
                "ops": [{"at": 1, "f": "start-flood"}],
            },
            "unknown fault package 'flood'",
        ),
        (
            {
                "floodmark_schedule": 1,
                "time_limit": 5,
                "keys": 1,
                "concurrency": 1,
                "ops": [{"at": 1, "f": "kill"}],
            },
            "start-<package> or stop-<package>",
        ),
    ],
)
def test_a_bad_schedule_says_what_was_expected(raw: object, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(raw, "s.json", PACKAGES)


def test_an_unreadable_schedule_file_is_a_schedule_error(tmp_path: Path) -> None:
    with pytest.raises(ScheduleError, match="cannot read"):
        load_schedule(tmp_path / "missing.json", PACKAGES)
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ScheduleError, match="not JSON"):
        load_schedule(bad, PACKAGES)


def test_a_schedule_value_is_plain_data() -> None:
    s = Schedule((FaultOp(1.0, Phase.START, "kill", {"target": "one"}),), 10.0, 1, 2)
    assert s.to_json()["ops"] == [{"at": 1.0, "f": "start-kill", "value": {"target": "one"}}]


def _run_dir(tmp_path: Path, history: list[Op]) -> Path:
    run = tmp_path / "run"
    run.mkdir(parents=True)
    config = {"time_limit": 30.0, "keys": 2, "concurrency": 6, "system": "replog"}
    (run / "test.json").write_text(json.dumps({"config": config}))
    lines = (op.dumps().rstrip(b"\n") + b"\n" for op in history if op.process != "monitor")
    (run / "history.jsonl").write_bytes(b"".join(lines))
    return run


def test_a_run_directory_replays_the_schedule_its_history_recorded(tmp_path: Path) -> None:
    s = load_schedule(_run_dir(tmp_path, _history()), PACKAGES)
    assert s.ops == recorded(_history(), 30.0, 2, 6).ops
    assert (s.time_limit, s.keys, s.concurrency) == (30.0, 2, 6)
    assert s.config == {"time_limit": 30.0, "keys": 2, "concurrency": 6, "system": "replog"}
    with pytest.raises(ScheduleError, match=r"unknown package\(s\) \['kill'\]"):
        load_schedule(_run_dir(tmp_path / "x", _history()), frozenset({"partition"}))


def test_a_directory_that_is_no_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScheduleError, match="not a run directory"):
        load_schedule(tmp_path, PACKAGES)
