"""``floodmark shrink`` as a command: durations, exit codes, what it prints."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from harness import cli_shrink
from harness.cli_shrink import parse_duration, shrink_command
from tests.harness.test_shrinking import FakeRuns, _failing_run, _results


@pytest.mark.parametrize(
    ("text", "seconds"), [("900", 900.0), ("90s", 90.0), ("20m", 1200.0), ("1.5h", 5400.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "5x", "-3m", "m"])
def test_a_bad_duration_is_a_usage_error(text: str) -> None:
    with pytest.raises(click.BadParameter, match="expected a duration"):
        parse_duration(text)


def test_a_shrink_that_reproduces_exits_1_and_prints_the_replay_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = FakeRuns()
    monkeypatch.setattr(cli_shrink, "run", lambda config, ui: runs(config))
    run_dir = _failing_run(tmp_path / "store")
    result = CliRunner().invoke(shrink_command, [str(run_dir), "--tries", "1"])
    assert result.exit_code == 1, result.output
    assert runs.configs, "the shrink ran nothing"


def test_a_run_that_proved_nothing_exits_2(tmp_path: Path) -> None:
    run_dir = _failing_run(tmp_path / "store")
    _results(run_dir, lose=False)
    result = CliRunner().invoke(shrink_command, [str(run_dir)])
    assert result.exit_code == 2


def test_a_bad_budget_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(shrink_command, [str(tmp_path), "--budget", "soon"])
    assert result.exit_code == 2
    assert "expected a duration" in result.output
