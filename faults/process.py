"""Process faults: ``kill`` (SIGKILL, restart later) and ``pause`` (cgroup freezer).

``kill``: ``docker kill`` (SIGKILL) of the target nodes; the data volume survives and
``stop-kill`` runs ``docker start``. A process crash keeps the OS page cache, so when a
node runs the lazyfs layer the fault first tells it to write everything through
(``passthrough``) — only ``lose-unfsynced`` (power loss) drops un-fsynced writes.
Verified by the container state (not running after the kill, running after the start).

``pause``: ``docker pause`` (cgroup freezer: a GC-like stall, sockets stay open), then
``docker unpause``. Verified by the container state *and* the freezer cgroup reading
``FROZEN``/``THAWED``.

History values::

    start-kill  {"target": "leader", "key": 2, "nodes": ["n3"], "killed": ["n3"],
                 "lazyfs": {"n3": "passthrough"}, "verified": true}
    stop-kill   {"restarted": ["n3"], "verified": true}
    start-pause {"target": "one", "nodes": ["n1"], "paused": ["n1"],
                 "freezer": {"n1": "FROZEN"}, "verified": true}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from docker.errors import APIError
from docker.models.containers import Container

from harness.contract.history import JSON
from harness.contract.roles import Cluster, FaultPackage, NemesisOption

from .common import (
    HOST_FILES,
    REAL_CLOCK,
    TARGETS,
    Clock,
    FaultError,
    HostFiles,
    NoTarget,
    StartStopFault,
    agent,
    all_nodes,
    container_env,
    resolve_target,
    target_schedule,
    verified,
    wait_until,
)
from .schedule import heal_all

STATE_TIMEOUT: Final = 30.0
LAZYFS_SWITCH: Final = "FLOODMARK_LAZYFS"
"""The node environment variable (set to ``1``) that makes ``entrypoint.sh`` mount the
lazyfs layer over the data directory (`faults.disk.lose_unfsynced` asks for it)."""


def state(container: Container) -> str:
    container.reload()
    st = container.attrs["State"]
    if st.get("Paused"):
        return "paused"
    return "running" if st.get("Running") else "stopped"


def lazyfs_on(container: Container) -> bool:
    return container_env(container).get(LAZYFS_SWITCH) == "1"


def wait_lazyfs(
    container: Container, timeout: float = STATE_TIMEOUT, clock: Clock = REAL_CLOCK
) -> str:
    """Wait until a (re)started node's lazyfs answers; returns its mode."""

    def ready() -> str | None:
        try:
            reply = agent(container, "lazyfs.py", "ctl", "status")
        except (FaultError, APIError):
            return None
        return str(reply["mode"]) if reply.get("ok") else None

    what = f"lazyfs to answer in {container.name}"
    return wait_until(ready, timeout, what, interval=0.2, clock=clock)


def freezer_state(container: Container, files: HostFiles = HOST_FILES) -> str:
    """The container's cgroup v1 freezer state (``FROZEN``, ``THAWED``, ``FREEZING``)."""
    container.reload()
    pid = int(container.attrs["State"]["Pid"])
    for line in files.read(f"/proc/{pid}/cgroup").splitlines():
        _, controllers, path = line.split(":", 2)
        if "freezer" in controllers.split(","):
            return files.read(f"/sys/fs/cgroup/freezer{path}/freezer.state").strip()
    raise FaultError(
        f"no freezer cgroup for {container.name} in /proc/{pid}/cgroup; floodmark needs "
        "cgroup v1 (or run it where the freezer is visible)"
    )


