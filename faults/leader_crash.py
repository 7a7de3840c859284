"""``leader-crash``: isolate a key's leader from its peers, then SIGKILL it while isolated.

One composite fault, so the *order* that loses acked data under unclean leader election
(and ``min.insync.replicas=1``) is certain instead of left to two independent schedules:

1. ``start-leader-crash`` picks the seeded key's current leader (resolved when the op
   runs, through the cluster's introspection) and cuts it from the other brokers with
   the partition package's ``leader-peers`` shape (mode ``refuse``). It keeps its links
   to the controller and to the clients: the controller still sees it alive, the
   followers stop fetching, so after ``replica.lag.time.max.ms`` the leader shrinks the
   ISR to itself (``alter_isr``) and, with ``min.insync.replicas=1``, keeps acking alone.
2. It polls the system's replica states (`System.replica_states`, through the admin
   links no fault touches) until the leader reports an ISR of itself alone, for at most
   `ISR_TIMEOUT` s after the cut; once that is seen and ``delay_s`` seconds have passed
   since the cut, it SIGKILLs that node with the kill package's mechanism (after checking
   the node still leads the key). When the ISR did not shrink in time (the system's
   ``replica.lag.time.max.ms`` is longer, say) or the leadership moved, the state this
   fault aims at was not reached: it kills nothing, heals the cut and says so
   (``"skipped"``). The controller then finds no live ISR member; with unclean election it elects a
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
        "verified": true}, "isr_alone_after_s": 1.2, "isolated_s": 2.0,
        "leader_before_kill": "n2", "killed": ["n2"], "kill": {"killed": true},
        "state": "stopped", "healed": {...}, "verified": true}
    start-leader-crash {"key": 1, "delay_s": 2.0, "leader": "n2", "killed": [],
        "isr": ["n1", "n2"], "skipped": "the ISR of key 1 did not shrink to n2 alone
        within 30 s of the cut ...", "healed": {...}, "verified": null}
    stop-leader-crash  {"restarted": ["n2"], "actions": {...}, "verified": true}

A key without a leader when the op runs is skipped (``"skipped"``, ``"verified": null``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from harness.contract.history import JSON, Phase
from harness.contract.roles import Cluster, FaultOp, FaultPackage, NemesisContext, NemesisOption

from .common import (
    REAL_CLOCK,
    Clock,
    FaultError,
    NoTarget,
    StartStopFault,
    all_nodes,
    skipped,
    verified,
)
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
ISR_TIMEOUT: Final = 30.0
"""Longest wait, from the cut, for the leader to report an ISR of itself alone (Kafka's
default ``replica.lag.time.max.ms`` is 30 s; floodmark's Kafka profile sets 10 s)."""
ISR_POLL: Final = 0.2
"""Seconds between two readings of the replica states while waiting for the shrink."""


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


@dataclass(frozen=True, slots=True)
class Isolation:
    """What the wait after the cut saw: when (seconds after the cut) the leader first
    reported an ISR of itself alone (None: not within `ISR_TIMEOUT`), the last ISR it
    reported, and whether it still led the key just before the kill."""

    alone_after: float | None
    isr: list[str]
    still_leader: bool = False


class LeaderCrashFault(StartStopFault):
    """Cut a key's leader from its peers, wait for its ISR to shrink to itself, SIGKILL
    it, heal; restart it on stop."""

    def __init__(
        self, cluster: Cluster, *, clock: Clock = REAL_CLOCK, isr_timeout: float = ISR_TIMEOUT
    ) -> None:
        super().__init__(cluster, clock=clock)
        self.partition = PartitionFault(cluster, clock=clock)
        self.isr_timeout = isr_timeout
        self.down: list[str] = []

    def leader_isr(self, key: int, leader: str) -> list[str] | None:
        """The ISR ``leader`` reports for ``key`` now (None: it does not report leading)."""
        for s in self.cluster.system.replica_states(self.cluster):
            if s.get("key") == key and s.get("node") == leader and s.get("role") == "leader":
                isr = s.get("isr")
                return [str(n) for n in isr] if isinstance(isr, list) else []
        return None

    def isolate(self, key: int, leader: str, delay: float, cut_at: float) -> Isolation:
        """Wait until ``leader`` reports an ISR of itself alone and ``delay`` seconds have
        passed since ``cut_at`` (or `isr_timeout` passed first)."""
        clock = self.clock
        last: list[str] = []
        while True:
            isr = self.leader_isr(key, leader)
            last = isr if isr is not None else last
            if isr == [leader]:
                alone_after = clock.now() - cut_at
                break
            if clock.now() - cut_at >= self.isr_timeout:
                return Isolation(None, last)
            clock.sleep(ISR_POLL)
        left = delay - (clock.now() - cut_at)
        if left > 0:
            clock.sleep(left)
        return Isolation(alone_after, last, self.cluster.leader(key) == leader)

    def start(self, value: JSON) -> JSON:
        cluster = self.cluster
        if not isinstance(value, dict) or "key" not in value or "delay_s" not in value:
            raise FaultError(f"start-leader-crash expects {{'key', 'delay_s'}}, got {value!r}")
        key, delay = int(str(value["key"])), float(str(value["delay_s"]))
        kill: dict[str, JSON] = {}
        try:
            cut_at = self.clock.now()
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
            seen = self.isolate(key, leader, delay, cut_at)
            if seen.alone_after is not None and seen.still_leader:
                kill = kill_node(cluster, leader, flush=True, clock=self.clock)
            isolated_s = round(self.clock.now() - cut_at, 3)
        finally:
            healed = self.partition.stop(everything=False)
        heal_ok = isinstance(healed, dict) and healed.get("verified") is True
        if not kill:
            if seen.alone_after is None:
                why = (
                    f"the ISR of key {key} did not shrink to {leader} alone within "
                    f"{self.isr_timeout:g} s of the cut (last reported {seen.isr}); "
                    f"{leader} was not killed"
                )
            else:
                why = f"{leader} no longer led key {key} when the kill was due; not killed"
            if not heal_ok:
                return verified(
                    False,
                    f"{why}, and its links were not healed: {healed}",
                    value,
                    leader=leader,
                    partition=cut,
                    isr=seen.isr,
                    killed=[],
                    healed=healed,
                )
            return skipped(
                why,
                {
                    **value,
                    "leader": leader,
                    "partition": cut,
                    "isr": seen.isr,
                    "isolated_s": isolated_s,
                    "killed": [],
                    "healed": healed,
                },
            )
        if kill.get("killed"):
            self.down.append(leader)
        st = state(cluster.container(leader))
        problems = []
        if st != "stopped":
            problems.append(f"expected {leader} stopped after SIGKILL, its state is {st}")
        if not heal_ok:
            problems.append(f"its links were not healed after the kill: {healed}")
        return verified(
            not problems,
            "; ".join(problems),
            value,
            leader=leader,
            mode=MODE,
            cut=cut.get("cut"),
            partition=cut,
            isr_alone_after_s=round(seen.alone_after or 0.0, 3),
            isolated_s=isolated_s,
            leader_before_kill=leader,
            killed=[leader] if kill.get("killed") else [],
            kill=kill,
            state=st,
            healed=healed,
        )

    def stop(self, everything: bool) -> JSON:
        cluster = self.cluster
        nodes = all_nodes(cluster) if everything else list(self.down)
        done = restart_nodes(cluster, nodes, self.clock)
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
