"""Reading a history file: streaming, validating, typed (DESIGN.md §3; the model is
`harness.contract.history`).

`iter_lines` (what the checkers read) decodes blocks of lines with msgspec straight into
typed `Line` s (`SendLine` with a `SendValue`, ...), so validating against the schema
costs no more than parsing; `iter_history` gives the same ops as `Op` s with plain-JSON
values (the reports); `read_history` holds them all in memory. A malformed line raises
`HistoryError` naming the line number and what was wrong (`parse_op` explains it); a
torn *last* line (no trailing newline and not parseable: the harness was killed
mid-write) is tolerated and reported through `ReadStats.torn_last_line`.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from operator import attrgetter, eq
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final, Literal, NoReturn

import msgspec
import numpy as np
import orjson

from harness.contract.history import (
    CHECKED_FS,
    JSON,
    HistoryError,
    Op,
    OpType,
    ReadStats,
    parse_op,
)

# The checkers read the history through `iter_lines`, which decodes blocks of lines with
# msgspec straight into the structs below: the schema checks of `parse_op` are the types
# of these fields and the ``__post_init__`` of the line classes (what only a completion
# has), so validating costs nothing beyond decoding. `parse_op` stays the one that
# *explains* a bad line: when a block does not decode, its lines are read again one by
# one through `parse_op`, whose message names the field.


class _V(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """Base of the typed values: immutable, untracked by the cyclic GC (no cycles)."""


_UNSET: Final = msgspec.UNSET
_Unset = msgspec.UnsetType
_OK, _INFO = OpType.OK, OpType.INFO


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
        return self.to_op().to_json()

    def to_op(self) -> Op:
        """The same op as an `Op` (its value as plain JSON)."""
        value = _plain(self.value)
        return Op(
            self.index, self.time, self.process, self.type, self.f, value, self.node, self.error
        )

    @classmethod
    def from_op(cls, op: Op, where: str = "<ops>") -> Line:
        """Validate an in-memory `Op` exactly as a history line (`HistoryError` if bad)."""
        # one newline: JSON strings hold theirs escaped
        return _decode_block(op.dumps(), where, op.index + 1, op.index, newlines=1)[0]


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
    value: SendValue

    def __post_init__(self) -> None:
        if self.type is _OK and self.value.offset is _UNSET:
            raise ValueError("an ok send without its offset")


class PollLine(Line, tag_field="f", tag="poll"):
    value: PollValue

    def __post_init__(self) -> None:
        if self.type is _OK and (self.value.records is _UNSET or self.value.hw is _UNSET):
            raise ValueError("an ok poll without its records or hw")


class _Read(Line):
    """A read of a whole log: a line of a type in ``finished`` holds its ``records``."""

    finished: ClassVar[frozenset[OpType]] = frozenset({OpType.OK})

    def __post_init__(self) -> None:
        if self.value.records is _UNSET and self.type in self.finished:
            raise ValueError(f"a finished {self.f} without its records")


class FinalReadLine(_Read, tag_field="f", tag="final-read"):
    value: FinalReadValue


class ReplicaStateLine(Line, tag_field="f", tag="replica-state"):
    value: ReplicaState


class ReplicaDumpLine(_Read, tag_field="f", tag="replica-dump"):
    """A dump's ``info`` completion holds its records too."""

    finished: ClassVar[frozenset[OpType]] = frozenset({OpType.OK, OpType.INFO})
    value: ReplicaDump


for _typed in (SendLine, PollLine, FinalReadLine, ReplicaStateLine, ReplicaDumpLine):
    _typed.f = str(_typed.__struct_config__.tag)  # each f spelled once: its tag


class OtherLine(Line, kw_only=True):
    """An op whose ``f`` the schema does not type (a fault's ``start-partition`` ...)."""

    f: Annotated[str, msgspec.Meta(min_length=1)]  # type: ignore[misc]
    value: Any = None


_TYPED: Final = msgspec.json.Decoder(
    SendLine | PollLine | FinalReadLine | ReplicaStateLine | ReplicaDumpLine
)
_OTHER: Final = msgspec.json.Decoder(OtherLine)
_BLOCK: Final = 1 << 15
"""Bytes read and decoded at a time (whole lines; a longer line is read whole). Small, so
that the lines of a block are still in the CPU's cache while the checkers fold them:
blocks of 1 MiB made `floodmark check` about a tenth slower (bench/check_bench.py)."""
_ODD: Final = b'"nemesis"'
"""A block the typed decoder refuses is cut at the lines holding this (fault ops, whose
``f`` the schema does not type), which are decoded apart from the typed runs around them."""
_NEWLINE: Final = ord("\n")


def _newlines(block: bytes) -> int:
    """``block.count(b"\\n")``, counted by numpy in a third of the time (every byte of the
    history passes here)."""
    return int(np.count_nonzero(np.frombuffer(block, dtype=np.uint8) == _NEWLINE))


def _decode_block(
    block: bytes, where: str, first_line: int, first_index: int, newlines: int | None = None
) -> list[Line]:
    """Decode whole lines (each newline-terminated but perhaps the last; ``newlines`` is
    `_newlines` of the block when the caller has it); the ops must be numbered from
    ``first_index``. Raises `HistoryError` naming the first bad line.

    The fast way decodes the block in one call; a block holding lines of another ``f`` (the
    typed decoder refuses it) is decoded in runs of typed lines, one call each, and those
    lines apart; anything that still fails is decoded again one line at a time, and a bad
    line is explained by `parse_op`."""
    try:
        try:
            lines: list[Line] = _TYPED.decode_lines(block)
        except msgspec.ValidationError:
            lines = _decode_runs(block)
        _vet(lines, block, _newlines(block) if newlines is None else newlines, first_index)
        return lines
    except (msgspec.MsgspecError, ValueError):
        pass
    lines = []
    for n, text in enumerate(block.splitlines(keepends=True)):
        try:
            line = _one(text)
            _vet([line], text, text.count(b"\n"), first_index + n)
        except (msgspec.MsgspecError, ValueError) as e:
            _explain(text, where, first_line + n, first_index + n, e)
        lines.append(line)
    return lines


def _decode_runs(block: bytes) -> list[Line]:
    """The lines of a block, the runs between lines holding `_ODD` decoded one call each."""
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
    return lines


def _one(text: bytes) -> Line:
    """One line: typed when its ``f`` is, else an `OtherLine`."""
    try:
        typed: Line = _TYPED.decode(text)
        return typed
    except msgspec.ValidationError:
        line = _OTHER.decode(text)
        if line.f in CHECKED_FS:
            raise
        return line


def _vet(lines: list[Line], block: bytes, newlines: int, first_index: int) -> None:
    """What the decoder cannot say (it checks the types and, in the lines'
    ``__post_init__``, the fields only a completion has): the ops are numbered in sequence
    and no line is blank. Raises ValueError."""
    if len(lines) != newlines + (not block.endswith(b"\n")):
        raise ValueError("a blank line")  # decode_lines skips them; the schema does not
    if not all(map(eq, map(_INDEX, lines), count(first_index))):  # compared in C
        raise ValueError("index out of sequence")


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
            newlines = _newlines(block)
            lines = _decode_block(block, where, line_no, line_no - 1, newlines)
            line_no += newlines
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
