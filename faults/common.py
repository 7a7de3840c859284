"""What every fault package shares: targets, the agent in the node images, probes, results.

**Results.** A fault's ``invoke`` returns a JSON object saying exactly what it did; the
nemesis writes it as the value of the ``info`` op (``start-<package>``/``stop-<package>``).
Every result carries ``"verified": true|false``; when false, ``"why"`` says what was
expected and what was seen. The harness turns any nemesis op with ``"verified": false``
into a run verdict of ``unknown`` with that reason (`unverified_reasons`)::

    {"process":"nemesis","type":"info","f":"start-pause","value":
       {"targets":["n2"],"paused":["n2"],"frozen":{"n2":"FROZEN"},"verified":true}}

An action whose target is absent (no leader for the key, the node is down) is not taken
and says so: ``"skipped": why, "verified": null``, which does not change the verdict.

**Targets.** Kill, pause, lose-unfsynced, slow-disk and clock act on nodes chosen by a
`Target` spec, decided by the seeded schedule: ``{"target": "one", "nodes": ["n2"]}``,
``{"target": "leader", "key": 3}`` (resolved when the op runs, through the system's
introspection), ``"minority"``, ``"majority"``, ``"all"``, ``"controller"``; and, named
only by schedule files (never drawn), ``{"target": "follower", "key": 0, "rank": 1}``:
the key's in-sync follower of that rank in replica order, resolved when the op runs
(`followers_of`).
"""

from __future__ import annotations

import abc
import json
import os
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, TypeVar, cast

from docker.models.containers import Container

from harness.contract.history import JSON, NEMESIS, Op, Phase
from harness.contract.roles import Cluster, FaultOp, NemesisContext, NemesisOption
from harness.contract.schedule import heals_everything

from .schedule import cycling

AGENT: Final = "/opt/floodmark/agent"
"""Where the node images carry `faults/agent/`."""

TARGETS: Final = ("one", "leader", "minority", "majority", "all", "controller")
"""The target kinds (see the module docstring); a package's targets option chooses from them."""
ON_REQUEST_TARGETS: Final = ("follower",)
"""Target kinds a schedule file may name but no seeded schedule draws: they aim at one
known scenario (``follower``: `followers_of`)."""

T = TypeVar("T")


class FaultError(RuntimeError):
    """A fault could not act at all; the message says what was tried and what to do."""


class NoTarget(FaultError):
    """The op's target is not there right now (no leader for the key, the node is down):
    the fault does nothing, on purpose, and says so (`skipped`)."""


def skipped(why: str, base: JSON = None) -> dict[str, JSON]:
    """A result for an action deliberately not taken: ``"skipped": why`` and
    ``"verified": null`` (nothing was done, so there is nothing to verify; unlike
    ``false`` it does not make the run unknown)."""
    out: dict[str, JSON] = dict(base) if isinstance(base, dict) else {}
    out["skipped"] = why
    out["verified"] = None
    return out


class Clock(Protocol):
    """Where the faults' waits read the time and sleep (`REAL_CLOCK`; unit tests pass a
    fake one that moves only when slept, so no test waits for real)."""

    def now(self) -> float:
        """Monotonic seconds."""
        ...

    def sleep(self, seconds: float) -> None: ...


class _RealClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


REAL_CLOCK: Final[Clock] = _RealClock()


class HostFiles(Protocol):
    """The files of the machine floodmark runs on that the cgroup faults read and write
    (``/proc/<pid>/cgroup``, the freezer and blkio files under ``/sys/fs/cgroup``, block
    devices under ``/sys/dev/block``): `HOST_FILES`; unit tests pass a fake."""

    def read(self, path: str) -> str: ...

    def write(self, path: str, text: str) -> None: ...

    def exists(self, path: str) -> bool: ...

    def device(self, path: str) -> tuple[int, int]:
        """``(major, minor)`` of the device holding ``path``."""
        ...


class _LocalFiles:
    def read(self, path: str) -> str:
        with open(path) as fh:
            return fh.read()

    def write(self, path: str, text: str) -> None:
        with open(path, "w") as fh:
            fh.write(text)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def device(self, path: str) -> tuple[int, int]:
        st = os.stat(path)
        return os.major(st.st_dev), os.minor(st.st_dev)


HOST_FILES: Final[HostFiles] = _LocalFiles()


