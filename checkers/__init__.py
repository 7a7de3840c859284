"""floodmark's checkers: pure functions from a history to anomalies (DESIGN.md §4).

Use::

    from checkers import check_history
    results = check_history("store/my-test/20250101T000000")   # or .../history.jsonl
    results.verdict, results.exit_code, results.to_json()
    results.write(run_dir)                                      # results.json

The anomalies are named in `checkers.glossary`; the checkers are registered by name in
`checkers.registry.CHECKERS`; `checkers.compose` reads the history once and feeds them
all; `checkers.cli.check_command` is ``floodmark check``.
"""

from checkers.compose import (
    HISTORY_FILE,
    RESULTS_FILE,
    CheckInputError,
    Results,
    check_history,
    check_ops,
    history_path,
)
from checkers.core import Checker, CheckResult, Witness
from checkers.glossary import Anomaly
from checkers.registry import CHECKERS

__all__ = [
    "CHECKERS",
    "HISTORY_FILE",
    "RESULTS_FILE",
    "Anomaly",
    "CheckInputError",
    "CheckResult",
    "Checker",
    "Results",
    "Witness",
    "check_history",
    "check_ops",
    "history_path",
]
