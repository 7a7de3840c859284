"""``--jobs N``: up to N scenarios of a suite at once on one Docker engine.

Each scenario runs in its own process (``python -m harness.jobs SPEC RESULT``), an
ordinary `harness.run.run` in that process's main thread, so its signal handling and
teardown are exactly those of a lone ``floodmark run``. What keeps concurrent runs apart
is already per run: resource names and labels carry the run id, Docker picks the host
ports and the networks' subnets (with a fallback that retries on a race,
`compose.docker_cluster`), and `harness.store.open_run` never gives two runs one
directory.

The certifying process (`run_jobs`, in its main thread) starts the workers, polls them
and shows every running scenario (`Board`). SIGINT or SIGTERM is noted, not raised: every
worker gets SIGTERM (each tears its own cluster down, as a run does on Ctrl-C), no new
scenario starts, and `run_jobs` returns only when all workers have exited. Workers ask
the kernel for SIGTERM when the certifying process dies (``PR_SET_PDEATHSIG``), so even
a ``kill -9`` of it leaves no cluster running for long; resources of a worker killed
with ``-9`` itself are reaped by the next run (`compose.resources.reap_orphans`).

A worker writes its result file as soon as its run directory exists (`on_open`) and
again with its exit code at the end; the certifying process reads both back::

    {"run_dir": "store/certify-smoke-replog-safe-kill/20261202T061825Z", "code": 0}
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any, Final, Protocol

import orjson
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from harness.catalogue import CATALOGUE
from harness.contract.config import build_config
from harness.progress import Ui
from harness.run import SignalHandlers, run
from harness.store import RunDir, on_open
from harness.suite import Scenario

log = logging.getLogger("floodmark")

JOBS: Final = "jobs"
"""The certify output directory's sub-directory of worker specs, results and logs."""
POLL_S: Final = 0.25
PARENT_ENV: Final = "FLOODMARK_JOB_PARENT"


@dataclass(frozen=True, slots=True)
class JobResult:
    code: int
    """The run's exit code (128+N for a worker ended by signal N)."""
    run_dir: Path | None
    duration_s: float


class Job(Protocol):
    """One scenario being run somewhere (a worker process; a fake in unit tests)."""

    def poll(self) -> JobResult | None:
        """The result once it has finished; None while it runs."""
        ...

    def terminate(self) -> None:
        """Ask it to stop: it tears its cluster down and then finishes."""
        ...

    def status(self) -> str:
        """What it is doing now, one line."""
        ...


Launcher = Callable[[int, Scenario], Job]
"""Starts scenario number ``i`` (its position in the suite)."""


class StopSignals(SignalHandlers):
    """SIGINT/SIGTERM in the main thread noted (the first one), never raised, so the
    loop that owns the workers decides what happens; every later signal is logged."""

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
            log.warning("%s: stopping every running scenario", signal.Signals(signum).name)
        else:
            log.warning("%s again: waiting for the scenarios' teardown", signum)


class Progress(Protocol):
    def started(self, i: int, scenario: Scenario) -> None: ...
    def finished(self, i: int, message: str) -> None: ...
    def refresh(self, statuses: dict[int, str]) -> None: ...


def run_jobs(
    scenarios: Sequence[Scenario],
    jobs: int,
    launch: Launcher,
    done: Callable[[int, JobResult], str],
    progress: Progress,
    stop: StopSignals,
    sleep: Callable[[float], None] = time.sleep,
) -> int | None:
    """Run ``scenarios``, at most ``jobs`` at a time; ``done(i, result)`` as each one ends
    (it returns the line to show). Returns the signal that stopped the suite, None when
    every scenario ran. A worker that itself ended by a signal (exit 128+N) stops the
    suite like a signal to this process does (as in a sequential suite). Never returns
    or raises while a worker is still running."""
    pending = deque(enumerate(scenarios))
    running: dict[int, Job] = {}
    stopping = False
    try:
        while pending or running:
            if stop.received is not None and not stopping:
                stopping = True
                pending.clear()
                for job in running.values():
                    job.terminate()
            while pending and len(running) < jobs:
                i, sc = pending.popleft()
                running[i] = launch(i, sc)
                progress.started(i, sc)
            for i, job in list(running.items()):
                result = job.poll()
                if result is None:
                    continue
                del running[i]
                progress.finished(i, done(i, result))
                if result.code >= 128 and stop.received is None:
                    stop.received = result.code - 128
            progress.refresh({i: job.status() for i, job in running.items()})
            if running:
                sleep(POLL_S)
    finally:
        # An exception here (a worker that could not start, a bug in `done`): no worker
        # is left behind. Each one is told to stop and waited for.
        for job in running.values():
            job.terminate()
        while running:
            for i, job in list(running.items()):
                if job.poll() is not None:
                    del running[i]
            if running:
                sleep(POLL_S)
    return stop.received


# ---------------------------------------------------------------------------- workers


