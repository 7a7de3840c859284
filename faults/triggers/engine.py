"""The trigger engine: each round of monitor samples in, the fault ops to run now out.

`decide` is the pure decision: from a `Seen`, the triggers allowed now, the packages
available and the engine's RNG, it returns nothing, or a start op and its stop op (the
stop ``duration`` seconds later). `TriggerEngine.step` adds what must be remembered
between rounds, so that the cluster recovers between faults:

- one triggered fault at a time: its stop is held (`TriggerEngine.pending`) and handed
  out by the first round at or after its time; while it is active, one `Trigger.follows_up`
  trigger may add one fault answering the state it made (`TriggerEngine.follow_up`: the
  ISR of one that a cut leader forms is crashed while the cut holds);
- after that stop, a cool-down (`Pace.cool_down`) in which only triggers whose danger
  point *is* the recovery (``in_recovery``: a follower coming back, a new leader) may
  fire, once; after any trigger's fault, the same trigger waits a full interval;
- nothing fires before `Pace.warm_up`, nor in the last cool-down before the time limit
  (`Pace.last_fire`: the final heal comes, and the fault would have no time to act);
- right after the nemesis restarts crashed nodes, `TriggerEngine.restarted` asks the
  ``on_restart`` triggers (a follower back before it could fetch), outside the cool-down.

Every choice comes from ``Random(f"{seed}/nemesis/default/triggers")`` and the state
seen, so the same rounds give the same ops. Each op carries its ``trigger``: the
trigger's name, the time, and the state that fired it (a stop names what it ends)::

    FaultOp(at=12.5, phase=Phase.START, package="kill",
            value={"target": "leader", "key": 1},
            trigger={"name": "isr-alone", "key": 1, "leader": "n2", "isr": ["n2"], ...})
    FaultOp(at=16.1, phase=Phase.STOP, package="kill", value={},
            trigger={"name": "isr-alone", "stops": "start-kill", "after_s": 3.6})

(The ops' ``at`` count from the load's start; the history's own ``time`` says when each
op actually ran.)
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from harness.contract.history import JSON, Phase
from harness.contract.roles import FaultOp

from .registry import TRIGGERS
from .seen import Seen, Tracker
from .trigger import Spot, Trigger


@dataclass(frozen=True, slots=True)
class Pace:
    """The engine's timing, from the run's ``time_limit`` and ``nemesis_interval``."""

    time_limit: float
    duration: tuple[float, float]
    """Seconds a triggered fault lasts, drawn uniformly from this range."""
    cool_down: float
    """Seconds after a triggered fault's stop before the next one may fire."""
    warm_up: float

    @property
    def last_fire(self) -> float:
        """Nothing fires from here on: a fault started later could not play out (a
        controller notices a dead leader after its session timeout) before the final heal."""
        return self.time_limit - self.cool_down

    @classmethod
    def of(cls, time_limit: float, interval: float) -> Pace:
        """Faults last from 0.1 interval (at least 1 s: some crashes end before a follower
        leaves the ISR) to 0.7 interval (at least 3 s); cool-down and warm-up are half an
        interval (at least 2 s)."""
        lo, hi = max(1.0, 0.1 * interval), max(3.0, 0.7 * interval)
        half = max(2.0, interval / 2)
        return cls(time_limit, (lo, hi), half, half)


def decide(
    seen: Seen,
    rng: random.Random,
    triggers: Sequence[Trigger],
    available: Sequence[str],
    pace: Pace,
) -> list[FaultOp]:
    """The ops one round fires: ``[]``, or a start now and its stop later.

    Each trigger's spots are found (no randomness); a trigger with spots fires with its
    `Trigger.chance`; one of those that fire is drawn, then one of its spots, then its
    action among ``available`` packages (those of the run that are not busy)."""
    free = [p for p in available if p not in seen.busy]
    firing: list[tuple[Trigger, list[Spot]]] = []
    for t in triggers:
        if not any(p in free for p in t.packages):
            continue
        spots = t.spot(seen)
        if spots and (t.chance >= 1.0 or rng.random() < t.chance):
            firing.append((t, spots))
    if not firing:
        return []
    trigger, spots = rng.choice(firing)
    spot = rng.choice(spots)
    action = trigger.act(spot, seen, rng, free)
    if action is None:
        return []
    at = round(seen.at, 3)
    why: dict[str, JSON] = {"name": trigger.name, **spot.state}
    lasts = round(max(trigger.min_lasts_s, rng.uniform(*pace.duration)), 3)
    ends: dict[str, JSON] = {"name": trigger.name, "stops": f"start-{action.package}",
                             "after_s": lasts}  # fmt: skip
    stop_at = round(at + lasts, 3)
    return [
        FaultOp(at, Phase.START, action.package, action.value, trigger=why),
        FaultOp(stop_at, Phase.STOP, action.package, {}, trigger=ends),
    ]


