"""The cluster shape every system here shares, and the plan assembled from it.

A cluster is brokers ``n1..nN`` and one controller node: ``controller``, or ``zk`` where
it is a ZooKeeper (Kafka in ZooKeeper mode). Every directed
link among them, and from the test's clients (``client``) and the harness's monitor
(``admin``) to each broker, is one Toxiproxy proxy named ``<src>-<dst>``
(`harness.contract.plan`). A system chooses the ports, upstreams, configs and commands;
what follows from the shape alone is spelled here once: the broker names, a link's kind
(from its ends) and whether it is published (client and admin links are), and the
`ClusterPlan` around the nodes and proxies::

    >>> link(CLIENT, "n1", 20001, "n1:9092").kind, link("n1", ZOOKEEPER, 2181, "zk:2181").kind
    (<LinkKind.CLIENT: 'client'>, <LinkKind.CONTROL: 'control'>)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from harness.contract.plan import (
    ADMIN,
    CLIENT,
    ClusterPlan,
    ClusterSpec,
    LinkKind,
    NodePlan,
    ProxyPlan,
    Role,
    link_name,
)

CONTROLLER: Final = "controller"
"""The controller node's name (and its end of the control links)."""
ZOOKEEPER: Final = "zk"
"""The ZooKeeper node's name in a ZooKeeper-mode Kafka cluster: the plan's controller
node (it holds the metadata; the Kafka controller itself is one of the brokers)."""
METADATA_NODES: Final = frozenset({CONTROLLER, ZOOKEEPER})
"""The names a metadata node goes by; links to and from them carry control traffic."""


def broker_names(nodes: int) -> tuple[str, ...]:
    """``n1..nN``, in order."""
    return tuple(f"n{i}" for i in range(1, nodes + 1))


def link_kind(src: str, dst: str) -> LinkKind:
    """What the link ``src → dst`` carries, from its ends."""
    if src == CLIENT:
        return LinkKind.CLIENT
    if src == ADMIN:
        return LinkKind.ADMIN
    if src in METADATA_NODES or dst in METADATA_NODES:
        return LinkKind.CONTROL
    return LinkKind.PEER


def link(
    src: str,
    dst: str,
    listen_port: int,
    upstream: str,
    *,
    host_port: int | None = None,
    listen_node: str | None = None,
) -> ProxyPlan:
    """The proxy of the directed link ``src → dst``; client and admin links are published
    on the host's 127.0.0.1 (at ``host_port``, or where Docker chooses when None)."""
    kind = link_kind(src, dst)
    return ProxyPlan(
        link_name(src, dst),
        src,
        dst,
        kind,
        listen_port,
        upstream,
        publish=kind in (LinkKind.CLIENT, LinkKind.ADMIN),
        host_port=host_port,
        listen_node=listen_node,
    )


def cluster_plan(
    spec: ClusterSpec, system: str, nodes: Iterable[NodePlan], proxies: Iterable[ProxyPlan]
) -> ClusterPlan:
    """The plan of ``nodes`` (the brokers in order, and the controller) and ``proxies``."""
    nodes = tuple(nodes)
    return ClusterPlan(
        run_id=spec.run_id,
        system=system,
        brokers=tuple(n.name for n in nodes if n.role is Role.BROKER),
        controller=next((n.name for n in nodes if n.role is Role.CONTROLLER), None),
        nodes=nodes,
        proxies=tuple(proxies),
        keys=spec.keys,
        replication_factor=spec.replication_factor,
    )
