"""compose.docker_cluster against a fake engine and a fake Toxiproxy: what start creates,
with which names, labels, networks and mounts; logs; teardown by label; docker_client."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, cast

import docker
import pytest

from compose import docker_cluster as dc
from compose import resources
from compose.owner import this_process
from compose.toxiproxy.client import ProxySpec
from harness.contract.plan import ClusterPlan, LinkKind, NodePlan, ProxyPlan, Role
from harness.contract.roles import System
from tests.compose.fakes import FakeEngine, FakeNetwork, api_error

RUN = "r1"


def plan() -> ClusterPlan:
    nodes = (
        NodePlan(
            "n1",
            Role.BROKER,
            "replog",
            ("replog", "--config", "/etc/replog/n1.json"),
            {"/etc/replog/n1.json": '{"id": 1}'},
            env={"LOG": "debug"},
            proxy_hosts=("n2",),
        ),
        NodePlan("n2", Role.CONTROLLER, "replog", ("replog",), {}, data_dir="/var/lib/replog"),
    )
    proxies = (
        ProxyPlan("n1-n2", "n1", "n2", LinkKind.PEER, 9000, "n2:9000", listen_node="n1"),
        ProxyPlan("n2-n1", "n2", "n1", LinkKind.PEER, 20021, "n1:9000"),
        ProxyPlan("client-n1", "client", "n1", LinkKind.CLIENT, 21001, "n1:9000", publish=True),
        ProxyPlan(
            "admin-n1", "admin", "n1", LinkKind.ADMIN, 22001, "n1:9001", True, host_port=31001
        ),
    )
    return ClusterPlan(RUN, "replog", ("n1",), "n2", nodes, proxies, 2, 1)


class FakeToxiproxy:
    """`compose.toxiproxy.client.Toxiproxy` as the driver uses it at start."""

    made: ClassVar[list[FakeToxiproxy]] = []

    def __init__(self, address: str, timeout: float = 3.0, retry_for: float = 10.0) -> None:
        self.address, self.timeout, self.retry_for = address, timeout, retry_for
        self.retry_at_version = -1.0
        self.populated: list[ProxySpec] = []
        FakeToxiproxy.made.append(self)

    def version(self) -> str:
        self.retry_at_version = self.retry_for
        return "2.12.0"

    def populate(self, specs: Iterable[ProxySpec]) -> None:
        self.populated = list(specs)


class FakeSystem:
    def __init__(self, states: list[dict[str, Any]]) -> None:
        self.states = states

    def replica_states(self, cluster: object) -> list[dict[str, Any]]:
        return self.states


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    FakeToxiproxy.made = []
    monkeypatch.setattr(dc, "Toxiproxy", FakeToxiproxy)
    e = FakeEngine()
    monkeypatch.setattr(docker, "from_env", e.from_env)
    return e


def cluster(
    fake: FakeEngine, tmp_path: Path, states: list[dict[str, Any]] | None = None
) -> dc.DockerCluster:
    system = cast(System, FakeSystem(states or []))
    tags = {"toxiproxy": "floodmark/toxiproxy:2.12.0", "replog": "floodmark/replog:abc"}
    return dc.DockerCluster(plan(), system, tags, tmp_path / "run", fake.client)


def fuse(monkeypatch: pytest.MonkeyPatch, present: bool) -> None:
    real = os.path.exists
    monkeypatch.setattr(os.path, "exists", lambda p: present if p == "/dev/fuse" else real(p))


# -- start ------------------------------------------------------------------------------


@pytest.mark.parametrize("has_fuse", [True, False])
def test_start_builds_the_layout_of_the_plan(
    fake: FakeEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, has_fuse: bool
) -> None:
    fuse(monkeypatch, has_fuse)
    c = cluster(fake, tmp_path)
    phases: list[str] = []
    c.start(phases.append)
    assert phases == ["networks and volumes", "toxiproxy", "proxies", "nodes"]

    # networks: one internal per node, one public; labelled with the run
    nets = dict(fake.network_creates)
    assert sorted(nets) == ["fm-r1-net-n1", "fm-r1-net-n2", "fm-r1-net-pub"]
    assert nets["fm-r1-net-n1"]["internal"] is True and nets["fm-r1-net-pub"]["internal"] is False
    me = this_process().labels()  # every resource also names its owner: this process
    assert set(me) >= {"floodmark.owner.host", "floodmark.owner.pid"}
    assert nets["fm-r1-net-n1"]["labels"] == {
        "floodmark.run": RUN,
        "floodmark.node": "n1",
        "floodmark.role": "network",
        **me,
    }
    assert nets["fm-r1-net-pub"]["labels"] == {
        "floodmark.run": RUN,
        "floodmark.role": "network",
        **me,
    }
    assert all(kw["driver"] == "bridge" and "ipam" not in kw for kw in nets.values())
    assert {n: v.labels for n, v in fake.volumes.items()} == {
        f"fm-r1-{n}-data": {
            "floodmark.run": RUN,
            "floodmark.node": n,
            "floodmark.role": "data",
            **me,
        }
        for n in ("n1", "n2")
    }

    # toxiproxy: on the public network, joined to every node network as "toxiproxy"
    tp = fake.by_name("fm-r1-toxiproxy")
    assert tp.image == "floodmark/toxiproxy:2.12.0" and tp.status == "running"
    assert tp.labels == {
        "floodmark.run": RUN,
        "floodmark.node": "toxiproxy",
        "floodmark.role": "toxiproxy",
        **me,
    }
    assert tp.kwargs["ports"] == {
        "8474/tcp": ("127.0.0.1",),
        "21001/tcp": ("127.0.0.1",),
        "22001/tcp": ("127.0.0.1", 31001),
    }
    assert tp.kwargs["sysctls"] == {"net.ipv4.tcp_syn_retries": "1"}
    assert [c for c in fake.calls_named("network.connect") if c[2] == tp.name] == [
        ("network.connect", "fm-r1-net-pub", "fm-r1-toxiproxy", None),
        ("network.connect", "fm-r1-net-n1", "fm-r1-toxiproxy", ["toxiproxy"]),
        ("network.connect", "fm-r1-net-n2", "fm-r1-toxiproxy", ["toxiproxy"]),
    ]
    ports = {p: b[0]["HostPort"] for p, b in tp.ports.items()}
    (toxi,) = FakeToxiproxy.made
    assert toxi.address == f"127.0.0.1:{ports['8474/tcp']}"
    assert (toxi.timeout, toxi.retry_at_version, toxi.retry_for) == (3.0, 20.0, 30.0)
    assert c.toxiproxy is cast(Any, toxi)
    assert c.endpoint("client-n1") == f"127.0.0.1:{ports['21001/tcp']}"
    assert c.endpoint("admin-n1") == "127.0.0.1:31001"

    # proxies: one bound to Toxiproxy's address on n1's network, the others everywhere
    ip_n1 = tp.networks["fm-r1-net-n1"]["IPAddress"]
    assert toxi.populated == [
        ProxySpec("n1-n2", f"{ip_n1}:9000", "n2:9000"),
        ProxySpec("n2-n1", "0.0.0.0:20021", "n1:9000"),
        ProxySpec("client-n1", "0.0.0.0:21001", "n1:9000"),
        ProxySpec("admin-n1", "0.0.0.0:22001", "n1:9001"),
    ]

    # nodes: alone on their network, data volume, config files mounted read-only
    n1 = fake.by_name("fm-r1-n1")
    assert n1.status == "running" and c.container("n1") is cast(Any, n1)
    kw = n1.kwargs
    assert n1.image == "floodmark/replog:abc"
    assert kw["command"] == ["replog", "--config", "/etc/replog/n1.json"]
    assert (kw["hostname"], kw["network"]) == ("n1", "fm-r1-net-n1")
    assert n1.labels == {
        "floodmark.run": RUN,
        "floodmark.node": "n1",
        "floodmark.role": "broker",
        **me,
    }
    assert kw["environment"] == {"FLOODMARK_NODE": "n1", "LOG": "debug"}
    assert kw["networking_config"] == {"fm-r1-net-n1": {"Aliases": ["n1"]}}
    assert kw["extra_hosts"] == {"n2": ip_n1} and kw["cap_add"] == ["SYS_ADMIN"]
    config = tmp_path / "run" / "cluster" / "n1" / "n1.json"
    assert config.read_text() == '{"id": 1}'
    assert [dict(m) for m in kw["mounts"]] == [
        {"Target": "/data", "Source": "fm-r1-n1-data", "Type": "volume", "ReadOnly": False},
        {"Target": "/etc/replog/n1.json", "Source": str(config.absolute()), "Type": "bind",
         "ReadOnly": True},
    ]  # fmt: skip
    n2 = fake.by_name("fm-r1-n2")
    assert n2.kwargs["extra_hosts"] is None and n2.labels["floodmark.role"] == "controller"
    assert dict(n2.kwargs["mounts"][0])["Target"] == "/var/lib/replog"
    assert list(n2.networks) == ["fm-r1-net-n2"]
    assert ("devices" in kw) is has_fuse
    if has_fuse:
        assert kw["devices"] == ["/dev/fuse:/dev/fuse:rwm"]


def test_a_port_docker_did_not_publish_is_an_error(fake: FakeEngine, tmp_path: Path) -> None:
    fake.publish_ports = False
    with pytest.raises(RuntimeError, match=r"did not publish port 21001 .*fm-r1-toxiproxy"):
        cluster(fake, tmp_path).start()


def test_before_start_there_is_no_toxiproxy(fake: FakeEngine, tmp_path: Path) -> None:
    c = cluster(fake, tmp_path)
    with pytest.raises(RuntimeError, match=r"not started yet \(call start\(\)\)"):
        _ = c.toxiproxy


def test_lookups_name_what_exists(fake: FakeEngine, tmp_path: Path) -> None:
    c = cluster(fake, tmp_path)
    assert (c.run_id, c.plan.system) == (RUN, "replog") and c.docker.ping()
    assert c.link("n1", "n2") == "n1-n2"
    assert c.name("n1") == "fm-r1-n1" and c.labels() == {"floodmark.run": RUN}
    with pytest.raises(KeyError, match="no proxy for the link n2 → n3; links: "):
        c.link("n2", "n3")
    with pytest.raises(KeyError, match=r"no container for node 'n1'; nodes: \[\]"):
        c.container("n1")
    with pytest.raises(KeyError, match=r"proxy 'client-n1' is not published on the host"):
        c.endpoint("client-n1")


def test_leader_is_the_highest_epoch_leader_of_the_key(fake: FakeEngine, tmp_path: Path) -> None:
    states = [
        {"key": 0, "node": "n1", "role": "leader", "epoch": 3},
        {"key": 0, "node": "n2", "role": "leader", "epoch": 4},
        {"key": 0, "node": "n3", "role": "follower", "epoch": 9},
        {"key": 1, "node": "n1", "role": "leader", "epoch": 7},
    ]
    c = cluster(fake, tmp_path, states)
    assert c.system is not None
    assert (c.leader(0), c.leader(1), c.leader(2)) == ("n2", "n1", None)


# -- networks when Docker's address pools run out ---------------------------------------

POOLS_USED_UP = "could not find an available, non-overlapping IPv4 address pool"


def test_used_up_pools_fall_back_to_a_free_small_subnet(fake: FakeEngine, tmp_path: Path) -> None:
    fake.networks["other"] = dc_net(fake, "other", "172.30.0.0/28")
    fake.networks["v6"] = dc_net(fake, "v6", "fd00::/64")
    fake.networks["bare"] = dc_net(fake, "bare", None)
    fake.network_create_errors = [
        api_error(POOLS_USED_UP),
        api_error("Pool overlaps with other one"),
    ]
    cluster(fake, tmp_path)._create_network("n1")
    subnets = [
        kw.get("ipam", {}).get("Config", [{}])[0].get("Subnet") for _, kw in fake.network_creates
    ]
    assert subnets == [None, "172.30.0.16/28", "172.30.0.32/28"]
    assert fake.networks["fm-r1-net-n1"].subnet == "172.30.0.32/28"


def test_no_free_subnet_says_how_to_make_room(fake: FakeEngine, tmp_path: Path) -> None:
    for s in dc.FALLBACK_SUPERNETS:
        fake.networks[s] = dc_net(fake, s, s)
    fake.network_create_errors = [api_error(POOLS_USED_UP)]
    with pytest.raises(
        RuntimeError, match=r"no free subnet for network fm-r1-net-n1.*floodmark clean"
    ):
        cluster(fake, tmp_path)._create_network("n1")


@pytest.mark.parametrize("second", [False, True])
def test_other_network_errors_are_raised(fake: FakeEngine, tmp_path: Path, second: bool) -> None:
    other = api_error("network with name fm-r1-net-n1 already exists")
    fake.network_create_errors = [api_error(POOLS_USED_UP), other] if second else [other]
    with pytest.raises(docker.errors.APIError, match="already exists"):
        cluster(fake, tmp_path)._create_network("n1")


def dc_net(fake: FakeEngine, name: str, subnet: str | None) -> FakeNetwork:
    return FakeNetwork(fake, name, {}, {}, subnet)


# -- logs -------------------------------------------------------------------------------


def test_collect_logs_writes_each_container_and_survives_one_failing(
    fake: FakeEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    c = cluster(fake, tmp_path)
    c.start()
    fake.by_name("fm-r1-n1").log_bytes = b"n1 started\n"
    fake.by_name("fm-r1-toxiproxy").log_bytes = b"proxy up\n"
    fake.by_name("fm-r1-n2").logs_error = docker.errors.NotFound("No such container")
    with caplog.at_level(logging.WARNING, logger="floodmark"):
        c.collect_logs(tmp_path / "logs")
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["n1.log", "toxiproxy.log"]
    assert (tmp_path / "logs" / "n1.log").read_bytes() == b"n1 started\n"
    assert "teardown: collecting the log of n2 failed: NotFound" in caplog.text


# -- teardown by label ------------------------------------------------------------------


@pytest.fixture
def two_runs(fake: FakeEngine, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Run r1 and run r2, each with containers, networks and a volume; sleeps recorded."""
    for run in ("r1", "r2"):
        for n in ("n1", "n2"):
            fake.add_container(f"fm-{run}-{n}", {"floodmark.run": run, "floodmark.node": n})
            fake.client.networks.create(f"fm-{run}-net-{n}", labels={"floodmark.run": run})
        fake.client.volumes.create(f"fm-{run}-n1-data", labels={"floodmark.run": run})
    fake.add_container("unrelated", {})
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    fake.calls.clear()
    return sleeps