@dataclass(slots=True)
class TriggerEngine:
    """`decide` over successive rounds, with the memory that paces it (module docstring)."""

    seed: int
    packages: tuple[str, ...]
    """The run's packages a trigger may start."""
    pace: Pace
    replication_factor: int
    triggers: tuple[Trigger, ...] = tuple(TRIGGERS.values())
    rng: random.Random = field(init=False)
    tracker: Tracker = field(init=False)
    pending: FaultOp | None = field(default=None, init=False)
    """The stop of the triggered fault that is active, if any."""
    follow_up: FaultOp | None = field(default=None, init=False)
    """The stop of the follow-up fault started while ``pending``'s ran, if still active."""
    followed: bool = field(default=False, init=False)
    """A follow-up fired during the fault ``pending`` ends (one per fault)."""
    quiet_until: float = field(default=0.0, init=False)
    recovery_used: bool = field(default=False, init=False)
    last_fired: dict[str, float] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}/nemesis/default/triggers")
        self.tracker = Tracker(self.replication_factor)
        self.quiet_until = self.pace.warm_up

    def step(
        self, values: Iterable[Mapping[str, JSON]], at: float, busy: frozenset[str]
    ) -> list[FaultOp]:
        """The ops to run now for one round of samples taken ``at`` s into the load,
        while ``busy`` packages have an active fault."""
        seen = self.tracker.update(values, at, busy)
        out = self._due(at)
        firing = self.pace.warm_up <= at < self.pace.last_fire
        if self.pending is not None:  # active: only a follow-up, once
            if not firing or self.followed:
                return out
            allowed = [t for t in self.triggers if t.follows_up and self._waited(t, at)]
            return out + self._fire(decide(seen, self.rng, allowed, self.packages, self.pace), at)
        if not firing or self.follow_up is not None:
            return out
        allowed = [t for t in self.triggers if not t.on_restart and self._may_fire(t, at)]
        return out + self._fire(decide(seen, self.rng, allowed, self.packages, self.pace), at)

    def _due(self, at: float) -> list[FaultOp]:
        """The held stops due ``at``; the cool-down starts when the last one is out."""
        out: list[FaultOp] = []
        if self.pending is not None and self.pending.at <= at:
            out.append(self.pending)
            self.pending = None
        if self.follow_up is not None and self.follow_up.at <= at:
            out.append(self.follow_up)
            self.follow_up = None
        if out and self.pending is None and self.follow_up is None:
            self.quiet_until = at + self.pace.cool_down
        return out

    def restarted(self, nodes: Iterable[str], at: float, busy: frozenset[str]) -> list[FaultOp]:
        """The ops to run right after the nemesis restarted ``nodes`` (no sample can have
        seen the restart yet): the `Trigger.on_restart` triggers decide on the latest
        round. The cool-down does not hold them back (the restart *is* the recovery); a
        triggered fault still active, the trigger's own wait and the time limit do."""
        restarting = frozenset(nodes)
        active = self.pending is not None or self.follow_up is not None
        if not restarting or active or at >= self.pace.last_fire:
            return []
        seen = self.tracker.restart(restarting, at, busy)
        allowed = [t for t in self.triggers if t.on_restart and self._waited(t, at)]
        return self._fire(decide(seen, self.rng, allowed, self.packages, self.pace), at)

    def _fire(self, ops: list[FaultOp], at: float) -> list[FaultOp]:
        """Hand out a decided start; hold its stop (as the follow-up's while a fault is
        active)."""
        if not ops:
            return []
        start, stop = ops
        name = str(start.trigger["name"]) if isinstance(start.trigger, dict) else ""
        self.last_fired[name] = at
        if self.pending is not None:
            self.follow_up, self.followed = stop, True
            return [start]
        self.recovery_used = at < self.quiet_until
        self.pending, self.followed = stop, False
        return [start]

    def _waited(self, t: Trigger, at: float) -> bool:
        """A trigger fires again only a full interval (two cool-downs) after it last did."""
        last = self.last_fired.get(t.name)
        return last is None or at >= last + 2 * self.pace.cool_down

    def _may_fire(self, t: Trigger, at: float) -> bool:
        if not self._waited(t, at):
            return False
        if at >= self.quiet_until:
            return True
        return t.in_recovery and not self.recovery_used
