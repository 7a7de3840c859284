"""The cluster plan: what a `System` asks the Docker driver to start, as plain data.

A `System` turns a `ClusterSpec` (how many nodes, keys, which profile and settings) into
a `ClusterPlan`: the node containers (image, command, rendered config files, env), and
one Toxiproxy proxy per directed link. The Docker driver (`compose.docker_cluster`)
knows nothing about replog or Kafka; it only executes plans. The plan is written to the
run directory as ``cluster.json`` so a person can see exactly what ran.

Network layout the driver builds from a plan (DESIGN.md §5)::

    net-n1 (internal) ── n1 ─┐
    net-n2 (internal) ── n2 ─┼── toxiproxy (alias "toxiproxy" on every node network,
    net-n3 (internal) ── n3 ─┤              plus one public network for 127.0.0.1 ports)
    net-controller    ── controller ─┘

A node reaches another node only as ``toxiproxy:<port of the proxy for that link>``.

Proxy (link) names are ``<src>-<dst>``: ``n1-n2`` (n1 → n2), ``n1-controller``,
``controller-n1``, ``client-n1`` (the test's clients → n1, published on 127.0.0.1) and
``admin-n1`` (the harness's monitor → n1, published, never touched by a fault).
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any, Final

CLIENT: Final = "client"
"""The `src` of the links from the test's clients to a node."""
ADMIN: Final = "admin"
"""The `src` of the harness's own monitor/admin links (no fault touches them)."""


class LinkKind(enum.StrEnum):
    """What a directed link carries; faults choose links by kind."""

    PEER = "peer"  # broker → broker (replication)
    CONTROL = "control"  # broker → controller, controller → broker
    CLIENT = "client"  # the test's clients → broker (published on 127.0.0.1)
    ADMIN = "admin"  # the harness's monitor → broker (published; faults leave it alone)


class Role(enum.StrEnum):
    BROKER = "broker"
    CONTROLLER = "controller"


def link_name(src: str, dst: str) -> str:
    """The proxy name of the directed link ``src → dst``."""
    return f"{src}-{dst}"


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """What a run asks of a system's cluster (derived from `TestConfig`)."""

    run_id: str
    nodes: int
    keys: int
    replication_factor: int
    profile: str
    settings: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    """Run-level environment variables passed to every node container (e.g. fault layers)."""


@dataclass(frozen=True, slots=True)
class ProxyPlan:
    """One Toxiproxy proxy: the directed link ``src → dst``."""

    name: str
    src: str
    dst: str
    kind: LinkKind
    listen_port: int
    """Port inside the Toxiproxy container (on all its networks)."""
    upstream: str
    """``host:port`` Toxiproxy dials, resolved at connect time (so restarts are fine)."""
    publish: bool = False
    """Publish ``listen_port`` on 127.0.0.1 of the host (client and admin links)."""
    host_port: int | None = None
    """Fixed host port when published; None lets Docker choose (looked up after start)."""
    listen_node: str | None = None
    """Bind the proxy only on Toxiproxy's address on this node's network (``<ip>:<listen_port>``)
    instead of on all its networks. Kafka needs it: a broker advertises ONE address per
    listener (``n2:9092``), which inside n1 resolves (``proxy_hosts``) to Toxiproxy's address
    on net-n1 and inside n3 to its address on net-n3; binding ``n1-n2`` on net-n1's address
    and ``n3-n2`` on net-n3's lets both use port 9092 yet stay separate links."""


@dataclass(frozen=True, slots=True)
class NodePlan:
    """One node container."""

    name: str
    role: Role
    image: str
    """Image name as known to `compose.images` (e.g. ``"replog"``), not a tag."""
    command: tuple[str, ...]
    files: dict[str, str]
    """Path inside the container → file content (rendered configs, mounted read-only)."""
    data_dir: str = "/data"
    """Mount point of the node's named data volume (survives kill and restart)."""
    env: dict[str, str] = field(default_factory=dict)
    proxy_hosts: tuple[str, ...] = ()
    """Host names that, inside this container, resolve to Toxiproxy's address on the
    node's network (for systems that must dial peers by name, e.g. Kafka)."""


@dataclass(frozen=True, slots=True)
class ClusterPlan:
    """Everything the Docker driver needs to start a cluster, as data."""

    run_id: str
    system: str
    brokers: tuple[str, ...]
    controller: str | None
    nodes: tuple[NodePlan, ...]
    proxies: tuple[ProxyPlan, ...]
    keys: int
    replication_factor: int

    def node(self, name: str) -> NodePlan:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node {name!r} in the plan; nodes are {[n.name for n in self.nodes]}")

    def proxy(self, name: str) -> ProxyPlan:
        for p in self.proxies:
            if p.name == name:
                return p
        raise KeyError(f"no proxy {name!r} in the plan (proxy names are '<src>-<dst>')")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
