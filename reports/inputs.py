"""What a run directory holds, read tolerantly, for the report, JUnit and index renderers.

A run directory (``store/<test>/<timestamp>/``) normally holds ``history.jsonl``,
``test.json`` (name, run id, config, seed, versions, the reproducing command),
``results.json`` (the checkers' verdicts, see DESIGN.md §4) and ``logs/<node>.log``.
Any of these may be missing — a history copied off a CI machine, a run killed before
checking — and the renderers must still show what they can. `load_run` therefore never
fails on a missing or unreadable *optional* file: it records a `notes` line saying what was
missing and what was done instead (for ``results.json``: the checkers are imported lazily
and run on the history). Only a path that is not a run at all raises `RunInputError`.

Checker results are normalised into `CheckerSummary` values, ordered anomalies first
(invalid, then unknown, then valid), so every renderer lists them the same way.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from harness.contract.history import JSON
from harness.contract.verdict import Verdict

HISTORY: Final = "history.jsonl"
RESULTS: Final = "results.json"
TEST: Final = "test.json"
LOGS: Final = "logs"

GLOSSARY: Final[Mapping[str, str]] = {
    "lost-write": "an acknowledged send is missing from the complete final read of its key",
    "lost-read": "a value returned by an ok poll (so below the HW) is missing from the final read",
    "inconsistent-offsets": "one offset of one key was seen holding two different values",
    "duplicate": "one value appears at two offsets of a key",
    "replica-divergence": "after recovery two replicas disagree at an offset below both HWs",
    "hw-above-leo": "a replica reported a high watermark above its own log end offset",
    "epoch-split-brain": "two nodes claimed leadership of one key in the same leader epoch",
    "nonmonotonic-poll": "a poll returned a record before its start offset, or went backwards",
    "poll-skip": "a poll skipped over an offset (offsets are dense in these logs)",
    "nonmonotonic-send": "one process's acknowledged offsets on a key went backwards",
    "unseen": "acknowledged but not yet visible when the final read gave up",
    "availability": "longest window without an ok operation per key, error rates",
    "latency": "latency percentiles of client operations",
}
"""One line per anomaly name (DESIGN.md §4); names are the keys of results.json."""


def describe(name: str) -> str:
    """The anomaly's description from the checkers' glossary (``harness.contract.glossary``, the
    one place anomaly names are defined), else the short line in `GLOSSARY`."""
    try:
        glossary = importlib.import_module("harness.contract.glossary")
        return str(glossary.Anomaly(name).description)
    except (ImportError, ValueError, AttributeError, KeyError):
        return GLOSSARY.get(name, "")


HW_ANOMALIES: Final = frozenset(
    {"replica-divergence", "lost-write", "inconsistent-offsets", "lost-read"}
)
"""Anomalies whose witnesses get a KIP-101-style replica log diagram."""

_VERDICT_ORDER: Final = {Verdict.INVALID: 0, Verdict.UNKNOWN: 1, Verdict.VALID: 2}


class RunInputError(ValueError):
    """The path given is not a run directory (or a history file) that can be reported."""


@dataclass(frozen=True, slots=True)
class Witness:
    """One witness of an anomaly, as the checker reported it."""

    message: str
    key: int | None
    offset: int | None
    value: int | None
    ops: tuple[Mapping[str, JSON], ...]
    extra: Mapping[str, JSON]

    @classmethod
    def from_json(cls, raw: object) -> Witness:
        if not isinstance(raw, Mapping):
            return cls(_text(raw), None, None, None, (), {})
        ops = raw.get("ops")
        op_list = tuple(o for o in ops if isinstance(o, Mapping)) if isinstance(ops, list) else ()
        known = {"message", "key", "offset", "value", "ops"}
        return cls(
            message=_text(raw.get("message", "")),
            key=_int_or_none(raw.get("key")),
            offset=_int_or_none(raw.get("offset")),
            value=_int_or_none(raw.get("value")),
            ops=op_list,
            extra={k: v for k, v in raw.items() if k not in known},
        )


@dataclass(frozen=True, slots=True)
class CheckerSummary:
    """One checker's verdict, anomaly count and witnesses (capped by the checker)."""

    name: str
    verdict: Verdict
    count: int
    witnesses: tuple[Witness, ...]
    error: str | None
    description: str
    extra: Mapping[str, JSON]

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
    def from_json(cls, name: str, raw: object) -> CheckerSummary:
        data: Mapping[str, JSON] = raw if isinstance(raw, Mapping) else {"valid": "unknown"}
        witnesses_raw = data.get("witnesses")
        witnesses = (
            tuple(Witness.from_json(w) for w in witnesses_raw)
            if isinstance(witnesses_raw, list)
            else ()
        )
        count = data.get("count")
        error = data.get("error")
        known = {"valid", "count", "witnesses", "error"}
        return cls(
            name=name,
            verdict=Verdict.from_json(data.get("valid")),
            count=count if type(count) is int else len(witnesses),
            witnesses=witnesses,
            error=_text(error) if error not in (None, "") else None,
            description=describe(name),
            extra={k: v for k, v in data.items() if k not in known},
        )


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
    results: Mapping[str, JSON] | None
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
        st = self.results.get("stats") if self.results else None
        return st if isinstance(st, Mapping) else {}


