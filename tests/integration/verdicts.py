"""What a safe configuration's run under faults may end as, for the integration tests.

- ``invalid`` fails the test: a safe configuration lost data, or a checker is wrong.
- ``unknown`` fails the test when floodmark caused it: a fault raised (an API error of
  Docker, Toxiproxy or the in-container agent: the nemesis op carries ``error``).
- Any other ``unknown`` (a fault that ran but whose effect the cluster did not show, a
  value no complete final read could look for) is the system's or the schedule's doing: it
  is reported as a warning with its reasons, and the test goes on.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from harness.contract.history import NEMESIS
from harness.contract.reader import read_history


class UnknownRun(UserWarning):
    """A safe run ended unknown for a reason that is not floodmark's own."""


def undecided(results: dict[str, Any]) -> dict[str, list[str]]:
    """Checkers that could not decide, with their first messages."""
    out: dict[str, list[str]] = {}
    for name, c in results["checkers"].items():
        if c.get("valid") == "unknown":
            msgs = [str(w.get("message", w))[:300] for w in c.get("witnesses", [])[:3]]
            out[name] = msgs or [str(c.get("error", ""))[:300]]
    return out


def faults_that_raised(run_dir: Path) -> list[str]:
    """The nemesis ops of the run whose fault raised, as ``f: why``."""
    ops, _ = read_history(run_dir / "history.jsonl")
    return [
        f"{op.f} (op {op.index}): {op.value.get('why') if isinstance(op.value, dict) else op.error}"
        for op in ops
        if op.process == NEMESIS and op.error
    ]


def assert_safe_run(run_dir: Path, what: str = "") -> str:
    """Apply the module's rule to one finished run; returns its verdict as text."""
    results = json.loads((run_dir / "results.json").read_text())
    verdict = results["valid"]
    label = f"{what or 'safe run'} ({run_dir})"
    if verdict is True:
        return "valid"
    if verdict is False:
        bad = {n: c.get("count") for n, c in results["checkers"].items() if c.get("valid") is False}
        pytest.fail(f"{label} is invalid: {bad}; undecided {undecided(results)}")
    raised = faults_that_raised(run_dir)
    if raised:
        pytest.fail(f"{label} is unknown because faults raised (floodmark's own): {raised}")
    warnings.warn(UnknownRun(f"{label} is unknown: {undecided(results)}"), stacklevel=2)
    return "unknown"
