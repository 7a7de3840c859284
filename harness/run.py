"""One floodmark run, top to bottom: `run`.

`run(config)` is the whole lifecycle of DESIGN.md §2 in one function. Everything that
must be undone is registered on a `Teardown` (an `ExitStack`) the moment it exists, so
an error, a Ctrl-C (SIGINT) or a SIGTERM at any point, during setup, load or final
reads, unwinds in order: workers stopped, faults healed and torn down, monitor stopped,
node logs collected, every Docker resource labelled with the run's id removed, history
closed. The signal handlers raise `Interrupted` in the main thread once; further signals
during teardown are logged and ignored so that teardown finishes.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol, Self

import orjson

from checkers import check_history
from compose.docker_cluster import DockerCluster, docker_client
from compose.images import ensure_images
from compose.resources import remove_labelled
from faults.registry import node_env
from harness.contract.config import TestConfig
from harness.contract.history import MONITOR, F, HistoryError, HistoryWriter, OpType
from harness.contract.plan import ClusterPlan, ClusterSpec
from harness.contract.results import ResultsError
from harness.contract.roles import Cluster, System
from harness.contract.safely import attempt
from harness.load import ProcessIds, join_workers, start_workers
from harness.monitor import Monitor, wait_healthy
from harness.nemesis import Faults, Nemesis, plan_faults, run_nemesis
from harness.progress import Ui
from harness.store import RunDir, new_run_id, open_run, versions, write_test_json
from harness.systems import load_system
from reports.html import render_report
from reports.index import render_index
from reports.junit import write_junit
from workloads import WORKLOADS, WorkloadParams

if TYPE_CHECKING:
    import docker

log = logging.getLogger("floodmark")

STARTUP_TIMEOUT_S = 90.0
WORKER_JOIN_S = 12.0


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: unwind to an orderly teardown."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.name = signal.Signals(signum).name


class SetupError(RuntimeError):
    """The cluster did not come up; says what was missing."""


class SignalHandlers:
    """For a ``with`` block, `_handle` receives SIGINT and SIGTERM (in the main thread;
    elsewhere Python cannot take signals and nothing is installed); the handlers that
    were there before come back at the end. ``received`` is the first signal."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        raise NotImplementedError


class SignalGuard(SignalHandlers):
    """SIGINT/SIGTERM → `Interrupted` in the main thread, once; then ignored (logged)."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = True

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
        if self.armed:
            self.armed = False
            raise Interrupted(signum)
        log.warning("%s received during teardown: finishing teardown first", signum)

    def disarm(self) -> None:
        self.armed = False


class Teardown(ExitStack):
    """An ExitStack that first disarms the signal guard, so teardown is never cut short."""

    def __init__(self, guard: SignalGuard) -> None:
        super().__init__()
        self.guard = guard

    def __exit__(self, *exc: Any) -> bool:
        self.guard.disarm()
        return bool(super().__exit__(*exc))


class DrivenCluster(Cluster, Protocol):
    """A `Cluster` as its driver hands it to `run`: not started yet, and able to keep its
    nodes' logs before it is removed."""

    def start(self, phase: Callable[[str], None]) -> None:
        """Create and start everything the plan names; ``phase`` hears each step."""
        ...

    def collect_logs(self, dest: Path) -> None:
        """Every node's log into ``dest/<node>.log`` (best effort)."""
        ...


class ClusterDriver(Protocol):
    """Where a run's cluster lives: the side effects at the edge of `run`. `DockerDriver`
    is the real one; unit tests pass a Docker-less fake (tests/harness/fakes.py), so the
    whole lifecycle, teardown and signals included, is tested without Docker."""

    def images(self, names: list[str], ui: Ui) -> dict[str, str]:
        """Find or build the images ``names``; image name -> id (recorded in test.json)."""
        ...

    def cluster(
        self, plan: ClusterPlan, system: System, images: dict[str, str], run_dir: Path
    ) -> DrivenCluster:
        """The cluster of ``plan``, not yet started."""
        ...

    def remove(self, run_id: str) -> dict[str, int]:
        """Remove every resource labelled with ``run_id``; how many of each kind."""
        ...


