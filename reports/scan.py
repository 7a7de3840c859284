"""One streaming pass over ``history.jsonl`` that keeps what the report draws.

The report never holds the history in memory: `scan_history` reads it once with
`harness.contract.reader.iter_history` (validating, tolerating a torn last line), pairs
each client completion with its invoke through the checkers' own `checkers.paired` (so a
history the checkers call malformed is malformed here too), and keeps only what a report
draws and the checkers do not report (verdicts, counts and liveness come from
``results.json``):

- per client completion: its time, latency, type and operation (compact lists, turned
  into numpy arrays; the plots downsample them);
- the fault schedule: nemesis ``start-<fault>``/``stop-<fault>`` ops paired per fault
  package into `FaultPeriod` values (a start never stopped runs to the history's end),
  and every other nemesis op as an instantaneous event;
- the ``replica-state`` samples of every key and node (`ReplicaSeries`) and the leader
  changes they reveal (a new leader node or a new epoch);
- the ``replica-dump`` ops (HW, LEO, record count) and, for the (key, offset) windows the
  caller asks about (the HW-anomaly witnesses), the records inside those windows, and
  which values acks, polls and final reads observed at those offsets.

Times are converted to seconds since the run's start (the history's ``time`` is ns).
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from checkers import paired
from harness.contract.history import JSON, NEMESIS, F, Op, OpType, Phase, ReadStats
from harness.contract.reader import iter_history

NS: Final = 1e9
MAX_ERRORS: Final = 100
OTHER_ERRORS: Final = "(other errors)"


class Role(enum.IntEnum):
    """A replica's role in a ``replica-state`` sample."""

    OFFLINE = 0
    FOLLOWER = 1
    LEADER = 2

    @classmethod
    def parse(cls, v: object) -> Role:
        return {"leader": cls.LEADER, "follower": cls.FOLLOWER}.get(str(v), cls.OFFLINE)


TYPE_CODES: Final = {OpType.OK: 0, OpType.FAIL: 1, OpType.INFO: 2}
"""Completion type → small int, as stored in `Completions.type`."""


@dataclass(frozen=True, slots=True)
class FaultPeriod:
    """A fault from its ``start-<package>`` op to its ``stop-<package>`` op."""

    package: str
    start: float
    stop: float | None
    start_index: int
    stop_index: int | None
    start_value: JSON
    stop_value: JSON

    def end(self, horizon: float) -> float:
        return self.stop if self.stop is not None else horizon


@dataclass(frozen=True, slots=True)
class NemesisEvent:
    """A nemesis op that is neither a start nor a stop (e.g. a one-off action)."""

    index: int
    time: float
    f: str
    value: JSON
    error: str | None


@dataclass(slots=True)
class ReplicaSeries:
    """The ``replica-state`` samples of one replica (key, node), in time order."""

    key: int
    node: str
    time: list[float] = field(default_factory=list)
    leo: list[int] = field(default_factory=list)
    hw: list[int] = field(default_factory=list)
    epoch: list[int] = field(default_factory=list)
    role: list[Role] = field(default_factory=list)
    isr: list[tuple[str, ...]] = field(default_factory=list)

    def at_or_before(self, t: float) -> int | None:
        """Index of the last sample taken at or before ``t``."""
        i = int(np.searchsorted(np.asarray(self.time), t, side="right")) - 1
        return i if i >= 0 else None

    def before(self, t: float) -> int | None:
        """Index of the last sample taken strictly before ``t``."""
        i = int(np.searchsorted(np.asarray(self.time), t, side="left")) - 1
        return i if i >= 0 else None

    def after(self, t: float) -> int | None:
        """Index of the first sample taken after ``t``."""
        i = int(np.searchsorted(np.asarray(self.time), t, side="right"))
        return i if i < len(self.time) else None


@dataclass(frozen=True, slots=True)
class LeaderChange:
    key: int
    time: float
    node: str
    epoch: int


