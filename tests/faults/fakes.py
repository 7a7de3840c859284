"""Docker-less fakes for the fault packages' unit tests: a running cluster as faults see it.

`FakeWorld` is one simulated cluster, built from a real plan (replog's, 3 brokers and a
controller): node containers (`FakeContainer`, answering like Docker does, with the
in-container agent simulated), a stateful Toxiproxy HTTP server (`FakeToxiproxy`, talked
to by the real `compose.toxiproxy.client.Toxiproxy`), a network model that decides what a
probe through a proxy sees, the replicas' state (a leader per key, an ISR that shrinks
when the leader's peers have been cut for `FakeWorld.lag` s), the host's cgroup files
(`FakeFiles`) and a clock that moves only when something sleeps (`FakeClock`). The
containers and files are `tests.faults.fake_containers`, the server
`tests.faults.fake_toxiproxy`::

    world = FakeWorld()
    fault = KillFault(world.cluster, clock=world.clock)
    fault.invoke(Phase.START, {"target": "one", "nodes": ["n2"]})
    assert world.containers["n2"].status == "exited"
    assert ("kill", "SIGKILL") in world.containers["n2"].calls

Every container records its calls (``calls``), the server its requests (``requests``).
Failures are scripted: ``container.fail["pause"] = [api_error(409, "...")]`` makes the
next pause raise that error; ``container.agent_reply = lambda argv: ...`` overrides the
agent; ``toxiproxy.fail[("PATCH", "/proxies/n1-n2")] = [500]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import docker
from docker.models.containers import Container

from faults.agent.probe import ProbeResult
from faults.registry import FAULT_PACKAGES
from harness.contract.history import JSON, NEMESIS, HistoryWriter, Op, Phase
from harness.contract.plan import CLIENT, ClusterPlan, ClusterSpec, link_name
from harness.contract.reader import read_history
from harness.contract.roles import Client, Cluster, Fault, FaultOp, System
from harness.nemesis import Nemesis
from harness.systems.replog import ReplogSystem
from tests.fake_clock import FakeClock
from tests.faults.fake_containers import FakeContainer, FakeFiles
from tests.faults.fake_toxiproxy import FakeToxiproxy

# -- the cluster ----------------------------------------------------------------------------


class FakeSystem:
    """The replog system as faults see it: the plan is replog's, replica states come from
    the `FakeWorld`."""

    name = "fake"
    doc = "a simulated replicated log"

    def __init__(self, world: FakeWorld) -> None:
        self.profiles: dict[str, str] = {}
        self.world = world
        self.calls = 0

    def images(self) -> list[str]:
        return []

    def render(self, spec: ClusterSpec) -> ClusterPlan:
        return ReplogSystem().render(spec)

    def client(self, cluster: Cluster, process: int) -> Client:
        raise NotImplementedError("faults never open clients")

    def replica_states(self, cluster: Cluster) -> list[dict[str, JSON]]:
        self.calls += 1
        return self.world.replica_states()

    def dump_replicas(self, cluster: Cluster) -> list[dict[str, JSON]]:
        return []


class FakeCluster:
    """`harness.contract.roles.Cluster` over a `FakeWorld` (what `DockerCluster` is over
    Docker): same lookups, same errors."""

    def __init__(self, world: FakeWorld) -> None:
        self.world = world
        self.run_id = world.plan.run_id
        self.plan = world.plan
        self.toxiproxy = world.toxiproxy.client()
        self.system = cast(System, world.system)
        self.docker = cast(docker.DockerClient, None)

    def container(self, node: str) -> Container:
        if node == "toxiproxy":
            return cast(Container, self.world.toxiproxy_container)
        try:
            return cast(Container, self.world.containers[node])
        except KeyError:
            raise KeyError(f"no container for node {node!r}") from None

    def link(self, src: str, dst: str) -> str:
        name = link_name(src, dst)
        self.plan.proxy(name)
        return name

    def endpoint(self, proxy: str) -> str:
        return f"127.0.0.1:{40000 + self.plan.proxy(proxy).listen_port % 1000}"

    def leader(self, key: int) -> str | None:
        best: tuple[int, str] | None = None
        for s in self.system.replica_states(cast(Cluster, self)):
            if s["key"] == key and s["role"] == "leader":
                cand = (int(str(s["epoch"])), str(s["node"]))
                best = cand if best is None or cand > best else best
        return None if best is None else best[1]


class FakeWorld:
    """One simulated cluster (see the module docstring)."""

    def __init__(self, nodes: int = 3, keys: int = 2, env: dict[str, str] | None = None) -> None:
        self.clock = FakeClock()
        spec = ClusterSpec("r1", nodes, keys, min(3, nodes), "kafka-0.11", {}, dict(env or {}))
        self.plan = ReplogSystem().render(spec)
        self.files = FakeFiles()
        self._pid = 1000
        self.containers: dict[str, FakeContainer] = {}
        for n in self.plan.nodes:
            self.containers[n.name] = FakeContainer(
                self, n.name, {"FLOODMARK_NODE": n.name, **n.env}
            )
        self.toxiproxy_container = FakeContainer(self, "toxiproxy", {})
        self.toxiproxy = FakeToxiproxy(self.clock)
        for p in self.plan.proxies:
            self.toxiproxy.add(p.name, f"[::]:{p.listen_port}", p.upstream)
        self.leaders: dict[int, str] = {k: self.plan.brokers[k % nodes] for k in range(keys)}
        self.epochs: dict[int, int] = dict.fromkeys(range(keys), 1)
        self.lag: float | None = 1.0
        """Seconds a follower's fetches must be cut before the leader drops it from the
        ISR (None: never, as with a ``replica.lag.time.max.ms`` longer than the wait)."""
        self.leaky: set[str] = set()
        """Proxies a probe gets through whatever Toxiproxy says (a cut that leaks)."""
        self.throttled_ms = 120.0
        self.fsync_base_ms = 2.0
        self.system = FakeSystem(self)
        self.cluster = cast(Cluster, FakeCluster(self))
        for c in [*self.containers.values(), self.toxiproxy_container]:
            self._cgroups(c)

    def close(self) -> None:
        self.toxiproxy.close()

    def next_pid(self) -> int:
        self._pid += 1
        return self._pid

    # -- the host's cgroup files ---------------------------------------------------------

    def freezer_file(self, c: FakeContainer) -> str:
        return f"/sys/fs/cgroup/freezer/docker/{c.id}/freezer.state"

    def blkio_dir(self, c: FakeContainer) -> str:
        return f"/sys/fs/cgroup/blkio/docker/{c.id}"

    def _cgroups(self, c: FakeContainer) -> None:
        f = self.files
        f.files[f"/proc/{c.pid}/cgroup"] = (
            f"12:blkio:/docker/{c.id}\n11:freezer:/docker/{c.id}\n0::/system.slice\n"
        )
        f.files.setdefault(self.freezer_file(c), "THAWED\n")
        for name in ("blkio.throttle.write_bps_device", "blkio.throttle.write_iops_device"):
            f.files.setdefault(f"{self.blkio_dir(c)}/{name}", "")
        for m in c.mounts:
            f.devices[m["Source"]] = (8, 1)  # /dev/sda1, a partition of 8:0
        f.files["/sys/dev/block/8:1/partition"] = "1\n"
        f.files["/sys/dev/block/8:1/../dev"] = "8:0\n"

    def started(self, node: str) -> None:
        self._cgroups(self.containers[node])

    def stopped(self, node: str) -> None:
        pass

    def fsync_ms(self, node: str) -> float:
        c = self.containers[node]
        limit = self.files.limit(f"{self.blkio_dir(c)}/blkio.throttle.write_iops_device")
        return self.throttled_ms if limit else self.fsync_base_ms

    # -- the network ---------------------------------------------------------------------

    def ports_of(self, node: str) -> set[int]:
        """The ports a node's process listens on (the upstreams of the links into it)."""
        return {int(p.upstream.rpartition(":")[2]) for p in self.plan.proxies if p.dst == node}

    def up(self, node: str) -> bool:
        c = self.containers.get(node)
        return c is not None and c.status == "running" and c.listening

    def probe(self, src: str, port: int) -> ProbeResult:
        """What a probe from ``src`` to Toxiproxy's ``port`` sees, given the proxies'
        state: refused (no such proxy, or disabled), silent (a timeout toxic holds the
        bytes), answered (EOF: Toxiproxy's dial was refused; data: the node replied)."""
        plan = [p for p in self.plan.proxies if p.listen_port == port]
        if not plan or plan[0].name not in self.toxiproxy.proxies:
            return ProbeResult("refused", 0.001, "[Errno 111] Connection refused")
        p = plan[0]
        state = self.toxiproxy.proxies[p.name]
        if p.name not in self.leaky:
            if not state["enabled"]:
                return ProbeResult("refused", 0.001, "[Errno 111] Connection refused")
            if any(t["type"] == "timeout" for t in state["toxics"]):
                return ProbeResult("silent", 0.5)
        if not self.up(p.dst):
            return ProbeResult("answered", 0.002, "EOF")
        return ProbeResult("answered", 0.002, "reply data")

    def client_probe(self, address: str, deadline: float) -> ProbeResult:
        """`PartitionFault`'s ``probe`` for client links: ``<toxiproxy ip>:<port>``."""
        return self.probe(CLIENT, int(address.rpartition(":")[2]))

    def proxy(self, name: str) -> dict[str, Any]:
        return self.toxiproxy.proxies[name]

    def cut(self) -> dict[str, list[str]]:
        """Proxy → what cuts it now (``disabled``, toxic names)."""
        out: dict[str, list[str]] = {}
        for name, p in sorted(self.toxiproxy.proxies.items()):
            what = ([] if p["enabled"] else ["disabled"]) + sorted(t["name"] for t in p["toxics"])
            if what:
                out[name] = what
        return out

    # -- the replicas --------------------------------------------------------------------

    def replica_states(self) -> list[dict[str, JSON]]:
        """Per key and broker: the leader with its ISR (a follower whose fetch link to the
        leader has been cut for `lag` s is out; a stopped one too), the followers, and
        ``offline`` for stopped nodes."""
        now = self.clock.now()
        out: list[dict[str, JSON]] = []
        for key, leader in self.leaders.items():
            isr = [leader]
            for f in self.plan.brokers:
                if f == leader or not self.up(f):
                    continue
                since = self.toxiproxy.cut_since.get(link_name(f, leader))
                if since is None or self.lag is None or now - since < self.lag:
                    isr.append(f)
            for node in self.plan.brokers:
                c = self.containers[node]
                if c.status != "running":
                    out.append(
                        {
                            "key": key,
                            "node": node,
                            "role": "offline",
                            "leo": -1,
                            "hw": -1,
                            "epoch": -1,
                            "isr": [],
                        }
                    )
                    continue
                role = "leader" if node == leader else "follower"
                out.append(
                    {
                        "key": key,
                        "node": node,
                        "role": role,
                        "leo": 5,
                        "hw": 5,
                        "epoch": self.epochs[key],
                        "isr": sorted(isr) if role == "leader" else [],
                    }
                )
        return out


@contextmanager
def fake_world(
    nodes: int = 3, keys: int = 2, env: dict[str, str] | None = None
) -> Iterator[FakeWorld]:
    world = FakeWorld(nodes, keys, env)
    try:
        yield world
    finally:
        world.close()


def recorded(
    world: FakeWorld, fault: Fault, package: str, phase: Phase, value: JSON, history: str
) -> Op:
    """Run one op of ``fault`` the way the run does (`harness.nemesis.Nemesis.execute`)
    and return the nemesis op it wrote to the history file ``history``."""
    pkg = replace(FAULT_PACKAGES[package], fault=lambda _cluster: fault)
    with HistoryWriter(Path(history)) as writer:
        Nemesis(world.cluster, {package: pkg}, {}, [], writer).execute(
            FaultOp(0.0, phase, package, value)
        )
    ops, _ = read_history(history)
    (op,) = [o for o in ops if o.process == NEMESIS]
    return op
