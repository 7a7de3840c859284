"""The roles of floodmark, one small `typing.Protocol` each (STYLE.md habit 1).

- `Client`: one per logical client process; performs an operation and says what became
  of it (`ok`, `fail` = definitely did not happen, `info` = unknown), deciding that in
  ONE error table per system.
- `System`: a replicated log floodmark can run (replog, kafka): its images, how to lay
  out a cluster, how to get a client, how to look inside the replicas.
- `Fault`: one fault mechanism; its ops come from a `FaultPackage`'s generator.

Optional abilities get their own small protocols rather than more methods here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from harness.history import JSON, OpType


class Verdict(enum.StrEnum):
    """A run's or a checker's verdict; merge with `merge_verdicts` (invalid > unknown > valid)."""

    VALID = "valid"
    UNKNOWN = "unknown"
    INVALID = "invalid"

    def to_json(self) -> bool | str:
        """As in results.json: ``true``, ``false`` or ``"unknown"``."""
        return {Verdict.VALID: True, Verdict.INVALID: False}.get(self, "unknown")

    @classmethod
    def from_json(cls, v: object) -> Verdict:
        if v is True:
            return cls.VALID
        if v is False:
            return cls.INVALID
        return cls.UNKNOWN

    @property
    def exit_code(self) -> int:
        return {Verdict.VALID: 0, Verdict.INVALID: 1}.get(self, 2)


def merge_verdicts(verdicts: list[Verdict]) -> Verdict:
    """invalid beats unknown beats valid; no verdicts at all is valid."""
    if Verdict.INVALID in verdicts:
        return Verdict.INVALID
    if Verdict.UNKNOWN in verdicts:
        return Verdict.UNKNOWN
    return Verdict.VALID


@dataclass(frozen=True, slots=True)
class Completion:
    """What a client says became of an operation."""

    type: OpType
    value: JSON
    node: str | None = None
    error: str | None = None


@runtime_checkable
class Client(Protocol):
    """A client for one logical process. ``invoke`` never raises for a system error: it
    maps the error through the system's error table into a `Completion`."""

    def open(self) -> None: ...

    def invoke(self, f: str, value: JSON) -> Completion: ...

    def close(self) -> None: ...
