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
by a request that was interrupted half-way are found too (`remove_labelled`).

Before it creates anything, `DockerCluster.start` reaps the resources of runs whose owner
is gone (a harness killed with ``-9`` leaves its cluster running): `reap_orphans`, which
``floodmark clean`` uses too. The live clusters of other runs on the same engine, and
those of owners on other hosts, are never touched.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final, TypeVar

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container
from docker.models.networks import Network
from docker.models.volumes import Volume
from docker.types import IPAMConfig, IPAMPool, Mount

from compose.owner import Liveness, Owner, liveness, process_start, this_process
from compose.toxiproxy.client import ProxySpec, Toxiproxy
from harness.contract.plan import ClusterPlan, NodePlan
from harness.contract.roles import System
from harness.contract.safely import attempt, best_effort

log = logging.getLogger("floodmark")

LABEL_RUN: Final = "floodmark.run"
LABEL_NODE: Final = "floodmark.node"
LABEL_ROLE: Final = "floodmark.role"
TOXIPROXY: Final = "toxiproxy"
TOXIPROXY_API_PORT: Final = 8474

T = TypeVar("T")
R = TypeVar("R")


def parallel(fn: Callable[[T], R], items: Iterable[T], workers: int = 8) -> list[R]:
    """``map`` in threads; waits for every call (even after a failure) before raising,
    so nothing is still creating resources when teardown starts."""
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        futures = [pool.submit(fn, item) for item in items]
        wait(futures)
    except BaseException:
        # e.g. `Interrupted` from a signal: let the calls in flight finish (the signal guard
        # is disarmed by now, so this wait is not cut short) before teardown looks around.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [f.result() for f in futures]


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


def labelled_containers(client: docker.DockerClient, label: str) -> list[tuple[str, str]]:
    """(id, name) of every container, running or not, that carries ``label``.

    One list call and no per-container inspect (``containers.list`` inspects each one, and
    raises NotFound when a container goes away between the list and its inspect)."""
    return [
        (str(c["Id"]), str((c.get("Names") or ["?"])[0]).lstrip("/"))
        for c in client.api.containers(all=True, filters={"label": label})
    ]


def remove_labelled(client: docker.DockerClient, run_id: str | None = None) -> dict[str, int]:
    """Remove every container, network and volume of one run (or of every run when
    ``run_id`` is None); returns how many of each were removed. Errors are logged."""
    label = LABEL_RUN if run_id is None else f"{LABEL_RUN}={run_id}"
    flt: dict[str, str | list[str] | bool] = {"label": label}
    removed = {"containers": 0, "networks": 0, "volumes": 0}
    no_containers: list[tuple[str, str]] = []
    for _ in range(3):  # again, for one created while the first pass ran
        containers = best_effort(
            "listing containers", lambda: labelled_containers(client, label), no_containers
        )
        if not containers:
            break
        gone = parallel(lambda c: _remove_container(client, *c), containers)
        removed["containers"] += sum(gone)
    no_networks: list[Network] = []
    for net in best_effort(
        "listing networks", lambda: client.networks.list(filters=flt), no_networks
    ):
        removed["networks"] += attempt(f"removing network {net.name}", net.remove)
    no_volumes: list[Volume] = []
    for _ in range(3):
        vols = best_effort("listing volumes", lambda: client.volumes.list(filters=flt), no_volumes)
        if not vols:
            break
        vols_gone = sum(attempt(f"removing volume {v.name}", _remover(v)) for v in vols)
        removed["volumes"] += vols_gone
        if vols_gone == len(vols):
            break  # all gone: nothing to retry
        time.sleep(0.2)  # a volume still held by a container being removed: again
    return removed


@dataclass(frozen=True, slots=True)
class EngineRun:
    """The resources one run (``floodmark.run`` value) has on the engine, and its owner."""

    run_id: str
    owner: Owner | None
    liveness: Liveness
    containers: int = 0
    networks: int = 0
    volumes: int = 0
    removed: Mapping[str, int] | None = None
    """What `reap_orphans` removed; None when kept."""

    def summary(self) -> str:
        have = f"{self.containers} containers, {self.networks} networks, {self.volumes} volumes"
        who = f"owner {self.owner}" if self.owner else "no owner labels"
        if self.removed is None:
            return f"kept run {self.run_id} ({who}, {self.liveness.value}): {have}"
        gone = ", ".join(f"{n} {k}" for k, n in self.removed.items())
        return f"reaped run {self.run_id} ({who} is gone): removed {gone}"


def engine_runs(
    client: docker.DockerClient,
    here: Owner | None = None,
    start_of: Callable[[int], int | None] = process_start,
) -> list[EngineRun]:
    """Every run with resources on the engine, each with its owner's liveness. A run is
    GONE only when the owner of every one of its resources is gone."""
    here = here or this_process()
    seen: dict[str, dict[str, int]] = {}
    owners: dict[str, set[Owner | None]] = {}

    def note(kind: str, labels: Mapping[str, str] | None) -> None:
        run_id = (labels or {}).get(LABEL_RUN)
        if not run_id:
            return
        counts = seen.setdefault(run_id, {"containers": 0, "networks": 0, "volumes": 0})
        counts[kind] += 1
        owners.setdefault(run_id, set()).add(Owner.from_labels(labels))

    flt: dict[str, str | list[str] | bool] = {"label": LABEL_RUN}
    for c in client.api.containers(all=True, filters=flt):
        note("containers", c.get("Labels"))
    for net in client.networks.list(filters=flt):
        note("networks", (getattr(net, "attrs", None) or {}).get("Labels"))
    for vol in client.volumes.list(filters=flt):
        note("volumes", (getattr(vol, "attrs", None) or {}).get("Labels"))
    runs = []
    for run_id, counts in sorted(seen.items()):
        states = {o: liveness(o, here, start_of) for o in owners[run_id]}
        if all(s is Liveness.GONE for s in states.values()):
            state = Liveness.GONE
        else:  # the most careful reading: any sign of life keeps the run
            order = (Liveness.ALIVE, Liveness.ELSEWHERE, Liveness.UNOWNED)
            state = next(s for s in order if s in states.values())
        owner = next((o for o, s in states.items() if s is state), None)
        runs.append(
            EngineRun(run_id, owner, state, counts["containers"], counts["networks"],
                      counts["volumes"])
        )  # fmt: skip
    return runs


def reap_orphans(
    client: docker.DockerClient,
    here: Owner | None = None,
    start_of: Callable[[int], int | None] = process_start,
) -> list[EngineRun]:
    """Remove the resources of every run whose owner is gone; returns those runs (with
    what was removed). Runs of live owners, of other hosts and without owner labels stay."""
    reaped = []
    for run in engine_runs(client, here, start_of):
        if run.liveness is Liveness.GONE:
            removed = remove_labelled(client, run.run_id)
            reaped.append(
                EngineRun(run.run_id, run.owner, run.liveness, run.containers, run.networks,
                          run.volumes, removed)
            )  # fmt: skip
    return reaped


def _remove_container(client: docker.DockerClient, container_id: str, name: str) -> bool:
    """Force-remove one container; one already gone counts as removed."""

    def remove() -> None:
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_container(container_id, force=True, v=True)

    return attempt(f"removing container {name}", remove)


def _remover(thing: Volume) -> Callable[[], None]:
    return lambda: thing.remove(force=True)


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
