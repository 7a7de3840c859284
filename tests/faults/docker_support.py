"""A real replog cluster in Docker (Toxiproxy on every link) for the faults' integration
tests, plus small helpers to observe it. Everything is labelled with the run id and
removed on exit, also when a test fails."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from compose.docker_cluster import DockerCluster, docker_client
from compose.images import ensure_images
from faults.common import FaultError, wait_until
from harness.contract.history import JSON
from harness.contract.plan import ClusterSpec
from harness.monitor import health, wait_healthy
from harness.store import new_run_id
from harness.systems import load_system

T = TypeVar("T")

FAST: dict[str, Any] = {
    "broker.session.timeout.ms": 1500,
    "broker.heartbeat.interval.ms": 150,
    "replica.lag.time.max.ms": 2000,
    "replica.fetch.wait.max.ms": 200,
    "replica.fetch.backoff.ms": 50,
    "request.timeout.ms": 2000,
    "reconnect.backoff.max.ms": 300,
}


@contextmanager
def replog_cluster(
    nodes: int = 3,
    keys: int = 2,
    settings: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    healthy_within: float = 90.0,
) -> Iterator[DockerCluster]:
    system = load_system("replog")
    spec = ClusterSpec(
        new_run_id(), nodes, keys, min(3, nodes), "kafka-0.11",
        {**FAST, **(settings or {})}, dict(env or {}),
    )  # fmt: skip
    plan = system.render(spec)
    images = ensure_images(system.images())
    run_dir = Path(tempfile.mkdtemp(prefix="fm-faults-"))
    cluster = DockerCluster(plan, system, images, run_dir, docker_client())
    try:
        cluster.start()
        problems = wait_healthy(cluster, healthy_within)
        assert not problems, f"cluster not healthy within {healthy_within} s: {problems}"
        yield cluster
    finally:
        cluster.remove()
        shutil.rmtree(run_dir, ignore_errors=True)


def poll(cond: Callable[[], T | None], timeout: float, what: str, every: float = 0.1) -> T:
    """`faults.common.wait_until`, failing the test (AssertionError) when it times out."""
    try:
        return wait_until(cond, timeout, what, interval=every)
    except FaultError as e:
        raise AssertionError(str(e)) from None


def states(cluster: DockerCluster, key: int) -> list[dict[str, JSON]]:
    return [s for s in cluster.system.replica_states(cluster) if s["key"] == key]


def leader_state(cluster: DockerCluster, key: int) -> dict[str, JSON] | None:
    leaders = [s for s in states(cluster, key) if s["role"] == "leader"]
    return max(leaders, key=lambda s: int(s["epoch"])) if leaders else None


def healthy(cluster: DockerCluster) -> bool:
    plan = cluster.plan
    return not health(cluster.system.replica_states(cluster), plan.keys, plan.replication_factor)
