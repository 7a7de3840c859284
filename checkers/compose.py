"""Composing the checkers: read the history once, feed every checker, merge verdicts.

`check_history` streams ``history.jsonl`` (`harness.contract.reader.iter_lines`) and
hands each op to the registered checkers (`checkers.registry.CHECKERS`) that asked for
its ``f`` and type, together with the ``invoke`` a client completion completes. `Pairing` is the
only place in floodmark that pairs invokes with completions (the reports reuse it through
`paired`), and it enforces the pairing rule of DESIGN.md §3: a client process invokes,
then completes that same operation, before it invokes again. A history breaking that
rule is malformed (`HistoryError`, naming the line).

Isolation: an exception inside one checker (in ``observe`` or ``result``) makes every
anomaly of that checker ``unknown`` with the error text, and the other checkers go on.
Only a malformed history stops the whole check.

Pairing also holds a completion to its invoke's value: the same key, and a send's
``value`` or a poll's ``from`` (a history saying otherwise is malformed, naming both
lines).

Verdict: invalid if any safety anomaly occurred; else unknown if something could not be
decided (a checker of safety anomalies failed, acknowledged or polled values were
`unseen`, or nothing was checked: no acknowledged write and no value or HW an ok poll
returned was looked for in a complete final read, `checkers.core.Covers`); else valid
(`merge_verdicts`).

Speed: the history is decoded by blocks straight into typed lines
(`harness.contract.reader.iter_lines`) and routed by op type and ``f`` in one loop
(`_Run.consume`) to the checkers that asked for them; checking a history costs about two
and a half times parsing it with orjson (bench/check_bench.py, a million ops).

Liveness anomalies (`harness.contract.glossary.Kind.LIVENESS`) go into the results'
liveness section (`checkers.liveness.LivenessChecker.section`, given the statistics'
windows without an ok op) and never change the verdict, not even when the liveness
checker itself breaks.
"""

from __future__ import annotations

import datetime
import gc
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Final, NoReturn, cast

from checkers.core import NEMESIS_OPS, Checker, Covers, Routed
from checkers.liveness import LivenessChecker
from checkers.registry import CHECKERS
from checkers.stats import StatsFold
from harness.contract.glossary import LIVENESS, SAFETY
from harness.contract.history import JSON, NEMESIS, F, HistoryError, Op, OpType, ReadStats
from harness.contract.layout import HISTORY
from harness.contract.reader import FinalReadLine, Line, OtherLine, PollLine, SendLine, iter_lines
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
    return check_lines(iter_lines(h, read), checkers, where=str(h), read=read)


def check_ops(
    ops: Iterable[Op],
    checkers: Mapping[str, Callable[[], Checker]] | None = None,
    *,
    where: str = "<history>",
    read: ReadStats | None = None,
) -> Results:
    """Check a stream of ops (e.g. a list in a test), each validated as a history line
    would be. ``read`` carries the reader's notes (torn last line); it is consulted after
    ``ops`` is exhausted."""
    lines = ([Line.from_op(op, where)] for op in ops)
    return check_lines(lines, checkers, where=where, read=read)


def check_lines(
    batches: Iterable[list[Line]],
    checkers: Mapping[str, Callable[[], Checker]] | None = None,
    *,
    where: str = "<history>",
    read: ReadStats | None = None,
) -> Results:
    """Check batches of decoded lines (`harness.contract.reader.iter_lines`)."""
    # The checkers keep hundreds of thousands of long-lived objects and make no reference
    # cycles; the cyclic collector would rescan them again and again (about a third of the
    # time of a large check), so it is paused while the history streams through.
    collecting = gc.isenabled()
    gc.disable()
    try:
        run = _Run(checkers if checkers is not None else CHECKERS, where)
        run.consume(batches)
        return run.finish(where, read)
    finally:
        if collecting:
            gc.enable()


def _mismatch(invoke_value: JSON, value: JSON, f: str) -> str | None:
    """What a completion of ``f`` changed of its invoke's value (None: nothing): its key,
    and a send's value or a poll's ``from``."""
    fields = _CARRIED.get(f)
    if fields is None or type(invoke_value) is not dict or type(value) is not dict:
        return None
    for name in fields:
        if invoke_value.get(name) != value.get(name):
            return f"{name} {value.get(name)!r} where its invoke had {invoke_value.get(name)!r}"
    return None


_CARRIED: Final[dict[str, tuple[str, ...]]] = {
    str(F.SEND): ("key", "value"),
    str(F.POLL): ("key", "from"),
    str(F.FINAL_READ): ("key",),
}


