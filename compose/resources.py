"""Docker resources by label: what a run owns on the engine, and how it goes away.

Every container, network and volume floodmark creates carries ``floodmark.run=<run id>``
(`LABEL_RUN`), plus ``floodmark.node``/``floodmark.role`` and its owner labels
(`compose.owner`). Teardown never trusts in-memory bookkeeping: `remove_labelled`
removes whatever carries the run's label, so resources created by a request that was
interrupted half-way are found too. `engine_runs` lists every run on the engine with its
owner's liveness, and `reap_orphans` removes the runs whose owner is gone (a harness
killed with ``-9``); ``floodmark clean`` and every `DockerCluster.start` use it.

A container is thawed (`thaw`, through its freezer cgroup) before it is removed: one
left frozen by a process that died made the engine's unpause and forced removal hang
here (180 s per run, until its ``freezer.state`` was set to ``THAWED`` by hand).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

import docker
import docker.errors
from docker.models.networks import Network
from docker.models.volumes import Volume

from compose.owner import Liveness, Owner, liveness, process_start, this_process
from harness.contract.safely import attempt, best_effort

LABEL_RUN: Final = "floodmark.run"
LABEL_NODE: Final = "floodmark.node"
LABEL_ROLE: Final = "floodmark.role"

FREEZER_ROOT: Final = Path("/sys/fs/cgroup/freezer/docker")
"""Each container's cgroup v1 freezer directory (``<root>/<id>/freezer.state``), which
``docker pause`` and the pause fault set to ``FROZEN``."""

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


def thaw(container_id: str, root: Path | None = None) -> bool:
    """Thaw a frozen container through its freezer cgroup, without the Docker API (see
    the module docstring); True when it was frozen. A container that is not frozen, or an
    engine without the cgroup v1 freezer, is left alone."""
    state = (root or FREEZER_ROOT) / container_id / "freezer.state"
    try:
        if state.read_text().strip() == "THAWED":
            return False
        state.write_text("THAWED")
    except OSError:
        return False
    return True


def _remove_container(client: docker.DockerClient, container_id: str, name: str) -> bool:
    """Force-remove one container (thawed first); one already gone counts as removed."""

    def remove() -> None:
        thaw(container_id)
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_container(container_id, force=True, v=True)

    return attempt(f"removing container {name}", remove)


def _remover(thing: Volume) -> Callable[[], None]:
    return lambda: thing.remove(force=True)