def resolve_run_dir(path: str | os.PathLike[str]) -> Path:
    """A run directory from a path to one, or to the ``history.jsonl`` inside one."""
    p = Path(path)
    if p.is_file():
        if p.name in (HISTORY, RESULTS, TEST):
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
    if not any((p / n).is_file() for n in (HISTORY, RESULTS, TEST)):
        raise RunInputError(
            f"{p} holds none of {HISTORY}, {RESULTS}, {TEST}, so it is not a run directory; "
            "give store/<test>/<timestamp>/ (use `floodmark serve` or the index for a store)"
        )
    return p


def load_run(path: str | os.PathLike[str], *, run_checkers: bool = True) -> RunInputs:
    """Read ``test.json``, ``results.json`` and the log listing of a run, tolerantly.

    When ``results.json`` is missing or unreadable and ``run_checkers`` is true, the
    checkers (imported lazily: ``checkers.check_history``) are run on the history.
    """
    run_dir = resolve_run_dir(path)
    notes: list[str] = []
    test = _read_json_object(run_dir / TEST, notes, "configuration, seed and command unknown")
    results = _read_json_object(run_dir / RESULTS, notes, None)
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
    verdict = Verdict.from_json(results.get("valid")) if results is not None else Verdict.UNKNOWN
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


def _summaries(results: Mapping[str, JSON] | None) -> list[CheckerSummary]:
    raw = results.get("checkers") if results else None
    if not isinstance(raw, Mapping):
        return []
    out = [CheckerSummary.from_json(str(name), v) for name, v in raw.items()]
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


def _run_checkers(history: Path) -> tuple[dict[str, JSON] | None, str]:
    """Run ``checkers.check_history`` if that package provides it; never raises."""
    try:
        module = importlib.import_module("checkers")
    except ImportError as e:
        return None, f"the checkers package cannot be imported: {e}"
    check = getattr(module, "check_history", None)
    if not callable(check):
        return None, "checkers.check_history does not exist yet"
    try:
        res: Any = check(history)
    except Exception as e:  # noqa: BLE001 - a broken checker must not stop the report
        return None, f"checkers.check_history raised {type(e).__name__}: {e}"
    return _results_to_json(res)


def _results_to_json(res: Any) -> tuple[dict[str, JSON] | None, str]:
    if isinstance(res, Mapping):
        return dict(res), ""
    for attr in ("to_json", "as_json", "to_dict"):
        fn = getattr(res, attr, None)
        if callable(fn):
            out = fn()
            if isinstance(out, bytes | str):
                out = orjson.loads(out)
            if isinstance(out, Mapping):
                return dict(out), ""
    return None, f"checkers.check_history returned {type(res).__name__}, not results JSON"


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


def _int_or_none(v: object) -> int | None:
    return v if type(v) is int else None
