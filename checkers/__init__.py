"""floodmark's checkers: pure folds from a history to anomalies (DESIGN.md §4).

Use::

    from checkers import check_history
    results = check_history("store/my-test/20250101T000000")   # or .../history.jsonl
    results.verdict, results.exit_code, results.to_json()
    results.write(run_dir)                                      # results.json

Every checker is a fold: `checkers.compose` reads the history once, front to back, calls
each checker's ``observe(op, invoke)`` for the ops it asked for (``invoke``: the op a
client completion completes), then its ``result()``: one result per anomaly it decides
(`checkers.core`). What comes out is a `harness.contract.results.Results`, the one
model of ``results.json`` (its shape is documented there): every safety anomaly of the
glossary in ``checkers``, valid or not; statistics (availability, rates, latency:
`checkers.stats`); and a ``liveness`` section (`checkers.liveness`) that never changes
the verdict.

The anomalies are named in `harness.contract.glossary`; the checkers are registered by
name in `checkers.registry.CHECKERS`; `checkers.compose.paired` is the pairing of
invokes and completions anyone else walking a history reuses;
`checkers.cli.check_command` is ``floodmark check``.
"""

from checkers.compose import CheckInputError, check_history, check_ops, history_path, paired
from checkers.core import Checker
from checkers.registry import CHECKERS

__all__ = [
    "CHECKERS",
    "CheckInputError",
    "Checker",
    "check_history",
    "check_ops",
    "history_path",
    "paired",
]