@dataclass(slots=True)
class ReplicaDump:
    """A replica dump after recovery; ``window`` holds only the records asked about."""

    key: int
    node: str
    time: float
    hw: int
    leo: int
    count: int
    window: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class Completions:
    """Client completions, one entry each (arrays built by `HistoryDigest.finish`)."""

    time: npt.NDArray[np.float64]
    latency: npt.NDArray[np.float64]
    type: npt.NDArray[np.int8]


@dataclass(slots=True)
class HistoryDigest:
    """What the report keeps of a history (see the module docstring)."""

    ops: int = 0
    duration: float = 0.0
    torn_last_line: bool = False
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    processes: int = 0
    completions: Completions | None = None
    faults: list[FaultPeriod] = field(default_factory=list)
    events: list[NemesisEvent] = field(default_factory=list)
    replicas: dict[tuple[int, str], ReplicaSeries] = field(default_factory=dict)
    leader_changes: dict[int, list[LeaderChange]] = field(default_factory=dict)
    dumps: dict[tuple[int, str], ReplicaDump] = field(default_factory=dict)
    observed: dict[tuple[int, int], dict[int, str]] = field(default_factory=dict)
    """(key, offset) → {value: where it was first seen} for the windows asked about."""
    errors: dict[tuple[str, str, str], int] = field(default_factory=dict)
    """(f, type, error) → count over client fail/info completions (at most MAX_ERRORS)."""

    @property
    def keys(self) -> list[int]:
        return sorted({k for k, _ in self.replicas})

    def nodes(self, key: int) -> list[str]:
        found = {n for k, n in self.replicas if k == key} | {n for k, n in self.dumps if k == key}
        return sorted(found)


