"""Docker-less fakes of the spine's roles, for unit tests.

- `ScriptedClient`, `FakeSystem`, `FakeCluster`: a client answering from a script, a
  system whose replica states come from a list, and the cluster handle they share.
- `FakeLog`: an in-memory log to script clients with (sends append, polls and final
  reads read), which can lose an acknowledged write or fail its final reads.
- `FakeDriver`, `FakeUi`: what `harness.run.run` needs to run a whole test without
  Docker and without waiting: the driver records each lifecycle step in `Events`, the
  UI ends the load as soon as the log saw enough acknowledged writes.
- `deliver`: a hook that sends a signal to the main thread (as Ctrl-C would).
- `FakeRunner`: a `harness.run.run` for the pytest plugin that stores a chosen verdict.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from faults.common import FaultError
from harness.contract.config import TestConfig
from harness.contract.glossary import Anomaly
from harness.contract.history import JSON, F, OpType, Phase
from harness.contract.links import LinkControl
from harness.contract.plan import ClusterPlan, ClusterSpec
from harness.contract.results import CheckResult, Results
from harness.contract.roles import (
    Client,
    Cluster,
    Completion,
    FaultOp,
    FaultPackage,
    NemesisContext,
)
from harness.contract.verdict import Verdict
from harness.progress import Ui
from harness.store import new_run_id, open_run
from harness.systems.replog import ReplogSystem

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container


class ScriptedClient:
    """Answers ops from a script: a callable (f, value) -> Completion."""

    def __init__(self, answer: Any, log: list[tuple[str, int]], process: int) -> None:
        self.answer = answer
        self.log = log
        self.process = process
        self.opened = False
        self.closed = False

    def open(self) -> None:
        self.opened = True
        self.log.append(("open", self.process))

    def invoke(self, f: str, value: JSON) -> Completion:
        assert self.opened and not self.closed, "invoke on a client that is not open"
        result: Completion = self.answer(self.process, f, value)
        return result

    def close(self) -> None:
        self.closed = True
        self.log.append(("close", self.process))


class FakeSystem:
    """A system whose replica states come from a mutable list (no Docker, no network).

    With an ``answer`` (see `ScriptedClient`) it also hands out clients; every client's
    open and close is logged in `client_log`. The threads that sampled the states are
    kept in `samplers` (the monitor's thread is the one named ``monitor``)."""

    name = "fake"
    doc = "an in-memory stand-in for a replicated log"
    profiles: Mapping[str, str] = {"kafka-0.11": "the only one"}

    def __init__(
        self,
        states: list[dict[str, JSON]],
        answer: Callable[[int, str, JSON], Completion] | None = None,
        dumps: list[dict[str, JSON]] | None = None,
    ) -> None:
        self.states = states
        self.answer = answer
        self.dumps = dumps or []
        self.lock = threading.Lock()
        self.calls = 0
        self.client_log: list[tuple[str, int]] = []
        self.samplers: set[threading.Thread] = set()

    def images(self) -> list[str]:
        return []

    def render(self, spec: ClusterSpec) -> ClusterPlan:
        return ReplogSystem().render(spec)

    def client(self, cluster: Cluster, process: int) -> Client:
        if self.answer is None:
            raise NotImplementedError("this FakeSystem was made without an answer script")
        return ScriptedClient(self.answer, self.client_log, process)

    def replica_states(self, cluster: Cluster) -> list[dict[str, JSON]]:
        with self.lock:
            self.calls += 1
            self.samplers.add(threading.current_thread())
            return [dict(s) for s in self.states]

    def dump_replicas(self, cluster: Cluster) -> list[dict[str, JSON]]:
        return [dict(d) for d in self.dumps]

    def open_clients(self) -> int:
        """Clients opened and not closed yet."""
        opened = sum(1 for what, _ in self.client_log if what == "open")
        return opened - sum(1 for what, _ in self.client_log if what == "close")

    def monitor_alive(self) -> bool:
        """Whether a monitor thread that sampled this system is still running."""
        return any(t.name == "monitor" and t.is_alive() for t in self.samplers)


Hook = Callable[[], None]
"""Something a fake does at one point of a run (deliver a signal, raise, record)."""


class Events:
    """What happened, in order, as ``(what, detail)`` pairs (appends are thread-safe)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def add(self, what: str, detail: str = "") -> None:
        with self._lock:
            self.items.append((what, detail))

    @property
    def names(self) -> list[str]:
        with self._lock:
            return [w for w, _ in self.items]

    def detail(self, what: str) -> str:
        """The detail of the first event named ``what`` (KeyError if none)."""
        with self._lock:
            for w, d in self.items:
                if w == what:
                    return d
        raise KeyError(f"no event {what!r} in {self.items}")


class FakeCluster:
    """A Docker-less `harness.run.DrivenCluster`: the plan and system are real values,
    starting and collecting logs are recorded in ``events`` (and may run a hook)."""

    def __init__(
        self,
        plan: ClusterPlan,
        system: FakeSystem,
        events: Events | None = None,
        on_start: Hook | None = None,
        on_collect_logs: Hook | None = None,
    ) -> None:
        self.plan = plan
        self.system = system
        self.run_id = plan.run_id
        self.events = events or Events()
        self.on_start = on_start
        self.on_collect_logs = on_collect_logs

    def start(self, phase: Callable[[str], None]) -> None:
        phase("fake nodes")
        self.events.add("start")
        if self.on_start is not None:
            self.on_start()

    def collect_logs(self, dest: Path) -> None:
        self.events.add("collect-logs", f"monitor alive: {self.system.monitor_alive()}")
        if self.on_collect_logs is not None:
            self.on_collect_logs()
        dest.mkdir(parents=True, exist_ok=True)
        for node in self.plan.brokers:
            (dest / f"{node}.log").write_text(f"{node} was a fake\n")

    @property
    def toxiproxy(self) -> LinkControl:
        raise NotImplementedError("a FakeCluster has no Toxiproxy")

    @property
    def docker(self) -> docker.DockerClient:
        raise NotImplementedError("a FakeCluster has no Docker engine")

    def container(self, node: str) -> Container:
        raise NotImplementedError("a FakeCluster has no containers")

    def link(self, src: str, dst: str) -> str:
        return next(p.name for p in self.plan.proxies if (p.src, p.dst) == (src, dst))

    def endpoint(self, proxy: str) -> str:
        return f"127.0.0.1:0/{proxy}"

    def leader(self, key: int) -> str | None:
        leaders = [s for s in self.system.replica_states(self) if s["key"] == key]
        top = [str(s["node"]) for s in leaders if s["role"] == "leader"]
        return top[0] if top else None


def state(key: int, node: str, role: str, isr: list[str], epoch: int = 1) -> dict[str, JSON]:
    return {"key": key, "node": node, "role": role, "leo": 5, "hw": 5, "epoch": epoch,
            "isr": isr}  # fmt: skip


def ok(value: JSON, **extra: Any) -> Completion:
    return Completion(OpType.OK, {**value, **extra}, "n1")


def fault_cluster() -> Cluster:
    """A 3-node replog cluster as a fault factory receives it (no Docker: only ``plan``,
    ``system`` and ``run_id`` are there, which is all a `RecordingFault` looks at)."""
    plan = ReplogSystem().render(ClusterSpec("r1", 3, 2, 3, "kafka-0.11"))
    return cast(Cluster, FakeCluster(plan, FakeSystem([])))


class RecordingFault:
    """A `harness.contract.roles.Fault` that records each phase and value it is asked to
    do and reports them back; the value ``"explode"`` makes it raise (a fault that could
    not act at all), ``"refused"`` raise the `FaultError` a fault explains itself with."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.calls: list[tuple[Phase, JSON]] = []

    def invoke(self, phase: Phase, value: JSON) -> JSON:
        self.calls.append((phase, value))
        if value == "explode":
            raise RuntimeError("could not reach the node")
        if value == "refused":
            raise FaultError("expected one JSON line from the agent, got exit 143")
        return {"did": phase.value, "target": value}


def start_stop_each_interval(ctx: NemesisContext) -> Iterable[FaultOp]:
    """A seeded schedule: a start and, 10 ms later, its stop on a random broker."""
    t = 0.0
    while True:
        t += ctx.rng.uniform(0.5, 1.5) * ctx.interval
        if t > ctx.time_limit:
            return
        target = ctx.rng.choice(ctx.brokers)
        yield FaultOp(t, Phase.START, ctx.package, target)
        yield FaultOp(t + 0.01, Phase.STOP, ctx.package, target)


def heal_once(ctx: NemesisContext) -> Sequence[FaultOp]:
    return [FaultOp(0, Phase.STOP, ctx.package, "heal")]


def recording_package(
    name: str = "fake",
    heal_order: int = 50,
    built: list[RecordingFault] | None = None,
    generator: Callable[[NemesisContext], Iterable[FaultOp]] = start_stop_each_interval,
) -> FaultPackage:
    """A package of `RecordingFault` s; every fault it builds is appended to ``built``."""

    def fault(cluster: Cluster) -> RecordingFault:
        made = RecordingFault(cluster)
        if built is not None:
            built.append(made)
        return made

    return FaultPackage(
        name=name, doc="records what it is asked to do", fault=fault, generator=generator,
        final=heal_once, heal_order=heal_order, colour="#123456",
    )  # fmt: skip


def healthy_states(keys: int, nodes: int = 3) -> list[dict[str, JSON]]:
    """Every key led by n1 with a full ISR of ``n1..n<nodes>``."""
    names = [f"n{i}" for i in range(1, nodes + 1)]
    return [
        state(k, n, "leader" if n == "n1" else "follower", names)
        for k in range(keys)
        for n in names
    ]


class FakeLog:
    """An in-memory log behind `ScriptedClient` s: ``send`` appends and is acknowledged
    with its offset, ``poll`` and ``final-read`` read what was appended.

    ``lose``: values dropped before they can be read back (an acknowledged write lost).
    ``final_reads``: the `OpType` of every final read (``fail``: nobody could look).
    ``on_final_read``: runs in the reading thread before a final read answers.
    `acked` is set once ``acks_wanted`` sends were acknowledged."""

    def __init__(
        self,
        keys: int,
        acks_wanted: int = 4,
        lose: Iterable[int] = (),
        final_reads: OpType = OpType.OK,
        on_final_read: Hook | None = None,
    ) -> None:
        self.records: dict[int, list[JSON]] = {k: [] for k in range(keys)}
        self.lose = set(lose)
        self.final_reads = final_reads
        self.on_final_read = on_final_read
        self.acks_wanted = acks_wanted
        self.acks = 0
        self.acked = threading.Event()
        self._lock = threading.Lock()

    def answer(self, process: int, f: str, value: JSON) -> Completion:
        key = int(value["key"])
        with self._lock:
            log = self.records[key]
            if f == F.SEND:
                log.append(value["value"])
                self.acks += 1
                if self.acks >= self.acks_wanted:
                    self.acked.set()
                return ok(value, offset=len(log) - 1)
            kept = [[o, v] for o, v in enumerate(log) if v not in self.lose]
        if f == F.POLL:
            start = int(value["from"])
            return ok(value, records=[r for r in kept if int(r[0]) >= start], hw=len(log))
        assert f == F.FINAL_READ, f"FakeLog cannot do {f}"
        if self.on_final_read is not None:
            self.on_final_read()
        if self.final_reads is not OpType.OK:
            return Completion(self.final_reads, value, "n1", "not-enough-replicas")
        return ok(value, records=kept, hw=len(log), complete=True)


class FakeDriver:
    """A Docker-less `harness.run.ClusterDriver`: ``cluster`` builds a `FakeCluster`,
    ``remove`` records the removal (and whether ``history.jsonl`` was still open then)."""

    def __init__(
        self,
        events: Events,
        on_start: Hook | None = None,
        on_collect_logs: Hook | None = None,
        on_remove: Hook | None = None,
    ) -> None:
        self.events = events
        self.on_start = on_start
        self.on_collect_logs = on_collect_logs
        self.on_remove = on_remove
        self.clusters: list[FakeCluster] = []
        self.run_dirs: list[Path] = []

    def images(self, names: list[str], ui: Ui) -> dict[str, str]:
        self.events.add("images", ",".join(names))
        return {n: f"sha256:{n}" for n in names}

    def cluster(
        self, plan: ClusterPlan, system: Any, images: dict[str, str], run_dir: Path
    ) -> FakeCluster:
        assert isinstance(system, FakeSystem), "FakeDriver runs FakeSystem clusters only"
        self.run_dirs.append(run_dir)
        made = FakeCluster(plan, system, self.events, self.on_start, self.on_collect_logs)
        self.clusters.append(made)
        return made

    def remove(self, run_id: str) -> dict[str, int]:
        history = self.run_dirs[-1] / "history.jsonl"
        self.events.add("remove", f"history open: {is_open(history)}")
        if self.on_remove is not None:
            self.on_remove()
        return {"containers": 4, "networks": 5, "volumes": 4}


def is_open(path: Path) -> bool:
    """Whether this process holds ``path`` open (Linux: /proc/self/fd)."""
    fds = Path("/proc/self/fd")
    for fd in fds.iterdir():
        try:
            if os.readlink(fd) == str(path):
                return True
        except OSError:
            continue
    return False


class FakeUi(Ui):
    """A quiet `Ui` that records phases and notes and never sleeps: the load ends as soon
    as ``ready`` is set (at most ``patience`` s, a guard against a hung test), and a hook
    may run at the start of the load or at any phase whose text starts with a prefix."""

    def __init__(
        self,
        ready: threading.Event | None = None,
        on_load: Hook | None = None,
        on_phase: Mapping[str, Hook] | None = None,
        patience: float = 20.0,
    ) -> None:
        super().__init__(quiet=True)
        self.ready = ready
        self.on_load = on_load
        self.on_phase = dict(on_phase or {})
        self.patience = patience
        self.phases: list[str] = []
        self.notes: list[str] = []

    def phase(self, what: str) -> None:
        self.phases.append(what)
        for prefix, hook in self.on_phase.items():
            if what.startswith(prefix):
                hook()

    def note(self, what: str) -> None:
        self.notes.append(what)

    def load(
        self,
        seconds: float,
        counts: Callable[[], dict[str, int]],
        extra: Callable[[], str] = lambda: "",
    ) -> None:
        self.phases.append(f"load {seconds:g} s")
        if self.on_load is not None:
            self.on_load()
        if self.ready is not None and not self.ready.wait(self.patience):
            raise AssertionError(f"the load never got ready; counts {counts()}, {extra()}")


def deliver(signum: int) -> Hook:
    """A hook that sends ``signum`` to the main thread, as a Ctrl-C or ``kill`` would."""
    main = threading.main_thread().ident
    assert main is not None

    def hook() -> None:
        signal.pthread_kill(main, signum)

    return hook


def raises(error: BaseException) -> Hook:
    def hook() -> None:
        raise error

    return hook


def in_order(*hooks: Hook) -> Hook:
    def hook() -> None:
        for h in hooks:
            h()

    return hook


def witness_package(
    events: Events, system: FakeSystem, name: str = "witness", heal_fails: bool = False
) -> FaultPackage:
    """A package with no scheduled faults whose heal records, in ``events`` as
    ``heal-<name>``, how many clients were still open and whether the monitor still ran;
    ``heal_fails``: the heal then raises (a fault that could not act)."""

    class Witness:
        def __init__(self, cluster: Cluster) -> None:
            self.cluster = cluster

        def invoke(self, phase: Phase, value: JSON) -> JSON:
            alive = system.monitor_alive()
            events.add(f"heal-{name}", f"open clients: {system.open_clients()}, monitor: {alive}")
            if heal_fails:
                raise RuntimeError("the fault agent did not answer")
            return {"healed": value, "verified": True}

    return FaultPackage(
        name=name, doc="records when it is healed", fault=Witness, generator=lambda _ctx: (),
        final=heal_once, colour="#654321",
    )  # fmt: skip


class FakeRunner:
    """Stands in for `harness.run.run` under the pytest plugin: stores a run directory
    (``latest`` links included) whose results.json has the next verdict of ``verdicts``
    (None: the run ended before any check, so no results.json), and returns its exit
    code. Every config it was given is kept in `configs`."""

    def __init__(self, *verdicts: Verdict | None, lost_writes: int = 2) -> None:
        self.verdicts = list(verdicts)
        self.lost_writes = lost_writes
        self.configs: list[TestConfig] = []

    def __call__(self, config: TestConfig) -> int:
        self.configs.append(config)
        verdict = self.verdicts.pop(0)
        run_dir = open_run(config, new_run_id())
        if verdict is None:
            return 2
        lost = CheckResult(verdict, self.lost_writes if verdict is Verdict.INVALID else 0)
        checkers = {Anomaly.LOST_WRITE.value: lost}
        Results(verdict, checkers, {}, "history.jsonl", "2025-01-01T00:00:00Z").write(run_dir.path)
        return verdict.exit_code
