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

Reading is streaming and validating. `iter_lines` (what the checkers read) decodes blocks
of lines with msgspec straight into typed `Line` s (`SendLine` with a `SendValue`, ...),
so validating against the schema costs no more than parsing; `iter_history` gives the
same ops as `Op` s with plain-JSON values (the reports). A malformed line raises
`HistoryError` naming the line number and what was wrong (`parse_op` explains it); a
torn *last* line (no trailing newline and not parseable: the harness was killed
mid-write) is tolerated and reported through `ReadStats.torn_last_line`.
"""

from __future__ import annotations

import enum
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import IO, Annotated, Any, ClassVar, Final, Literal, NoReturn

import msgspec
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
    if f in _CHECKED_FS:
        _check_value(f, op_type, value, where, line_no)
    return Op(index, t, process, op_type, f, value, node, error)


_SPECIAL_PROCESSES: Final = frozenset({NEMESIS, MONITOR})
_CHECKED_FS: Final = frozenset(str(f.value) for f in F)
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


# --- The typed schema: what the checkers read, decoded and validated in one pass ---------
#
# The checkers read the history through `iter_lines`, which decodes blocks of lines with
# msgspec straight into the structs below: the schema checks of `parse_op` are the types
# of these fields, so validating costs nothing beyond decoding. `parse_op` stays the one
# that *explains* a bad line: when a block does not decode, its lines are read again one
# by one through `parse_op`, whose message names the field.


class _V(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """Base of the typed values: immutable, untracked by the cyclic GC (no cycles)."""


_UNSET: Final = msgspec.UNSET
_Unset = msgspec.UnsetType


class SendValue(_V, frozen=True):
    """``{"key": k, "value": v}``; an ``ok`` send also has its ``"offset": o``."""

    key: int
    value: int
    offset: int | _Unset = _UNSET


class PollValue(_V, rename={"start": "from"}, frozen=True):
    """``{"key": k, "from": o}``; an ``ok`` poll also ``"records": [[offset, value], ...]``
    and ``"hw": h``."""

    key: int
    start: int
    records: list[tuple[int, int]] | _Unset = _UNSET
    hw: int | _Unset = _UNSET


class FinalReadValue(_V, frozen=True):
    """``{"key": k}``; an ``ok`` one also ``records`` (and ``hw``, ``complete``: complete
    only when true); an ``info`` may carry what it read before it gave up."""

    key: int
    records: list[tuple[int, int]] | _Unset = _UNSET
    hw: int | _Unset = _UNSET
    complete: bool | _Unset = _UNSET


class ReplicaState(_V, frozen=True):
    """A monitor sample of one replica."""

    key: int
    node: str
    role: Literal["leader", "follower", "offline"]
    leo: int
    hw: int
    epoch: int
    isr: Any = _UNSET


class ReplicaDump(_V, frozen=True):
    """A replica's whole log after recovery (``records`` only on its completion)."""

    key: int
    node: str
    hw: int
    leo: int
    records: list[tuple[int, int]] | _Unset = _UNSET


class Line(msgspec.Struct, gc=False):
    """One op of the history as the checkers read it: `Op`'s fields, with ``value`` typed
    for the operations of `F` (`SendValue`, `PollValue`, ...; one class of line per
    ``f``, `OtherLine` for any other ``f``, whose value is plain JSON).

    Only `iter_lines` makes lines (`from_op` for an `Op` in memory). `to_json` gives the op
    as the history spells it: the fields of the schema, in its order (fields the schema
    does not define are not kept)."""

    f: ClassVar[str] = ""
    index: int
    time: int
    process: int | Literal["nemesis", "monitor"]
    type: OpType
    value: Any = None
    node: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, JSON]:
        d: dict[str, JSON] = {
            "index": self.index,
            "time": self.time,
            "process": self.process,
            "type": self.type.value,
            "f": self.f,
            "value": _plain(self.value),
        }
        if self.node is not None:
            d["node"] = self.node
        if self.error is not None:
            d["error"] = self.error
        return d

    def to_op(self) -> Op:
        """The same op as an `Op` (its value as plain JSON)."""
        value = _plain(self.value)
        return Op(
            self.index, self.time, self.process, self.type, self.f, value, self.node, self.error
        )

    @classmethod
    def from_op(cls, op: Op, where: str = "<ops>") -> Line:
        """Validate an in-memory `Op` exactly as a history line (`HistoryError` if bad)."""
        return _decode_block(op.dumps(), where, op.index + 1, op.index)[0]


