"""``floodmark check PATH``: re-check a run offline.

`check_command` is the whole subcommand; ``harness/cli.py`` wires it into click. PATH is
a run directory (``store/<test>/<timestamp>/``) or a ``history.jsonl`` file. It writes
``results.json`` next to the history, prints a summary table (or, with ``--json``, the
results themselves on stdout, notes going to stderr) and returns the exit code:
0 valid, 1 invalid, 2 unknown or error. Bad input is a message, never a traceback.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

from checkers.compose import CheckInputError, check_history, history_path
from harness.contract.glossary import Anomaly
from harness.contract.history import JSON, HistoryError
from harness.contract.layout import RESULTS
from harness.contract.results import Results, ResultsError
from harness.contract.verdict import Verdict

_STYLE = {Verdict.VALID: "green", Verdict.INVALID: "bold red", Verdict.UNKNOWN: "yellow"}
_WORD = {Verdict.VALID: "valid", Verdict.INVALID: "INVALID", Verdict.UNKNOWN: "unknown"}


def check_command(path: str, as_json: bool) -> int:
    """Check the history at ``path``; print the outcome; return the exit code.

    1 only when the check ran to its end, proved a safety anomaly and its results were
    written; any failure on the way (bad input, an unwritable ``results.json``, anything
    unexpected) is 2 with a message saying what happened, never a traceback. Text from
    the history is printed as text, never read as console markup."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        return _check(path, as_json, err)
    except Exception as e:  # noqa: BLE001 - the promise: a message and exit 2, never a traceback
        _error(err, f"floodmark check failed unexpectedly: {type(e).__name__}: {e}")
        return 2


def _error(err: Console, message: str) -> None:
    err.print(Text.assemble(("error: ", "red"), message))


def _check(path: str, as_json: bool, err: Console) -> int:
    try:
        history = history_path(path)
        results = check_history(history)
    except (CheckInputError, HistoryError) as e:
        _error(err, str(e))
        return 2
    except OSError as e:
        _error(err, f"cannot read {path}: {e.strerror or e}")
        return 2
    code = results.exit_code
    try:
        text = results.dumps()
    except ResultsError as e:
        _error(err, f"{e}; no {RESULTS} was written")
        return 2
    try:
        written: str | None = str(results.write(history.parent, text))
    except OSError as e:
        _error(err, f"cannot write {RESULTS} next to {history}: {e.strerror or e}")
        written, code = None, 2
    if as_json:
        sys.stdout.write(text.decode())
        sys.stdout.write("\n")
        for note in results.notes:
            err.print(Text(f"note: {note}"))
        return code
    _print_summary(Console(highlight=False), results, written)
    return code


def _print_summary(out: Console, results: Results, written: str | None) -> None:
    table = Table(title=Text(f"floodmark check: {results.history}"), title_justify="left")
    table.add_column("check")
    table.add_column("verdict")
    table.add_column("count", justify="right")
    table.add_column("first witness", overflow="fold")
    for name, r in results.checkers.items():
        first = r.error or (r.witnesses[0].message if r.witnesses else "")
        invalidates = name not in set(Anomaly) or Anomaly(name).found is Verdict.INVALID
        kind = "" if invalidates else " (not safety)"
        table.add_row(
            Text(name + kind),
            Text(_WORD[r.verdict], style=_STYLE[r.verdict]),
            Text(str(r.count)),
            Text(first),
        )
    out.print(table)
    stats = results.stats
    out.print(Text(f"ops: {stats.get('ops')}   keys: {stats.get('keys')}"))
    for f, lat in _dict(stats.get("latency")).items():
        lat = _dict(lat)
        if lat.get("count"):
            out.print(
                Text(
                    f"{f} latency: p50 {lat.get('p50_ms')} ms, p95 {lat.get('p95_ms')} ms, "
                    f"p99 {lat.get('p99_ms')} ms, max {lat.get('max_ms')} ms "
                    f"({lat.get('count')} ok)"
                )
            )
    for f, rate in _dict(stats.get("rates")).items():
        n = _dict(rate)
        out.print(Text(f"{f}: {n.get('ok')} ok, {n.get('fail')} fail, {n.get('info')} info"))
    gaps = {k: _dict(v).get("longest_gap_s") for k, v in _dict(stats.get("availability")).items()}
    if gaps:
        worst = max(gaps, key=lambda k: float(_number(gaps[k])))
        out.print(Text(f"longest window without an ok op: {gaps[worst]} s (key {worst})"))
    for note in results.notes:
        out.print(Text.assemble(("note: ", "yellow"), note))
    v = results.verdict
    tail = f"; results in {written}" if written else ""
    out.print(
        Text.assemble("verdict: ", (_WORD[v], _STYLE[v]), f" (exit {results.exit_code}){tail}")
    )


def _dict(v: JSON) -> dict[str, JSON]:
    return v if isinstance(v, dict) else {}


def _number(v: JSON) -> float:
    return float(v) if isinstance(v, int | float) else 0.0
