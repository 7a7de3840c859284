"""``results.json``: what the checkers concluded about one history; its one writer and reader.

The checkers produce a `Results` (``checkers.check_history``) and `Results.write` it; the
report, JUnit, the store index, certification and the pytest plugin read it back with
`Results.read` (or `Results.from_json`, for an object already decoded). Nothing else in
floodmark parses ``results.json``. The shape (DESIGN.md §4)::

    {"valid": true | false | "unknown",
     "checkers": {"<safety anomaly>": {"valid": ..., "count": n,
                                       "witnesses": [<witness>, ...],
                                       "error": "..."}},      # only when its checker broke
     "stats": {"ops": n, "torn_last_line": false, "keys": [...], "rates": {...},
               "availability": {"<key>": {...}}, "latency": {...}, "notes": ["..."]},
     "liveness": {"faults_exercised": ["kill", "partition"],
                  "longest_gap_s": 2.5,
                  "keys": {"0": {"longest_gap_s": 4.1, "recovered_s": 0.8, "final_read": "ok"}},
                  "anomalies": {"<liveness anomaly>": {"valid": ..., "count": n,
                                                       "witnesses": [...]}},
                  "error": "..."},                          # only when the liveness fold broke
     "history": "<path>", "checked_at": "<ISO time, UTC>"}

    <witness> = {"message": "value 8 acked at key 1 offset 1 (op 3) is missing ...",
                 "key": 1, "offset": 1, "value": 8, <details>, "ops": [<history op>, ...]}

``checkers`` holds every safety anomaly of `harness.contract.glossary` (valid or not, in
glossary order); the run's ``valid`` merges them. ``liveness`` never changes ``valid``:

- ``faults_exercised``: fault packages with a ``start-<package>`` op in the history;
- ``longest_gap_s``: the longest time between two consecutive ``ok`` sends or polls on
  any key (``null``: not one was ok);
- per key, ``longest_gap_s`` is ``stats.availability[key].longest_gap_s`` (the longest
  window of the workload's span without an ok send or poll on that key);
  ``recovered_s``: seconds from the last nemesis op (the final heal; the history's start
  if there was none) to the first ``replica-state`` sample showing the key's leader with
  a full ISR (``null``: never seen; with no ``unrecovered`` witness for the key it was not
  sampled after the heal at all); ``final_read`` (`FinalRead`): how the key's last final
  read ended;
- ``anomalies``: the liveness anomalies of the glossary, shaped like ``checkers``.

Reading is tolerant, because reports must render what a person copied or edited by hand:
a missing or ill-typed field reads as absent (``valid`` as unknown, ``count`` as the
number of witnesses); only a file that is not a JSON object raises `ResultsError`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import orjson

from harness.contract.history import JSON
from harness.contract.layout import RESULTS
from harness.contract.verdict import Verdict


class ResultsError(ValueError):
    """``results.json`` could not be read: says which file and what was wrong."""


@dataclass(frozen=True, slots=True)
class Witness:
    """One occurrence of an anomaly and the history ops that prove it (as JSON objects)."""

    message: str
    ops: tuple[Mapping[str, JSON], ...] = ()
    key: int | None = None
    offset: int | None = None
    value: int | None = None
    details: Mapping[str, JSON] = field(default_factory=dict)
    """Anything else the checker says (``values``, ``hw``, ``node``, ``nodes`` ...)."""

    def to_json(self) -> dict[str, JSON]:
        d: dict[str, JSON] = {"message": self.message}
        for name, v in (("key", self.key), ("offset", self.offset), ("value", self.value)):
            if v is not None:
                d[name] = v
        d.update(self.details)
        d["ops"] = [dict(op) for op in self.ops]
        return d

    @classmethod
    def from_json(cls, raw: object) -> Witness:
        if not isinstance(raw, Mapping):
            return cls(_text(raw))
        ops = raw.get("ops")
        return cls(
            message=_text(raw.get("message", "")),
            ops=tuple(o for o in ops if isinstance(o, Mapping)) if isinstance(ops, list) else (),
            key=_int_or_none(raw.get("key")),
            offset=_int_or_none(raw.get("offset")),
            value=_int_or_none(raw.get("value")),
            details={k: v for k, v in raw.items() if k not in _WITNESS_FIELDS},
        )


_WITNESS_FIELDS: Final = frozenset({"message", "key", "offset", "value", "ops"})


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What was decided about one anomaly: verdict, full count, capped witnesses."""

    verdict: Verdict
    count: int = 0
    witnesses: tuple[Witness, ...] = ()
    error: str | None = None
    """Set when the checker itself broke (the verdict is then unknown)."""

    def to_json(self) -> dict[str, JSON]:
        d: dict[str, JSON] = {
            "valid": self.verdict.to_json(),
            "count": self.count,
            "witnesses": [w.to_json() for w in self.witnesses],
        }
        if self.error is not None:
            d["error"] = self.error
        return d

    @classmethod
    def from_json(cls, raw: object) -> CheckResult:
        data: Mapping[str, JSON] = raw if isinstance(raw, Mapping) else {}
        listed = data.get("witnesses")
        witnesses = tuple(Witness.from_json(w) for w in listed) if isinstance(listed, list) else ()
        count, error = data.get("count"), data.get("error")
        return cls(
            verdict=Verdict.from_json(data.get("valid")),
            count=count if type(count) is int else len(witnesses),
            witnesses=witnesses,
            error=_text(error) if error not in (None, "") else None,
        )

    @classmethod
    def failed(cls, error: str) -> CheckResult:
        """The checker itself broke: its verdict is unknown, never valid."""
        return cls(Verdict.UNKNOWN, error=error)


