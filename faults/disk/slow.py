"""``slow-disk``: throttle writes to a node's data volume through its blkio cgroup.

cgroup v1 (this engine): the container's blkio cgroup is read from
``/proc/<pid>/cgroup``; the device is the one holding the data volume (``stat`` of the
volume's mountpoint on the host, mapped from a partition to its whole disk, since
blk-throttle works per disk). The fault writes ``"<major>:<minor> <limit>"`` to
``blkio.throttle.write_bps_device`` and ``write_iops_device`` and lifts it by writing a
limit of 0. Writes that reach the disk from the container (an fsync, writeback it
triggers, O_DIRECT) are throttled; the kernel's own background writeback is not (a v1
limitation), which is why the verification measures fsync latency.

Verification: an fsync probe inside the container (4 KiB write + fsync, repeated, in a
hidden file on the data volume) before and after; the median must grow ≥ 10x. The probe
under the throttle stops after `AFTER_LEAST` writes once `AFTER_BUDGET_S` has passed: at
the harshest levels one fsync takes over a second, and the nemesis executes its ops one
after another, so nine of them held every other fault (and every trigger) back ~15 s.

A throttle lives in the container's cgroup, so a restart (kill) lifts it; the history
says when. History value::

    start-slow-disk {"node": "n2", "device": "254:0", "write_bps": 65536, "write_iops": 10,
        "fsync_ms": {"before": 1.9, "after": 101.4}, "slowdown": 53.4, "verified": true}
"""

from __future__ import annotations

import os
import random
import statistics
from dataclasses import dataclass, field
from typing import Final

from docker.errors import APIError
from docker.models.containers import Container

from harness.contract.history import JSON
from harness.contract.roles import Cluster, FaultPackage, NemesisContext

from ..common import (
    HOST_FILES,
    FaultError,
    HostFiles,
    NoTarget,
    StartStopFault,
    all_nodes,
    exec_json,
    verified,
)
from ..process import lazyfs_on, state
from ..schedule import cycling, heal_all

MIN_SLOWDOWN: Final = 10.0
AFTER_LEAST: Final = 2
"""Writes the probe under the throttle makes at least (the median of two is their mean)."""
AFTER_BUDGET_S: Final = 1.0
"""The probe under the throttle makes no write past this time once it has `AFTER_LEAST`."""
LAZYFS_BACKING: Final = "/var/lib/floodmark/backing"

BPS_LEVELS: Final = (256 * 1024, 64 * 1024, 16 * 1024)
IOPS_LEVELS: Final = (20, 10, 4)

_PROBE = r"""
import json, os, sys, time
d, n, least, budget = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
p = os.path.join(d, ".floodmark-fsync-probe")
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
lat = []
t0 = time.monotonic()
try:
    for i in range(n):
        os.pwrite(fd, os.urandom(4096), i * 4096)
        t = time.monotonic(); os.fsync(fd); lat.append(time.monotonic() - t)
        if len(lat) >= least and time.monotonic() - t0 >= budget:
            break
finally:
    os.close(fd); os.unlink(p)
print(json.dumps({"ok": True, "ms": [round(x * 1000, 3) for x in lat]}))
"""


@dataclass(frozen=True, slots=True)
class Throttle:
    cgroup: str
    device: str
    files: HostFiles = field(default=HOST_FILES, compare=False, repr=False)

    def write(self, name: str, limit: int) -> None:
        self.files.write(os.path.join(self.cgroup, name), f"{self.device} {limit}\n")

    def read(self, name: str) -> str:
        return self.files.read(os.path.join(self.cgroup, name)).strip()


def blkio_cgroup(container: Container, files: HostFiles = HOST_FILES) -> str:
    container.reload()
    pid = int(container.attrs["State"]["Pid"])
    if pid <= 0:
        raise NoTarget(f"{container.name} is not running; its disk cannot be throttled now")
    for line in files.read(f"/proc/{pid}/cgroup").splitlines():
        _, controllers, path = line.split(":", 2)
        if "blkio" in controllers.split(","):
            return f"/sys/fs/cgroup/blkio{path}"
    raise FaultError(
        f"no blkio cgroup for {container.name}; slow-disk needs cgroup v1 with the blkio "
        "controller visible to floodmark (run floodmark on the Docker host)"
    )


def data_device(container: Container, data_dir: str, files: HostFiles = HOST_FILES) -> str:
    """``major:minor`` of the whole disk under the volume mounted at ``data_dir``."""
    for m in container.attrs.get("Mounts") or []:
        if m.get("Destination") == data_dir:
            source = str(m["Source"])
            break
    else:
        raise FaultError(f"{container.name} has no volume mounted at {data_dir}")
    major, minor = files.device(source)
    if major == 0:
        raise FaultError(
            f"the data volume {source} is on a virtual file system (device 0:{minor}); "
            "blkio can only throttle a block device"
        )
    sys_dev = f"/sys/dev/block/{major}:{minor}"
    if files.exists(os.path.join(sys_dev, "partition")):
        return files.read(os.path.join(sys_dev, "..", "dev")).strip()
    return f"{major}:{minor}"