class Pairing:
    """Pairs every client completion with its invoke, by process, as the ops stream past.

    Calling it on ops yields ``(op, invoke)``: ``invoke`` is the op a client completion
    completes, ``None`` for an invoke and for nemesis and monitor ops. It raises
    `HistoryError` when a process invokes twice without completing, or completes what it
    did not invoke, with another ``f``, or with another key or value (DESIGN.md §3:
    a completion carries its invoke's value). ``pending`` holds the invokes still open.
    The checkers' own loop (`_Run.consume`) pairs `Line` s by the same rule.
    """

    __slots__ = ("pending", "where")

    def __init__(self, where: str = "<history>") -> None:
        self.where = where
        self.pending: dict[int, Op] = {}

    def __call__(self, ops: Iterable[Op]) -> Iterator[tuple[Op, Op | None]]:
        pending = self.pending
        where = self.where
        for op in ops:
            process = op.process
            if type(process) is not int:
                yield op, None
            elif op.type is _INVOKE_T:
                if process in pending:
                    _twice(where, op.index, op.f, process, pending[process])
                pending[process] = op
                yield op, None
            else:
                invoke = pending.pop(process, None)
                if invoke is None or invoke.f != op.f:
                    _unpaired(where, op.index, op.type, op.f, process, invoke)
                changed = _mismatch(invoke.value, op.value, op.f)
                if changed is not None:
                    _changed(where, op.index, op.type, op.f, process, invoke.index, changed)
                yield op, invoke


def _twice(where: str, index: int, f: str, process: int, open_op: Op | Line) -> None:
    raise HistoryError(
        where,
        index + 1,
        f"process {process} invokes {f} while its {open_op.f} invoked on line "
        f"{open_op.index + 1} has not completed (every invoke is followed by exactly one "
        "completion before the process invokes again)",
    )


def _unpaired(
    where: str, index: int, typ: OpType, f: str, process: int, invoke: Op | Line | None
) -> NoReturn:
    if invoke is None:
        raise HistoryError(
            where,
            index + 1,
            f"{typ} {f} of process {process} completes nothing: that process has no invoke waiting",
        )
    raise HistoryError(
        where,
        index + 1,
        f"{typ} {f} of process {process} completes a {invoke.f} (invoked on line "
        f"{invoke.index + 1}); a completion must have its invoke's f",
    )


def _changed(
    where: str, index: int, typ: OpType, f: str, process: int, invoked: int, what: str
) -> NoReturn:
    raise HistoryError(
        where,
        index + 1,
        f"{typ} {f} of process {process} (line {index + 1}) completes the invoke on line "
        f"{invoked + 1} but carries {what}; a completion must carry its invoke's key and "
        "value",
    )


def paired(ops: Iterable[Op], where: str = "<history>") -> Iterator[tuple[Op, Op | None]]:
    """``(op, invoke)`` for every op of ``ops``, as `Pairing` pairs them."""
    return Pairing(where)(ops)


_INVOKE_T: Final = OpType.INVOKE

_STATS: Final = "statistics"
"""The route name of the `StatsFold` (its failure is a note, not an unknown verdict)."""

_Observe = Callable[[Line, "Line | None"], None]


