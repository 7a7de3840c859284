"""The Kafka cluster plan: one proxy per directed link, no two bound to one address, and
broker configs that advertise exactly the addresses those proxies serve."""

from __future__ import annotations

import re

import pytest

from harness.contract.config import ConfigError
from harness.contract.plan import ClusterPlan, ClusterSpec, LinkKind
from harness.systems.kafka import CONFIG_PATH, KafkaSystem, cluster_id
from harness.systems.kafka_settings import resolve_settings


def render(nodes: int = 3, profile: str = "safe", **settings: object) -> ClusterPlan:
    spec = ClusterSpec("t1", nodes=nodes, keys=4, replication_factor=min(3, nodes),
                       profile=profile, settings=dict(settings))  # fmt: skip
    return KafkaSystem().render(spec)


def props(plan: ClusterPlan, node: str) -> dict[str, str]:
    text = plan.node(node).files[CONFIG_PATH]
    return dict(
        line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")
    )


def test_every_directed_link_has_its_own_proxy_and_address() -> None:
    plan = render(nodes=4)
    brokers = plan.brokers
    links = {(p.src, p.dst): p for p in plan.proxies}
    for a in brokers:
        for b in brokers:
            if a != b:
                assert links[(a, b)].kind is LinkKind.PEER
        assert links[(a, "controller")].kind is LinkKind.CONTROL
        assert links[("client", a)].publish and links[("admin", a)].publish
    addresses = [(p.listen_node, p.listen_port) for p in plan.proxies]
    assert len(addresses) == len(set(addresses))
    # Proxies bound on all networks must not share a port with any proxy at all.
    everywhere = [p.listen_port for p in plan.proxies if p.listen_node is None]
    assert not set(everywhere) & {p.listen_port for p in plan.proxies if p.listen_node}
    assert len(everywhere) == len(set(everywhere))


def test_brokers_advertise_what_the_proxies_serve() -> None:
    plan = render()
    for b in plan.brokers:
        p = props(plan, b)
        advertised = dict(
            (name, addr) for name, addr in re.findall(r"(\w+)://([^,]+)", p["advertised.listeners"])
        )
        host, port = advertised["REPLICATION"].split(":")
        assert host == b
        for other in plan.brokers:
            if other != b:
                proxy = plan.proxy(f"{other}-{b}")
                assert proxy.listen_node == other and proxy.listen_port == int(port)
                assert proxy.upstream == f"{b}:{port}"
                assert b in plan.node(other).proxy_hosts
        client = plan.proxy(f"client-{b}")
        assert advertised["EXTERNAL"] == f"127.0.0.1:{client.host_port}"
        assert client.listen_port == client.host_port
        admin = plan.proxy(f"admin-{b}")
        assert advertised["ADMIN"] == f"127.0.0.1:{admin.host_port}"
        assert b not in plan.node(b).proxy_hosts  # a broker reaches itself directly
        assert p["broker.rack"] == b
        assert p["controller.quorum.voters"] == "100@controller:9093"
    assert props(plan, "controller")["process.roles"] == "controller"


def test_profiles_and_overrides_reach_server_properties() -> None:
    safe = props(render(), "n1")
    assert safe["min.insync.replicas"] == "2"
    assert safe["unclean.leader.election.enable"] == "false"
    assert "log.flush.interval.messages" not in safe
    unclean = props(render(profile="unclean", **{"num.io.threads": 3}), "n2")
    assert unclean["min.insync.replicas"] == "1"
    assert unclean["unclean.leader.election.enable"] == "true"
    assert unclean["num.io.threads"] == "3"
    assert props(render(profile="fsync"), "n1")["log.flush.interval.messages"] == "1"


def test_bad_profiles_and_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="profile"):
        resolve_settings("nope", {})
    with pytest.raises(ConfigError, match="unknown"):
        resolve_settings("safe", {"typo": 1})
    with pytest.raises(ConfigError, match="replication factor"):
        KafkaSystem().render(ClusterSpec("t", nodes=2, keys=1, replication_factor=3,
                                         profile="safe"))  # fmt: skip


def test_cluster_id_is_a_stable_22_char_base64url_uuid() -> None:
    cid = cluster_id("run-1")
    assert cid == cluster_id("run-1") != cluster_id("run-2")
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cid)