class DockerDriver:
    """`ClusterDriver` on the Docker engine (`compose.docker_cluster`)."""

    def __init__(self) -> None:
        self._engine: docker.DockerClient | None = None

    def _client(self) -> docker.DockerClient:
        if self._engine is None:
            self._engine = docker_client()
        return self._engine

    def images(self, names: list[str], ui: Ui) -> dict[str, str]:
        self._client()  # no engine: say so before building anything
        return ensure_images(names, console=ui.console)

    def cluster(
        self, plan: ClusterPlan, system: System, images: dict[str, str], run_dir: Path
    ) -> DrivenCluster:
        return DockerCluster(plan, system, images, run_dir, self._client())

    def remove(self, run_id: str) -> dict[str, int]:
        # A fresh engine connection: the old one may have been cut mid-request by a signal.
        return remove_labelled(docker_client(), run_id)


@dataclass
class Timings:
    marks: dict[str, float] = field(default_factory=dict)
    t0: float = field(default_factory=time.monotonic)

    def mark(self, what: str) -> float:
        self.marks[what] = round(time.monotonic() - self.t0, 3)
        return self.marks[what]


def run(
    config: TestConfig,
    ui: Ui | None = None,
    t0: float | None = None,
    driver: ClusterDriver | None = None,
) -> int:
    """Run one test; return the exit code (0 valid, 1 invalid, 2 unknown or error,
    128+signal when interrupted). ``driver`` (default `DockerDriver`) runs the cluster.

    1. store      open store/<test>/<timestamp>/, write test.json (config, seed, versions)
    2. cluster    the System renders the plan; the Docker driver starts networks, volumes,
                  Toxiproxy with one proxy per directed link, then the nodes; wait until
                  every key has a leader and a full ISR
    3. clients    the workload gives each worker an op source; the system a client
    4. generate   workers (rate-limited) and the nemesis (seeded schedule) run for the time
                  limit; the monitor samples replica states into the history (and hands
                  each round to the default schedule's triggers)
    5. heal       every fault's final ops
    6. recover    wait (bounded) for leaders and full ISRs again
    7. final read fresh clients read every key from offset 0; every replica is dumped
    8. teardown   logs collected; containers, networks, volumes removed (also on Ctrl-C)
    9. check      the checkers read history.jsonl once and write results.json
    10. report    report.html, junit.xml and the store index, from results.json
    """
    timings = Timings(t0=t0 if t0 is not None else time.monotonic())
    ui = ui or Ui()
    ui.since(timings.t0)
    config = config.with_seed(
        config.seed if config.seed is not None else random.SystemRandom().randrange(2**31)
    )
    system = load_system(config.system)
    faults = plan_faults(config)  # the replay's packages too; its schedule read once
    run_id = new_run_id()
    spec = ClusterSpec(
        run_id, config.nodes, config.keys, config.replication_factor, config.profile,
        dict(config.settings), {**node_env(faults.packages), **config.env},
    )  # fmt: skip
    plan = system.render(spec)  # bad profile/settings: ConfigError before anything exists
    driver = driver or DockerDriver()
    ui.phase("images")

    images = driver.images(system.images(), ui)
    timings.mark("images")

    # 1. store
    run_dir = open_run(config, run_id)
    run_dir.cluster_json.write_bytes(orjson.dumps(plan.to_json(), option=orjson.OPT_INDENT_2))
    handler = _attach_log_file(run_dir)
    try:
        return _lifecycle(config, ui, timings, system, faults, plan, driver, images, run_dir)
    finally:
        _detach_log_file(handler)


