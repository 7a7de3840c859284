"""The glossary: every anomaly floodmark reports, by the name used everywhere.

These names are the keys of ``results.json["checkers"]``, the headings of the HTML
report and the JUnit test-case names (DESIGN.md §4). Nothing else in floodmark spells an
anomaly name as a bare string: import `Anomaly` from here.

Safety anomalies make a run *invalid*. `Anomaly.UNSEEN` is not a safety anomaly: an
acknowledged write that could not be looked for (the final read gave up) makes the
verdict *unknown*; so does `Anomaly.UNVERIFIED_FAULT`, a fault that could not be shown to
have taken effect (the run did not test what it claims to have tested). Availability
and latency are statistics (``results.json["stats"]``).
"""

from __future__ import annotations

import enum
from typing import Final


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

    @property
    def is_safety(self) -> bool:
        """Whether one occurrence makes the run invalid (`UNSEEN` and `UNVERIFIED_FAULT`
        only make it unknown)."""
        return self not in (Anomaly.UNSEEN, Anomaly.UNVERIFIED_FAULT)

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self]


DESCRIPTIONS: Final[dict[Anomaly, str]] = {
    Anomaly.LOST_WRITE: (
        "an ok (acknowledged) send of value v to key k, and a complete final read of k "
        "started after the acknowledgement does not contain v"
    ),
    Anomaly.LOST_READ: (
        "a value returned by an ok poll (so it was below the HW) is absent from a complete "
        "final read of its key; or offsets below an HW a poll already saw are missing from "
        "the final read"
    ),
    Anomaly.INCONSISTENT_OFFSETS: (
        "one offset of one key seen holding two different values across acks, polls, final "
        "reads and replica dumps (dump records only below that dump's HW)"
    ),
    Anomaly.DUPLICATE: (
        "one value seen at two offsets of one key in committed data (acks, polls, final "
        "reads, replica dumps below their HW)"
    ),
    Anomaly.REPLICA_DIVERGENCE: (
        "after recovery, two replica dumps of one key disagree at an offset below both of their HWs"
    ),
    Anomaly.HW_ABOVE_LEO: "a sampled or dumped replica whose HW exceeds its own LEO",
    Anomaly.EPOCH_SPLIT_BRAIN: (
        "two different nodes report themselves leader of one key in the same leader epoch"
    ),
    Anomaly.NONMONOTONIC_POLL: (
        "a poll returns a record before the offset it asked from, or its offsets go "
        "backwards or repeat"
    ),
    Anomaly.POLL_SKIP: (
        "a poll's records start after the offset it asked from, or jump over an offset "
        "(offsets are dense: no compaction, no transaction markers)"
    ),
    Anomaly.NONMONOTONIC_SEND: (
        "one process's successive acknowledged offsets on one key do not increase"
    ),
    Anomaly.UNSEEN: (
        "acknowledged, but no complete final read of its key was available to look for it "
        "(the verdict becomes unknown, not invalid)"
    ),
    Anomaly.UNVERIFIED_FAULT: (
        "a fault action whose effect could not be verified (a probe through a cut link "
        "still answered, a container did not freeze, a fault API call failed): the run did "
        "not test what its schedule says, so the verdict becomes unknown, not valid"
    ),
}