def names(fake: FakeEngine) -> list[str]:
    return sorted(
        [c.name for c in fake.containers.values()] + list(fake.networks) + list(fake.volumes)
    )


def test_teardown_removes_only_the_given_run(fake: FakeEngine, two_runs: list[float]) -> None:
    removed = resources.remove_labelled(fake.client, "r1")
    assert removed == {"containers": 2, "networks": 2, "volumes": 1}
    assert names(fake) == [
        "fm-r2-n1", "fm-r2-n1-data", "fm-r2-n2", "fm-r2-net-n1", "fm-r2-net-n2", "unrelated"
    ]  # fmt: skip
    assert fake.calls_named("containers")[0] == (
        "containers",
        True,
        {"label": "floodmark.run=r1"},
    )
    assert {c[2:] for c in fake.calls_named("remove_container")} == {(True, True)}
    assert ("volume.remove", "fm-r1-n1-data", True) in fake.calls
    assert two_runs == []  # every volume went at the first pass: no wait for a retry


def test_teardown_counts_a_container_already_gone_and_finds_late_ones(
    fake: FakeEngine, two_runs: list[float]
) -> None:
    gone = fake.by_name("fm-r1-n2")
    late: list[str] = []

    def race() -> None:
        if gone.id in fake.containers:  # listed, then removed by someone else
            del fake.containers[gone.id]
            late.append(fake.add_container("fm-r1-late", {"floodmark.run": "r1"}).id)

    fake.on_list_containers.append(race)
    removed = resources.remove_labelled(fake.client, "r1")
    assert removed["containers"] == 3  # n1, n2 (already gone) and the late one
    removals = [c[1] for c in fake.calls_named("remove_container")]
    assert gone.id in removals and removals[-1] == late[0]
    assert not any(c.labels.get("floodmark.run") == "r1" for c in fake.containers.values())


