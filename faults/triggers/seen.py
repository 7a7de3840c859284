"""What a trigger looks at: the latest round of monitor samples, and the round before.

A round is what `harness.monitor.Monitor.sample` appends in one go: one ``replica-state``
value per (key, node)::

    {"key": 0, "node": "n2", "role": "follower", "leo": 41, "hw": 40, "epoch": 3,
     "isr": ["n1", "n2"]}

`Tracker.update` turns a round into a `Seen`: the round (`Seen.now`), the previous one
(`Seen.before`), the time, the packages whose fault is active (`Seen.busy`) and the
replication factor; `Tracker.restart` makes the `Seen` of a restart the nemesis just did
(`Seen.restarting`) from the latest round. Only the sample shape is used, never a
system's internals, so the same triggers work for every system the monitor can sample.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from harness.contract.history import JSON


class Role(enum.StrEnum):
    LEADER = "leader"
    FOLLOWER = "follower"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Replica:
    """One ``replica-state`` sample of one (key, node)."""

    key: int
    node: str
    role: Role
    leo: int
    hw: int
    epoch: int
    isr: tuple[str, ...]

    @classmethod
    def of(cls, value: Mapping[str, JSON]) -> Replica:
        """From a sample value; a role other than leader/follower counts as offline."""
        raw_role = str(value.get("role"))
        role = Role(raw_role) if raw_role in Role.__members__.values() else Role.OFFLINE
        isr = value.get("isr")
        return cls(
            key=int(str(value["key"])),
            node=str(value["node"]),
            role=role,
            leo=_int(value.get("leo")),
            hw=_int(value.get("hw")),
            epoch=_int(value.get("epoch")),
            isr=tuple(str(n) for n in isr) if isinstance(isr, list) else (),
        )

    def to_json(self) -> dict[str, JSON]:
        return {
            "node": self.node, "role": self.role.value, "leo": self.leo, "hw": self.hw,
            "epoch": self.epoch, "isr": list(self.isr),
        }  # fmt: skip


def _int(v: JSON) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else -1


Round = Mapping[tuple[int, str], Replica]
"""One round of samples by (key, node)."""


@dataclass(frozen=True, slots=True)
class Seen:
    """The state a trigger decides on (pure data: built by `Tracker`, or by a test)."""

    at: float
    """Seconds since the load started."""
    now: Round
    before: Round = field(default_factory=dict)
    """The previous round (empty for the first)."""
    busy: frozenset[str] = frozenset()
    """Packages whose fault is active now (a trigger never starts a busy package)."""
    replication_factor: int = 3
    restarting: frozenset[str] = frozenset()
    """Nodes the nemesis has just restarted (the ``restarted`` of a crash package's stop),
    for the triggers that act on a restart (`faults.triggers.trigger.Trigger.on_restart`);
    ``now`` is then the latest round, taken before the restart."""

    def sampled_keys(self) -> list[int]:
        return sorted({k for k, _ in self.now})

    def replicas(self, key: int, of: Round | None = None) -> list[Replica]:
        rnd = self.now if of is None else of
        return sorted((r for (k, _), r in rnd.items() if k == key), key=lambda r: r.node)

    def leader(self, key: int, of: Round | None = None) -> Replica | None:
        """The replica claiming leadership in the highest epoch (None: no leader)."""
        leaders = [r for r in self.replicas(key, of) if r.role is Role.LEADER]
        return max(leaders, key=lambda r: (r.epoch, r.node)) if leaders else None

    def previous(self, key: int, node: str) -> Replica | None:
        return self.before.get((key, node))

    def healthy(self) -> bool:
        """Every key has a leader whose ISR is full (`harness.monitor.health`'s rule)."""
        for key in self.sampled_keys():
            lead = self.leader(key)
            if lead is None or len(lead.isr) < self.replication_factor:
                return False
        return bool(self.now)


def round_of(values: Iterable[Mapping[str, JSON]]) -> dict[tuple[int, str], Replica]:
    out: dict[tuple[int, str], Replica] = {}
    for v in values:
        r = Replica.of(v)
        out[(r.key, r.node)] = r
    return out


@dataclass(slots=True)
class Tracker:
    """Keeps the previous round; `update` makes the `Seen` of a new one."""

    replication_factor: int
    last: dict[tuple[int, str], Replica] = field(default_factory=dict)

    def update(self, values: Iterable[Mapping[str, JSON]], at: float, busy: frozenset[str]) -> Seen:
        now = round_of(values)
        seen = Seen(at, now, dict(self.last), busy, self.replication_factor)
        self.last = now
        return seen

    def restart(self, nodes: frozenset[str], at: float, busy: frozenset[str]) -> Seen:
        """The `Seen` of a restart of ``nodes``: the latest round as it was."""
        return Seen(at, dict(self.last), {}, busy, self.replication_factor, nodes)
