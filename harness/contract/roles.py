"""The roles of floodmark, one small `typing.Protocol` each (STYLE.md habit 1).

- `Client`: one per logical client process; performs an operation and says what became
  of it (`ok`, `fail` = definitely did not happen, `info` = unknown), deciding that in
  ONE error table per system.
- `System`: a replicated log floodmark can run (replog, kafka): its images, how to lay
  out a cluster, how to get a client, how to look inside the replicas.
- `Fault`: one fault mechanism; its ops come from a `FaultPackage`'s generator.
- `Cluster`: the handle on a running cluster that faults (and the monitor) receive:
  the nodes, their containers, the Toxiproxy client, the proxy name of each directed
  link, the system for introspection ("leader of key k"), the Docker client.

Optional abilities get their own small protocols rather than more methods here.

How a fault package plugs in (the nemesis seam)::

    # faults/<name>.py
    PACKAGE = FaultPackage(
        name="partition",
        fault=PartitionFault,               # () -> Fault; setup(cluster) is called once
        generator=partition_schedule,       # (NemesisContext) -> Iterable[FaultOp]
        final=lambda ctx: [FaultOp(0.0, "stop-partition")],
        colour="#e4572e",
    )
    # faults/registry.py
    FAULT_PACKAGES["partition"] = PACKAGE

`floodmark run --nemesis partition` then: builds each chosen package's schedule from a
seeded RNG *before* the load starts (`harness.nemesis.build_schedule`), runs
``fault.setup(cluster)``, executes the ops at their times in the nemesis thread
(``fault.invoke(f, value)`` returns what was actually done, which is logged as a
``process: "nemesis"``, ``type: info`` op), runs the ``final`` (heal) ops when the load
ends or the run is interrupted, and finally ``fault.teardown()``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from harness.contract.history import JSON, OpType
from harness.contract.links import LinkControl

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

    from harness.contract.plan import ClusterPlan, ClusterSpec


@dataclass(frozen=True, slots=True)
class Completion:
    """What a client says became of an operation."""

    type: OpType
    value: JSON
    node: str | None = None
    error: str | None = None


@runtime_checkable
class Client(Protocol):
    """A client for one logical process. ``invoke`` never raises for a system error: it
    maps the error through the system's error table into a `Completion`."""

    def open(self) -> None: ...

    def invoke(self, f: str, value: JSON) -> Completion: ...

    def close(self) -> None: ...


@runtime_checkable
class Cluster(Protocol):
    """A running cluster, as faults, the monitor and clients see it.

    Node names are ``n1..nN`` for brokers and `controller` (or None when the system has
    no separate controller). Link (proxy) names come from `harness.contract.plan.link_name`.
    """

    @property
    def run_id(self) -> str: ...

    @property
    def plan(self) -> ClusterPlan:
        """The rendered plan: nodes, proxies (`ProxyPlan` with src/dst/kind), keys, RF."""
        ...

    @property
    def toxiproxy(self) -> LinkControl: ...

    @property
    def docker(self) -> docker.DockerClient: ...

    @property
    def system(self) -> System: ...

    def container(self, node: str) -> Container:
        """The Docker container of a node (broker or controller)."""
        ...

    def link(self, src: str, dst: str) -> str:
        """The Toxiproxy proxy name of the directed link ``src → dst`` (KeyError if none)."""
        ...

    def endpoint(self, proxy: str) -> str:
        """``127.0.0.1:<port>`` where a published proxy (``client-nX``, ``admin-nX``) listens."""
        ...

    def leader(self, key: int) -> str | None:
        """The node that currently leads ``key`` (asked of the system now), or None."""
        ...


@runtime_checkable
class System(Protocol):
    """A replicated log floodmark can test. Registered in `harness.systems.SYSTEMS`.

    `replica_states` returns one dict per (key, node) shaped like the history's
    ``replica-state`` value (DESIGN.md §3); a node that cannot be reached is reported
    with ``"role": "offline"`` (and ``leo``/``hw``/``epoch`` of -1) for the keys it is
    known to host. `dump_replicas` returns ``replica-dump`` values.
    """

    name: str

    def images(self) -> list[str]:
        """Image names (as known to `compose.images`) the cluster needs."""
        ...

    def render(self, spec: ClusterSpec) -> ClusterPlan: ...

    def client(self, cluster: Cluster, process: int) -> Client:
        """A fresh client for logical process ``process`` (not yet opened)."""
        ...

    def replica_states(self, cluster: Cluster) -> list[dict[str, JSON]]: ...

    def dump_replicas(self, cluster: Cluster) -> list[dict[str, JSON]]: ...


@runtime_checkable
class Fault(Protocol):
    """One fault mechanism. ``invoke`` returns what it actually did (JSON), which the
    nemesis logs; it raises only when it could not act at all (the nemesis logs that
    as ``"verified": false`` with the reason)."""

    def setup(self, cluster: Cluster) -> None: ...

    def invoke(self, f: str, value: JSON) -> JSON: ...

    def teardown(self) -> None: ...


@dataclass(frozen=True, slots=True)
class FaultOp:
    """One scheduled fault action: at ``at`` seconds after the load starts, do ``f``."""

    at: float
    f: str
    value: JSON = None


@dataclass(frozen=True, slots=True)
class NemesisContext:
    """What a fault package's generator may base its schedule on (all known up front, so
    the schedule is a pure function of seed, config and nodes)."""

    rng: random.Random
    brokers: tuple[str, ...]
    controller: str | None
    keys: int
    time_limit: float
    interval: float
    """Mean seconds between fault actions (``--nemesis-interval``)."""
    options: dict[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FaultPackage:
    """A fault as a value: the mechanism, its start/stop schedule, its heal ops, its colour."""

    name: str
    fault: Callable[[], Fault]
    generator: Callable[[NemesisContext], Iterable[FaultOp]]
    final: Callable[[NemesisContext], Sequence[FaultOp]]
    colour: str
    doc: str = ""
    heal_order: int = 50
    """When this package's final ops run at the end, lower first: thaw frozen nodes, then
    reconnect links, then restart stopped nodes, then reset per-node state (clock,
    throttles) on nodes that are running again (a reset skips a stopped node)."""
