"""Truncation triggers: a follower that restarts truncates its log (KIP-101 scenario 1).

On restart a follower truncates its log (to its own HW under Kafka 0.10's rule, to the
leader's end offset for its epoch under KIP-101's) and then fetches again. Crashing the
leader before that fetch makes the controller elect the freshly truncated follower: with
HW truncation the records between its HW and the old leader's are gone, acked or not.

``follower-restarted``: the nemesis has just restarted a node (a crash package's stop
says ``restarted``) that the latest round shows in the ISR of a key whose leader is
another, live node: SIGKILL that leader at once, before the restarted follower fetched.
(A follower that stayed down past ``replica.lag.time.max.ms`` has left the ISR: it could
not be elected, so there is no danger point.)

``follower-back``: a (key, node) sampled ``offline`` in the previous round is a follower
in this one, and the key has another node as leader: the restart the nemesis did not
report (or a process that came back by itself). Crash that leader; the state says
whether the follower had already caught up (``caught_up``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Final

from .isr import CRASHES, _crash_leader
from .seen import Role, Seen
from .trigger import Action, Spot, Trigger, leader_of


def _restarted(seen: Seen) -> list[Spot]:
    spots = []
    for key in seen.sampled_keys():
        lead = seen.leader(key)
        if lead is None or lead.node in seen.restarting:
            continue
        for node in sorted(seen.restarting & set(lead.isr)):
            state = {"key": key, "follower": node, "leader": lead.node,
                     "epoch": lead.epoch, "isr": list(lead.isr), "leader_leo": lead.leo,
                     "leader_hw": lead.hw}  # fmt: skip
            spots.append(Spot(key, state))
    return spots


def _kill_leader(
    spot: Spot, _seen: Seen, _rng: random.Random, available: Sequence[str]
) -> Action | None:
    """A SIGKILL (a power loss would add its own loss to the truncation's)."""
    return Action("kill", leader_of(spot.key)) if "kill" in available else None


def _back(seen: Seen) -> list[Spot]:
    spots = []
    for (key, node), r in sorted(seen.now.items()):
        prev = seen.previous(key, node)
        lead = seen.leader(key)
        if r.role is not Role.FOLLOWER or prev is None or prev.role is not Role.OFFLINE:
            continue
        if lead is None or lead.node == node:
            continue
        state = {"key": key, "follower": node, "follower_leo": r.leo, "follower_hw": r.hw,
                 "leader": lead.node, "leader_leo": lead.leo, "leader_hw": lead.hw,
                 "epoch": lead.epoch, "caught_up": r.leo >= lead.leo}  # fmt: skip
        spots.append(Spot(key, state))
    return spots


FOLLOWER_RESTARTED: Final = Trigger(
    name="follower-restarted",
    family="truncation",
    doc="the nemesis just restarted an in-sync follower of a key: SIGKILL that key's leader "
    "before the follower refetches (KIP-101 scenario 1: HW truncation)",
    packages=("kill",),
    spot=_restarted,
    act=_kill_leader,
    on_restart=True,
)

FOLLOWER_BACK: Final = Trigger(
    name="follower-back",
    family="truncation",
    doc="a follower is sampled back from offline and its key has a leader: crash that "
    "leader (a leader change while a replica recovers)",
    packages=CRASHES,
    spot=_back,
    act=_crash_leader,
    in_recovery=True,
)
