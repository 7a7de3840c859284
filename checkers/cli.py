"""``floodmark check PATH``: re-check a run offline.

`check_command` is the whole subcommand; ``harness/cli.py`` wires it into click. PATH is
a run directory (``store/<test>/<timestamp>/``) or a ``history.jsonl`` file. It writes
``results.json`` next to the history, prints a summary table (or, with ``--json``, the
results themselves on stdout, notes going to stderr) and returns the exit code:
0 valid, 1 invalid, 2 unknown or error. Bad input is a message, never a traceback.
"""

from __future__ import annotations

import sys

import orjson
from rich.console import Console
from rich.table import Table

from checkers.compose import CheckInputError, check_history, history_path
from harness.contract.glossary import Anomaly
from harness.contract.history import JSON, HistoryError
from harness.contract.layout import RESULTS
from harness.contract.results import Results
from harness.contract.verdict import Verdict

_STYLE = {Verdict.VALID: "green", Verdict.INVALID: "bold red", Verdict.UNKNOWN: "yellow"}
_WORD = {Verdict.VALID: "valid", Verdict.INVALID: "INVALID", Verdict.UNKNOWN: "unknown"}


def check_command(path: str, as_json: bool) -> int:
    """Check the history at ``path``; print the outcome; return the exit code."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        history = history_path(path)
        results = check_history(history)
    except (CheckInputError, HistoryError) as e:
        err.print(f"[red]error:[/red] {e}", markup=True)
        return 2
    except OSError as e:
        err.print(f"[red]error:[/red] cannot read {path}: {e.strerror or e}", markup=True)
        return 2
    code = results.exit_code
    try:
        written = str(results.write(history.parent))
    except OSError as e:
        err.print(f"[red]error:[/red] cannot write {RESULTS} next to {history}: {e}")
        written = None
        if not as_json:
            code = 2
    if as_json:
        sys.stdout.write(orjson.dumps(results.to_json(), option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
        for note in results.notes:
            err.print(f"note: {note}", markup=False)
        return code
    _print_summary(Console(highlight=False), results, written)
    return code


def _print_summary(out: Console, results: Results, written: str | None) -> None:
    table = Table(title=f"floodmark check: {results.history}", title_justify="left")
    table.add_column("check")
    table.add_column("verdict")
    table.add_column("count", justify="right")
    table.add_column("first witness", overflow="fold")
    for name, r in results.checkers.items():
        first = r.error or (r.witnesses[0].message if r.witnesses else "")
        invalidates = name not in set(Anomaly) or Anomaly(name).found is Verdict.INVALID
        kind = "" if invalidates else " (not safety)"
        table.add_row(
            name + kind, f"[{_STYLE[r.verdict]}]{_WORD[r.verdict]}[/]", str(r.count), first
        )
    out.print(table)
    stats = results.stats
    out.print(f"ops: {stats.get('ops')}   keys: {stats.get('keys')}")
    for f, lat in _dict(stats.get("latency")).items():
        lat = _dict(lat)
        if lat.get("count"):
            out.print(
                f"{f} latency: p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms, "
                f"p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms ({lat['count']} ok)"
            )
    for f, rate in _dict(stats.get("rates")).items():
        n = _dict(rate)
        out.print(f"{f}: {n.get('ok')} ok, {n.get('fail')} fail, {n.get('info')} info")
    gaps = {k: _dict(v).get("longest_gap_s") for k, v in _dict(stats.get("availability")).items()}
    if gaps:
        worst = max(gaps, key=lambda k: float(gaps[k] or 0))
        out.print(f"longest window without an ok op: {gaps[worst]} s (key {worst})")
    for note in results.notes:
        out.print(f"[yellow]note:[/yellow] {note}", markup=True)
    v = results.verdict
    tail = f"; results in {written}" if written else ""
    out.print(f"verdict: [{_STYLE[v]}]{_WORD[v]}[/] (exit {results.exit_code}){tail}")


def _dict(v: JSON) -> dict[str, JSON]:
    return v if isinstance(v, dict) else {}
