"""What a run directory holds, read tolerantly, for the report, JUnit and index renderers.

A run directory (``store/<test>/<timestamp>/``, file names in `harness.contract.layout`)
normally holds ``history.jsonl``, ``test.json`` (name, run id, config, seed, versions,
the reproducing command), ``results.json`` (the checkers' verdicts, read through the one
reader, `harness.contract.results.Results`) and ``logs/<node>.log``. Any of these may be
missing — a history copied off a CI machine, a run killed before checking — and the
renderers must still show what they can. `load_run` therefore never fails on a missing
or unreadable *optional* file: it records a `notes` line saying what was missing and
what was done instead (for ``results.json``: the checkers are run on the history). Only
a path that is not a run at all raises `RunInputError`.

Checker results are shown as `CheckerSummary` values (the anomaly's result, its
glossary meaning and a headline), ordered anomalies first (invalid, then unknown, then
valid), so every renderer lists them the same way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import orjson

from checkers import check_history
from harness.contract.glossary import Anomaly
from harness.contract.history import JSON
from harness.contract.layout import HISTORY, LOGS, RESULTS, RUN_MARKERS, TEST
from harness.contract.results import CheckResult, Results, Witness
from harness.contract.verdict import Verdict


def describe(name: str) -> str:
    """The anomaly's meaning from the glossary; empty for a name it does not know."""
    return Anomaly(name).meaning if name in set(Anomaly) else ""


_VERDICT_ORDER: Final = {Verdict.INVALID: 0, Verdict.UNKNOWN: 1, Verdict.VALID: 2}


class RunInputError(ValueError):
    """The path given is not a run directory (or a history file) that can be reported."""


@dataclass(frozen=True, slots=True)
class CheckerSummary:
    """One anomaly's verdict, count and witnesses (capped by the checker), as shown."""

    name: str
    verdict: Verdict
    count: int
    witnesses: tuple[Witness, ...]
    error: str | None
    description: str

    @property
    def headline(self) -> str:
        """A one-line summary, e.g. ``3 anomalies; first: value 17 acked at ...``."""
        if self.error:
            return f"checker error: {self.error}"
        if self.verdict is Verdict.VALID:
            return "no anomaly found"
        first = self.witnesses[0].message if self.witnesses else ""
        noun = "anomaly" if self.count == 1 else "anomalies"
        text = f"{self.count} {noun}"
        return f"{text}; first: {first}" if first else text

    @classmethod
    def of(cls, name: str, r: CheckResult) -> CheckerSummary:
        return cls(name, r.verdict, r.count, r.witnesses, r.error, describe(name))


@dataclass(frozen=True, slots=True)
class LogFile:
    """A node log, linked relatively from the report."""

    relpath: str
    size: int


@dataclass(slots=True)
class RunInputs:
    """Everything but the history itself, read from a run directory."""

    run_dir: Path
    test: Mapping[str, JSON]
    results: Results | None
    checkers: list[CheckerSummary]
    verdict: Verdict
    logs: list[LogFile]
    notes: list[str] = field(default_factory=list)
    results_computed: bool = False

    @property
    def history_path(self) -> Path:
        return self.run_dir / HISTORY

    @property
    def has_history(self) -> bool:
        return self.history_path.is_file()

    @property
    def name(self) -> str:
        name = self.test.get("name")
        return _text(name) if name else self.run_dir.parent.name or self.run_dir.name

    @property
    def config(self) -> Mapping[str, JSON]:
        cfg = self.test.get("config")
        return cfg if isinstance(cfg, Mapping) else {}

    @property
    def stats(self) -> Mapping[str, JSON]:
        return self.results.stats if self.results is not None else {}


def resolve_run_dir(path: str | os.PathLike[str]) -> Path:
    """A run directory from a path to one, or to the ``history.jsonl`` inside one."""
    p = Path(path)
    if p.is_file():
        if p.name in RUN_MARKERS:
            return p.parent
        raise RunInputError(
            f"{p} is a file but not a run's {HISTORY}, {RESULTS} or {TEST}; "
            "give the run directory (store/<test>/<timestamp>/) or its history.jsonl"
        )
    if not p.is_dir():
        raise RunInputError(
            f"{p} does not exist; give a run directory (store/<test>/<timestamp>/) "
            f"or a {HISTORY} file"
        )
    if not any((p / n).is_file() for n in RUN_MARKERS):
        raise RunInputError(
            f"{p} holds none of {HISTORY}, {RESULTS}, {TEST}, so it is not a run directory; "
            "give store/<test>/<timestamp>/ (use `floodmark serve` or the index for a store)"
        )
    return p


def load_run(path: str | os.PathLike[str], *, run_checkers: bool = True) -> RunInputs:
    """Read ``test.json``, ``results.json`` and the log listing of a run, tolerantly.

    When ``results.json`` is missing or unreadable and ``run_checkers`` is true, the
    checkers are run on the history.
    """
    run_dir = resolve_run_dir(path)
    notes: list[str] = []
    test = _read_json_object(run_dir / TEST, notes, "configuration, seed and command unknown")
    raw = _read_json_object(run_dir / RESULTS, notes, None)
    results = Results.from_json(raw) if raw is not None else None
    computed = False
    history = run_dir / HISTORY
    if not history.is_file():
        notes.append(f"{HISTORY} is missing: no plots, fault schedule or replica diagrams")
    if results is None:
        if run_checkers and history.is_file():
            results, why = _run_checkers(history)
            computed = results is not None
            notes.append(
                f"{RESULTS} was missing: the checkers were run on {HISTORY} for this report"
                if computed
                else f"{RESULTS} is missing and the checkers could not run ({why})"
            )
        else:
            notes.append(f"{RESULTS} is missing: no verdict")
    checkers = _summaries(results)
    verdict = results.verdict if results is not None else Verdict.UNKNOWN
    return RunInputs(
        run_dir=run_dir,
        test=test or {},
        results=results,
        checkers=checkers,
        verdict=verdict,
        logs=_log_files(run_dir),
        notes=notes,
        results_computed=computed,
    )


def _summaries(results: Results | None) -> list[CheckerSummary]:
    if results is None:
        return []
    out = [CheckerSummary.of(name, r) for name, r in results.checkers.items()]
    out.sort(key=lambda c: (_VERDICT_ORDER[c.verdict], -c.count, c.name))
    return out


def _read_json_object(
    path: Path, notes: list[str], missing_note: str | None
) -> dict[str, JSON] | None:
    if not path.is_file():
        if missing_note:
            notes.append(f"{path.name} is missing: {missing_note}")
        return None
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as e:
        notes.append(f"{path.name} could not be read ({e}); it was ignored")
        return None
    if not isinstance(data, dict):
        notes.append(f"{path.name} is not a JSON object (got {type(data).__name__}); ignored")
        return None
    return data


def _run_checkers(history: Path) -> tuple[Results | None, str]:
    """The checkers' results for ``history``; never raises (a broken checker or a malformed
    history must not stop the report: the reason is returned instead)."""
    try:
        return check_history(history), ""
    except Exception as e:  # noqa: BLE001 - see the docstring
        return None, f"checkers.check_history raised {type(e).__name__}: {e}"


def _log_files(run_dir: Path) -> list[LogFile]:
    logs = run_dir / LOGS
    if not logs.is_dir():
        return []
    out = []
    for p in sorted(logs.rglob("*")):
        if p.is_file():
            out.append(LogFile(p.relative_to(run_dir).as_posix(), p.stat().st_size))
    return out


def _text(v: object) -> str:
    return v if isinstance(v, str) else orjson.dumps(v).decode() if v is not None else ""
