"""The election trigger: a leader change in flight.

``leader-change``: a key's leader in this round is another node, in a higher epoch, than
in the previous round; or two nodes claim to lead the key at once. Right then, freeze
(``pause``) or cut (``partition``, the ``leader`` shape) the new leader, or freeze the old
one if it is still up: deposed leaders that keep acking, epoch fencing and split brain
show up here.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Final

from harness.contract.history import JSON

from ..network.partition import MODES
from .seen import Role, Seen
from .trigger import Action, Spot, Trigger, one

PACKAGES: Final = ("pause", "partition")


def _change(seen: Seen) -> list[Spot]:
    spots = []
    for key in seen.sampled_keys():
        claims = sorted(r.node for r in seen.replicas(key) if r.role is Role.LEADER)
        lead, old = seen.leader(key), seen.leader(key, seen.before)
        if lead is None:
            continue
        state: dict[str, JSON] = {"key": key, "leader": lead.node, "epoch": lead.epoch}
        if len(claims) > 1:
            spots.append(Spot(key, {**state, "claims": list(claims)}))
        elif old is not None and lead.node != old.node and lead.epoch > old.epoch:
            spots.append(Spot(key, {**state, "old_leader": old.node, "old_epoch": old.epoch}))
    return spots


def _strike(spot: Spot, seen: Seen, rng: random.Random, available: Sequence[str]) -> Action | None:
    key, new = spot.key, str(spot.state["leader"])
    choices: list[Action] = []
    if "pause" in available:
        choices.append(Action("pause", one(new)))
        old = spot.state.get("old_leader")
        now_old = seen.now.get((key, str(old))) if old is not None else None
        if now_old is not None and now_old.role is not Role.OFFLINE:
            choices.append(Action("pause", one(now_old.node)))
    if "partition" in available:
        cut: JSON = {"shape": "leader", "key": key, "mode": rng.choice(MODES)}
        choices.append(Action("partition", cut))
    return rng.choice(choices) if choices else None


LEADER_CHANGE: Final = Trigger(
    name="leader-change",
    family="election",
    doc="a key's leader just changed (new node, higher epoch) or two nodes claim it: pause "
    "or cut the new leader, or pause the old one (epoch fencing, split brain)",
    packages=PACKAGES,
    spot=_change,
    act=_strike,
    in_recovery=True,
)
