"""The glossary: every anomaly floodmark reports, by the name used everywhere.

For each anomaly, `GLOSSARY` says its kind, the checker that reports it (a key of
``checkers.registry.CHECKERS``; a unit test holds the two together), what one occurrence
makes that anomaly's result, and its meaning in one line. Nothing else in floodmark
spells an anomaly name as a bare string: import `Anomaly` from here.

Two kinds (`Kind`):

- **safety** anomalies are the keys of ``results.json["checkers"]`` (DESIGN.md §4), the
  rows of the HTML report and the JUnit test cases; the run's verdict merges them. A
  proven violation (``lost-write`` ...) makes the run *invalid*; ``unseen`` (an
  acknowledged write nobody could look for) and ``unverified-fault`` (a fault that could
  not be shown to have acted: the run did not test what it claims) only make it
  *unknown*.
- **liveness** anomalies (progress: a final read that never finished, a cluster that did
  not recover) are the keys of ``results.json["liveness"]["anomalies"]``. They never
  change the run's verdict, invalid or unknown; certification reads them to call a
  suite's liveness into question.

Example::

    >>> GLOSSARY[Anomaly.UNSEEN].kind, GLOSSARY[Anomaly.UNSEEN].found
    (<Kind.SAFETY: 'safety'>, <Verdict.UNKNOWN: 'unknown'>)
    >>> Anomaly.UNRECOVERED.kind
    <Kind.LIVENESS: 'liveness'>

Availability and latency are statistics (``results.json["stats"]``), not anomalies.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from harness.contract.verdict import Verdict


class Kind(enum.StrEnum):
    """Whether an anomaly is about what must never happen, or what should happen."""

    SAFETY = "safety"
    LIVENESS = "liveness"


class Anomaly(enum.StrEnum):
    LOST_WRITE = "lost-write"
    LOST_READ = "lost-read"
    INCONSISTENT_OFFSETS = "inconsistent-offsets"
    DUPLICATE = "duplicate"
    REPLICA_DIVERGENCE = "replica-divergence"
    HW_ABOVE_LEO = "hw-above-leo"
    EPOCH_SPLIT_BRAIN = "epoch-split-brain"
    NONMONOTONIC_POLL = "nonmonotonic-poll"
    POLL_SKIP = "poll-skip"
    NONMONOTONIC_SEND = "nonmonotonic-send"
    UNSEEN = "unseen"
    UNVERIFIED_FAULT = "unverified-fault"
    UNFINISHED_FINAL_READ = "unfinished-final-read"
    UNRECOVERED = "unrecovered"

    @property
    def kind(self) -> Kind:
        return GLOSSARY[self].kind

    @property
    def found(self) -> Verdict:
        """This anomaly's own result when it occurred at least once."""
        return GLOSSARY[self].found

    @property
    def checker(self) -> str:
        return GLOSSARY[self].checker

    @property
    def meaning(self) -> str:
        return GLOSSARY[self].meaning


@dataclass(frozen=True, slots=True)
class Entry:
    """What the glossary says about one anomaly."""

    kind: Kind
    checker: str
    """The name of the checker that reports it (``checkers.registry.CHECKERS``)."""
    meaning: str
    found: Verdict = Verdict.INVALID
    """The anomaly's result when it occurred: invalid (a proven violation) or unknown."""


def _safety(checker: str, meaning: str, found: Verdict = Verdict.INVALID) -> Entry:
    return Entry(Kind.SAFETY, checker, meaning, found)


def _liveness(meaning: str) -> Entry:
    return Entry(Kind.LIVENESS, "liveness", meaning, Verdict.UNKNOWN)


GLOSSARY: Final[dict[Anomaly, Entry]] = {
    Anomaly.LOST_WRITE: _safety(
        "loss",
        "an ok (acknowledged) send of value v to key k, and a complete final read of k "
        "started after the acknowledgement does not contain v",
    ),
    Anomaly.LOST_READ: _safety(
        "loss",
        "a value returned by an ok poll (so it was below the HW) is absent from a complete "
        "final read of its key; or offsets below an HW a poll already saw are missing from "
        "the final read",
    ),
    Anomaly.INCONSISTENT_OFFSETS: _safety(
        "offsets",
        "one offset of one key seen holding two different values across acks, polls, final "
        "reads and replica dumps (dump records only below that dump's HW)",
    ),
    Anomaly.DUPLICATE: _safety(
        "offsets",
        "one value seen at two offsets of one key in committed data (acks, polls, final "
        "reads, replica dumps below their HW)",
    ),
    Anomaly.REPLICA_DIVERGENCE: _safety(
        "replica-divergence",
        "after recovery, two replica dumps of one key disagree at an offset below both of "
        "their HWs",
    ),
    Anomaly.HW_ABOVE_LEO: _safety(
        "replica-state", "a sampled or dumped replica whose HW exceeds its own LEO"
    ),
    Anomaly.EPOCH_SPLIT_BRAIN: _safety(
        "replica-state",
        "two different nodes report themselves leader of one key in the same leader epoch",
    ),
    Anomaly.NONMONOTONIC_POLL: _safety(
        "poll-order",
        "a poll returns a record before the offset it asked from, or its offsets go "
        "backwards or repeat",
    ),
    Anomaly.POLL_SKIP: _safety(
        "poll-order",
        "a poll's records start after the offset it asked from, or jump over an offset "
        "(offsets are dense: no compaction, no transaction markers)",
    ),
    Anomaly.NONMONOTONIC_SEND: _safety(
        "send-order", "one process's successive acknowledged offsets on one key do not increase"
    ),
    Anomaly.UNSEEN: _safety(
        "loss",
        "acknowledged, or returned by an ok poll, but no complete final read of its key "
        "was available to look for it and no final read returned it (the verdict becomes "
        "unknown, not invalid)",
        Verdict.UNKNOWN,
    ),
    Anomaly.UNVERIFIED_FAULT: _safety(
        "faults",
        "a fault action whose effect could not be verified (a probe through a cut link "
        "still answered, a container did not freeze, a fault API call failed): the run did "
        "not test what its schedule says, so the verdict becomes unknown, not valid",
        Verdict.UNKNOWN,
    ),
    Anomaly.UNFINISHED_FINAL_READ: _liveness(
        "a key's final read ended fail or info, or never completed: after recovery the "
        "cluster did not serve a read of the whole key (a partial ok read is not this; "
        "what it could not show is unseen)"
    ),
    Anomaly.UNRECOVERED: _liveness(
        "after the last fault op (the final heal) the monitor sampled a key but never saw "
        "it with a leader whose ISR was full again (as large as the largest ISR the key had)"
    ),
}

SAFETY: Final = tuple(a for a in Anomaly if GLOSSARY[a].kind is Kind.SAFETY)
"""The anomalies of ``results.json["checkers"]``, in glossary order."""
LIVENESS: Final = tuple(a for a in Anomaly if GLOSSARY[a].kind is Kind.LIVENESS)
"""The anomalies of ``results.json["liveness"]["anomalies"]``, in glossary order."""
