"""A run's executed fault schedule as a value and a file: what ``--replay`` reruns and what
``floodmark shrink`` cuts down (`harness.shrink`), and its fault periods.

The nemesis records, in the value of every fault op it executes, the op as it was
scheduled: ``"at"`` (seconds after the load started) and ``"requested"`` (the value the
schedule gave the fault, before the fault resolved it; a trigger's op carries its
``"trigger"`` too)::

    {"process":"nemesis","type":"info","f":"start-kill",
     "value":{"target":"leader","key":1,"killed":["n2"],"at":12.402,
              "requested":{"target":"leader","key":1}}}

`recorded` reads those ops back out of a history into a `Schedule`: the ops in time
order, without the final heal ops (every run ends with its packages' heals anyway), with
the load's time limit, keys and concurrency of the run. Replaying it means executing
exactly these ops at these times instead of drawing a schedule, so "the leader of key 1"
is looked up again when the op runs, as it was the first time.

A schedule file is JSON (`Schedule.dump` / `load_schedule`)::

    {"floodmark_schedule": 1, "time_limit": 30.0, "keys": 3, "concurrency": 10,
     "ops": [{"at": 12.402, "f": "start-kill", "value": {"target": "leader", "key": 1}},
             {"at": 19.0, "f": "stop-kill", "value": {}}]}
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from harness.contract import layout
from harness.contract.history import JSON, NEMESIS, FaultF, HistoryError, Op, Phase
from harness.contract.reader import iter_history
from harness.contract.roles import FaultOp

SCHEDULE_FORMAT: Final = 1
"""The ``floodmark_schedule`` version a schedule file is written in."""


class ScheduleError(ValueError):
    """A schedule file or a history that holds no replayable schedule (exit 2)."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """The fault ops of one run, in time order, and the size of the load they ran against."""

    ops: tuple[FaultOp, ...]
    time_limit: float
    keys: int
    concurrency: int
    config: Mapping[str, JSON] | None = None
    """The config of the run it came from (test.json's ``config``), when known: a schedule
    file that carries it reproduces the run by itself."""

    def to_json(self) -> dict[str, JSON]:
        ops: list[JSON] = []
        for op in self.ops:
            one: dict[str, JSON] = {"at": op.at, "f": op.f, "value": op.value}
            if op.trigger is not None:
                one["trigger"] = op.trigger
            ops.append(one)
        out: dict[str, JSON] = {
            "floodmark_schedule": SCHEDULE_FORMAT,
            "time_limit": self.time_limit,
            "keys": self.keys,
            "concurrency": self.concurrency,
            "ops": ops,
        }
        if self.config is not None:
            out["config"] = dict(self.config)
        return out

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1) + "\n")


def recorded(history: Iterable[Op], time_limit: float, keys: int, concurrency: int) -> Schedule:
    """The schedule a run of that load size executed, from its history (`ScheduleError`
    when a fault op lacks what replay needs: a history written before schedules were
    recorded)."""
    ops: list[FaultOp] = []
    for op in history:
        if op.process != NEMESIS:
            continue
        fault = FaultF.parse(op.f)
        value = op.value
        if fault is None or not isinstance(value, dict):
            continue
        at, requested = value.get("at"), value.get("requested", _MISSING)
        if not isinstance(at, int | float) or isinstance(at, bool) or requested is _MISSING:
            raise ScheduleError(
                f"nemesis op {op.index} ({op.f}) does not record when it was scheduled "
                "and what it was asked to do (its value has no 'at' and 'requested'); "
                "this history predates replayable schedules: rerun it with this floodmark"
            )
        if fault.phase is Phase.STOP and heals_everything(requested):
            continue
        trigger = value.get("trigger")
        ops.append(FaultOp(float(at), fault.phase, fault.package, requested, trigger))
    ops.sort(key=lambda o: o.at)
    return Schedule(tuple(ops), time_limit, keys, concurrency)


_MISSING: Final = object()


HEAL_ALL: Final[Mapping[str, JSON]] = {"heal": "all"}
"""The value of a package's final stop (`faults.schedule.heal_all`): it heals whatever
the schedule (or an interrupted run) left, and every run ends with it anyway."""


def heals_everything(value: JSON) -> bool:
    """Is this a stop op's value a final heal (`HEAL_ALL`)?"""
    return isinstance(value, dict) and value.get("heal") == HEAL_ALL["heal"]


def load_schedule(path: str | Path, packages: Iterable[str]) -> Schedule:
    """A schedule file, or the schedule a run directory's history recorded (its load
    size and config from its test.json), checked: the file's version and fields, every
    op's package known (``packages``) and within the time limit. `ScheduleError` says
    what is wrong."""
    p = Path(path)
    if p.is_dir():
        return _from_run(p, frozenset(packages))
    try:
        raw = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise ScheduleError(f"cannot read the schedule file {p}: {e}") from None
    except json.JSONDecodeError as e:
        raise ScheduleError(f"the schedule file {p} is not JSON: {e}") from None
    return parse_schedule(raw, str(p), frozenset(packages))


def _from_run(run_dir: Path, packages: frozenset[str]) -> Schedule:
    test, history = run_dir / layout.TEST, run_dir / layout.HISTORY
    if not (test.is_file() and history.is_file()):
        raise ScheduleError(
            f"{run_dir} is a directory but not a run directory (it needs {layout.TEST} "
            f"and {layout.HISTORY}); give a run directory or a schedule file"
        )
    try:
        config = json.loads(test.read_text()).get("config")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as e:
        raise ScheduleError(f"cannot read the run's config from {test}: {e}") from None
    if not isinstance(config, dict):
        raise ScheduleError(f"{test}: expected a 'config' object, got {_short(config)}")
    where = f"{test}: config"
    limit = _number(config, "time_limit", where)
    keys, concurrency = _count(config, "keys", where), _count(config, "concurrency", where)
    try:
        schedule = recorded(iter_history(history), limit, keys, concurrency)
    except HistoryError as e:
        raise ScheduleError(f"cannot read the run's schedule: {e}") from None
    unknown = sorted({op.package for op in schedule.ops} - packages)
    if unknown:
        raise ScheduleError(
            f"{history}: faults of unknown package(s) {unknown}; known: {sorted(packages)}"
        )
    return dataclasses.replace(schedule, config=config)


def parse_schedule(raw: Any, where: str, packages: frozenset[str]) -> Schedule:
    if not isinstance(raw, dict) or raw.get("floodmark_schedule") != SCHEDULE_FORMAT:
        raise ScheduleError(
            f"{where}: expected a floodmark schedule (an object with "
            f'"floodmark_schedule": {SCHEDULE_FORMAT}), got {_short(raw)}'
        )
    limit = _number(raw, "time_limit", where)
    keys, concurrency = _count(raw, "keys", where), _count(raw, "concurrency", where)
    ops = raw.get("ops")
    if not isinstance(ops, list):
        raise ScheduleError(f"{where}: expected 'ops' to be a list, got {_short(ops)}")
    out = [_op(one, f"{where}: ops[{n}]", packages, limit) for n, one in enumerate(ops)]
    out.sort(key=lambda o: o.at)
    config = raw.get("config")
    if config is not None and not isinstance(config, dict):
        raise ScheduleError(f"{where}: expected 'config' to be an object, got {_short(config)}")
    return Schedule(tuple(out), limit, keys, concurrency, config)


def _op(one: Any, where: str, packages: frozenset[str], limit: float) -> FaultOp:
    if not isinstance(one, dict):
        raise ScheduleError(f"{where}: expected an object, got {_short(one)}")
    at = _number(one, "at", where)
    if not 0 <= at <= limit:
        raise ScheduleError(f"{where}: 'at' is {at}, outside the run (0 to {limit} s)")
    fault = FaultF.parse(str(one.get("f")))
    if fault is None:
        raise ScheduleError(
            f"{where}: expected 'f' to be start-<package> or stop-<package>, got "
            f"{_short(one.get('f'))}"
        )
    if fault.package not in packages:
        raise ScheduleError(
            f"{where}: unknown fault package {fault.package!r}; known: {sorted(packages)}"
        )
    return FaultOp(at, fault.phase, fault.package, one.get("value"), one.get("trigger"))


def _number(raw: Mapping[str, Any], name: str, where: str) -> float:
    value = raw.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ScheduleError(f"{where}: expected '{name}' to be a number >= 0, got {_short(value)}")
    return float(value)


def _count(raw: Mapping[str, Any], name: str, where: str) -> int:
    value = raw.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ScheduleError(
            f"{where}: expected '{name}' to be an integer >= 1, got {_short(value)}"
        )
    return value


def _short(value: Any) -> str:
    text = json.dumps(value) if _jsonable(value) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class Period:
    """One fault: its start op and the stop that ended it (None: the final heal did)."""

    start: FaultOp
    stop: FaultOp | None

    @property
    def end(self) -> float:
        return self.stop.at if self.stop is not None else self.start.at


def periods(ops: Sequence[FaultOp]) -> tuple[Period, ...]:
    """The fault periods of a schedule, by start time: each package's start paired with
    its next stop. A stop with no start open (it healed what an earlier fault left) is
    not a period of its own and is dropped."""
    open_: dict[str, FaultOp] = {}
    out: list[Period] = []
    for op in sorted(ops, key=lambda o: o.at):
        if op.phase is Phase.START:
            if op.package in open_:  # a second start before a stop: the first ends unhealed
                out.append(Period(open_.pop(op.package), None))
            open_[op.package] = op
        elif op.package in open_:
            out.append(Period(open_.pop(op.package), op))
    out.extend(Period(start, None) for start in open_.values())
    return tuple(sorted(out, key=lambda p: p.start.at))


def with_periods(schedule: Schedule, kept: Sequence[Period]) -> Schedule:
    """``schedule`` with only the ops of ``kept`` (in time order)."""
    ops = [op for p in kept for op in (p.start, p.stop) if op is not None]
    return dataclasses.replace(schedule, ops=tuple(sorted(ops, key=lambda o: o.at)))
