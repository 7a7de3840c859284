"""The roles of floodmark, one small `typing.Protocol` each (STYLE.md habit 1).

- `Client`: one per logical client process; performs an operation and says what became
  of it (`ok`, `fail` = definitely did not happen, `info` = unknown), deciding that in
  ONE error table per system.
- `System`: a replicated log floodmark can run (replog, kafka): its images, how to lay
  out a cluster, how to get a client, how to look inside the replicas.
- `Fault`: one fault mechanism, built for one running cluster. A `FaultPackage` is a
  fault as a value: the mechanism, its seeded schedule, its heal, options and colour.
- `Cluster`: the handle on a running cluster that faults (and the monitor) receive:
  the nodes, their containers, the Toxiproxy client, the proxy name of each directed
  link, the system for introspection ("leader of key k"), the Docker client.

Optional abilities get their own small protocols rather than more methods here.

How a fault package plugs in (the nemesis seam): one module of ``faults/`` declaring one
`FaultPackage` value, plus one line in ``faults/registry.py``. Here, ``pause`` (it lives
in ``faults/process.py``, next to ``kill``, whose node helpers it shares)::

    from faults.common import TARGETS, StartStopFault, target_schedule
    from faults.schedule import heal_all

    PAUSE_TARGETS: Final = NemesisOption(
        "pause_targets", "whom pause may freeze", choices=TARGETS
    )

    class PauseFault(StartStopFault):          # built with the cluster it acts on
        def start(self, value: JSON) -> JSON:  # freeze value's target; say what was done
            ...
        def stop(self, everything: bool) -> JSON:  # thaw (everything: the final heal)
            ...

    PAUSE: Final = FaultPackage(
        name="pause",
        doc="Freeze nodes with the cgroup freezer (docker pause), then thaw.",
        fault=PauseFault,                           # (Cluster) -> Fault
        generator=target_schedule(PAUSE_TARGETS),   # (NemesisContext) -> [FaultOp]
        final=heal_all,                             # (NemesisContext) -> the heal ops
        heal_order=10,                              # thaw before anything else heals
        options=(PAUSE_TARGETS,),                   # its nemesis_options, if any
        colour="#9467bd",
        # node_env={"FLOODMARK_X": "1"},           # switches for entrypoint layers, if any
    )

    # faults/registry.py: the one line, an argument of FAULT_PACKAGES = _by_name(...)
        process.PAUSE,

`floodmark run --nemesis pause` then: checks ``nemesis_options`` against the chosen
packages' `FaultPackage.options` before any container starts; starts every node with
their `FaultPackage.node_env`; builds each package's schedule from its own seeded RNG
*before* the load starts (`harness.nemesis.build_schedule`); builds each package's
fault with the running cluster; executes the ops at their times in the nemesis thread
(``fault.invoke(op.phase, op.value)`` returns what was actually done, logged as a
``process: "nemesis"``, ``type: info`` op named ``op.f``, e.g. ``start-pause``); and runs
the packages' `FaultPackage.final` (heal) ops in `FaultPackage.heal_order` when the load
ends or the run is interrupted.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from harness.contract.history import JSON, FaultF, OpType, Phase
from harness.contract.links import LinkControl

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

    from harness.contract.plan import ClusterPlan, ClusterSpec


@dataclass(frozen=True, slots=True)
class Completion:
    """What a client says became of an operation."""

    type: OpType
    value: JSON
    node: str | None = None
    error: str | None = None


@runtime_checkable
class Client(Protocol):
    """A client for one logical process. ``invoke`` never raises for a system error: it
    maps the error through the system's error table into a `Completion`."""

    def open(self) -> None: ...

    def invoke(self, f: str, value: JSON) -> Completion: ...

    def close(self) -> None: ...


