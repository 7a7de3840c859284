"""Who owns a run's Docker resources, and whether that owner is still alive.

Every container, network and volume of a run carries ``floodmark.run=<run id>`` and the
identity of the process that created it::

    floodmark.owner.host=ci-runner-7        socket.gethostname()
    floodmark.owner.pid=4242
    floodmark.owner.started=1234567         start time of that pid, in clock ticks since
                                            boot (/proc/<pid>/stat, field 22)
    floodmark.owner.boot=5f0c…              the kernel's boot id

"Owner gone" is then decidable from any process on the same host, with no bookkeeping
file and no daemon: the pid no longer exists, or it exists with another start time (the
pid was reused by an unrelated process), or the machine has rebooted since (another boot
id). An owner on another host (a Docker engine shared by several machines or pods) is
never declared gone: floodmark cannot see its processes. Resources without owner labels
(made by an older floodmark) are of unknown ownership and only ``floodmark clean --all``
removes them.

`liveness` is pure: it takes the process table as a function, so the decisions are unit
tested without starting or killing processes.
"""

from __future__ import annotations

import enum
import functools
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

LABEL_OWNER_HOST: Final = "floodmark.owner.host"
LABEL_OWNER_PID: Final = "floodmark.owner.pid"
LABEL_OWNER_STARTED: Final = "floodmark.owner.started"
LABEL_OWNER_BOOT: Final = "floodmark.owner.boot"

PROC: Final = Path("/proc")


@dataclass(frozen=True, slots=True)
class Owner:
    """The process that created a resource."""

    host: str
    pid: int
    started: int | None
    """Start time of ``pid`` in clock ticks since boot; None where /proc is missing."""
    boot: str | None = None

    def labels(self) -> dict[str, str]:
        d = {LABEL_OWNER_HOST: self.host, LABEL_OWNER_PID: str(self.pid)}
        if self.started is not None:
            d[LABEL_OWNER_STARTED] = str(self.started)
        if self.boot:
            d[LABEL_OWNER_BOOT] = self.boot
        return d

    @classmethod
    def from_labels(cls, labels: Mapping[str, str] | None) -> Owner | None:
        """The owner a resource's labels name; None when they name none (or garble it)."""
        labels = labels or {}
        host, pid = labels.get(LABEL_OWNER_HOST), labels.get(LABEL_OWNER_PID)
        if not host or not pid or not pid.isdigit():
            return None
        started = labels.get(LABEL_OWNER_STARTED, "")
        return cls(
            host,
            int(pid),
            int(started) if started.isdigit() else None,
            labels.get(LABEL_OWNER_BOOT) or None,
        )

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}"


class Liveness(enum.Enum):
    ALIVE = "alive"
    GONE = "gone"
    ELSEWHERE = "on another host"
    UNOWNED = "no owner labels"


def liveness(owner: Owner | None, here: Owner, start_of: Callable[[int], int | None]) -> Liveness:
    """Whether ``owner`` still runs, seen from ``here`` (this process's own identity);
    ``start_of(pid)`` is the start time of a live pid on this host, None for no such pid."""
    if owner is None:
        return Liveness.UNOWNED
    if owner.host != here.host:
        return Liveness.ELSEWHERE
    if owner.boot and here.boot and owner.boot != here.boot:
        return Liveness.GONE  # rebooted since: every process of that boot is gone
    started = start_of(owner.pid)
    if started is None:
        return Liveness.GONE
    if owner.started is not None and started != owner.started:
        return Liveness.GONE  # the pid now belongs to another process
    return Liveness.ALIVE


def process_start(pid: int, proc: Path = PROC) -> int | None:
    """Start time of ``pid`` in clock ticks since boot; None when there is no such process
    (or it is a zombie: it has exited, its parent has not reaped it yet)."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return None
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    # after "pid (comm)": state is field 3, starttime field 22
    if len(fields) < 20 or fields[0] == "Z":
        return None
    return int(fields[19])


def boot_id(proc: Path = PROC) -> str | None:
    try:
        return (proc / "sys" / "kernel" / "random" / "boot_id").read_text().strip() or None
    except OSError:
        return None


@functools.cache
def _identity(pid: int) -> Owner:
    return Owner(socket.gethostname(), pid, process_start(pid), boot_id())


def this_process() -> Owner:
    """This process as an owner (per pid: a forked child is its own owner)."""
    return _identity(os.getpid())
