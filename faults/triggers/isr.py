"""ISR triggers: a leader left alone in its ISR, a follower far behind its leader.

``isr-alone``: a key's leader reports ``isr == [itself]`` (with a replication factor
above 1). Every acked write of that key now lives on one node: crashing it (SIGKILL, or
a power loss that drops what it had not fsynced) is where unclean election,
``min.insync.replicas=1`` and KIP-966's "last replica standing" lose data.

``leader-cut``: no fault is active and a key's leader has its full ISR. With chance
`CHANCE` per round, cut that leader from its followers only (the partition package's
``leader-peers`` shape: it keeps the controller and the clients), for at least
`CUT_S` seconds, so that it shrinks its ISR to itself and goes on acking alone: the
state ``isr-alone`` answers, while the cut holds (it follows up).

``follower-behind``: a live follower's LEO is `LAG` or more records behind its leader's.
Killing the leader now makes the controller choose between a stale replica and no
leader: unclean election and ISR bookkeeping bugs show up here.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Final

from harness.contract.history import JSON

from ..network.partition import MODES
from .seen import Role, Seen
from .trigger import Action, Spot, Trigger, leader_of, pick

CRASHES: Final = ("kill", "lose-unfsynced")
LAG: Final = 20
"""Records a follower must lag its leader by for ``follower-behind``."""
CHANCE: Final = 0.1
"""``leader-cut`` per round of samples (two a second by default): a cluster at rest is
cut after about five seconds on average, at a moment the seed draws."""
CUT_S: Final = 3.0
"""``leader-cut`` lasts at least this long: the leader must notice its followers are gone
(``replica.lag.time.max.ms``) and a round of samples must show the ISR of one."""


def _alone(seen: Seen) -> list[Spot]:
    if seen.replication_factor < 2:
        return []
    spots = []
    for key in seen.sampled_keys():
        lead = seen.leader(key)
        if lead is not None and lead.isr == (lead.node,):
            spots.append(Spot(key, {"key": key, "leader": lead.node, **_of(lead.to_json())}))
    return spots


def _whole(seen: Seen) -> list[Spot]:
    """Every key whose leader has its full ISR, while no fault is active."""
    if seen.busy or seen.replication_factor < 2:
        return []
    spots = []
    for key in seen.sampled_keys():
        lead = seen.leader(key)
        if lead is not None and len(lead.isr) >= seen.replication_factor:
            spots.append(Spot(key, {"key": key, "leader": lead.node, **_of(lead.to_json())}))
    return spots


def _cut_leader(
    spot: Spot, _seen: Seen, rng: random.Random, available: Sequence[str]
) -> Action | None:
    if "partition" not in available:
        return None
    cut: JSON = {"shape": "leader-peers", "key": spot.key, "mode": rng.choice(MODES)}
    return Action("partition", cut)


def _behind(seen: Seen) -> list[Spot]:
    spots = []
    for key in seen.sampled_keys():
        lead = seen.leader(key)
        if lead is None:
            continue
        for r in seen.replicas(key):
            if r.role is Role.FOLLOWER and r.node != lead.node and lead.leo - r.leo >= LAG:
                state = {"key": key, "leader": lead.node, "leader_leo": lead.leo,
                         "follower": r.node, "follower_leo": r.leo, "lag": lead.leo - r.leo,
                         "in_isr": r.node in lead.isr}  # fmt: skip
                spots.append(Spot(key, state))
    return spots


def _crash_leader(
    spot: Spot, _seen: Seen, rng: random.Random, available: Sequence[str]
) -> Action | None:
    package = pick(rng, CRASHES, available)
    return None if package is None else Action(package, leader_of(spot.key))


def _of(sample: dict[str, JSON]) -> dict[str, JSON]:
    return {k: sample[k] for k in ("epoch", "leo", "hw", "isr")}


ISR_ALONE: Final = Trigger(
    name="isr-alone",
    family="isr",
    doc="a key's leader reports an ISR of itself alone: crash it (kill or power loss) "
    "(unclean election, min.insync.replicas=1, last replica standing)",
    packages=CRASHES,
    spot=_alone,
    act=_crash_leader,
    follows_up=True,
)

LEADER_CUT: Final = Trigger(
    name="leader-cut",
    family="isr",
    doc="no fault is active and a key's leader has its full ISR: cut it from its followers "
    "only (it keeps the controller and clients) until its ISR shrinks to itself, which "
    "`isr-alone` answers while the cut holds",
    packages=("partition",),
    spot=_whole,
    act=_cut_leader,
    chance=CHANCE,
    min_lasts_s=CUT_S,
)

FOLLOWER_BEHIND: Final = Trigger(
    name="follower-behind",
    family="isr",
    doc=f"a live follower lags its leader by {LAG}+ records: crash the leader "
    "(unclean election, ISR bookkeeping)",
    packages=CRASHES,
    spot=_behind,
    act=_crash_leader,
)
