"""``floodmark run --replay`` on the real cluster (issue 16): a schedule file replays
exactly its fault ops, and a failing run replays into a run that fails the same way.

The known-bug configuration is replog without fsync (``log.flush.interval.messages=0``)
under one power loss of every broker at once (``lose-unfsynced``, target all): every
write acknowledged before the power loss was never fsynced anywhere, so all of them are
gone when the brokers come back. That loss is certain once one write was acknowledged
before the fault (the load runs 6 s first), which is what makes this test deterministic:
it asserts the anomaly's kind and that the replay executed the recorded ops, nothing
that depends on the dice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.contract.history import NEMESIS, FaultF
from harness.contract.reader import read_history
from harness.contract.results import Results
from harness.contract.schedule import heals_everything

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
NODES = ["n1", "n2", "n3"]


def _floodmark(*args: str, store: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", *args, "--store", str(store), "--quiet"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _latest(store: Path, name: str) -> Path:
    return (store / name / "latest").resolve()


def _executed(run_dir: Path) -> list[tuple[str, object]]:
    """The fault ops a run executed, as (f, requested), without the final heals."""
    ops, _ = read_history(run_dir / "history.jsonl")
    out: list[tuple[str, object]] = []
    for op in ops:
        fault = FaultF.parse(op.f) if op.process == NEMESIS else None
        if fault is None or not isinstance(op.value, dict):
            continue
        requested = op.value.get("requested")
        if heals_everything(requested):
            continue
        out.append((op.f, requested))
    return out


def test_a_failing_run_replays_into_the_same_anomaly(tmp_path: Path) -> None:
    store = tmp_path / "store"
    ops = [
        {"at": 6.0, "f": "start-lose-unfsynced", "value": {"target": "all", "nodes": NODES}},
        {"at": 9.0, "f": "stop-lose-unfsynced", "value": {}},
    ]
    schedule = {
        "floodmark_schedule": 1,
        "time_limit": 14,
        "keys": 1,
        "concurrency": 4,
        "ops": ops,
    }
    path = tmp_path / "power-loss.json"
    path.write_text(json.dumps(schedule))
    no_flush = ["--set", "log.flush.interval.messages=0", "--seed", "3"]

    first = _floodmark("--replay", str(path), "--name", "first", *no_flush, store=store)
    assert first.returncode == 1, first.stdout + first.stderr
    run1 = _latest(store, "first")
    test1 = json.loads((run1 / "test.json").read_text())
    assert test1["config"]["replay"] == str(path)
    assert _executed(run1) == [(op["f"], op["value"]) for op in ops]
    assert Results.read(run1).checkers["lost-write"].count > 0

    again = _floodmark("--replay", str(run1), "--name", "again", store=store)
    assert again.returncode == 1, again.stdout + again.stderr
    run2 = _latest(store, "again")
    config2 = json.loads((run2 / "test.json").read_text())["config"]
    assert config2["replay"] == str(run1)
    assert config2["settings"]["log.flush.interval.messages"] == 0  # taken from the run
    assert (config2["time_limit"], config2["keys"], config2["concurrency"]) == (14, 1, 4)
    assert _executed(run2) == _executed(run1)
    assert Results.read(run2).checkers["lost-write"].count > 0
