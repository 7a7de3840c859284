"""floodmark's checkers: pure functions from a history to anomalies (DESIGN.md §4).

Use::

    from checkers import check_history
    results = check_history("store/my-test/20250101T000000")   # or .../history.jsonl
    results.verdict, results.exit_code, results.to_json()
    results.write(run_dir)                                      # results.json

``results.json`` (what `Results.to_json` returns; the reports render exactly this)::

    {"valid": true | false | "unknown",
     "checkers": {"<anomaly>": {"valid": ..., "count": n,
                                "witnesses": [{"message": "...", "key": k, "offset": o,
                                               "value": v, <details>, "ops": [<op>, ...]}],
                                "error": "..."}},          # only when the checker broke
     "stats": {"ops": n, "torn_last_line": bool, "keys": [...], "rates": {...},
               "availability": {"<key>": {...}}, "latency": {"send": {...}, "poll": {...}},
               "notes": ["..."]},
     "history": "<path>", "checked_at": "<ISO time, UTC>"}

Every anomaly of the glossary has an entry, valid or not, in glossary order. Witnesses
are capped (`checkers.core.WITNESS_CAP`), ``count`` is the full count; a witness's
``ops`` are whole history ops (with ``index``), long ``records`` lists excerpted (see
`checkers.core`). Optional keys a witness may carry beside key/offset/value: ``values``,
``offsets``, ``hw``, ``missing_offsets``, ``node``, ``leo``, ``epoch``, ``nodes``,
``differing_offsets``.

The anomalies are named in `harness.contract.glossary`; the checkers are registered by name in
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
from checkers.registry import CHECKERS
from harness.contract.glossary import Anomaly

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