@dataclass(eq=False)
class StartStopFault(abc.ABC):
    """What every fault here shares (a `harness.contract.roles.Fault`): it is built with
    the cluster it acts on (and the `Clock` its waits use), and ``invoke`` sends
    `Phase.START` to `start` and `Phase.STOP` to `stop` (with ``everything`` for the
    final heal op made by `faults.schedule.heal_all`). A `NoTarget` raised by either
    becomes a `skipped` result: nothing was done, on purpose.

    What a fault remembers between its starts and stops is a field of its own
    ``@dataclass(eq=False)`` (faults compare by identity), e.g.
    ``down: list[str] = field(default_factory=list, init=False)``."""

    cluster: Cluster
    clock: Clock = field(default=REAL_CLOCK, kw_only=True)

    def invoke(self, phase: Phase, value: JSON) -> JSON:
        try:
            if phase is Phase.START:
                return self.start(value)
            return self.stop(heals_everything(value))
        except NoTarget as e:
            return skipped(str(e), value)

    @abc.abstractmethod
    def start(self, value: JSON) -> JSON:
        """Inject the fault ``value`` asks for; return what was done (`verified`)."""

    @abc.abstractmethod
    def stop(self, everything: bool) -> JSON:
        """Undo what the starts did; with ``everything``, any trace of this fault on any
        node, whatever the schedule did (the run may have been interrupted)."""


def verified(ok: bool, why: str = "", base: JSON = None, **fields: JSON) -> dict[str, JSON]:
    """A fault result: the requested spec ``base`` (a dict, when given) updated with what
    was done (``fields``), plus ``verified`` and, when false, ``why``."""
    out: dict[str, JSON] = dict(base) if isinstance(base, dict) else {}
    out.update(fields)
    out["verified"] = ok
    if not ok:
        out["why"] = why or "the fault's effect could not be confirmed"
    return out


def unverified_reasons(ops: Iterable[Op]) -> list[str]:
    """The ``why`` of every nemesis op whose value says ``"verified": false``; any such op
    makes a run's verdict ``unknown`` (`checkers.faults` decides that for the verdict)."""
    reasons = []
    for op in ops:
        value = op.value
        if op.process != NEMESIS or not isinstance(value, dict):
            continue
        if value.get("verified") is False:
            reasons.append(f"{op.f} (history index {op.index}): {value.get('why', '?')}")
    return reasons


def wait_until(
    condition: Callable[[], T | None],
    timeout: float,
    what: str,
    interval: float = 0.05,
    clock: Clock = REAL_CLOCK,
) -> T:
    """Poll ``condition`` until it returns something truthy; raise `FaultError` naming
    ``what`` when ``timeout`` seconds (of ``clock``) pass first."""
    deadline = clock.now() + timeout
    while True:
        result = condition()
        if result:
            return result
        if clock.now() >= deadline:
            raise FaultError(f"timed out after {timeout:g} s waiting for {what}")
        clock.sleep(interval)


# -- targets ------------------------------------------------------------------------------