def _plain(value: Any) -> JSON:
    """A value as plain JSON: typed values as objects, their records as [offset, value]
    lists (msgspec keeps the tuples they are decoded as)."""
    plain = msgspec.to_builtins(value)
    if type(plain) is dict:
        records = plain.get("records")
        if type(records) is list:
            plain["records"] = [list(r) for r in records]
    return plain


class SendLine(Line, tag_field="f", tag="send"):
    f: ClassVar[str] = "send"
    value: SendValue


class PollLine(Line, tag_field="f", tag="poll"):
    f: ClassVar[str] = "poll"
    value: PollValue


class FinalReadLine(Line, tag_field="f", tag="final-read"):
    f: ClassVar[str] = "final-read"
    value: FinalReadValue


class ReplicaStateLine(Line, tag_field="f", tag="replica-state"):
    f: ClassVar[str] = "replica-state"
    value: ReplicaState


class ReplicaDumpLine(Line, tag_field="f", tag="replica-dump"):
    f: ClassVar[str] = "replica-dump"
    value: ReplicaDump


class OtherLine(Line, kw_only=True):
    """An op whose ``f`` the schema does not type (a fault's ``start-partition`` ...)."""

    f: Annotated[str, msgspec.Meta(min_length=1)]  # type: ignore[misc]
    value: Any = None


_TYPED: Final = msgspec.json.Decoder(
    SendLine | PollLine | FinalReadLine | ReplicaStateLine | ReplicaDumpLine
)
_OTHER: Final = msgspec.json.Decoder(OtherLine)
_BLOCK: Final = 1 << 20
"""Bytes read and decoded at a time (whole lines; a longer line is read whole)."""
_ODD: Final = b'"nemesis"'
"""Lines holding this (fault ops, whose ``f`` the schema does not type) are decoded apart
from the typed ones around them, so that a block of lines decodes in one call."""
_OK, _INFO = OpType.OK, OpType.INFO


def _decode_block(block: bytes, where: str, first_line: int, first_index: int) -> list[Line]:
    """Decode whole lines (each newline-terminated but perhaps the last); the ops must be
    numbered from ``first_index``. Raises `HistoryError` naming the first bad line.

    The fast way decodes runs of typed lines with one call each; anything it does not
    accept (a line of another ``f``, a bad line) is decoded again one line at a time, and a
    bad line is explained by `parse_op`."""
    try:
        lines: list[Line] = []
        start = 0
        odd = block.find(_ODD)
        while odd >= 0:
            head = block.rfind(b"\n", 0, odd) + 1
            tail = block.find(b"\n", odd)
            tail = len(block) if tail < 0 else tail + 1
            if head > start:
                lines += _TYPED.decode_lines(block[start:head])
            lines.append(_one(block[head:tail]))
            start = tail
            odd = block.find(_ODD, start)
        if start < len(block):
            lines += _TYPED.decode_lines(block[start:])
        _vet(lines, block, first_index)
        return lines
    except (msgspec.MsgspecError, ValueError):
        pass
    lines = []
    for n, text in enumerate(block.splitlines(keepends=True)):
        try:
            line = _one(text)
            _vet([line], text, first_index + n)
        except (msgspec.MsgspecError, ValueError) as e:
            _explain(text, where, first_line + n, first_index + n, e)
        lines.append(line)
    return lines


def _one(text: bytes) -> Line:
    """One line: typed when its ``f`` is, else an `OtherLine`."""
    try:
        typed: Line = _TYPED.decode(text)
        return typed
    except msgspec.ValidationError:
        line = _OTHER.decode(text)
        if line.f in _CHECKED_FS:
            raise
        return line


