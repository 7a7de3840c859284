"""KIP-101-style diagrams: each replica's log around the offset of an HW anomaly.

KIP-101 explains lost and divergent writes with small pictures: one row per replica, one
box per offset, the HW and LEO marked, before and after the restart or leader change that
truncated a log. `build_diagram` draws the same picture for a witness (key ``k``, offset
``o``) from what the history holds:

- **when written**: the time offset ``o`` first existed (its ack, else the first
  ``replica-state`` sample with ``leo > o``, else the witness's earliest op);
- **the fault**: the first fault period starting at or after that time, else the last
  one before it (the nearest fault in time — a heuristic, and the diagram says so; the
  anomaly section lists every fault the witness lived through, `reports.overlap`);
- panels: *before the fault* (each replica's last sample at or before the fault's start),
  *after the fault* (each replica's first sample after its stop), and *after recovery*
  (the replica dumps, which hold the actual records).

Samples carry HW, LEO, epoch and role but not log contents, so in the first two panels
a box shows the value that acks, polls, final reads or dumps observed at that offset
(two values mean the offset was seen holding both: an inconsistency). The dump panel
shows each replica's own record, flagged where replicas disagree.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from harness.contract.glossary import Anomaly
from harness.contract.results import Witness
from reports.scan import NS, FaultPeriod, HistoryDigest, ReplicaDump, ReplicaSeries, Role

DIAGRAMMED: Final = frozenset(
    {
        Anomaly.REPLICA_DIVERGENCE,
        Anomaly.LOST_WRITE,
        Anomaly.INCONSISTENT_OFFSETS,
        Anomaly.LOST_READ,
    }
)
"""The anomalies about one offset of the replicas' logs: their witnesses get a diagram."""

HALF_WIDTH: Final = 3
"""Offsets shown on each side of the offset in question."""


class CellState(enum.StrEnum):
    COMMITTED = "committed"  # below the replica's HW
    UNCOMMITTED = "uncommitted"  # between HW and LEO
    ABSENT = "absent"  # at or past the LEO
    UNKNOWN = "unknown"  # no sample for this replica


@dataclass(frozen=True, slots=True)
class Cell:
    offset: int
    state: CellState
    text: str
    title: str
    focus: bool
    marks: tuple[str, ...]
    conflict: bool


@dataclass(frozen=True, slots=True)
class ReplicaRow:
    node: str
    role: str
    epoch: int | None
    hw: int | None
    leo: int | None
    when: float | None
    cells: tuple[Cell, ...]


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    rows: tuple[ReplicaRow, ...]
    note: str


@dataclass(frozen=True, slots=True)
class Diagram:
    key: int
    offset: int
    offsets: tuple[int, ...]
    written_at: float | None
    written_how: str
    fault: FaultPeriod | None
    fault_how: str
    panels: tuple[Panel, ...]


def witness_windows(witnesses: list[Witness]) -> dict[int, set[int]]:
    """The offsets each key's diagrams need (for `reports.scan.scan_history`)."""
    out: dict[int, set[int]] = {}
    for w in witnesses:
        if w.key is not None and w.offset is not None:
            lo = max(0, w.offset - HALF_WIDTH)
            out.setdefault(w.key, set()).update(range(lo, w.offset + HALF_WIDTH + 2))
    return out


def build_diagram(d: HistoryDigest, w: Witness) -> Diagram | None:
    """The diagram for one witness, or None if it names no key and offset."""
    if w.key is None or w.offset is None:
        return None
    key, offset = w.key, w.offset
    series = {n: s for (k, n), s in d.replicas.items() if k == key}
    dumps = {n: x for (k, n), x in d.dumps.items() if k == key}
    nodes = sorted(set(series) | set(dumps))
    lo = max(0, offset - HALF_WIDTH)
    hi = min(offset + HALF_WIDTH, max(offset, _max_leo(series, dumps, offset)))
    offsets = tuple(range(lo, hi + 1))
    written_at, written_how = _written(w, series, offset)
    fault, fault_how = _fault(d.faults, written_at)
    panels: list[Panel] = []
    observed = {o: d.observed.get((key, o), {}) for o in offsets}
    if fault is not None:
        panels.append(
            _state_panel(
                f"before {fault.package} (started {fault.start:.3f} s)",
                nodes,
                series,
                offsets,
                offset,
                observed,
                at=fault.start,
                after=False,
            )
        )
        if fault.stop is not None:
            panels.append(
                _state_panel(
                    f"after {fault.package} (stopped {fault.stop:.3f} s)",
                    nodes,
                    series,
                    offsets,
                    offset,
                    observed,
                    at=fault.stop,
                    after=True,
                )
            )
    elif written_at is not None:
        panels.append(
            _state_panel(
                f"when offset {offset} was written ({written_at:.3f} s)",
                nodes,
                series,
                offsets,
                offset,
                observed,
                at=written_at,
                after=False,
            )
        )
    if dumps:
        panels.append(_dump_panel(nodes, series, dumps, offsets, offset))
    else:
        panels.append(Panel("after recovery", (), "no replica dumps in the history"))
    return Diagram(key, offset, offsets, written_at, written_how, fault, fault_how, tuple(panels))