@runtime_checkable
class Cluster(Protocol):
    """A running cluster, as faults, the monitor and clients see it.

    Node names are ``n1..nN`` for brokers and `controller` (or None when the system has
    no separate controller). Link (proxy) names come from `harness.contract.plan.link_name`.
    """

    @property
    def run_id(self) -> str: ...

    @property
    def plan(self) -> ClusterPlan:
        """The rendered plan: nodes, proxies (`ProxyPlan` with src/dst/kind), keys, RF."""
        ...

    @property
    def toxiproxy(self) -> LinkControl: ...

    @property
    def docker(self) -> docker.DockerClient: ...

    @property
    def system(self) -> System: ...

    def container(self, node: str) -> Container:
        """The Docker container of a node (broker or controller)."""
        ...

    def link(self, src: str, dst: str) -> str:
        """The Toxiproxy proxy name of the directed link ``src → dst`` (KeyError if none)."""
        ...

    def endpoint(self, proxy: str) -> str:
        """``127.0.0.1:<port>`` where a published proxy (``client-nX``, ``admin-nX``) listens."""
        ...

    def leader(self, key: int) -> str | None:
        """The node that currently leads ``key`` (asked of the system now), or None."""
        ...


@runtime_checkable
class System(Protocol):
    """A replicated log floodmark can test. Registered in `harness.systems.SYSTEMS`.

    `replica_states` returns one dict per (key, node) shaped like the history's
    ``replica-state`` value (DESIGN.md §3); a node that cannot be reached is reported
    with ``"role": "offline"`` (and ``leo``/``hw``/``epoch`` of -1) for the keys it is
    known to host. `dump_replicas` returns ``replica-dump`` values. `doc` and `profiles`
    (profile name → what it configures) are what ``floodmark list systems`` prints.
    """

    name: str
    doc: str
    profiles: Mapping[str, str]

    def images(self) -> list[str]:
        """Image names (as known to `compose.images`) the cluster needs."""
        ...

    def render(self, spec: ClusterSpec) -> ClusterPlan: ...

    def client(self, cluster: Cluster, process: int) -> Client:
        """A fresh client for logical process ``process`` (not yet opened)."""
        ...

    def replica_states(self, cluster: Cluster) -> list[dict[str, JSON]]: ...

    def dump_replicas(self, cluster: Cluster) -> list[dict[str, JSON]]: ...


@runtime_checkable
class Fault(Protocol):
    """One fault mechanism acting on one running cluster. Its package's `FaultPackage.fault`
    builds it with that cluster, so a fault is never half set up.

    ``invoke`` does one ``phase`` of the fault (`Phase.START` injects it, `Phase.STOP`
    undoes it; a stop valued ``{"heal": "all"}`` undoes whatever any op left) and returns
    what it actually did (JSON), which the nemesis logs. It raises only when it could not
    act at all; the nemesis logs that as ``"verified": false`` with the reason. There is no
    teardown: the package's `FaultPackage.final` (heal) ops are the cleanup."""

    def invoke(self, phase: Phase, value: JSON) -> JSON: ...


@dataclass(frozen=True, slots=True)
class FaultOp:
    """One scheduled fault action: ``at`` seconds after the load starts, do ``phase`` of
    ``package`` with ``value``. The history names it `f`: ``start-kill``, ``stop-kill``."""

    at: float
    phase: Phase
    package: str
    value: JSON = None
    trigger: JSON = None
    """Why the op happens, when a schedule says (the default schedule does): a JSON
    object with the trigger's ``name`` and the state that fired it, e.g. ``{"name":
    "isr-alone", "key": 1, "leader": "n2", "isr": ["n2"]}``. The nemesis writes it into
    the recorded op's value as ``"trigger"``, so the history says why each fault happened."""

    @property
    def fault(self) -> FaultF:
        return FaultF(self.phase, self.package)

    @property
    def f(self) -> str:
        """The op's name in the history (DESIGN.md §3)."""
        return str(self.fault)