class ProcessJob:
    """A scenario in a worker process: spec, result and log files in ``work``."""

    def __init__(self, work: Path, i: int, scenario: Scenario) -> None:
        work.mkdir(parents=True, exist_ok=True)
        stem = f"{i + 1:03d}"
        self.spec, self.result, self.log = (work / f"{stem}{ext}" for ext in (".json",
                                            ".result.json", ".log"))  # fmt: skip
        self.spec.write_bytes(
            orjson.dumps({"scenario": scenario.name, "config": scenario.config.to_json()})
        )
        self._t0 = time.monotonic()
        self._out: IO[bytes] = open(self.log, "wb")  # noqa: SIM115 - closed in poll()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "harness.jobs", str(self.spec), str(self.result)],
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env={**os.environ, PARENT_ENV: str(os.getpid())},
        )
        self._done: JobResult | None = None

    @property
    def pid(self) -> int:
        return self._proc.pid

    def poll(self) -> JobResult | None:
        if self._done is not None:
            return self._done
        rc = self._proc.poll()
        if rc is None:
            return None
        self._out.close()
        written = _read_result(self.result)
        code = written.get("code")
        run_dir = written.get("run_dir")
        self._done = JobResult(
            # no code written: killed by a signal, or it failed before its verdict
            code if type(code) is int else (128 - rc if rc < 0 else 2),
            Path(run_dir) if isinstance(run_dir, str) else None,
            time.monotonic() - self._t0,
        )
        return self._done

    def terminate(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGTERM)

    def status(self) -> str:
        return _last_line(self.log)


def process_launcher(work: Path) -> Launcher:
    """Workers in processes, their files under ``work``."""
    return lambda i, scenario: ProcessJob(work, i, scenario)


def _read_result(path: Path) -> dict[str, Any]:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _last_line(path: Path, tail: int = 4096) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, path.stat().st_size - tail))
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    return next((ln.strip() for ln in reversed(lines) if ln.strip()), "starting")


# ---------------------------------------------------------------------------- progress


class Board:
    """Every running scenario, one line each: a live table on a terminal; elsewhere (CI
    logs) a line per start and end, and every ``every_s`` the state of each one."""

    def __init__(
        self,
        console: Console,
        total: int,
        clock: Callable[[], float] = time.monotonic,
        every_s: float = 30.0,
    ) -> None:
        self.console = console
        self.total = total
        self._clock = clock
        self._every = every_s
        self._names: dict[int, str] = {}
        self._since: dict[int, float] = {}
        self._statuses: dict[int, str] = {}
        self._finished: list[str] = []
        self._live: Live | None = None
        self._next_print = clock() + every_s

    @contextlib.contextmanager
    def shown(self) -> Iterator[Board]:
        if not self.console.is_terminal:
            yield self
            return
        with Live(self._render(), console=self.console, refresh_per_second=2) as live:
            self._live = live
            try:
                yield self
            finally:
                live.update(self._render())
                self._live = None

    def started(self, i: int, scenario: Scenario) -> None:
        self._names[i] = scenario.name
        self._since[i] = self._clock()
        if self._live is None:
            self.console.print(f"[{i + 1}/{self.total}] {scenario.name}: started")

    def finished(self, i: int, message: str) -> None:
        self._names.pop(i, None)
        self._since.pop(i, None)
        self._statuses.pop(i, None)
        line = f"[{i + 1}/{self.total}] {message}"
        self._finished.append(line)
        if self._live is None:
            self.console.print(line)
        else:
            self._live.console.print(line)

    def refresh(self, statuses: dict[int, str]) -> None:
        self._statuses = dict(statuses)
        if self._live is not None:
            self._live.update(self._render())
        elif self._names and self._clock() >= self._next_print:
            self._next_print = self._clock() + self._every
            for i in sorted(self._names):
                self.console.print(f"    running {self._line(i)}", soft_wrap=True)

    def _line(self, i: int) -> str:
        return (
            f"{self._names[i]} ({self._clock() - self._since[i]:.0f} s): "
            f"{self._statuses.get(i, '')}"
        )

    def _render(self) -> Group:
        table = Table(box=None, show_header=True, header_style="dim", pad_edge=False)
        table.add_column("running", no_wrap=True)
        table.add_column("for", justify="right")
        table.add_column("now", overflow="ellipsis", no_wrap=True)
        for i in sorted(self._names):
            table.add_row(
                Text(self._names[i]),
                f"{self._clock() - self._since[i]:.0f} s",
                Text(self._statuses.get(i, "")),
            )
        head = Text(f"{len(self._finished)}/{self.total} scenarios done", style="bold")
        return Group(head, table)


# ---------------------------------------------------------------------------- the worker


def _die_with_parent() -> None:
    """SIGTERM when the certifying process dies (Linux): a run that outlives the suite
    would hold its cluster until the next reap. Nothing happens elsewhere."""
    parent = os.environ.get(PARENT_ENV)
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if parent and parent.isdigit() and os.getppid() != int(parent):
        os.kill(os.getpid(), signal.SIGTERM)  # the parent died before prctl took effect


def worker(spec: Path, result: Path) -> int:
    """Run the scenario of ``spec``; write ``result`` when its run directory exists and
    again with the exit code."""
    data = orjson.loads(spec.read_bytes())
    config = build_config(data["config"], CATALOGUE)
    opened: dict[str, Any] = {"scenario": data.get("scenario"), "run_dir": None, "code": None}

    def write() -> None:
        tmp = result.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(opened))
        os.replace(tmp, result)

    def on_run(run_dir: RunDir) -> None:
        opened["run_dir"] = str(run_dir.path)
        write()

    on_open(on_run)
    console = Console(stderr=True, highlight=False, markup=False, width=200)
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    logging.getLogger("floodmark").addHandler(handler)
    try:
        code = run(config, Ui(console=console))
    except Exception as e:  # any error of the run makes this scenario unknown
        log.exception("the run of %s failed", data.get("scenario"))
        console.print(f"error: {type(e).__name__}: {e}")
        code = 2
    opened["code"] = code
    write()
    return code


def main(argv: Sequence[str]) -> None:
    _die_with_parent()
    code = worker(Path(argv[0]), Path(argv[1]))
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)  # as `harness.cli.main`: never wait for a client library's stuck thread


if __name__ == "__main__":
    main(sys.argv[1:])
