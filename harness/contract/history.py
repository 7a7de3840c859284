"""The history: floodmark's contract between clients, faults, checkers and reports.

A history is a JSON-lines file, ``history.jsonl``, one operation per line, appended and
flushed while the run goes on so that a harness killed at any moment leaves a valid
prefix (at worst a torn last line). See DESIGN.md §3.

A tiny example::

    {"index":0,"time":1200,"process":0,"type":"invoke","f":"send","value":{"key":1,"value":7}}
    {"index":1,"time":9100,"process":0,"type":"ok","f":"send","value":{"key":1,"value":7,"offset":0},"node":"n1"}
    {"index":2,"time":9900,"process":"nemesis","type":"info","f":"start-partition","value":{"shape":"one"}}
    {"index":3,"time":10100,"process":1,"type":"invoke","f":"poll","value":{"key":1,"from":0}}
    {"index":4,"time":11100,"process":1,"type":"ok","f":"poll","value":{"key":1,"from":0,"records":[[0,7]],"hw":1}}

``process`` is an integer for a client process, ``"nemesis"`` for faults and
``"monitor"`` for replica-state samples and replica dumps. Every client ``invoke`` is
followed by exactly one completion (``ok``/``fail``/``info``) from the same process.

This module holds the model (`Op`, `OpType`, `F`, `Phase`, `FaultF`), the schema checks
that explain a bad line (`parse_op`, `HistoryError`) and the writer (`HistoryWriter`).
Reading a file is `harness.contract.reader` (`iter_lines`, `iter_history`,
`read_history`).
"""

from __future__ import annotations

import enum
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import orjson

JSON = Any
"""A JSON value (dict, list, str, int, float, bool or None)."""

Process = int | str
"""An integer client process, or one of `NEMESIS` / `MONITOR`."""

NEMESIS: Final = "nemesis"
MONITOR: Final = "monitor"


class OpType(enum.StrEnum):
    INVOKE = "invoke"
    OK = "ok"
    FAIL = "fail"
    INFO = "info"


class F(enum.StrEnum):
    """Operation names the checkers and reports understand (others are allowed)."""

    SEND = "send"
    POLL = "poll"
    FINAL_READ = "final-read"
    REPLICA_STATE = "replica-state"
    REPLICA_DUMP = "replica-dump"


class Phase(enum.StrEnum):
    """Which end of a fault period a nemesis op is: ``start-<package>`` or ``stop-<package>``."""

    START = "start"
    STOP = "stop"


@dataclass(frozen=True, slots=True)
class FaultF:
    """A nemesis op's name, parsed: ``start-partition`` is ``FaultF(Phase.START, "partition")``.

    The history spells it as one string (DESIGN.md §3); everything in floodmark reads and
    writes it through this value, never by slicing strings."""

    phase: Phase
    package: str

    def __str__(self) -> str:
        return f"{self.phase.value}-{self.package}"

    @classmethod
    def parse(cls, f: str) -> FaultF | None:
        """The parsed name, or None when ``f`` is not ``start-…``/``stop-…``."""
        head, sep, package = f.partition("-")
        if not sep or not package or head not in _PHASES:
            return None
        return cls(_PHASES[head], package)


_PHASES: Final = {p.value: p for p in Phase}


@dataclass(frozen=True, slots=True)
class Op:
    """One line of the history."""

    index: int
    time: int
    process: Process
    type: OpType
    f: str
    value: JSON = None
    node: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, JSON]:
        d: dict[str, JSON] = {
            "index": self.index,
            "time": self.time,
            "process": self.process,
            "type": self.type.value,
            "f": self.f,
            "value": self.value,
        }
        if self.node is not None:
            d["node"] = self.node
        if self.error is not None:
            d["error"] = self.error
        return d

    def dumps(self) -> bytes:
        """The op as one JSON line, newline included."""
        return orjson.dumps(self.to_json()) + b"\n"

    @property
    def is_client(self) -> bool:
        return isinstance(self.process, int)

    @property
    def fault(self) -> FaultF | None:
        """For a nemesis op, its phase and package; None for any other op."""
        return FaultF.parse(self.f) if self.process == NEMESIS else None


class HistoryError(ValueError):
    """A history line that cannot be read; says which line and what was wrong."""

    def __init__(self, path: str, line_no: int, problem: str) -> None:
        self.path = path
        self.line_no = line_no
        self.problem = problem
        super().__init__(
            f"{path}:{line_no}: {problem}. Expected one JSON object per line as described in "
            "DESIGN.md §3 (fields index, time, process, type, f, value[, node, error]); "
            "fix or remove that line and check again."
        )


@dataclass(slots=True)
class ReadStats:
    """What `iter_history` noticed while reading (filled in as it goes)."""

    lines: int = 0
    ops: int = 0
    torn_last_line: bool = False
    torn_text: str = ""


_TYPES: Final = {t.value: t for t in OpType}
_REQUIRED: Final = ("index", "time", "process", "type", "f")


