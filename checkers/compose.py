"""Composing the checkers: read the history once, feed every checker, merge verdicts.

`check_history` streams ``history.jsonl`` (`harness.contract.history.iter_history`) and hands each
op to the registered checkers (`checkers.registry.CHECKERS`) that asked for its ``f``,
together with the ``invoke`` a client completion completes. It is the only place that
pairs invokes with completions, and it enforces the pairing rule of DESIGN.md §3: a
client process invokes, then completes that same operation, before it invokes again. A
history breaking that rule is malformed (`HistoryError`, naming the line).

Isolation: an exception inside one checker (in ``observe`` or ``result``) makes every
anomaly of that checker ``unknown`` with the error text, and the other checkers go on.
Only a malformed history stops the whole check.

Verdict: invalid if any safety anomaly occurred; else unknown if something could not be
decided (a checker failed, acknowledged writes were `unseen`, or the history holds no
client operation at all, so nothing was checked); else valid (`merge_verdicts`).
"""

from __future__ import annotations

import datetime
import gc
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import orjson

from checkers.core import NEMESIS_OPS, Checker, CheckResult
from checkers.registry import CHECKERS
from checkers.stats import StatsFold
from harness.contract.glossary import Anomaly
from harness.contract.history import (
    JSON,
    NEMESIS,
    HistoryError,
    Op,
    OpType,
    ReadStats,
    iter_history,
)
from harness.contract.verdict import Verdict, merge_verdicts

HISTORY_FILE: Final = "history.jsonl"
RESULTS_FILE: Final = "results.json"


class CheckInputError(ValueError):
    """The path given to check is neither a run directory nor a history file."""


@dataclass(frozen=True, slots=True)
class Results:
    """The outcome of checking one history: what ``results.json`` holds."""

    verdict: Verdict
    checkers: Mapping[str, CheckResult]
    """Anomaly name → result, in glossary order."""
    stats: Mapping[str, JSON]
    history: str
    checked_at: str
    notes: tuple[str, ...] = field(default=())

    @property
    def exit_code(self) -> int:
        """0 valid, 1 invalid, 2 unknown."""
        return self.verdict.exit_code

    def to_json(self) -> dict[str, JSON]:
        return {
            "valid": self.verdict.to_json(),
            "checkers": {name: r.to_json() for name, r in self.checkers.items()},
            "stats": {**self.stats, "notes": list(self.notes)},
            "history": self.history,
            "checked_at": self.checked_at,
        }

    def dumps(self) -> bytes:
        return orjson.dumps(self.to_json(), option=orjson.OPT_INDENT_2)

    def write(self, directory: str | Path) -> Path:
        """Write ``results.json`` into ``directory``; returns its path."""
        path = Path(directory) / RESULTS_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_bytes(self.dumps())
        tmp.replace(path)
        return path


def history_path(path: str | Path) -> Path:
    """The history file for a run directory or a history file; `CheckInputError` if neither."""
    p = Path(path)
    if p.is_dir():
        h = p / HISTORY_FILE
        if not h.is_file():
            raise CheckInputError(
                f"{p} is a directory but not a run directory: it has no {HISTORY_FILE}. "
                "Give a run directory (store/<test>/<timestamp>/) or a history.jsonl file."
            )
        return h
    if p.is_file():
        return p
    raise CheckInputError(
        f"{p} does not exist. Give a run directory (store/<test>/<timestamp>/) or a "
        "history.jsonl file."
    )


def check_history(
    path: str | Path, checkers: Mapping[str, Callable[[], Checker]] | None = None
) -> Results:
    """Check a run directory's (or a file's) history.

    Raises `CheckInputError` for a path that is not a run directory or history file and
    `HistoryError` (naming the line) for a malformed history; never for an anomaly.
    """
    h = history_path(path)
    read = ReadStats()
    return check_ops(iter_history(h, read), checkers, where=str(h), read=read)


def check_ops(
    ops: Iterable[Op],
    checkers: Mapping[str, Callable[[], Checker]] | None = None,
    *,
    where: str = "<history>",
    read: ReadStats | None = None,
) -> Results:
    """Check a stream of ops (e.g. a list in a test). ``read`` carries the reader's notes
    (torn last line); it is consulted after ``ops`` is exhausted."""
    # The checkers keep hundreds of thousands of long-lived objects and make no reference
    # cycles; the cyclic collector would rescan them again and again (about a third of the
    # time of a large check), so it is paused while the history streams through.
    collecting = gc.isenabled()
    gc.disable()
    try:
        run = _Run(checkers if checkers is not None else CHECKERS, where)
        run.consume(ops)
        return run.finish(where, read)
    finally:
        if collecting:
            gc.enable()


_STATS: Final = "statistics"
"""The route name of the `StatsFold` (its failure is a note, not an unknown verdict)."""

_Observe = Callable[[Op, "Op | None"], None]