def kill_node(
    cluster: Cluster, node: str, flush: bool, clock: Clock = REAL_CLOCK
) -> dict[str, JSON]:
    """SIGKILL one node (unpausing it first if paused); returns what was done."""
    c = cluster.container(node)
    done: dict[str, JSON] = {}
    if state(c) == "paused":
        c.unpause()
        done["unpaused_first"] = True
    if state(c) != "running":
        done["already"] = "stopped"
        return done
    if flush and lazyfs_on(c):
        reply = agent(c, "lazyfs.py", "ctl", "passthrough")
        done["lazyfs"] = "passthrough" if reply.get("ok") else f"failed: {reply.get('error')}"
    try:
        c.kill(signal="SIGKILL")
    except APIError as e:
        if "is not running" not in str(e):
            raise
        done["already"] = "stopped"  # its process exited by itself a moment ago
        return done
    stopped = f"{node} to stop after SIGKILL"
    wait_until(lambda: state(c) == "stopped", STATE_TIMEOUT, stopped, clock=clock)
    done["killed"] = True
    return done


def start_node(cluster: Cluster, node: str, clock: Clock = REAL_CLOCK) -> dict[str, JSON]:
    c = cluster.container(node)
    st = state(c)
    if st != "stopped":
        # Running, or paused by the pause fault meanwhile (its own heal thaws it).
        return {"already": st}
    c.start()
    running = f"{node} to run after start"
    wait_until(lambda: state(c) == "running", STATE_TIMEOUT, running, clock=clock)
    done: dict[str, JSON] = {"started": True}
    if lazyfs_on(c):
        done["lazyfs"] = wait_lazyfs(c, clock=clock)
    return done


@dataclass(frozen=True, slots=True)
class Restarts:
    """What `restart_nodes` did: each node's `start_node` action and its state after."""

    actions: dict[str, dict[str, JSON]]
    states: dict[str, str]

    @property
    def restarted(self) -> list[str]:
        return [n for n, a in self.actions.items() if a.get("started")]

    @property
    def all_up(self) -> bool:
        return all(s != "stopped" for s in self.states.values())


def restart_nodes(cluster: Cluster, nodes: Sequence[str], clock: Clock = REAL_CLOCK) -> Restarts:
    """``docker start`` every stopped node of ``nodes`` (the heal of the crash faults)."""
    actions = {n: start_node(cluster, n, clock) for n in nodes}
    return Restarts(actions, {n: state(cluster.container(n)) for n in nodes})


class Unfreezable(FaultError):
    """The cgroup freezer kept failing: a task stays in uninterruptible sleep."""


def pause_container(c: Container, attempts: int = 6, clock: Clock = REAL_CLOCK) -> None:
    """``docker pause``, retried: runc's freeze can fail ("unable to freeze") while a
    task is between states (e.g. waiting on the lazyfs FUSE daemon); a retry a moment
    later usually lands. When every attempt fails that way, `Unfreezable`: a task is
    stuck in uninterruptible sleep (typically a write waiting on a slow-disk throttle),
    which the cgroup v1 freezer cannot freeze. Other errors propagate as they are."""
    for i in range(attempts):
        try:
            c.pause()
            return
        except APIError as e:
            if "unable to freeze" not in str(e):
                raise
            if i == attempts - 1:
                raise Unfreezable(
                    f"{c.name} could not be frozen in {attempts} attempts (runc: unable to "
                    "freeze): a task stays in uninterruptible sleep, e.g. a write held by a "
                    "slow-disk throttle; the cgroup v1 freezer cannot stop it"
                ) from e
            clock.sleep(0.2 * (i + 1))


