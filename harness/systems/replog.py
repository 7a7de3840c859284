"""The replog system adapter: cluster layout, clients and replica introspection.

Layout (ports are inside the Toxiproxy container; ``I``/``J`` are broker numbers 1..9)::

    client-nI       20000+I  → nI:9092          published on 127.0.0.1 (the test's clients)
    admin-nI        21000+I  → nI:9092          published (the monitor; no fault touches it)
    nI-nJ           22000+10I+J → nJ:9092       nI's replication fetches from nJ
    nI-controller   23000+I  → controller:9093  nI's heartbeats and ISR changes
    controller-nI   24000+I  → nI:9092          the controller's LeaderAndIsr to nI

Brokers are ``n1..nN``; the controller is its own container, ``controller``. Node configs
are rendered from ``compose/cluster/replog-*.json.j2`` and checked with replog's own
`replog.config.make_settings`, so a bad profile or setting stops the run before any
container starts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

import jinja2

from harness.contract.config import ConfigError
from harness.contract.history import JSON
from harness.contract.plan import (
    ADMIN,
    CLIENT,
    ClusterPlan,
    ClusterSpec,
    NodePlan,
    ProxyPlan,
    Role,
    link_name,
)
from harness.contract.roles import Client, Cluster
from harness.systems.replog_client import ReplogLogClient
from harness.systems.topology import CONTROLLER, broker_names, cluster_plan, link
from replog import config as replog_config
from replog.client import ReplogClient, ReplogError

BROKER_PORT: Final = 9092
CONTROLLER_PORT: Final = 9093
CONFIG_PATH: Final = "/etc/replog/node.json"
ADMIN_TIMEOUT_S: Final = 1.0

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("compose", "cluster"),
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
)


def _ports(i: int) -> dict[str, int]:
    return {"client": 20000 + i, "admin": 21000 + i, "to_ctl": 23000 + i, "from_ctl": 24000 + i}


class ReplogSystem:
    """`harness.contract.roles.System` for replog (one instance per run)."""

    name = "replog"
    doc = "the reference replicated log (replog/): a miniature Kafka in the Python stdlib"
    profiles: Mapping[str, str] = {
        "kafka-0.11": "leader-epoch truncation (KIP-101's fix); the default",
        "kafka-0.10": "truncation to the high watermark: KIP-101's data loss and divergence",
    }

    def __init__(self) -> None:
        self._hosted: dict[str, list[int]] = {}
        """Keys each broker hosted when last asked (to report them offline when down)."""
        self._keys = 0

    def images(self) -> list[str]:
        return ["toxiproxy", "replog"]

    def render(self, spec: ClusterSpec) -> ClusterPlan:
        try:
            replog_config.make_settings(spec.profile, dict(spec.settings))
        except replog_config.ConfigError as e:
            raise ConfigError([f"replog: {e}"]) from None
        self._keys = spec.keys
        brokers = broker_names(spec.nodes)
        proxies: list[ProxyPlan] = []
        nodes: list[NodePlan] = []
        upstream = {b: f"{b}:{BROKER_PORT}" for b in brokers}
        for i, b in enumerate(brokers, start=1):
            p = _ports(i)
            proxies += [
                link(CLIENT, b, p["client"], upstream[b]),
                link(ADMIN, b, p["admin"], upstream[b]),
                link(b, CONTROLLER, p["to_ctl"], f"{CONTROLLER}:{CONTROLLER_PORT}"),
                link(CONTROLLER, b, p["from_ctl"], upstream[b]),
            ]
            peers = {}
            for j, other in enumerate(brokers, start=1):
                if other == b:
                    continue
                port = 22000 + 10 * i + j
                proxies.append(link(b, other, port, upstream[other]))
                peers[other] = f"toxiproxy:{port}"
            broker_json = _render(
                "replog-broker.json.j2",
                node=b,
                port=BROKER_PORT,
                data_dir="/data",
                controller=f"toxiproxy:{p['to_ctl']}",
                peers=peers,
                profile=spec.profile,
                settings=spec.settings,
            )
            nodes.append(_node(b, Role.BROKER, broker_json, spec))
        controller_json = _render(
            "replog-controller.json.j2",
            port=CONTROLLER_PORT,
            data_dir="/data",
            brokers={b: f"toxiproxy:{_ports(i)['from_ctl']}" for i, b in enumerate(brokers, 1)},
            partitions=spec.keys,
            replication_factor=spec.replication_factor,
            profile=spec.profile,
            settings=spec.settings,
        )
        nodes.append(_node(CONTROLLER, Role.CONTROLLER, controller_json, spec))
        return cluster_plan(spec, self.name, nodes, proxies)

    def client(self, cluster: Cluster, process: int) -> Client:
        endpoints = {b: cluster.endpoint(link_name(CLIENT, b)) for b in cluster.plan.brokers}
        return ReplogLogClient(endpoints)

    # -- introspection ------------------------------------------------------------------

    def replica_states(self, cluster: Cluster) -> list[dict[str, JSON]]:
        """Every replica of every broker, asked in parallel over the admin proxies."""
        brokers = cluster.plan.brokers
        self._keys = cluster.plan.keys
        with ThreadPoolExecutor(max_workers=len(brokers)) as pool:
            answers = list(pool.map(lambda b: self._states_of(cluster, b), brokers))
        return [s for states in answers for s in states]

    def _states_of(self, cluster: Cluster, node: str) -> list[dict[str, JSON]]:
        address = cluster.endpoint(link_name(ADMIN, node))
        try:
            with ReplogClient(address, timeout=ADMIN_TIMEOUT_S) as c:
                raw = c.replica_states()
        except (OSError, ReplogError):
            keys = self._hosted.get(node, list(range(self._keys)))
            return [_offline(k, node) for k in keys]
        states = [_state(r, node) for r in raw]
        self._hosted[node] = sorted(int(s["key"]) for s in states)
        return states

    def dump_replicas(self, cluster: Cluster) -> list[dict[str, JSON]]:
        """Every replica's whole log (brokers that do not answer are left out)."""
        dumps: list[dict[str, JSON]] = []
        for node in cluster.plan.brokers:
            address = cluster.endpoint(link_name(ADMIN, node))
            try:
                with ReplogClient(address, timeout=5.0) as c:
                    for r in c.replica_states():
                        d = c.dump(int(r["key"]))
                        dumps.append(
                            {
                                "key": int(d["key"]),
                                "node": str(d.get("node") or node),
                                "hw": int(d["hw"]),
                                "leo": int(d["leo"]),
                                "records": [[int(o), int(v)] for o, v in d["records"]],
                            }
                        )
            except (OSError, ReplogError):
                continue
        return dumps


def _node(name: str, role: Role, config_json: str, spec: ClusterSpec) -> NodePlan:
    """A replog node: ``python3 -m replog.broker`` or ``replog.controller`` on its config."""
    return NodePlan(
        name=name,
        role=role,
        image="replog",
        command=("python3", "-m", f"replog.{role.value}", "--config", CONFIG_PATH),
        files={CONFIG_PATH: config_json},
        env=dict(spec.env),
    )


def _render(template: str, **ctx: Any) -> str:
    text = _templates.get_template(template).render(**ctx)
    json.loads(text)  # the template must produce valid JSON
    return text


def _state(r: dict[str, Any], node: str) -> dict[str, JSON]:
    return {
        "key": int(r["key"]),
        "node": str(r.get("node") or node),
        "role": str(r.get("role", "follower")),
        "leo": int(r["leo"]),
        "hw": int(r["hw"]),
        "epoch": int(r["epoch"]),
        "isr": [str(n) for n in r.get("isr") or []],
    }


def _offline(key: int, node: str) -> dict[str, JSON]:
    return {"key": key, "node": node, "role": "offline", "leo": -1, "hw": -1, "epoch": -1,
            "isr": []}  # fmt: skip
