"""The load: worker threads that drive clients and record every op in the history.

Each of the ``concurrency`` workers owns one `OpSource` (what to do, from the workload)
and one `Client` (how, from the system) for its current logical *process*. For every
op it takes a slot from the shared `RateLimiter`, appends the ``invoke``, calls the
client, and appends the one completion (``ok``/``fail``/``info``) under the same
process. After an ``info`` the process is retired (its op may still take effect): the
worker closes that client and continues as a new process number with a fresh client
(DESIGN.md §3). Process numbers come from one `ProcessIds` counter, so they are unique
across the run (final reads draw from it too).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.contract.history import HistoryWriter, OpType
from harness.contract.roles import Client, Completion
from workloads.base import OpSource

log = logging.getLogger("floodmark")


class RateLimiter:
    """Hands out evenly spaced start times: at most ``rate`` ops per second in total.

    A slot not used in time is not saved up (no bursts after a stall)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate
        self.clock = clock
        self._next = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """The start time of the next op (may be in the past by less than one interval)."""
        with self._lock:
            now = self.clock()
            slot = max(self._next, now)
            self._next = slot + self.interval
            return slot

    def wait(self, stop: threading.Event) -> bool:
        """Sleep until the next slot; False when ``stop`` was set meanwhile."""
        delay = self.reserve() - self.clock()
        if delay > 0:
            return not stop.wait(delay)
        return not stop.is_set()


class ProcessIds:
    """Unique process numbers: ``0..concurrency-1`` first, then fresh ones."""

    def __init__(self, first_free: int) -> None:
        self._ids = itertools.count(first_free)
        self._lock = threading.Lock()

    def fresh(self) -> int:
        with self._lock:
            return next(self._ids)


@dataclass
class LoadStats:
    """Completion counts per (f, type), for the progress line and test.json."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, f: str, t: OpType) -> None:
        with self.lock:
            self.counts[(f, t.value)] += 1

    def by_type(self) -> dict[str, int]:
        with self.lock:
            out: dict[str, int] = {"ok": 0, "fail": 0, "info": 0}
            for (_f, t), n in self.counts.items():
                out[t] = out.get(t, 0) + n
            return out

    def to_json(self) -> dict[str, int]:
        with self.lock:
            return {f"{f}:{t}": n for (f, t), n in sorted(self.counts.items())}


class Worker(threading.Thread):
    """One worker: a sequence of logical processes sharing one `OpSource`."""

    def __init__(
        self,
        index: int,
        source: OpSource,
        make_client: Callable[[int], Client],
        history: HistoryWriter,
        limiter: RateLimiter,
        ids: ProcessIds,
        stop: threading.Event,
        stats: LoadStats,
    ) -> None:
        super().__init__(name=f"worker-{index}", daemon=True)
        self.index = index
        self.source = source
        self.make_client = make_client
        self.history = history
        self.limiter = limiter
        self.ids = ids
        self.stop = stop
        self.stats = stats
        self.process = index
        self.error: BaseException | None = None

    def run(self) -> None:
        client = self._open(self.process)
        try:
            while self.limiter.wait(self.stop):
                f, value = self.source.next_op()
                self.history.append(self.process, OpType.INVOKE, f, value)
                try:
                    done = client.invoke(f, value)
                except Exception as e:
                    log.exception("client of process %s raised on %s", self.process, f)
                    done = Completion(OpType.INFO, value, None, f"CLIENT_BUG:{type(e).__name__}")
                self.history.append(self.process, done.type, f, done.value, done.node, done.error)
                self.stats.add(f, done.type)
                self.source.completed(f, value, done)
                if done.type == OpType.INFO:
                    client.close()
                    self.process = self.ids.fresh()
                    client = self._open(self.process)
        except BaseException as e:  # recorded for the run to report; the thread ends
            self.error = e
            log.exception("worker %s stopped", self.index)
        finally:
            client.close()

    def _open(self, process: int) -> Client:
        client = self.make_client(process)
        client.open()
        return client


def start_workers(
    sources: list[OpSource],
    make_client: Callable[[int], Client],
    history: HistoryWriter,
    rate: float,
    stop: threading.Event,
) -> tuple[list[Worker], LoadStats, ProcessIds]:
    limiter = RateLimiter(rate)
    ids = ProcessIds(len(sources))
    stats = LoadStats()
    workers = [
        Worker(i, src, make_client, history, limiter, ids, stop, stats)
        for i, src in enumerate(sources)
    ]
    for w in workers:
        w.start()
    return workers, stats, ids


def join_workers(workers: list[Worker], timeout: float) -> list[str]:
    """Wait (bounded) for the workers to finish their current op; names those still busy."""
    deadline = time.monotonic() + timeout
    for w in workers:
        w.join(max(0.0, deadline - time.monotonic()))
    return [w.name for w in workers if w.is_alive()]
