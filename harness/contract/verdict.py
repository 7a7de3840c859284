"""Verdicts: what a checker, a run or a suite concluded.

``valid`` (nothing wrong was seen and something was checked), ``invalid`` (a safety
anomaly was proven) or ``unknown`` (something could not be decided). Merging takes the
worst: invalid > unknown > valid. As a process exit code: 0, 1, 2.
"""

from __future__ import annotations

import enum


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
