"""``floodmark shrink`` end to end on fake runs (harness/shrinking.py): the plan read from
a failing run directory, every try an opened run directory judged by its results.json,
the minimal schedule and the page written, refusals for runs that cannot be shrunk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.contract import layout
from harness.contract.config import TestConfig
from harness.contract.history import NEMESIS, Op, OpType
from harness.contract.schedule import load_schedule
from harness.shrinking import ShrinkError, plan, shrink
from harness.store import new_run_id, open_run
from tests.checkers.hist import History

PACKAGES = ("kill", "pause", "partition", "clock")


def _results(directory: Path, lose: bool) -> None:
    """A results.json from a real check of a tiny history that lost a write or not."""
    h = History()
    h.send(0, key=0, value=1, offset=0)
    h.final_read(9, key=0, records=[] if lose else [[0, 1]])
    h.check().write(directory)


def _failing_run(store: Path) -> Path:
    config = TestConfig(name="replog-log", store=str(store), time_limit=60.0, seed=5)
    run = open_run(config, new_run_id())
    ops = [Op(0, 0, 0, OpType.INVOKE, "send", {"key": 0, "value": 1})]
    for n in range(8):  # 8 periods, package by turn; the fake bug needs the one with id 5
        package, at = PACKAGES[n % 4], 5.0 + 6 * n
        value = {"id": n}
        start = {"did": 1, "at": at, "requested": value}
        ops.append(Op(len(ops), len(ops), NEMESIS, OpType.INFO, f"start-{package}", start))
        stop = {"at": at + 4, "requested": {}}
        ops.append(Op(len(ops), len(ops), NEMESIS, OpType.INFO, f"stop-{package}", stop))
    run.history.write_bytes(b"".join(op.dumps().rstrip(b"\n") + b"\n" for op in ops))
    run.test_json.write_text(json.dumps({"config": config.to_json()}))
    _results(run.path, lose=True)
    return run.path


class FakeRuns:
    """Runs a replay config as a run directory whose results show the lost write when
    the replayed schedule holds the fault with id 5."""

    def __init__(self) -> None:
        self.configs: list[TestConfig] = []

    def __call__(self, config: TestConfig) -> int:
        self.configs.append(config)
        schedule = load_schedule(config.replay, PACKAGES)
        ids = {op.value.get("id") for op in schedule.ops if isinstance(op.value, dict)}
        run = open_run(config, new_run_id())
        _results(run.path, lose=5 in ids)
        return 1 if 5 in ids else 0


def test_a_failing_run_shrinks_to_the_one_fault_that_matters(tmp_path: Path) -> None:
    original = _failing_run(tmp_path / "store")
    p = plan(original)
    assert p.target == frozenset({"lost-write"}) and len(p.schedule.ops) == 16
    runs = FakeRuns()
    summary = shrink(p, runs, budget_s=1e9, tries=1, final_tries=3)
    best = summary.shrunk.best
    assert [op.value for op in best.ops] == [{"id": 5}]  # its stop went: the final heal ends it
    assert summary.reproduced == (3, 3)
    # every try was an ordinary replay run of its candidate, under <name>-shrink
    assert all(c.name == "replog-log-shrink" and c.replay for c in runs.configs)
    assert runs.configs[0].seed == 5
    # the minimal schedule file carries the run's config and replays by itself
    minimal = load_schedule(summary.minimal_file, PACKAGES)
    assert minimal.ops == best.ops and minimal.config is not None
    assert minimal.config["name"] == "replog-log"
    assert summary.command == f"floodmark run --replay {summary.minimal_file}"
    assert summary.page == original / layout.SHRINK / layout.SHRINK_PAGE
    assert "16 → 1 fault op(s)" in summary.page.read_text()


def test_a_run_that_proved_nothing_is_refused(tmp_path: Path) -> None:
    run = _failing_run(tmp_path / "store")
    _results(run, lose=False)
    with pytest.raises(ShrinkError, match="proved no safety anomaly"):
        plan(run)


def test_a_directory_that_is_no_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ShrinkError, match="not a run directory"):
        plan(tmp_path)