class FinalRead(enum.StrEnum):
    """How a key's last final read ended."""

    OK = "ok"
    """ok and ``complete``: every record up to the HW."""
    PARTIAL = "partial"
    """ok but not complete: what it returned counts as seen."""
    FAIL = "fail"
    INFO = "info"
    PENDING = "pending"
    """invoked, never completed."""
    NONE = "none"
    """the history has no final read of the key."""

    @property
    def unfinished(self) -> bool:
        """An ``unfinished-final-read``: it ended fail or info, or never ended."""
        return self in (FinalRead.FAIL, FinalRead.INFO, FinalRead.PENDING)


@dataclass(frozen=True, slots=True)
class KeyLiveness:
    """Progress of one key; see the module docstring for each field."""

    longest_gap_s: float | None
    recovered_s: float | None
    final_read: FinalRead

    def to_json(self) -> dict[str, JSON]:
        return {
            "longest_gap_s": self.longest_gap_s,
            "recovered_s": self.recovered_s,
            "final_read": self.final_read.value,
        }

    @classmethod
    def from_json(cls, raw: object) -> KeyLiveness:
        data: Mapping[str, JSON] = raw if isinstance(raw, Mapping) else {}
        final = data.get("final_read")
        return cls(
            longest_gap_s=_float_or_none(data.get("longest_gap_s")),
            recovered_s=_float_or_none(data.get("recovered_s")),
            final_read=FinalRead(final) if final in _FINAL_READS else FinalRead.NONE,
        )


_FINAL_READS: Final = frozenset(f.value for f in FinalRead)


@dataclass(frozen=True, slots=True)
class Liveness:
    """``results.json["liveness"]``: progress during and after the faults."""

    faults_exercised: tuple[str, ...] = ()
    longest_gap_s: float | None = None
    keys: Mapping[int, KeyLiveness] = field(default_factory=dict)
    anomalies: Mapping[str, CheckResult] = field(default_factory=dict)
    """Liveness anomaly name → result, in glossary order."""
    error: str | None = None

    @property
    def unfinished_final_reads(self) -> list[int]:
        """The keys whose last final read ended fail or info, or never ended."""
        return sorted(k for k, v in self.keys.items() if v.final_read.unfinished)

    def to_json(self) -> dict[str, JSON]:
        d: dict[str, JSON] = {
            "faults_exercised": list(self.faults_exercised),
            "longest_gap_s": self.longest_gap_s,
            "keys": {str(k): v.to_json() for k, v in self.keys.items()},
            "anomalies": {name: r.to_json() for name, r in self.anomalies.items()},
        }
        if self.error is not None:
            d["error"] = self.error
        return d

    @classmethod
    def from_json(cls, raw: object) -> Liveness:
        data: Mapping[str, JSON] = raw if isinstance(raw, Mapping) else {}
        faults, keys, anomalies = (
            data.get("faults_exercised"),
            data.get("keys"),
            data.get("anomalies"),
        )
        error = data.get("error")
        return cls(
            faults_exercised=tuple(str(f) for f in faults) if isinstance(faults, list) else (),
            longest_gap_s=_float_or_none(data.get("longest_gap_s")),
            keys={
                int(k): KeyLiveness.from_json(v)
                for k, v in (keys.items() if isinstance(keys, Mapping) else ())
                if isinstance(k, str) and k.lstrip("-").isdigit()
            },
            anomalies={
                str(name): CheckResult.from_json(r)
                for name, r in (anomalies.items() if isinstance(anomalies, Mapping) else ())
            },
            error=_text(error) if error not in (None, "") else None,
        )


