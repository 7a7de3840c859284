"""The plan of a ZooKeeper-era release (0.10.2.2, 0.11.0.3): brokers and one ZooKeeper node
``zk`` from the same image, every broker's ZooKeeper session on its own proxy, the
durability settings explicit, and what the release cannot do refused at render."""

from __future__ import annotations

import pytest

from harness.contract.config import ConfigError
from harness.contract.plan import ClusterPlan, ClusterSpec, LinkKind, Role
from harness.systems.kafka import (
    CONFIG_PATH,
    ZOOKEEPER_CONFIG_PATH,
    ZOOKEEPER_PORT,
    KafkaSystem,
)
from harness.systems.kafka_settings import (
    build_of,
    idempotence_of,
    resolve_settings,
    topic_configs,
)
from harness.systems.topology import ZOOKEEPER


def render(version: str = "0.10.2.2", settings: dict[str, object] | None = None) -> ClusterPlan:
    spec = ClusterSpec("t1", nodes=3, keys=2, replication_factor=3, profile="safe",
                       settings={"kafka.version": version, **(settings or {})})  # fmt: skip
    return KafkaSystem().render(spec)


def props(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return dict(pairs)


def test_the_metadata_node_is_one_zookeeper_from_the_release_image() -> None:
    plan = render()
    assert plan.brokers == ("n1", "n2", "n3")
    assert plan.controller == ZOOKEEPER == "zk"
    zk = plan.node("zk")
    assert zk.role is Role.CONTROLLER and zk.image == "kafka@0.10.2.2"
    assert zk.command == ("/opt/kafka/start-zookeeper.sh",)
    conf = props(zk.files[ZOOKEEPER_CONFIG_PATH])
    assert conf["clientPort"] == str(ZOOKEEPER_PORT) and conf["dataDir"] == "/data/zookeeper"
    assert conf["maxClientCnxns"] == "0"  # every broker connects from Toxiproxy's address
    assert int(conf["minSessionTimeout"]) <= 6000 <= int(conf["maxSessionTimeout"])
    assert {n.image for n in plan.nodes} == {"kafka@0.10.2.2"}
    assert "controller" not in [n.name for n in plan.nodes]


def test_every_broker_reaches_zookeeper_through_its_own_proxy() -> None:
    plan = render()
    for b in plan.brokers:
        to_zk = plan.proxy(f"{b}-zk")
        assert (to_zk.kind, to_zk.listen_node) == (LinkKind.CONTROL, b)
        assert (to_zk.listen_port, to_zk.upstream) == (ZOOKEEPER_PORT, f"zk:{ZOOKEEPER_PORT}")
        assert plan.proxy(f"zk-{b}").kind is LinkKind.CONTROL
        assert "zk" in plan.node(b).proxy_hosts
        for other in plan.brokers:
            if other != b:
                assert plan.proxy(f"{b}-{other}").kind is LinkKind.PEER
    monitor = plan.proxy("admin-zk")
    assert monitor.kind is LinkKind.ADMIN and monitor.publish
    assert monitor.host_port == monitor.listen_port
    addresses = [(p.listen_node, p.listen_port) for p in plan.proxies]
    assert len(addresses) == len(set(addresses))


def test_brokers_register_in_zookeeper_with_the_durability_settings_explicit() -> None:
    plan = render()
    for i, b in enumerate(plan.brokers, start=1):
        p = props(plan.node(b).files[CONFIG_PATH])
        assert p["broker.id"] == str(i)
        assert p["zookeeper.connect"] == f"zk:{ZOOKEEPER_PORT}"
        assert p["zookeeper.session.timeout.ms"] == "6000"
        # 0.10's default is unclean election on: the safe profile says off, in the file
        assert p["unclean.leader.election.enable"] == "false"
        assert p["min.insync.replicas"] == "2" and p["default.replication.factor"] == "3"
        assert p["inter.broker.listener.name"] == "REPLICATION"
        assert "CONTROLLER" not in p["listener.security.protocol.map"]
        for kraft in ("process.roles", "node.id", "controller.quorum.voters",
                      "broker.session.timeout.ms"):  # fmt: skip
            assert kraft not in p, kraft
        assert "replica.selector.class" not in p  # KIP-392 is 2.4+


def test_the_kraft_plan_keeps_its_controller() -> None:
    plan = render("3.9.2")
    assert plan.controller == "controller"
    assert [p.name for p in plan.proxies if p.name.endswith("-zk")] == []
    p = props(plan.node("n1").files[CONFIG_PATH])
    assert "zookeeper.connect" not in p and p["process.roles"] == "broker"
    assert p["replica.selector.class"].endswith("RackAwareReplicaSelector")
    assert props(plan.node("controller").files[CONFIG_PATH])["process.roles"] == "controller"


@pytest.mark.parametrize(("version", "idempotent"), [("0.10.2.2", False), ("0.11.0.3", True)])
def test_idempotence_follows_what_the_brokers_serve(version: str, idempotent: bool) -> None:
    settings = resolve_settings("safe", {"kafka.version": version})
    assert idempotence_of(settings, build_of(settings)) is idempotent
    off = resolve_settings("safe", {"kafka.version": version, "idempotence": False})
    assert idempotence_of(off, build_of(off)) is False


def test_idempotence_asked_of_0_10_is_refused_before_anything_starts() -> None:
    with pytest.raises(ConfigError, match=r"idempotence=true needs brokers of 0\.11"):
        render(settings={"idempotence": True})


def test_the_session_timeout_is_a_setting() -> None:
    plan = render(settings={"zookeeper.session.timeout.ms": 8000})
    assert props(plan.node("n2").files[CONFIG_PATH])["zookeeper.session.timeout.ms"] == "8000"


def test_release_defaults_write_neither_election_nor_min_isr() -> None:
    """KIP-106's row needs 0.10.2.2's own default (unclean election on): the profile
    ``release-defaults`` leaves both out of server.properties and of the topic."""
    spec = ClusterSpec(
        "t1", 3, 1, 3, profile="release-defaults", settings={"kafka.version": "0.10.2.2"}
    )
    plan = KafkaSystem().render(spec)
    for b in plan.brokers:
        p = props(plan.node(b).files[CONFIG_PATH])
        assert "unclean.leader.election.enable" not in p
        assert "min.insync.replicas" not in p
        assert p["default.replication.factor"] == "3"
    assert topic_configs(resolve_settings("release-defaults", {})) == {}
    assert topic_configs(resolve_settings("safe", {})) == {
        "min.insync.replicas": "2",
        "unclean.leader.election.enable": "false",
    }
    overridden = resolve_settings("release-defaults", {"unclean.leader.election.enable": True})
    assert topic_configs(overridden) == {"unclean.leader.election.enable": "true"}