def _max_leo(series: Mapping[str, ReplicaSeries], dumps: Mapping[str, ReplicaDump], o: int) -> int:
    """The largest LEO any replica reported (so the LEO box is drawn when it is near)."""
    leos = [max(s.leo, default=0) for s in series.values()] + [x.leo for x in dumps.values()]
    return max(leos, default=o + 1)


def _written(
    w: Witness, series: Mapping[str, ReplicaSeries], offset: int
) -> tuple[float | None, str]:
    for op in w.ops:
        value = op.get("value")
        if (
            op.get("f") == "send"
            and op.get("type") == "ok"
            and isinstance(value, Mapping)
            and value.get("offset") == offset
            and type(op.get("time")) is int
        ):
            return int(op["time"]) / NS, f"acked by op #{op.get('index')}"
    first: float | None = None
    for s in series.values():
        for t, leo in zip(s.time, s.leo, strict=True):
            if leo > offset:
                first = t if first is None else min(first, t)
                break
    if first is not None:
        return first, "first replica-state sample holding it"
    times = [int(op["time"]) / NS for op in w.ops if type(op.get("time")) is int]
    if times:
        return min(times), "earliest witness op"
    return None, "unknown"


def _fault(faults: list[FaultPeriod], t: float | None) -> tuple[FaultPeriod | None, str]:
    if not faults:
        return None, "no fault in the history"
    if t is None:
        return faults[0], "first fault (time of the write unknown)"
    for p in faults:
        if p.start >= t:
            return p, "first fault started after the write (nearest in time)"
    return faults[-1], "last fault started before the write (nearest in time)"


def _state_panel(
    title: str,
    nodes: list[str],
    series: Mapping[str, ReplicaSeries],
    offsets: tuple[int, ...],
    focus: int,
    observed: Mapping[int, Mapping[int, str]],
    *,
    at: float,
    after: bool,
) -> Panel:
    rows = []
    for node in nodes:
        s = series.get(node)
        i = None if s is None else (s.after(at) if after else s.before(at))
        if s is None or i is None:
            rows.append(
                _unknown_row(node, "no sample", None, offsets, focus, "no replica-state sample")
            )
            continue
        hw, leo, role = s.hw[i], s.leo[i], s.role[i]
        cells = []
        for o in offsets:
            seen = observed.get(o, {})
            text = "/".join(str(v) for v in seen) if seen else "·"
            tip = "; ".join(f"{v} ({src})" for v, src in seen.items()) or "value not observed"
            present = o < leo
            cells.append(
                Cell(
                    o,
                    _state(o, hw, leo),
                    text if present else "",
                    tip,
                    o == focus,
                    _marks(o, hw, leo),
                    present and len(seen) > 1,
                )
            )
        rows.append(ReplicaRow(node, _role(role), s.epoch[i], hw, leo, s.time[i], tuple(cells)))
    note = "values are those observed at each offset (acks, polls, final reads, dumps)"
    return Panel(title, tuple(rows), note)


def _dump_panel(
    nodes: list[str],
    series: Mapping[str, ReplicaSeries],
    dumps: Mapping[str, ReplicaDump],
    offsets: tuple[int, ...],
    focus: int,
) -> Panel:
    by_offset: dict[int, set[int]] = {}
    for each in dumps.values():
        for o, v in each.window.items():
            if o < each.hw:
                by_offset.setdefault(o, set()).add(v)
    rows = []
    for node in nodes:
        x = dumps.get(node)
        s = series.get(node)
        epoch = s.epoch[-1] if s is not None and s.epoch else None
        role = _role(s.role[-1]) if s is not None and s.role else "?"
        if x is None:
            rows.append(_unknown_row(node, role, epoch, offsets, focus, "no dump of this replica"))
            continue
        cells = []
        for o in offsets:
            rec = x.window.get(o)
            conflict = rec is not None and o < x.hw and len(by_offset.get(o, ())) > 1
            title = f"record {rec} at offset {o}" if rec is not None else "no record"
            cells.append(
                Cell(
                    o,
                    _state(o, x.hw, x.leo),
                    "" if rec is None else str(rec),
                    title,
                    o == focus,
                    _marks(o, x.hw, x.leo),
                    conflict,
                )
            )
        rows.append(ReplicaRow(node, role, epoch, x.hw, x.leo, x.time, tuple(cells)))
    return Panel(
        "after recovery (replica dumps)",
        tuple(rows),
        "each replica's own records; red = replicas disagree below both HWs",
    )


def _unknown_row(
    node: str, role: str, epoch: int | None, offsets: tuple[int, ...], focus: int, why: str
) -> ReplicaRow:
    """A replica with nothing to show: every box ``?``, titled ``why``."""
    cells = tuple(Cell(o, CellState.UNKNOWN, "?", why, o == focus, (), False) for o in offsets)
    return ReplicaRow(node, role, epoch, None, None, None, cells)


def _state(o: int, hw: int, leo: int) -> CellState:
    if leo < 0:
        return CellState.UNKNOWN
    if o < hw:
        return CellState.COMMITTED
    return CellState.UNCOMMITTED if o < leo else CellState.ABSENT


def _marks(o: int, hw: int, leo: int) -> tuple[str, ...]:
    return tuple(m for m, at in (("HW", hw), ("LEO", leo)) if at == o)


def _role(r: Role) -> str:
    return {Role.LEADER: "leader", Role.FOLLOWER: "follower"}.get(r, "offline")