@dataclass(frozen=True, slots=True)
class NemesisContext:
    """What one package's generator may base its schedule on (all known up front, so the
    schedule is a pure function of seed, config and nodes)."""

    package: str
    """The package being scheduled: the ops made from this context are its ops."""
    rng: random.Random
    brokers: tuple[str, ...]
    controller: str | None
    keys: int
    time_limit: float
    interval: float
    """Mean seconds between fault actions (``--nemesis-interval``)."""
    options: dict[str, JSON] = field(default_factory=dict)
    """The run's ``nemesis_options`` (name → list of strings); read them through
    `NemesisOption.of`."""


@dataclass(frozen=True, slots=True)
class NemesisOption:
    """An option of one fault package: it narrows what the package's seeded schedule draws
    from, so a known bug can be aimed at. A config sets it in ``nemesis_options``::

        nemesis_options:
          kill_targets: [leader, all]     # kill only a key's leader, or every node
          leader_crash_delay_s: "2"       # a `seconds` option: one number

    Its values are names from `choices` or, for a `seconds` option, one number of seconds.
    A run that leaves it out draws from `default` (None: every choice). `problems` checks
    the values a config gives; `faults.registry.check_options` adds what needs every
    package (an unknown option, an option of a package the run does not use)."""

    name: str
    doc: str
    choices: tuple[str, ...] = ()
    default: tuple[str, ...] | None = None
    seconds: bool = False

    def of(self, ctx: NemesisContext) -> tuple[str, ...]:
        """The run's values of this option, else its default (``()`` for an unset
        `seconds` option: the package then picks its own)."""
        given = ctx.options.get(self.name)
        if given:
            return tuple(str(v) for v in given)
        return self.choices if self.default is None else self.default

    def problems(self, values: tuple[str, ...]) -> list[str]:
        """What is wrong with ``values`` given for this option (empty when fine)."""
        out: list[str] = []
        if not values:
            out.append(
                f"nemesis-options: {self.name} is empty; give at least one of {self.choices}"
            )
        if self.seconds:
            return out + self._seconds_problems(values)
        bad = [v for v in values if v not in self.choices]
        if bad:
            out.append(
                f"nemesis-options: {self.name} has unknown value(s) {bad}; "
                f"choose from {list(self.choices)}"
            )
        return out

    def _seconds_problems(self, values: tuple[str, ...]) -> list[str]:
        if len(values) != 1:
            return [f"nemesis-options: {self.name} takes one number of seconds, got {list(values)}"]
        try:
            seconds = float(values[0])
        except ValueError:
            return [
                f"nemesis-options: {self.name} must be a number of seconds such as '2', "
                f"got {values[0]!r}"
            ]
        if seconds < 0:
            return [f"nemesis-options: {self.name} must not be negative, got {seconds:g}"]
        return []


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultPackage:
    """Everything about one fault package, as one value: declared in the package's own
    module, registered by one line in `faults.registry` (see the module docstring)."""

    name: str
    """What ``--nemesis`` calls it; its history ops are ``start-<name>``/``stop-<name>``."""
    doc: str
    """One line saying what it does (``floodmark list faults``, the report)."""
    fault: Callable[[Cluster], Fault]
    """Builds the mechanism for the running cluster, once per run."""
    generator: Callable[[NemesisContext], Iterable[FaultOp]]
    """The seeded schedule: start and stop ops within the time limit."""
    final: Callable[[NemesisContext], Sequence[FaultOp]]
    """The heal ops, run when the load ends or the run is interrupted."""
    colour: str
    """``#rrggbb`` of its fault periods in the plots."""
    heal_order: int = 50
    """When this package's final ops run at the end, lower first: thaw frozen nodes, then
    reconnect links, then restart stopped nodes, then reset per-node state (clock,
    throttles) on nodes that are running again (a reset skips a stopped node)."""
    options: tuple[NemesisOption, ...] = ()
    """Its ``nemesis_options``; the config accepts no others for it."""
    node_env: Mapping[str, str] = field(default_factory=dict, hash=False)
    """Environment every node container needs when the package is selected: switches for
    layers the node image's ``entrypoint.sh`` starts (libfaketime, the lazyfs FUSE mount)."""