@dataclass(frozen=True, slots=True)
class Results:
    """The outcome of checking one history: what ``results.json`` holds."""

    verdict: Verdict
    checkers: Mapping[str, CheckResult]
    """Safety anomaly name → result, in glossary order."""
    stats: Mapping[str, JSON]
    """``results.json["stats"]`` as written, ``notes`` included."""
    history: str
    checked_at: str
    liveness: Liveness | None = None
    """None only for results written before floodmark had a liveness section."""

    @property
    def exit_code(self) -> int:
        """0 valid, 1 invalid, 2 unknown."""
        return self.verdict.exit_code

    @property
    def notes(self) -> tuple[str, ...]:
        """What the check noticed beside the anomalies (torn last line, a stats failure)."""
        notes = self.stats.get("notes")
        return tuple(_text(n) for n in notes) if isinstance(notes, list) else ()

    def to_json(self) -> dict[str, JSON]:
        d: dict[str, JSON] = {
            "valid": self.verdict.to_json(),
            "checkers": {name: r.to_json() for name, r in self.checkers.items()},
            "stats": dict(self.stats),
        }
        if self.liveness is not None:
            d["liveness"] = self.liveness.to_json()
        d["history"] = self.history
        d["checked_at"] = self.checked_at
        return d

    def dumps(self) -> bytes:
        """``results.json``'s text; `ResultsError` when it cannot be encoded (a witness op
        holding a value nested deeper than JSON encoding allows, say)."""
        try:
            return orjson.dumps(self.to_json(), option=orjson.OPT_INDENT_2)
        except (orjson.JSONEncodeError, RecursionError) as e:
            raise ResultsError(
                f"the results of {self.history} cannot be written as JSON ({e}): a witness "
                "holds a value the encoder refuses (nested too deeply?)"
            ) from None

    def write(self, directory: str | Path, text: bytes | None = None) -> Path:
        """Write ``results.json`` (``text``, by default `dumps`) into ``directory``
        atomically; returns its path. Raises `ResultsError` (see `dumps`) or OSError."""
        path = Path(directory) / RESULTS
        data = self.dumps() if text is None else text
        tmp = path.with_suffix(".json.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        return path

    @classmethod
    def from_json(cls, raw: Mapping[str, JSON]) -> Results:
        checkers, stats, liveness = raw.get("checkers"), raw.get("stats"), raw.get("liveness")
        return cls(
            verdict=Verdict.from_json(raw.get("valid")),
            checkers={
                str(name): CheckResult.from_json(r)
                for name, r in (checkers.items() if isinstance(checkers, Mapping) else ())
            },
            stats=stats if isinstance(stats, Mapping) else {},
            history=_text(raw.get("history")),
            checked_at=_text(raw.get("checked_at")),
            liveness=Liveness.from_json(liveness) if isinstance(liveness, Mapping) else None,
        )

    @classmethod
    def read(cls, path: str | Path) -> Results:
        """Read a ``results.json`` file (or the one in a run directory)."""
        p = Path(path)
        if p.is_dir():
            p = p / RESULTS
        try:
            raw = orjson.loads(p.read_bytes())
        except OSError as e:
            raise ResultsError(f"{p}: cannot be read ({e.strerror or e})") from e
        except orjson.JSONDecodeError as e:
            raise ResultsError(f"{p}: not valid JSON ({e}); re-check the run") from e
        if not isinstance(raw, dict):
            raise ResultsError(f"{p}: expected a JSON object, got {type(raw).__name__}")
        return cls.from_json(raw)


def _text(v: object) -> str:
    return v if isinstance(v, str) else orjson.dumps(v).decode() if v is not None else ""


def _int_or_none(v: object) -> int | None:
    return v if type(v) is int else None


def _float_or_none(v: object) -> float | None:
    return float(v) if type(v) is int or type(v) is float else None