def _lifecycle(
    config: TestConfig,
    ui: Ui,
    timings: Timings,
    system: System,
    faults: Faults,
    plan: ClusterPlan,
    driver: ClusterDriver,
    images: dict[str, str],
    run_dir: RunDir,
) -> int:
    """Steps 1 (after the store is open) to 10 of `run`, with its log file attached."""
    run_id = plan.run_id
    meta: dict[str, Any] = {"versions": versions(images), "timings": timings.marks}
    write_test_json(run_dir, config, meta)
    ui.phase(f"run {run_id} → {run_dir.path}")
    ui.phase(f"reproduce with: {config.command()}")

    history = HistoryWriter(run_dir.history)
    guard = SignalGuard()
    outcome: dict[str, Any] = {"status": "running"}
    with guard:
        try:
            with Teardown(guard) as teardown:
                teardown.callback(history.close)
                cluster = driver.cluster(plan, system, images, run_dir.path)
                teardown.callback(_remove_cluster, driver, cluster, run_dir, ui, timings)

                # 2. cluster
                ui.phase(f"cluster: {config.nodes} {config.system} nodes, {config.keys} keys")
                cluster.start(lambda what: ui.phase(f"  starting {what}"))
                timings.mark("containers_started")
                problems = wait_healthy(cluster, STARTUP_TIMEOUT_S)
                if problems:
                    raise SetupError(
                        f"the cluster did not get a leader and a full ISR on every key within "
                        f"{STARTUP_TIMEOUT_S:g} s: {problems}; see {run_dir.logs}/ for node logs"
                    )
                ui.phase(f"cluster healthy after {timings.mark('cluster_healthy'):.1f} s")
                nemesis = run_nemesis(config, faults, cluster, history)
                monitor = Monitor(
                    cluster, history, config.monitor_interval, on_sample=nemesis.observe
                )
                monitor.start()
                teardown.callback(monitor.stop)

                # 3.-4. clients, nemesis (its triggers hear the monitor), load
                healed = threading.Event()
                teardown.callback(_heal, nemesis, healed)
                stop = threading.Event()
                params = WorkloadParams(config.keys, config.concurrency, int(config.seed or 0))
                workload = WORKLOADS[config.workload]
                sources = [workload.source(i, params) for i in range(config.concurrency)]
                workers, stats, ids = start_workers(
                    sources, lambda p: system.client(cluster, p), history, config.rate, stop
                )
                teardown.callback(join_workers, workers, WORKER_JOIN_S)
                teardown.callback(stop.set)
                nemesis.begin()
                timings.mark("load_started")
                ui.load(config.time_limit, stats.by_type, lambda: f"faults {nemesis.done}")
                stop.set()
                busy = join_workers(workers, WORKER_JOIN_S)
                if busy:
                    ui.note(f"workers still busy after {WORKER_JOIN_S:g} s: {busy}")
                nemesis.stop()

                # 5.-6. heal, recover
                ui.phase("healing faults")
                _heal(nemesis, healed)
                ui.phase("waiting for recovery (leaders, full ISR)")
                left = wait_healthy(cluster, config.recovery_timeout)
                timings.mark("recovered")
                if left:
                    ui.note(f"not recovered after {config.recovery_timeout:g} s: {left}")

                # 7. final reads, replica dumps
                ui.phase("final reads")
                final = _final_reads(cluster, system, history, ids, config.keys)
                ui.phase("replica dumps")
                for d in system.dump_replicas(cluster):
                    history.append(MONITOR, OpType.INFO, F.REPLICA_DUMP, d, node=str(d["node"]))
                monitor.stop()
                timings.mark("final_reads_done")
                outcome = {
                    "status": "completed",
                    "ops": stats.to_json(),
                    "monitor_samples": monitor.samples,
                    "nemesis_actions": nemesis.done,
                    "recovered": not left,
                    "final_reads": final,
                    "worker_errors": [repr(w.error) for w in workers if w.error],
                }
        except Interrupted as e:
            outcome = {"status": "interrupted", "signal": signal.Signals(e.signum).name}
        except SetupError as e:
            outcome = {"status": "setup-failed", "error": str(e)}
        except Exception as e:
            log.exception("run failed")
            outcome = {"status": "error", "error": f"{type(e).__name__}: {e}"}
    timings.mark("torn_down")
    meta["outcome"] = outcome
    write_test_json(run_dir, config, meta)
    if guard.received is not None:
        ui.note(f"interrupted by {signal.Signals(guard.received).name}; torn down")
        return 128 + guard.received
    if outcome["status"] != "completed":
        ui.note(f"run failed: {outcome.get('error')}")
        return 2
    # 9.-10. check and report: a signal here still ends in 128+n (the history is whole;
    # `floodmark check` and `floodmark report` finish the job later).
    with SignalGuard():
        try:
            code = _check_and_report(run_dir, ui)
        except Interrupted as e:
            meta["outcome"] = {**outcome, "interrupted": "check", "signal": e.name}
            write_test_json(run_dir, config, meta)
            ui.note(f"interrupted by {e.name} while checking; the history is complete")
            return 128 + e.signum
    timings.mark("checked")
    write_test_json(run_dir, config, meta)
    return code