def choose_target(
    rng: random.Random,
    brokers: Sequence[str],
    controller: str | None,
    keys: int,
    kinds: Sequence[str] = TARGETS,
) -> dict[str, JSON]:
    """A seeded target spec (see module docstring); nodes are fixed now, leaders later."""
    kinds = [k for k in kinds if k != "controller" or controller is not None]
    kind = rng.choice(kinds)
    nodes = list(brokers)
    n = len(nodes)
    if kind == "one":
        return {"target": kind, "nodes": [rng.choice(nodes)]}
    if kind == "leader":
        return {"target": kind, "key": rng.randrange(max(keys, 1))}
    if kind == "minority":
        return {"target": kind, "nodes": sorted(rng.sample(nodes, max(1, (n - 1) // 2)))}
    if kind == "majority":
        return {"target": kind, "nodes": sorted(rng.sample(nodes, n // 2 + 1))}
    if kind == "all":
        return {"target": kind, "nodes": nodes}
    return {"target": "controller", "nodes": [str(controller)]}


def target_schedule(
    option: NemesisOption, controller: bool = True
) -> Callable[[NemesisContext], list[FaultOp]]:
    """A generator for a package that acts on targets: start and stop ops (`cycle`), each
    start aimed at a `choose_target` spec of the kinds ``option`` allows in the run
    (``controller=False``: never the controller)."""

    def start(ctx: NemesisContext, rng: random.Random) -> JSON:
        node = ctx.controller if controller else None
        return choose_target(rng, ctx.brokers, node, ctx.keys, option.of(ctx))

    return cycling(start)


def resolve_target(cluster: Cluster, spec: JSON) -> list[str]:
    """The nodes a target spec means now (asks the system for a key's leader)."""
    if not isinstance(spec, dict) or spec.get("target") not in (*TARGETS, *ON_REQUEST_TARGETS):
        raise FaultError(f"expected a target spec like {{'target': 'one', ...}}, got {spec!r}")
    if spec["target"] == "follower":
        key, rank = int(spec["key"]), int(spec.get("rank", 1))
        followers = followers_of(cluster.system.replica_states(cluster), key)
        if not 1 <= rank <= len(followers):
            raise NoTarget(
                f"key {key} has no in-sync follower of rank {rank} right now (in-sync "
                f"followers, in replica order: {followers})"
            )
        return [followers[rank - 1]]
    if spec["target"] == "leader":
        key = int(spec["key"])
        leader = cluster.leader(key)
        if leader is None:
            raise NoTarget(f"key {key} has no leader right now, so there is nothing to target")
        return [leader]
    nodes = spec.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        raise FaultError(f"target spec {spec!r} names no nodes")
    known = set(all_nodes(cluster))
    unknown = [n for n in nodes if n not in known]
    if unknown:
        raise FaultError(f"target spec names unknown nodes {unknown}; nodes are {sorted(known)}")
    return [str(n) for n in nodes]


def followers_of(states: Sequence[dict[str, JSON]], key: int) -> list[str]:
    """The in-sync followers of ``key``, in the order the system lists its replicas (Kafka:
    the assignment order, in which its controller picks the next leader from the ISR):
    the replicas in the key's ISR that neither lead it nor are offline. A schedule names
    one as ``{"target": "follower", "key": 0, "rank": 1}`` (rank 1: the follower Kafka
    would elect if the leader died now).

        >>> s = [{"key": 0, "node": n, "role": r, "isr": ["n2", "n3", "n1"]}
        ...      for n, r in (("n2", "leader"), ("n1", "follower"), ("n3", "offline"))]
        >>> followers_of(s, 0)
        ['n1']
    """
    mine = [st for st in states if st.get("key") == key]
    isr = {str(n) for st in mine for n in cast(list[JSON], st.get("isr") or [])}
    return [
        str(st["node"])
        for st in mine
        if st.get("role") not in ("leader", "offline") and st["node"] in isr
    ]


def all_nodes(cluster: Cluster) -> list[str]:
    plan = cluster.plan
    return [*plan.brokers, *([plan.controller] if plan.controller else [])]


# -- the agent inside node containers ------------------------------------------------------


def container_env(container: Container) -> dict[str, str]:
    env = container.attrs.get("Config", {}).get("Env") or []
    return dict(e.split("=", 1) for e in env if "=" in e)


def exec_json(container: Container, argv: Sequence[str], timeout_hint: str = "") -> dict[str, Any]:
    """Run ``argv`` in the container and parse the one JSON line it prints."""
    result = container.exec_run(list(argv), demux=True)
    stdout, stderr = cast(tuple[bytes | None, bytes | None], result.output)
    out = (stdout or b"").decode("utf-8", "replace").strip()
    err = (stderr or b"").decode("utf-8", "replace").strip()
    last = out.splitlines()[-1] if out else ""
    try:
        reply = json.loads(last)
    except json.JSONDecodeError:
        raise FaultError(
            f"expected one JSON line from {' '.join(argv)!r} in container {container.name}, "
            f"got exit {result.exit_code}, stdout {out[-300:]!r}, stderr {err[-300:]!r}"
            + (f"; {timeout_hint}" if timeout_hint else "")
        ) from None
    if not isinstance(reply, dict):
        raise FaultError(f"{' '.join(argv)!r} printed {reply!r}, expected a JSON object")
    return reply


def agent(container: Container, script: str, *args: str) -> dict[str, Any]:
    """Run an agent script (``lazyfs.py``, ``clock.py``, ``probe.py``) in a node."""
    return exec_json(container, ["python3", f"{AGENT}/{script}", *args])