def _vet(lines: list[Line], block: bytes, first_index: int) -> None:
    """What the types cannot say: ops numbered in sequence, no blank line, and the fields
    of a completion that only it has (an ok send's offset, an ok poll's records and hw,
    an ok final read's records, a finished dump's records). Raises ValueError."""
    n = len(lines)
    if n != block.count(b"\n") + (not block.endswith(b"\n")):
        raise ValueError("a blank line")  # decode_lines skips them; the schema does not
    if list(map(_INDEX, lines)) != list(range(first_index, first_index + n)):
        raise ValueError("index out of sequence")
    for ln in lines:
        t = ln.type
        if t is _OK:
            cls = type(ln)
            v = ln.value
            if cls is SendLine:
                if v.offset is _UNSET:
                    raise ValueError("send ok without offset")
            elif cls is PollLine:
                if v.records is _UNSET or v.hw is _UNSET:
                    raise ValueError("poll ok without records or hw")
            elif (cls is FinalReadLine or cls is ReplicaDumpLine) and v.records is _UNSET:
                raise ValueError("ok without records")
        elif t is _INFO and type(ln) is ReplicaDumpLine and ln.value.records is _UNSET:
            raise ValueError("dump without records")


_INDEX: Final = attrgetter("index")


def _explain(text: bytes, where: str, line_no: int, index: int, e: Exception) -> NoReturn:
    """Raise the `HistoryError` that explains a line the fast way refused."""
    op = _decode(text, where, line_no, index)  # the dict-based checks explain
    # parse_op accepted what the typed schema refuses (e.g. an integer beyond 64 bits)
    raise HistoryError(where, line_no, f"{op.f} {op.type}: {e}") from None


def iter_lines(path: str | Path, stats: ReadStats | None = None) -> Iterator[list[Line]]:
    """Stream a history file as batches of validated `Line` s, in order.

    Raises `HistoryError` on a malformed line anywhere but a torn last line (no trailing
    newline and not parseable: the harness was killed mid-write), which is skipped and
    recorded in ``stats``."""
    where = str(path)
    st = stats if stats is not None else ReadStats()
    line_no = 1  # of the first line not yet decoded
    with open(path, "rb") as fh:
        rest = b""
        held: list[bytes] = []  # the pieces of one line longer than a block
        while True:
            chunk = fh.read(_BLOCK)
            if not chunk:
                break
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:
                held.append(chunk)
                continue
            block = b"".join((rest, *held, chunk[:cut])) if rest or held else chunk[:cut]
            rest, held = chunk[cut:], []
            lines = _decode_block(block, where, line_no, line_no - 1)
            line_no += block.count(b"\n")
            st.lines = st.ops = line_no - 1
            yield lines
        rest = b"".join((rest, *held))
        if rest:
            st.lines = line_no
            try:
                lines = _decode_block(rest, where, line_no, line_no - 1)
            except HistoryError:
                st.torn_last_line = True
                st.torn_text = rest[:200].decode("utf-8", "replace")
                return
            st.ops = line_no
            yield lines


def iter_history(path: str | Path, stats: ReadStats | None = None) -> Iterator[Op]:
    """Stream the ops of a history file as `Op` s, validating each line (`iter_lines`).

    Raises `HistoryError` on a malformed line anywhere but a torn last line, which is
    skipped and recorded in ``stats``.
    """
    for lines in iter_lines(path, stats):
        for ln in lines:
            yield ln.to_op()


def _decode(line: bytes, where: str, line_no: int, expected_index: int) -> Op:
    try:
        raw = orjson.loads(line)  # surrounding whitespace, the newline included, is fine
    except orjson.JSONDecodeError as e:
        if not line.strip():
            raise HistoryError(where, line_no, "empty line") from None
        raise HistoryError(where, line_no, f"not valid JSON ({e})") from None
    if type(raw) is not dict:
        raise HistoryError(where, line_no, f"expected a JSON object, got {type(raw).__name__}")
    op = parse_op(raw, where, line_no)
    if op.index != expected_index:
        raise HistoryError(
            where, line_no, f"'index' is {op.index} but this is op number {expected_index}"
        )
    return op


def read_history(path: str | Path) -> tuple[list[Op], ReadStats]:
    """The whole history in memory (for small histories and tests)."""
    stats = ReadStats()
    ops = list(iter_history(path, stats))
    return ops, stats


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