def _heal(nemesis: Nemesis, healed: threading.Event) -> None:
    if healed.is_set():
        return
    healed.set()
    nemesis.stop()
    nemesis.heal()


def _final_reads(
    cluster: Cluster, system: System, history: HistoryWriter, ids: ProcessIds, keys: int
) -> dict[str, int]:
    """Every key read from offset 0 by a fresh client (a fresh process), in parallel."""

    pause = _test_pause("final-read")

    def read(key: int) -> OpType:
        process = ids.fresh()
        client = system.client(cluster, process)
        client.open()
        try:
            history.append(process, OpType.INVOKE, F.FINAL_READ, {"key": key})
            time.sleep(pause)
            done = client.invoke(F.FINAL_READ, {"key": key})
            history.append(process, done.type, F.FINAL_READ, done.value, done.node, done.error)
            return done.type
        finally:
            client.close()

    pool = ThreadPoolExecutor(max_workers=min(keys, 8))
    try:
        results = list(pool.map(read, range(keys)))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return {t.value: results.count(t) for t in set(results)}


def _test_pause(phase: str) -> float:
    """Seconds to stall in ``phase``, from ``FLOODMARK_TEST_PAUSE=<phase>=<seconds>``.

    A testing seam only: it lets the integration tests deliver a signal reliably while a
    phase is in progress (e.g. between a final read's invoke and its completion)."""
    name, _, seconds = os.environ.get("FLOODMARK_TEST_PAUSE", "").partition("=")
    return float(seconds) if name == phase and seconds else 0.0


def _remove_cluster(
    driver: ClusterDriver, cluster: DrivenCluster, run_dir: RunDir, ui: Ui, timings: Timings
) -> None:
    ui.phase("teardown: collecting node logs, removing containers, networks, volumes")
    attempt("collecting node logs", lambda: cluster.collect_logs(run_dir.logs))
    removed = driver.remove(cluster.run_id)
    timings.mark("teardown_done")
    ui.phase(f"teardown: removed {removed}")


def _check_and_report(run_dir: RunDir, ui: Ui) -> int:
    """Checkers (results.json), then the report, JUnit and the store index."""
    try:
        results = check_history(run_dir.history)
    except (HistoryError, OSError) as e:
        ui.note(f"history could not be checked: {e}")
        return 2
    try:
        results.write(run_dir.path)
    except (ResultsError, OSError) as e:
        ui.note(f"verdict {results.verdict.value}, but results.json could not be written: {e}")
        return 2
    ui.phase(f"verdict: {results.verdict.value} (results.json)")
    code = int(results.exit_code)
    try:
        html = render_report(run_dir.path)
        write_junit(run_dir.path)
        render_index(run_dir.path.parent.parent)
    except Exception as e:  # the verdict stands; `floodmark report` redoes the report
        log.exception("report failed")
        ui.note(
            f"the report could not be written ({type(e).__name__}: {e}); results.json is; "
            f"`floodmark report {run_dir.path}` retries"
        )
        return code if code == 1 else 2  # a proven anomaly stays exit 1
    ui.phase(f"report: {html}")
    return code


def _attach_log_file(run_dir: RunDir) -> logging.Handler:
    handler = logging.FileHandler(run_dir.harness_log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(message)s"))
    logging.getLogger("floodmark").addHandler(handler)
    logging.getLogger("floodmark").setLevel(logging.INFO)
    return handler


def _detach_log_file(handler: logging.Handler) -> None:
    """One run's ``harness.log`` gets that run's lines only (certify and pytest run many
    runs in one process)."""
    logging.getLogger("floodmark").removeHandler(handler)
    handler.close()