class _Run:
    """The state of one check: the checkers, their routes by type and ``f``, the open
    invokes."""

    def __init__(self, factories: Mapping[str, Callable[[], Checker]], where: str) -> None:
        self.where = where
        self.checkers: dict[str, Checker] = {}
        self.errors: dict[str, str] = {}
        self.wants: dict[str, tuple[tuple[str, frozenset[OpType]], ...]] = {}
        for name, factory in factories.items():
            try:
                c = self.checkers[name] = factory()
                self.wants[name] = tuple((str(f), frozenset(ts)) for f, ts in c.wants.items())
            except Exception as e:  # noqa: BLE001 - isolation: this checker becomes unknown
                self.errors[name] = f"{name} checker could not start: {type(e).__name__}: {e}"
        self.stats = StatsFold()
        self.stats_error: str | None = None
        self.routes: dict[OpType, dict[str, tuple[tuple[str, _Observe], ...]]] = {}
        self._route()
        self.pending: dict[int, Line] = {}
        self.ops = 0
        self.client_ops = 0

    def _route(self) -> None:
        routes: dict[OpType, dict[str, list[tuple[str, _Observe]]]] = {t: {} for t in OpType}
        for name, c in self.checkers.items():
            if name in self.errors:
                continue
            if isinstance(c, Routed):
                for t, handlers in c.handlers().items():
                    for f, handler in handlers.items():
                        routes[t].setdefault(f, []).append((name, handler))
                continue
            for f, types in self.wants[name]:
                for t in types:
                    routes[t].setdefault(f, []).append((name, c.observe))
        if self.stats_error is None:
            for t, handlers in self.stats.handlers().items():
                for f, handler in handlers.items():
                    routes[t].setdefault(f, []).append((_STATS, handler))
        self.routes = {
            t: {f: tuple(observers) for f, observers in fs.items()} for t, fs in routes.items()
        }

    def consume(self, batches: Iterable[list[Line]]) -> None:
        """Pair each op and feed it to the checkers that asked for its type and ``f``.

        This is the hot loop of floodmark check (once per op of the history): locals
        only, one dictionary lookup to route, the pairing rule written out inline."""
        routes = self.routes
        pending = self.pending
        where = self.where
        invoke_t = OpType.INVOKE
        n = others = 0
        try:
            for lines in batches:
                n += len(lines)
                for op in lines:
                    process = op.process
                    t = op.type
                    invoke: Line | None = None
                    if type(process) is int:
                        if t is invoke_t:
                            if pending.setdefault(process, op) is not op:
                                _twice(where, op.index, op.f, process, pending[process])
                        else:
                            invoke = pending.pop(process, None)
                            cls = type(op)
                            if invoke is None or type(invoke) is not cls:
                                _unpaired(where, op.index, t, op.f, process, invoke)
                            iv, v = invoke.value, op.value
                            if cls is SendLine:
                                if iv.key != v.key or iv.value != v.value:
                                    self._changed(op, invoke)
                            elif cls is PollLine:
                                if iv.key != v.key or iv.start != v.start:
                                    self._changed(op, invoke)
                            elif cls is FinalReadLine:
                                if iv.key != v.key:
                                    self._changed(op, invoke)
                            elif cls is OtherLine and invoke.f != op.f:
                                _unpaired(where, op.index, t, op.f, process, invoke)
                    else:
                        others += 1
                        if process == NEMESIS:
                            for name, observe in routes[t].get(NEMESIS_OPS, ()):
                                try:
                                    observe(op, None)
                                except Exception as e:  # noqa: BLE001 - isolation, as below
                                    self._failed(name, op, e)
                                    routes = self.routes
                    observers = routes[t].get(op.f)
                    if observers:
                        for name, observe in observers:
                            try:
                                observe(op, invoke)
                            except Exception as e:  # noqa: BLE001 - isolation: see the module docstring
                                self._failed(name, op, e)
                                routes = self.routes
        finally:
            self.ops, self.client_ops = n, n - others

    def _changed(self, op: Line, invoke: Line) -> NoReturn:
        what = _mismatch(invoke.to_json()["value"], op.to_json()["value"], op.f)
        assert isinstance(op.process, int)
        _changed(self.where, op.index, op.type, op.f, op.process, invoke.index, str(what))

    def _failed(self, name: str, op: Line, e: Exception) -> None:
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
        nothing = self._nothing_checked()
        if nothing is not None:
            notes.append(nothing)
            verdicts.append(Verdict.UNKNOWN)
        torn = read is not None and read.torn_last_line
        if torn and read is not None:
            notes.append(
                f"the last line (line {read.lines}) was torn, the harness having been "
                f"stopped mid-write; it was ignored: {read.torn_text!r}"
            )
        pending = self.pending
        if pending:
            notes.append(
                f"{len(pending)} client invoke(s) never completed; they count as "
                "indeterminate (like info)"
            )
        stats: dict[str, JSON] = {"ops": self.ops, "torn_last_line": torn}
        try:
            stats.update(self.stats.result(self.pending.values()))
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

    def _nothing_checked(self) -> str | None:
        """Why nothing was checked, or None. Valid means something was: the checkers that
        look values up (`checkers.core.Covers`) looked for at least one; when none of them
        ran, at least the history holds a client op."""
        covering = [
            c
            for name, c in self.checkers.items()
            if name not in self.errors and callable(getattr(c, "looked_for", None))
        ]
        if covering:
            if sum(cast(Covers, c).looked_for() for c in covering) > 0:
                return None
            return (
                "nothing was checked: no acknowledged write and no value or HW an ok poll "
                "returned was looked for in a complete final read"
            )
        if self.client_ops == 0:
            return "the history holds no client operation: nothing was checked"
        return None

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
