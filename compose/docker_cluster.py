"""The Docker driver: starts a `ClusterPlan` and tears it down, system-agnostic.

What it builds (DESIGN.md §5; every resource labelled ``floodmark.run=<run id>``, plus
``floodmark.node``, ``floodmark.role`` and its owner, ``floodmark.owner.*``: see
`compose.owner`):

- one ``internal`` bridge network per node, named ``fm-<run>-<node>``: the node is
  alone on it with the Toxiproxy container, which joins every such network under the
  alias ``toxiproxy``. A node can therefore reach nothing but Toxiproxy: not the other
  nodes (they are on other internal networks), not the outside world;
- one ordinary bridge network ``fm-<run>-pub`` for the Toxiproxy container only, through
  which its API and the published proxies (``client-nX``, ``admin-nX``) are reachable
  on 127.0.0.1 of the host (Docker picks the host ports; looked up after start);
- one named volume per node, ``fm-<run>-<node>-data``, mounted at the node's data dir:
  it survives ``docker kill`` and ``docker start`` of the node;
- the node containers, with their rendered config files bind-mounted read-only from
  the run directory, ``/dev/fuse`` and ``CAP_SYS_ADMIN`` (for the faults' FUSE layer),
  and the plan's environment variables.

Networks, volumes and node containers are created in parallel. Teardown never trusts
in-memory bookkeeping: it removes whatever carries the run's label, so resources created
by a request that was interrupted half-way are found too (`compose.resources`).

Before it creates anything, `DockerCluster.start` reaps the resources of runs whose owner
is gone (a harness killed with ``-9`` leaves its cluster running):
`compose.resources.reap_orphans`, which ``floodmark clean`` uses too. The live clusters
of other runs on the same engine, and those of owners on other hosts, are never touched.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, Final

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container
from docker.types import IPAMConfig, IPAMPool, Mount

from compose.owner import Owner, this_process
from compose.resources import (
    LABEL_NODE,
    LABEL_ROLE,
    LABEL_RUN,
    EngineRun,
    parallel,
    reap_orphans,
    remove_labelled,
)
from compose.toxiproxy.client import ProxySpec, Toxiproxy
from harness.contract.plan import ClusterPlan, NodePlan
from harness.contract.roles import System
from harness.contract.safely import attempt, best_effort

log = logging.getLogger("floodmark")

TOXIPROXY: Final = "toxiproxy"
TOXIPROXY_API_PORT: Final = 8474


class DockerCluster:
    """A running cluster (implements `harness.contract.roles.Cluster`)."""

    _owner: Owner | None = None
    """Whose resources these are (`compose.owner`); None: this process."""

    def __init__(
        self,
        plan: ClusterPlan,
        system: System,
        images: dict[str, str],
        run_dir: Path,
        client: docker.DockerClient,
        owner: Owner | None = None,
    ) -> None:
        self._plan = plan
        self._owner = owner
        self._system = system
        self._images = images
        self._run_dir = run_dir
        self._docker = client
        self._prefix = f"fm-{plan.run_id}"
        self._containers: dict[str, Container] = {}
        self._endpoints: dict[str, str] = {}
        self._toxiproxy: Toxiproxy | None = None
        self._links = {(p.src, p.dst): p.name for p in plan.proxies}

    # -- the Cluster protocol -----------------------------------------------------------

    @property
    def run_id(self) -> str:
        return self._plan.run_id

    @property
    def plan(self) -> ClusterPlan:
        return self._plan

    @property
    def toxiproxy(self) -> Toxiproxy:
        if self._toxiproxy is None:
            raise RuntimeError("the cluster's Toxiproxy is not started yet (call start())")
        return self._toxiproxy

    @property
    def docker(self) -> docker.DockerClient:
        return self._docker

    @property
    def system(self) -> System:
        return self._system

    def container(self, node: str) -> Container:
        try:
            return self._containers[node]
        except KeyError:
            raise KeyError(
                f"no container for node {node!r}; nodes: {sorted(self._containers)}"
            ) from None

    def link(self, src: str, dst: str) -> str:
        try:
            return self._links[(src, dst)]
        except KeyError:
            raise KeyError(
                f"no proxy for the link {src} → {dst}; links: {sorted(self._links.values())}"
            ) from None

    def endpoint(self, proxy: str) -> str:
        try:
            return self._endpoints[proxy]
        except KeyError:
            raise KeyError(
                f"proxy {proxy!r} is not published on the host; published: "
                f"{sorted(self._endpoints)}"
            ) from None

    def leader(self, key: int) -> str | None:
        best: tuple[int, str] | None = None
        for s in self._system.replica_states(self):
            if s["key"] == key and s["role"] == "leader":
                cand = (int(s["epoch"]), str(s["node"]))
                best = cand if best is None or cand > best else best
        return None if best is None else best[1]

    # -- lifecycle ----------------------------------------------------------------------

    def name(self, what: str) -> str:
        return f"{self._prefix}-{what}"

    def labels(self, node: str = "", role: str = "") -> dict[str, str]:
        d = {LABEL_RUN: self.run_id}
        if node:
            d[LABEL_NODE] = node
        if role:
            d[LABEL_ROLE] = role
        return d

    def owned(self, node: str = "", role: str = "") -> dict[str, str]:
        """`labels` plus the owner's: what every created resource carries."""
        return {**self.labels(node, role), **(self._owner or this_process()).labels()}

    def start(self, phase: Callable[[str], None] = lambda _msg: None) -> None:
        """Orphans of dead runs reaped; networks and volumes, Toxiproxy and its proxies,
        then the nodes."""
        plan = self._plan
        nothing: list[EngineRun] = []
        reaped = best_effort(
            "reaping the resources of dead runs", lambda: reap_orphans(self._docker), nothing
        )
        for dead in reaped:
            log.warning("%s", dead.summary())
        phase("networks and volumes")
        parallel(self._create_network, [*(n.name for n in plan.nodes), "pub"])
        parallel(self._create_volume, [n.name for n in plan.nodes])
        phase("toxiproxy")
        self._start_toxiproxy()
        phase("proxies")
        proxy_ips = self._toxiproxy_ips()
        specs = [
            ProxySpec(
                p.name,
                f"{proxy_ips[p.listen_node] if p.listen_node else '0.0.0.0'}:{p.listen_port}",
                p.upstream,
            )
            for p in plan.proxies
        ]
        self.toxiproxy.populate(specs)
        phase("nodes")
        parallel(lambda n: self._start_node(n, proxy_ips), plan.nodes)

    def _create_network(self, node: str) -> None:
        """One bridge network; when Docker's default address pools are used up (about 30
        networks: several clusters at once), a small /28 from `FALLBACK_SUPERNETS`."""
        create = partial(
            self._docker.networks.create,
            self.name(f"net-{node}"),
            driver="bridge",
            internal=node != "pub",
            labels=self.owned(node=node if node != "pub" else "", role="network"),
            check_duplicate=True,
        )
        try:
            create()
            return
        except docker.errors.APIError as e:
            if "non-overlapping" not in str(e):
                raise
        for subnet in _free_subnets(self._docker):
            try:
                create(ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet))]))
                return
            except docker.errors.APIError as e:
                if "overlap" not in str(e):
                    raise  # anything but a race with another run taking the same subnet
        raise RuntimeError(
            f"no free subnet for network {self.name(f'net-{node}')}: Docker's default pools "
            f"and {', '.join(FALLBACK_SUPERNETS)} are used up; remove unused networks "
            "(`floodmark clean`, `docker network prune`) and run again"
        )

    def _create_volume(self, node: str) -> None:
        self._docker.volumes.create(
            self.name(f"{node}-data"), labels=self.owned(node=node, role="data")
        )

    def _start_toxiproxy(self) -> None:
        published = [p for p in self._plan.proxies if p.publish]
        ports: dict[str, Any] = {f"{TOXIPROXY_API_PORT}/tcp": ("127.0.0.1",)}
        for p in published:
            ports[f"{p.listen_port}/tcp"] = (
                ("127.0.0.1", p.host_port) if p.host_port else ("127.0.0.1",)
            )
        c = self._docker.containers.create(
            self._images["toxiproxy"],
            name=self.name(TOXIPROXY),
            labels=self.owned(node=TOXIPROXY, role=TOXIPROXY),
            network=self.name("net-pub"),
            ports=ports,
            environment={"LOG_LEVEL": "info"},
            # A stopped node's name is unknown to Docker's DNS, which then forwards the
            # query to the host's resolvers (unreachable here: 10 s per lookup). Toxiproxy
            # dials upstreams inside its accept loop, so a killed node would stall its
            # proxies' accept loops and every disable (PATCH) behind them: fail fast.
            dns_opt=["timeout:1", "attempts:1"],
            # Likewise a TCP connect towards a node killed a moment ago: its address no
            # longer answers and the kernel retries the SYN for up to 2 minutes; one retry
            # (3 s) keeps Toxiproxy's accept loop, and the disables behind it, moving.
            sysctls={"net.ipv4.tcp_syn_retries": "1"},
            detach=True,
        )
        self._containers[TOXIPROXY] = c
        for n in self._plan.nodes:
            self._docker.networks.get(self.name(f"net-{n.name}")).connect(c, aliases=[TOXIPROXY])
        c.start()
        c.reload()
        bound = c.attrs["NetworkSettings"]["Ports"] or {}

        def host_port(port: int) -> str:
            bindings = bound.get(f"{port}/tcp") or []
            if not bindings:
                raise RuntimeError(
                    f"Docker did not publish port {port} of the Toxiproxy container "
                    f"({c.name}); its port map is {bound!r}"
                )
            return f"127.0.0.1:{bindings[0]['HostPort']}"

        self._endpoints = {p.name: host_port(p.listen_port) for p in published}
        self._toxiproxy = Toxiproxy(host_port(TOXIPROXY_API_PORT), timeout=3.0, retry_for=20.0)
        version = self._toxiproxy.version()  # retried until the API answers (bounded)
        log.info("toxiproxy %s at %s", version, self._toxiproxy.address)
        # 30 s, not less: Toxiproxy dials a proxy's upstream inside its accept loop, and
        # a disable (PATCH) waits for that loop; a dial towards a node killed a moment
        # ago can take several seconds per queued connection.
        self._toxiproxy.retry_for = 30.0

    def _toxiproxy_ips(self) -> dict[str, str]:
        c = self._containers[TOXIPROXY]
        c.reload()
        nets = c.attrs["NetworkSettings"]["Networks"]
        return {
            n.name: nets[self.name(f"net-{n.name}")]["IPAddress"]
            for n in self._plan.nodes
            if self.name(f"net-{n.name}") in nets
        }

    def _start_node(self, node: NodePlan, proxy_ips: dict[str, str]) -> None:
        files_dir = self._run_dir / "cluster" / node.name
        files_dir.mkdir(parents=True, exist_ok=True)
        mounts = [Mount(node.data_dir, self.name(f"{node.name}-data"), type="volume")]
        for target, content in node.files.items():
            host = files_dir / Path(target).name
            host.write_text(content)
            mounts.append(Mount(target, str(host.absolute()), type="bind", read_only=True))
        net = self.name(f"net-{node.name}")
        extra_hosts = {h: proxy_ips[node.name] for h in node.proxy_hosts}
        kwargs: dict[str, Any] = {}
        if os.path.exists("/dev/fuse"):
            kwargs["devices"] = ["/dev/fuse:/dev/fuse:rwm"]
        c = self._docker.containers.create(
            self._images[node.image],
            command=list(node.command),
            name=self.name(node.name),
            hostname=node.name,
            labels=self.owned(node=node.name, role=node.role.value),
            environment={"FLOODMARK_NODE": node.name, **node.env},
            mounts=mounts,
            network=net,
            networking_config={net: self._docker.api.create_endpoint_config(aliases=[node.name])},
            extra_hosts=extra_hosts or None,
            cap_add=["SYS_ADMIN"],
            detach=True,
            **kwargs,
        )
        self._containers[node.name] = c
        c.start()

    def collect_logs(self, dest: Path) -> None:
        """Each container's stdout+stderr into ``dest/<node>.log`` (best effort)."""
        dest.mkdir(parents=True, exist_ok=True)

        def one(item: tuple[str, Container]) -> None:
            node, c = item
            attempt(
                f"collecting the log of {node}",
                lambda: (dest / f"{node}.log").write_bytes(c.logs(stdout=True, stderr=True)),
            )

        parallel(one, list(self._containers.items()))

    def remove(self) -> dict[str, int]:
        return remove_labelled(self._docker, self.run_id)


FALLBACK_SUPERNETS: Final = ("172.30.0.0/16", "172.29.0.0/16", "172.28.0.0/16")
"""Where small (/28: a node and Toxiproxy) networks are carved when the defaults run out."""


def _free_subnets(client: docker.DockerClient) -> Iterable[ipaddress.IPv4Network]:
    """/28 subnets of `FALLBACK_SUPERNETS` that overlap no existing Docker network."""
    used = [
        ipaddress.ip_network(cfg["Subnet"], strict=False)
        for net in client.networks.list()
        for cfg in (net.attrs.get("IPAM") or {}).get("Config") or []
        if cfg.get("Subnet") and ":" not in cfg["Subnet"]
    ]
    for supernet in FALLBACK_SUPERNETS:
        for subnet in ipaddress.IPv4Network(supernet).subnets(new_prefix=28):
            if not any(subnet.overlaps(u) for u in used):
                yield subnet


def docker_client(timeout: int = 60) -> docker.DockerClient:
    """The Docker engine client, or an error that says what to do."""
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
        raise RuntimeError(
            f"cannot reach the Docker engine ({e}). Start it with `make docker` "
            "(scripts/ensure-docker.sh) or set DOCKER_HOST."
        ) from None
    return client