class _Run:
    """The state of one check: the checkers, their routes by ``f``, the open invokes."""

    def __init__(self, factories: Mapping[str, Callable[[], Checker]], where: str) -> None:
        self.where = where
        self.checkers: dict[str, Checker] = {}
        self.errors: dict[str, str] = {}
        for name, factory in factories.items():
            try:
                self.checkers[name] = factory()
            except Exception as e:  # noqa: BLE001 - isolation: this checker becomes unknown
                self.errors[name] = f"{name} checker could not start: {type(e).__name__}: {e}"
        self.stats = StatsFold()
        self.stats_error: str | None = None
        self.routes: dict[str, tuple[tuple[str, _Observe], ...]] = {}
        self._route()
        self.pending: dict[int, Op] = {}
        self.ops = 0
        self.client_ops = 0

    def _route(self) -> None:
        routes: dict[str, list[tuple[str, _Observe]]] = {}
        for name, c in self.checkers.items():
            if name not in self.errors:
                for f in c.fs:
                    routes.setdefault(f, []).append((name, c.observe))
        if self.stats_error is None:
            for f in self.stats.fs:
                routes.setdefault(f, []).append((_STATS, self.stats.observe))
        self.routes = {f: tuple(observers) for f, observers in routes.items()}

    def consume(self, ops: Iterable[Op]) -> None:
        """Feed every op to the checkers that asked for its ``f`` (the hot loop: locals)."""
        routes_get = self.routes.get
        pending = self.pending
        n = clients = 0
        invoke: Op | None
        try:
            for op in ops:
                n += 1
                process = op.process
                if type(process) is int:
                    clients += 1
                    if op.type is OpType.INVOKE:
                        if process in pending:
                            self._twice(op, process)
                        pending[process] = op
                        invoke = None
                    else:
                        invoke = pending.pop(process, None)
                        if invoke is None or invoke.f != op.f:
                            self._unpaired(op, process, invoke)
                else:
                    invoke = None
                    if process == NEMESIS:
                        for name, observe in routes_get(NEMESIS_OPS, ()):
                            try:
                                observe(op, invoke)
                            except Exception as e:  # noqa: BLE001 - isolation, as below
                                self._failed(name, op, e)
                                routes_get = self.routes.get
                for name, observe in routes_get(op.f, ()):
                    try:
                        observe(op, invoke)
                    except Exception as e:  # noqa: BLE001 - isolation: see the module docstring
                        self._failed(name, op, e)
                        routes_get = self.routes.get
        finally:
            self.ops, self.client_ops = n, clients

    def _failed(self, name: str, op: Op, e: Exception) -> None:
        what = f"on op {op.index} ({op.f} {op.type}): {type(e).__name__}: {e}"
        if name == _STATS:
            self.stats_error = f"statistics failed {what}"
        else:
            self.errors[name] = f"{name} checker failed {what}"
        self._route()

    def _twice(self, op: Op, process: int) -> None:
        open_op = self.pending[process]
        raise HistoryError(
            self.where,
            op.index + 1,
            f"process {process} invokes {op.f} while its {open_op.f} invoked on line "
            f"{open_op.index + 1} has not completed (every invoke is followed by exactly one "
            "completion before the process invokes again)",
        )

    def _unpaired(self, op: Op, process: int, invoke: Op | None) -> None:
        if invoke is None:
            raise HistoryError(
                self.where,
                op.index + 1,
                f"{op.type} {op.f} of process {process} completes nothing: that process has "
                "no invoke waiting",
            )
        raise HistoryError(
            self.where,
            op.index + 1,
            f"{op.type} {op.f} of process {process} completes a {invoke.f} (invoked on line "
            f"{invoke.index + 1}); a completion must have its invoke's f",
        )

    def finish(self, where: str, read: ReadStats | None) -> Results:
        results: dict[str, CheckResult] = {}
        for name, c in self.checkers.items():
            if name in self.errors:
                continue
            try:
                decided = dict(c.result())
            except Exception as e:  # noqa: BLE001 - isolation: this checker becomes unknown
                self.errors[name] = f"{name} checker failed at the end: {type(e).__name__}: {e}"
                continue
            results.update({str(a): r for a, r in decided.items()})
        for name, error in self.errors.items():
            c_or_none = self.checkers.get(name)
            names = c_or_none.anomalies if c_or_none is not None else (name,)
            for a in names:
                results[str(a)] = CheckResult.failed(error)
        ordered = {str(a): results.pop(str(a)) for a in Anomaly if str(a) in results}
        ordered.update(results)

        notes: list[str] = []
        verdicts = [r.verdict for r in ordered.values()]
        if self.client_ops == 0:
            notes.append("the history holds no client operation: nothing was checked")
            verdicts.append(Verdict.UNKNOWN)
        torn = read is not None and read.torn_last_line
        if torn and read is not None:
            notes.append(
                f"the last line (line {read.lines}) was torn, the harness having been "
                f"stopped mid-write; it was ignored: {read.torn_text!r}"
            )
        if self.pending:
            notes.append(
                f"{len(self.pending)} client invoke(s) never completed; they count as "
                "indeterminate (like info)"
            )
        stats: dict[str, JSON] = {"ops": self.ops, "torn_last_line": torn}
        try:
            stats.update(self.stats.result())
        except Exception as e:  # noqa: BLE001 - stats are not safety; noted and skipped
            self.stats_error = self.stats_error or f"statistics failed: {type(e).__name__}: {e}"
        if self.stats_error is not None:
            notes.append(self.stats_error)
        return Results(
            verdict=merge_verdicts(verdicts),
            checkers=ordered,
            stats=stats,
            history=where,
            checked_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            notes=tuple(notes),
        )