def fsync_probe(
    container: Container, directory: str, n: int, least: int | None = None, budget_s: float = 0.0
) -> float:
    """Median fsync latency (ms) of ``n`` 4 KiB writes in ``directory`` of the container,
    or of fewer, at least ``least``, once ``budget_s`` has passed (default: all ``n``)."""
    least = n if least is None else least
    argv = ["python3", "-c", _PROBE, directory, str(n), str(least), str(budget_s)]
    reply = exec_json(container, argv)
    return float(statistics.median(reply["ms"]))


class SlowDiskFault(StartStopFault):
    """Throttle one node's data-volume writes, measured by fsync probes; lift on stop."""

    def __init__(
        self, cluster: Cluster, probe_writes: int = 9, *, files: HostFiles = HOST_FILES
    ) -> None:
        super().__init__(cluster)
        self.probe_writes = probe_writes
        self.files = files
        self.active: dict[str, Throttle] = {}

    def _probe_dir(self, node: str) -> str:
        # Under lazyfs, probe the real volume (bind-mounted there), not the FUSE layer.
        if lazyfs_on(self.cluster.container(node)):
            return LAZYFS_BACKING
        return self.cluster.plan.node(node).data_dir

    def _throttle(self, c: Container, node: str) -> Throttle:
        data_dir = self.cluster.plan.node(node).data_dir
        cgroup = blkio_cgroup(c, self.files)
        return Throttle(cgroup, data_device(c, data_dir, self.files), self.files)

    def start(self, value: JSON) -> JSON:
        cluster = self.cluster
        if not isinstance(value, dict) or "node" not in value:
            raise FaultError(
                f"start-slow-disk expects {{'node': ..., 'write_bps': ...}}, got {value!r}"
            )
        node = str(value["node"])
        bps, iops = int(value.get("write_bps", 0)), int(value.get("write_iops", 0))
        c = cluster.container(node)
        if state(c) == "paused":
            # The fsync probes run inside the node (docker exec), which a frozen
            # container refuses; throttling it unverified would taint the run.
            raise NoTarget(f"{node} is paused; its disk slowdown could not be measured now")
        throttle = self._throttle(c, node)
        probe_dir = self._probe_dir(node)
        try:
            before = fsync_probe(c, probe_dir, self.probe_writes)
            throttle.write("blkio.throttle.write_bps_device", bps)
            throttle.write("blkio.throttle.write_iops_device", iops)
            self.active[node] = throttle
            after = fsync_probe(c, probe_dir, self.probe_writes, AFTER_LEAST, AFTER_BUDGET_S)
        except APIError as e:
            if "is paused" not in str(e):
                raise
            throttle.write("blkio.throttle.write_bps_device", 0)
            throttle.write("blkio.throttle.write_iops_device", 0)
            self.active.pop(node, None)
            raise NoTarget(f"{node} was paused meanwhile; throttle lifted, not measured") from e
        slowdown = after / max(before, 1e-3)
        return verified(
            slowdown >= MIN_SLOWDOWN,
            f"expected fsync latency to grow ≥ {MIN_SLOWDOWN:g}x, it went from {before:.2f} ms "
            f"to {after:.2f} ms ({slowdown:.1f}x)",
            node=node,
            device=throttle.device,
            cgroup=throttle.cgroup,
            write_bps=bps,
            write_iops=iops,
            fsync_ms={"before": round(before, 3), "after": round(after, 3)},
            slowdown=round(slowdown, 1),
        )

    def stop(self, everything: bool) -> JSON:
        cluster = self.cluster
        nodes = list(self.active)
        if everything:
            nodes = all_nodes(cluster)
        lifted, left = [], {}
        for n in nodes:
            c = cluster.container(n)
            c.reload()
            if not c.attrs["State"].get("Running"):
                self.active.pop(n, None)  # a stopped container has no cgroup to lift
                continue
            try:
                throttle = self._throttle(c, n)
            except FaultError:
                continue  # e.g. a controller without a data volume: nothing was throttled
            throttle.write("blkio.throttle.write_bps_device", 0)
            throttle.write("blkio.throttle.write_iops_device", 0)
            rest = [
                r
                for r in (
                    throttle.read("blkio.throttle.write_bps_device"),
                    throttle.read("blkio.throttle.write_iops_device"),
                )
                if r
            ]
            if rest:
                left[n] = rest
            lifted.append(n)
            self.active.pop(n, None)
        return verified(not left, f"throttles remain after lifting: {left}", lifted=lifted)


def _start(ctx: NemesisContext, rng: random.Random) -> JSON:
    return {
        "node": rng.choice(ctx.brokers),
        "write_bps": rng.choice(BPS_LEVELS),
        "write_iops": rng.choice(IOPS_LEVELS),
    }


SLOW_DISK: Final = FaultPackage(
    name="slow-disk",
    doc="Throttle a node's data-volume writes (blkio write bps and IOPS), then lift it.",
    fault=SlowDiskFault,
    generator=cycling(_start),
    final=heal_all,
    heal_order=40,
    colour="#bcbd22",
)