def test_teardown_logs_what_it_cannot_remove_and_goes_on(
    fake: FakeEngine, two_runs: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    stuck = fake.by_name("fm-r1-n1")
    fake.remove_errors[stuck.id] = api_error("removal of container is already in progress")
    fake.networks["fm-r1-net-n2"].remove_error = api_error("network has active endpoints")
    with caplog.at_level(logging.WARNING, logger="floodmark"):
        removed = resources.remove_labelled(fake.client, "r1")
    assert removed == {"containers": 1, "networks": 1, "volumes": 1}
    assert len(fake.calls_named("remove_container")) == 4  # three passes at the stuck one
    assert "teardown: removing container fm-r1-n1 failed: APIError" in caplog.text
    assert "teardown: removing network fm-r1-net-n2 failed" in caplog.text


def test_teardown_of_every_run_and_a_failing_list(
    fake: FakeEngine, two_runs: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    fake.list_containers_error = api_error("engine busy")
    with caplog.at_level(logging.WARNING, logger="floodmark"):
        removed = resources.remove_labelled(fake.client)
    assert removed == {"containers": 0, "networks": 4, "volumes": 2}
    assert "teardown: listing containers failed" in caplog.text
    fake.list_containers_error = None
    assert resources.remove_labelled(fake.client)["containers"] == 4
    assert names(fake) == ["unrelated"]
    assert fake.calls_named("networks.list")[0] == ("networks.list", {"label": "floodmark.run"})


def test_cluster_remove_is_teardown_of_its_run(
    fake: FakeEngine, two_runs: list[float], tmp_path: Path
) -> None:
    assert cluster(fake, tmp_path).remove() == {"containers": 2, "networks": 2, "volumes": 1}


def test_labelled_containers_are_id_and_name(fake: FakeEngine) -> None:
    c = fake.add_container("fm-r1-n1", {"floodmark.run": "r1"})
    assert resources.labelled_containers(fake.client, "floodmark.run") == [(c.id, "fm-r1-n1")]


# -- parallel and docker_client ---------------------------------------------------------


def test_parallel_waits_for_every_call_before_raising() -> None:
    done: list[int] = []

    def work(i: int) -> int:
        if i == 0:
            raise ValueError("first fails")
        done.append(i)
        return i

    with pytest.raises(ValueError, match="first fails"):
        resources.parallel(work, range(5), workers=2)
    assert sorted(done) == [1, 2, 3, 4]
    assert resources.parallel(lambda i: i * 2, [1, 2, 3]) == [2, 4, 6]


def test_parallel_interrupted_lets_calls_in_flight_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(futures: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(resources, "wait", interrupted)
    done: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        resources.parallel(done.append, [1], workers=1)
    assert done == [1]


def test_docker_client_pings_the_engine(fake: FakeEngine) -> None:
    client = dc.docker_client(timeout=5)
    assert cast(Any, client).timeout == 5 and fake.calls == [("ping",)]


@pytest.mark.parametrize("where", ["from_env", "ping"])
def test_an_unreachable_engine_says_to_run_make_docker(fake: FakeEngine, where: str) -> None:
    error = docker.errors.DockerException("Error while fetching server API version")
    if where == "from_env":
        fake.from_env_error = error
    else:
        fake.ping_error = error
    with pytest.raises(RuntimeError) as info:
        dc.docker_client()
    assert str(info.value) == (
        "cannot reach the Docker engine (Error while fetching server API version). "
        "Start it with `make docker` (scripts/ensure-docker.sh) or set DOCKER_HOST."
    )
    assert info.value.__cause__ is None


def test_teardown_thaws_a_frozen_container_through_its_freezer_before_removing_it(
    fake: FakeEngine, two_runs: list[float], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resources, "FREEZER_ROOT", tmp_path)
    frozen = next(c for c in fake.containers.values() if c.labels.get("floodmark.run") == "r1")
    (tmp_path / frozen.id).mkdir()
    state = tmp_path / frozen.id / "freezer.state"
    state.write_text("FROZEN\n")
    removed = resources.remove_labelled(fake.client, "r1")
    assert state.read_text() == "THAWED" and removed["containers"] >= 1
    assert frozen.id not in fake.containers
    assert resources.thaw(frozen.id, tmp_path) is False  # thawed already: left alone
    assert resources.thaw("no-such-container", tmp_path) is False
