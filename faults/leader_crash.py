"""``leader-crash``: isolate a key's leader from its peers, then SIGKILL it while isolated.

One composite fault, so the *order* that loses acked data under unclean leader election
(and ``min.insync.replicas=1``) is certain instead of left to two independent schedules:

1. ``start-leader-crash`` picks the seeded key's current leader (resolved when the op
   runs, through the cluster's introspection) and cuts it from the other brokers with
   the partition package's ``leader-peers`` shape (mode ``refuse``). It keeps its links
   to the controller and to the clients: the controller still sees it alive, the
   followers stop fetching, so after ``replica.lag.time.max.ms`` the leader shrinks the
   ISR to itself (``alter_isr``) and, with ``min.insync.replicas=1``, keeps acking alone.
2. After ``delay_s`` seconds it SIGKILLs that node with the kill package's mechanism.
   The controller then finds no live ISR member; with unclean election it elects a
   follower that lacks the records acked in the meantime (they are lost), and without
   it the partition stays offline until the old leader returns (the safe outcome).
3. It heals the leader's links at once (the node is down anyway, and must find them
   whole when it restarts). ``stop-leader-crash`` restarts the killed node; the final
   heal restarts every stopped node and undoes any cut this package left.

``delay_s`` is ``nemesis_options.leader_crash_delay_s`` (seconds, one value) or, by
default, ``interval / 2.5`` within [1, 5] s (2 s at the default 5 s interval): long
enough for a 1 s lag timeout to shrink the ISR and a few writes to be acked alone.

Each step is verified (the cut by the partition package's read-back and probes, the
kill by the container state, the heal by the proxies' read-back) and recorded::

    start-leader-crash {"key": 1, "delay_s": 2.0, "leader": "n2", "mode": "refuse",
        "cut": [["n1","n2"], ["n2","n1"], ...], "partition": {... "probes": ...,
        "verified": true}, "leader_before_kill": "n2", "killed": ["n2"],
        "kill": {"killed": true}, "state": "stopped", "healed": {...}, "verified": true}
    stop-leader-crash  {"restarted": ["n2"], "actions": {...}, "verified": true}

A key without a leader when the op runs is skipped (``"skipped"``, ``"verified": null``).
"""

from __future__ import annotations

import time
from typing import Final

from harness.contract.history import JSON, Phase
from harness.contract.roles import Cluster, FaultOp, FaultPackage, NemesisContext, NemesisOption

from .common import FaultError, NoTarget, StartStopFault, all_nodes, verified
from .network.partition import PartitionFault
from .process import kill_node, restart_nodes, state
from .schedule import cycle, heal_all

MODE: Final = "refuse"
"""How the leader's peer links are cut: refused connections make followers notice at
once (a blackhole would also work, only later: the fetch must time out first)."""

DELAY_OPTION: Final = NemesisOption(
    "leader_crash_delay_s", "seconds the leader stays isolated before the kill", seconds=True
)
MIN_DELAY: Final = 1.0
MAX_DELAY: Final = 5.0


def default_delay(interval: float) -> float:
    """The isolation time before the kill when the run does not set one."""
    return round(min(MAX_DELAY, max(MIN_DELAY, interval / 2.5)), 3)


def delay_of(ctx: NemesisContext) -> float:
    """``leader_crash_delay_s`` from the run's options, else `default_delay`."""
    given = DELAY_OPTION.of(ctx)
    name = DELAY_OPTION.name
    if not given:
        return default_delay(ctx.interval)
    if len(given) != 1:
        raise ValueError(f"{name}: expected one number of seconds, got {list(given)!r}")
    try:
        delay = float(given[0])
    except ValueError:
        raise ValueError(
            f"{name}: expected a number of seconds such as '2', got {given[0]!r}"
        ) from None
    if not 0 <= delay < ctx.interval * 4:
        raise ValueError(f"{name}: {delay} s is out of range [0, {ctx.interval * 4:g})")
    return delay


class LeaderCrashFault(StartStopFault):
    """Cut a key's leader from its peers, wait, SIGKILL it, heal; restart it on stop."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster)
        self.partition = PartitionFault(cluster)
        self.down: list[str] = []

    def start(self, value: JSON) -> JSON:
        cluster = self.cluster
        if not isinstance(value, dict) or "key" not in value or "delay_s" not in value:
            raise FaultError(f"start-leader-crash expects {{'key', 'delay_s'}}, got {value!r}")
        key, delay = int(str(value["key"])), float(str(value["delay_s"]))
        try:
            cut = self.partition.invoke(
                Phase.START, {"shape": "leader-peers", "key": key, "mode": MODE}
            )
            if not isinstance(cut, dict):
                raise FaultError(f"the partition fault returned {cut!r}, expected an object")
            if cut.get("skipped"):
                raise NoTarget(str(cut["skipped"]))
            leader = str(cut["leader"])
            if cut.get("verified") is not True:
                return verified(
                    False,
                    f"the cut of {leader} from its peers was not confirmed: {cut.get('why')}",
                    value,
                    leader=leader,
                    partition=cut,
                    killed=[],
                )
            time.sleep(delay)
            before_kill = cluster.leader(key)
            kill = kill_node(cluster, leader, flush=True)
        finally:
            healed = self.partition.stop(everything=False)
        if kill.get("killed"):
            self.down.append(leader)
        st = state(cluster.container(leader))
        problems = []
        if st != "stopped":
            problems.append(f"expected {leader} stopped after SIGKILL, its state is {st}")
        if not isinstance(healed, dict) or healed.get("verified") is not True:
            problems.append(f"its links were not healed after the kill: {healed}")
        return verified(
            not problems,
            "; ".join(problems),
            value,
            leader=leader,
            mode=MODE,
            cut=cut.get("cut"),
            partition=cut,
            leader_before_kill=before_kill,
            killed=[leader] if kill.get("killed") else [],
            kill=kill,
            state=st,
            healed=healed,
        )

    def stop(self, everything: bool) -> JSON:
        cluster = self.cluster
        nodes = all_nodes(cluster) if everything else list(self.down)
        done = restart_nodes(cluster, nodes)
        self.down = []
        ok = done.all_up
        fields: dict[str, JSON] = {"restarted": done.restarted, "actions": dict(done.actions)}
        if everything:
            healed = self.partition.stop(everything=False)
            fields["healed"] = healed
            ok = ok and isinstance(healed, dict) and healed.get("verified") is True
        return verified(
            ok, f"expected {nodes} running and no cut left, states are {done.states}", **fields
        )


def _generator(ctx: NemesisContext) -> list[FaultOp]:
    if len(ctx.brokers) < 2:
        raise ValueError(f"leader-crash needs at least 2 brokers, got {list(ctx.brokers)}")
    delay = delay_of(ctx)
    keys = max(ctx.keys, 1)
    return list(cycle(ctx, lambda rng: {"key": rng.randrange(keys), "delay_s": delay}))


LEADER_CRASH: Final = FaultPackage(
    name="leader-crash",
    doc="Cut a key's leader from the other brokers (it keeps the controller and clients), "
    "SIGKILL it after a delay while still isolated, heal its links; restart it on stop.",
    fault=LeaderCrashFault,
    generator=_generator,
    final=heal_all,
    heal_order=30,
    options=(DELAY_OPTION,),
    colour="#c44e52",
)