def parse_op(raw: dict[str, JSON], where: str, line_no: int) -> Op:
    """Validate one decoded JSON object against the history schema and build an `Op`.

    This runs once per line of every history checked, so it is written for speed (one
    lookup per field, plain-string sets); every problem still raises `HistoryError`.
    """
    try:
        index = raw["index"]
        t = raw["time"]
        process = raw["process"]
        typ = raw["type"]
        f = raw["f"]
    except KeyError:
        missing = next(name for name in _REQUIRED if name not in raw)
        raise HistoryError(where, line_no, f"missing field {missing!r}") from None
    if type(index) is not int or index < 0:
        raise HistoryError(where, line_no, f"'index' must be a non-negative integer, got {index!r}")
    if type(t) is not int:
        raise HistoryError(where, line_no, f"'time' must be integer nanoseconds, got {t!r}")
    if type(process) is not int and process not in _SPECIAL_PROCESSES:
        raise HistoryError(
            where, line_no, f"'process' must be an integer, 'nemesis' or 'monitor', got {process!r}"
        )
    op_type = _TYPES.get(typ) if type(typ) is str else None
    if op_type is None:
        raise HistoryError(
            where, line_no, f"'type' must be one of invoke/ok/fail/info, got {typ!r}"
        )
    if type(f) is not str or not f:
        raise HistoryError(where, line_no, f"'f' must be a non-empty string, got {f!r}")
    value = raw.get("value")
    node = raw.get("node")
    error = raw.get("error")
    if node is not None and type(node) is not str:
        raise HistoryError(where, line_no, f"'node' must be a string, got {node!r}")
    if error is not None and type(error) is not str:
        raise HistoryError(where, line_no, f"'error' must be a string, got {error!r}")
    if f in CHECKED_FS:
        _check_value(f, op_type, value, where, line_no)
    return Op(index, t, process, op_type, f, value, node, error)


_SPECIAL_PROCESSES: Final = frozenset({NEMESIS, MONITOR})
CHECKED_FS: Final = frozenset(str(f.value) for f in F)
_RECORDS_OK: Final = frozenset({"final-read", "replica-dump"})


def _check_value(f: str, typ: OpType, value: JSON, where: str, line_no: int) -> None:
    """Light per-operation checks: the fields the checkers rely on have the right types."""
    if type(value) is not dict:
        raise HistoryError(where, line_no, f"{f} {typ}: 'value' must be an object, got {value!r}")
    if type(value.get("key")) is not int:
        raise HistoryError(where, line_no, f"{f} {typ}: value.key must be an integer")
    is_ok = typ is OpType.OK
    if f == "send":
        if type(value.get("value")) is not int:
            raise HistoryError(where, line_no, "send: value.value must be an integer")
        if is_ok and type(value.get("offset")) is not int:
            raise HistoryError(where, line_no, "send ok: value.offset must be an integer")
        return
    if f == "poll":
        if type(value.get("from")) is not int:
            raise HistoryError(where, line_no, "poll: value.from must be an integer")
        if not is_ok:
            return
        if type(value.get("hw")) is not int:
            raise HistoryError(where, line_no, "poll ok: value.hw must be an integer")
    elif f == "final-read":
        if type(value.get("complete", False)) is not bool:
            raise HistoryError(where, line_no, "final-read: value.complete must be true or false")
    else:
        _check_replica(f, value, where, line_no)
        if f == "replica-state":
            return
    if typ is OpType.INVOKE or typ is OpType.FAIL:
        return
    records = value.get("records")
    if f == "final-read" and typ is OpType.INFO and records is None:
        return  # a final read that gave up
    if type(records) is not list:
        raise HistoryError(where, line_no, f"{f} {typ}: value.records must be a list")
    try:
        for o, v in records:
            if type(o) is not int or type(v) is not int:
                raise TypeError
    except (TypeError, ValueError):
        bad = next(r for r in records if not _is_record(r))
        raise HistoryError(
            where, line_no, f"{f}: each record must be [offset, value], got {bad!r}"
        ) from None


def _is_record(rec: JSON) -> bool:
    return type(rec) is list and len(rec) == 2 and type(rec[0]) is int and type(rec[1]) is int


_ROLES: Final = ("leader", "follower", "offline")


def _check_replica(f: str, value: dict[str, JSON], where: str, line_no: int) -> None:
    """A replica-state sample or replica dump has the fields the checkers compare."""
    if not isinstance(value.get("node"), str):
        raise HistoryError(where, line_no, f"{f}: value.node must be a node name (a string)")
    names = ("hw", "leo", "epoch") if f == F.REPLICA_STATE else ("hw", "leo")
    for name in names:
        if type(value.get(name)) is not int:
            raise HistoryError(where, line_no, f"{f}: value.{name} must be an integer")
    if f == F.REPLICA_STATE and value.get("role") not in _ROLES:
        raise HistoryError(
            where,
            line_no,
            f"{f}: value.role must be one of {'/'.join(_ROLES)}, got {value.get('role')!r}",
        )


# --- Writing: appended and flushed as the run goes (reading: `harness.contract.reader`) --


@dataclass
class HistoryWriter:
    """Appends ops to ``history.jsonl``, flushing every line (thread-safe).

    The file is opened in append mode and every op is written as one ``write`` of a whole
    line then flushed to the OS, so a harness killed with SIGKILL leaves a readable prefix.
    It is fsynced every `fsync_every` ops and on close.
    """

    path: Path
    fsync_every: int = 1000
    _fh: IO[bytes] = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    _next: int = field(init=False, default=0)
    _t0: int = field(init=False, default_factory=time.monotonic_ns)

    def __post_init__(self) -> None:
        self._fh = open(self.path, "ab", buffering=0)  # noqa: SIM115 - closed in close()

    def now(self) -> int:
        """Nanoseconds since the run's start, on the history's clock."""
        return time.monotonic_ns() - self._t0

    def append(
        self,
        process: Process,
        type: OpType,
        f: str,
        value: JSON = None,
        node: str | None = None,
        error: str | None = None,
    ) -> Op:
        with self._lock:
            op = Op(self._next, self.now(), process, type, f, value, node, error)
            self._fh.write(op.dumps())
            self._next += 1
            if self._next % self.fsync_every == 0:
                os.fsync(self._fh.fileno())
            return op

    @property
    def count(self) -> int:
        return self._next

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                os.fsync(self._fh.fileno())
                self._fh.close()

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