@dataclass(slots=True)
class _Scanner:
    windows: Mapping[int, frozenset[int]]
    digest: HistoryDigest = field(default_factory=HistoryDigest)
    c_time: list[float] = field(default_factory=list)
    c_lat: list[float] = field(default_factory=list)
    c_type: list[int] = field(default_factory=list)
    open_faults: dict[str, list[Op]] = field(default_factory=lambda: defaultdict(list))
    leader: dict[int, tuple[str, int]] = field(default_factory=dict)
    procs: set[int] = field(default_factory=set)

    def feed(self, op: Op, invoke: Op | None) -> None:
        d = self.digest
        ck = (op.f, op.type.value)
        d.counts[ck] = d.counts.get(ck, 0) + 1
        t = op.time / NS
        if isinstance(op.process, int):
            self._client(op, invoke, t)
        elif op.process == NEMESIS:
            self._nemesis(op, t)
        elif op.f == F.REPLICA_STATE:
            self._state(op, t)
        elif op.f == F.REPLICA_DUMP:
            self._dump(op, t)

    def _client(self, op: Op, invoke: Op | None, t: float) -> None:
        if invoke is None:  # an invoke: its completion carries it
            self.procs.add(int(op.process))
            return
        if op.type is not OpType.OK:
            self._error(op)
        self.c_time.append(t)
        self.c_lat.append(t - invoke.time / NS)
        self.c_type.append(TYPE_CODES[op.type])
        if not self.windows or not isinstance(op.value, dict):
            return
        key = op.value.get("key")
        if type(key) is not int:
            return
        offsets = self.windows.get(key)
        if offsets is None or op.type is not OpType.OK:
            return
        if op.f == F.SEND:
            self._observe(key, op.value.get("offset"), op.value.get("value"), f"ack #{op.index}")
        elif op.f in (F.POLL, F.FINAL_READ):
            label = ("poll" if op.f == F.POLL else "final read") + f" #{op.index}"
            for rec in op.value.get("records") or ():
                if rec[0] in offsets:
                    self._observe(key, rec[0], rec[1], label)

    def _error(self, op: Op) -> None:
        errors = self.digest.errors
        ek = (op.f, op.type.value, op.error or "")
        if ek not in errors and len(errors) >= MAX_ERRORS:
            ek = (op.f, op.type.value, OTHER_ERRORS)
        errors[ek] = errors.get(ek, 0) + 1

    def _observe(self, key: int, offset: object, value: object, label: str) -> None:
        if type(offset) is int and type(value) is int and offset in self.windows[key]:
            seen = self.digest.observed.setdefault((key, offset), {})
            seen.setdefault(value, label)

    def _nemesis(self, op: Op, t: float) -> None:
        if op.type is OpType.INVOKE:
            return  # the completion that follows says what was actually done
        fault = op.fault
        if fault is not None and fault.phase is Phase.START:
            self.open_faults[fault.package].append(op)
        elif fault is not None and self.open_faults[fault.package]:
            first = self.open_faults[fault.package].pop(0)
            self.digest.faults.append(
                FaultPeriod(
                    fault.package, first.time / NS, t, first.index, op.index, first.value, op.value
                )
            )
        else:
            self.digest.events.append(NemesisEvent(op.index, t, op.f, op.value, op.error))

    def _state(self, op: Op, t: float) -> None:
        v = op.value
        if not isinstance(v, dict):
            return
        key, node = v.get("key"), str(v.get("node"))
        if type(key) is not int:
            return
        series = self.digest.replicas.get((key, node))
        if series is None:
            series = self.digest.replicas[(key, node)] = ReplicaSeries(key, node)
        role = Role.parse(v.get("role"))
        epoch = _int(v.get("epoch"))
        series.time.append(t)
        series.leo.append(_int(v.get("leo")))
        series.hw.append(_int(v.get("hw")))
        series.epoch.append(epoch)
        series.role.append(role)
        isr = v.get("isr")
        series.isr.append(tuple(str(n) for n in isr) if isinstance(isr, list) else ())
        if role is Role.LEADER and self.leader.get(key) != (node, epoch):
            self.leader[key] = (node, epoch)
            self.digest.leader_changes.setdefault(key, []).append(LeaderChange(key, t, node, epoch))

    def _dump(self, op: Op, t: float) -> None:
        v = op.value
        if not isinstance(v, dict) or type(v.get("key")) is not int:
            return
        key, node = v["key"], str(v.get("node"))
        records = v.get("records") or []
        dump = ReplicaDump(key, node, t, _int(v.get("hw")), _int(v.get("leo")), len(records))
        offsets = self.windows.get(key)
        if offsets:
            for off, val in records:
                if off in offsets:
                    dump.window[off] = val
                    self._observe(key, off, val, f"dump of {node}")
        self.digest.dumps[(key, node)] = dump

    def finish(self, stats: ReadStats, last_time: float) -> HistoryDigest:
        d = self.digest
        d.ops = stats.ops
        d.torn_last_line = stats.torn_last_line
        d.duration = last_time
        d.processes = len(self.procs)
        for package, starts in self.open_faults.items():
            for op in starts:
                d.faults.append(
                    FaultPeriod(package, op.time / NS, None, op.index, None, op.value, None)
                )
        d.faults.sort(key=lambda p: (p.start, p.start_index))
        d.completions = Completions(
            np.asarray(self.c_time, dtype=np.float64),
            np.asarray(self.c_lat, dtype=np.float64),
            np.asarray(self.c_type, dtype=np.int8),
        )
        return d


def scan_history(
    path: str | Path, windows: Mapping[int, Iterable[int]] | None = None
) -> HistoryDigest:
    """Read ``path`` once and keep what the report draws.

    ``windows`` maps a key to the offsets whose contents should be remembered (from
    dumps, acks, polls and final reads): the neighbourhoods of HW-anomaly witnesses.
    Raises `harness.contract.history.HistoryError` on a malformed line (not a torn last
    line) and on an op breaking the pairing rule of invokes and completions.
    """
    frozen = {k: frozenset(v) for k, v in (windows or {}).items()}
    scanner = _Scanner(frozen)
    stats = ReadStats()
    last = 0.0
    for op, invoke in paired(iter_history(path, stats), str(path)):
        scanner.feed(op, invoke)
        last = op.time / NS
    return scanner.finish(stats, last)


def _int(v: object) -> int:
    return v if type(v) is int else -1
