"""Composing the checkers: read the history once, feed every checker, merge verdicts.

`check_history` streams ``history.jsonl`` (`harness.contract.history.iter_history`) and
hands each op to the registered checkers (`checkers.registry.CHECKERS`) that asked for
its ``f``, together with the ``invoke`` a client completion completes. `Pairing` is the
only place in floodmark that pairs invokes with completions (the reports reuse it through
`paired`), and it enforces the pairing rule of DESIGN.md §3: a client process invokes,
then completes that same operation, before it invokes again. A history breaking that
rule is malformed (`HistoryError`, naming the line).

Isolation: an exception inside one checker (in ``observe`` or ``result``) makes every
anomaly of that checker ``unknown`` with the error text, and the other checkers go on.
Only a malformed history stops the whole check.

Verdict: invalid if any safety anomaly occurred; else unknown if something could not be
decided (a checker of safety anomalies failed, acknowledged writes were `unseen`, or
the history holds no client operation at all, so nothing was checked); else valid
(`merge_verdicts`). Liveness anomalies (`harness.contract.glossary.Kind.LIVENESS`) go
into the results' liveness section (`checkers.liveness.LivenessChecker.section`, given
the statistics' windows without an ok op) and never change the verdict, not even when
the liveness checker itself breaks.
"""

from __future__ import annotations

import datetime
import gc
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Final

from checkers.core import NEMESIS_OPS, Checker
from checkers.liveness import LivenessChecker
from checkers.registry import CHECKERS
from checkers.stats import StatsFold
from harness.contract.glossary import LIVENESS, SAFETY
from harness.contract.history import (
    JSON,
    NEMESIS,
    HistoryError,
    Op,
    OpType,
    ReadStats,
    iter_history,
)
from harness.contract.layout import HISTORY
from harness.contract.results import CheckResult, Liveness, Results
from harness.contract.verdict import Verdict, merge_verdicts


class CheckInputError(ValueError):
    """The path given to check is neither a run directory nor a history file."""


def history_path(path: str | Path) -> Path:
    """The history file for a run directory or a history file; `CheckInputError` if neither."""
    p = Path(path)
    if p.is_dir():
        h = p / HISTORY
        if not h.is_file():
            raise CheckInputError(
                f"{p} is a directory but not a run directory: it has no {HISTORY}. "
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


class Pairing:
    """Pairs every client completion with its invoke, by process, as the ops stream past.

    Calling it on ops yields ``(op, invoke)``: ``invoke`` is the op a client completion
    completes, ``None`` for an invoke and for nemesis and monitor ops. It raises
    `HistoryError` when a process invokes twice without completing, or completes what it
    did not invoke (or with another ``f``). ``pending`` holds the invokes still open.
    """

    __slots__ = ("pending", "where")

    def __init__(self, where: str = "<history>") -> None:
        self.where = where
        self.pending: dict[int, Op] = {}

    def __call__(self, ops: Iterable[Op]) -> Iterator[tuple[Op, Op | None]]:
        pending = self.pending
        for op in ops:
            process = op.process
            if type(process) is not int:
                yield op, None
            elif op.type is OpType.INVOKE:
                if process in pending:
                    self._twice(op, process)
                pending[process] = op
                yield op, None
            else:
                invoke = pending.pop(process, None)
                if invoke is None or invoke.f != op.f:
                    self._unpaired(op, process, invoke)
                yield op, invoke

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


def paired(ops: Iterable[Op], where: str = "<history>") -> Iterator[tuple[Op, Op | None]]:
    """``(op, invoke)`` for every op of ``ops``, as `Pairing` pairs them."""
    return Pairing(where)(ops)


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
        self.pairing = Pairing(where)
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
        n = clients = 0
        try:
            for op, invoke in self.pairing(ops):
                n += 1
                process = op.process
                if type(process) is int:
                    clients += 1
                elif process == NEMESIS:
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
        ordered = {str(a): results.pop(str(a)) for a in SAFETY if str(a) in results}
        lively = {str(a): results.pop(str(a)) for a in LIVENESS if str(a) in results}
        ordered.update(results)  # anomalies the glossary does not know (a test's checker)

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
        pending = self.pairing.pending
        if pending:
            notes.append(
                f"{len(pending)} client invoke(s) never completed; they count as "
                "indeterminate (like info)"
            )
        stats: dict[str, JSON] = {"ops": self.ops, "torn_last_line": torn}
        try:
            stats.update(self.stats.result())
        except Exception as e:  # noqa: BLE001 - stats are not safety; noted and skipped
            self.stats_error = self.stats_error or f"statistics failed: {type(e).__name__}: {e}"
        if self.stats_error is not None:
            notes.append(self.stats_error)
        liveness = self._liveness(lively, stats.get("availability"))
        if liveness is not None and liveness.error is not None:
            notes.append(f"{liveness.error} (liveness is reported apart from the verdict)")
        return Results(
            verdict=merge_verdicts(verdicts),
            checkers=ordered,
            stats={**stats, "notes": notes},
            history=where,
            checked_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            liveness=liveness,
        )

    def _liveness(self, anomalies: dict[str, CheckResult], availability: JSON) -> Liveness | None:
        """The liveness section (the liveness checker's, given the statistics' windows
        without an ok op); None when no liveness checker was run."""
        found = [(n, c) for n, c in self.checkers.items() if isinstance(c, LivenessChecker)]
        if not found:
            return None
        name, checker = found[0]
        overall = None if self.stats_error else self.stats.longest_gap_any_key()
        error = self.errors.get(name)
        if error is None:
            try:
                gaps = availability if isinstance(availability, dict) else {}
                return checker.section(anomalies, overall, gaps)
            except Exception as e:  # noqa: BLE001 - liveness is not safety; noted and skipped
                error = f"{name} checker failed: {type(e).__name__}: {e}"
        return Liveness(longest_gap_s=overall, anomalies=anomalies, error=error)