class KillFault(StartStopFault):
    """SIGKILL nodes; restart them on stop (see module docstring)."""

    def __init__(
        self, cluster: Cluster, flush_lazyfs: bool = True, *, clock: Clock = REAL_CLOCK
    ) -> None:
        super().__init__(cluster, clock=clock)
        self.flush_lazyfs = flush_lazyfs
        self.down: list[str] = []

    def start(self, value: JSON) -> JSON:
        cluster = self.cluster
        nodes = resolve_target(cluster, value)
        actions = {n: kill_node(cluster, n, self.flush_lazyfs, self.clock) for n in nodes}
        killed = [n for n, a in actions.items() if a.get("killed")]
        self.down.extend(n for n in killed if n not in self.down)
        states = {n: state(cluster.container(n)) for n in nodes}
        ok = all(s == "stopped" for s in states.values())
        return verified(
            ok,
            f"expected {nodes} stopped after SIGKILL, states are {states}",
            value,
            nodes=nodes,
            killed=killed,
            actions=actions,
        )

    def stop(self, everything: bool) -> JSON:
        cluster = self.cluster
        nodes = all_nodes(cluster) if everything else list(self.down)
        done = restart_nodes(cluster, nodes, self.clock)
        self.down = []
        return verified(
            done.all_up,
            f"expected {nodes} running after docker start, states are {done.states}",
            restarted=done.restarted,
            actions=done.actions,
        )


class PauseFault(StartStopFault):
    """Freeze nodes with the cgroup freezer; thaw them on stop."""

    def __init__(
        self, cluster: Cluster, *, clock: Clock = REAL_CLOCK, files: HostFiles = HOST_FILES
    ) -> None:
        super().__init__(cluster, clock=clock)
        self.files = files
        self.paused: list[str] = []

    def start(self, value: JSON) -> JSON:
        cluster = self.cluster
        nodes = resolve_target(cluster, value)
        paused, skipped_states = [], {}
        for n in nodes:
            c = cluster.container(n)
            st = state(c)
            if st != "running":
                skipped_states[n] = st
                continue
            try:
                pause_container(c, clock=self.clock)
            except Unfreezable as e:
                skipped_states[n] = str(e)  # not paused, and said why (not a failure)
                continue
            paused.append(n)
        self.paused.extend(n for n in paused if n not in self.paused)
        if not paused:
            raise NoTarget(f"no target could be paused: {skipped_states}")
        freezer = {n: freezer_state(cluster.container(n), self.files) for n in paused}
        ok = bool(paused) and all(v == "FROZEN" for v in freezer.values())
        why = (
            f"no target could be paused (states {skipped_states})"
            if not paused
            else f"expected the freezer cgroup FROZEN, read {freezer}"
        )
        return verified(
            ok,
            why,
            value,
            nodes=nodes,
            paused=paused,
            not_running=skipped_states,
            freezer=freezer,
        )

    def stop(self, everything: bool) -> JSON:
        cluster = self.cluster
        if everything:
            nodes = [n for n in all_nodes(cluster) if state(cluster.container(n)) == "paused"]
        else:
            nodes = list(self.paused)
        resumed = []
        for n in nodes:
            c = cluster.container(n)
            if state(c) == "paused":
                c.unpause()
                resumed.append(n)
        self.paused = []
        states = {n: state(cluster.container(n)) for n in nodes}
        ok = all(s != "paused" for s in states.values())
        return verified(ok, f"expected {nodes} thawed, states are {states}", resumed=resumed)


KILL_TARGETS: Final = NemesisOption("kill_targets", "whom kill may SIGKILL", choices=TARGETS)
PAUSE_TARGETS: Final = NemesisOption(
    "pause_targets",
    "whom pause may freeze",
    choices=TARGETS,
    default=tuple(k for k in TARGETS if k != "all"),  # every node frozen: only on request
)

KILL: Final = FaultPackage(
    name="kill",
    doc="SIGKILL a node, a key's leader, a minority, a majority, all, or the controller; "
    "restart after a delay (data volume kept).",
    fault=KillFault,
    generator=target_schedule(KILL_TARGETS),
    final=heal_all,
    heal_order=30,
    options=(KILL_TARGETS,),
    colour="#d62728",
)

PAUSE: Final = FaultPackage(
    name="pause",
    doc="Freeze nodes with the cgroup freezer (docker pause), a GC-like stall; then thaw.",
    fault=PauseFault,
    generator=target_schedule(PAUSE_TARGETS),
    final=heal_all,
    heal_order=10,
    options=(PAUSE_TARGETS,),
    colour="#9467bd",
)
