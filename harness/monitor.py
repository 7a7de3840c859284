"""The monitor: replica states sampled into the history, and the health of the cluster.

A `Monitor` thread asks the system for every replica's state (through the admin proxies,
which no fault touches) every ``interval`` seconds (≤ 1 s), and appends one
``replica-state`` op per (key, node) with process ``"monitor"`` and type ``info``::

    {"process":"monitor","type":"info","f":"replica-state",
     "value":{"key":0,"node":"n2","role":"follower","leo":41,"hw":40,"epoch":3,"isr":["n1","n2"]},
     "node":"n2"}

An unreachable node is sampled as ``"role": "offline"`` with ``leo``/``hw``/``epoch`` -1.

Each round also goes to ``on_sample`` when one is given: the default schedule's triggers
(`harness.nemesis.Nemesis.observe`) decide on it.

`health` decides whether the cluster has recovered: every key has a leader whose ISR
holds ``replication_factor`` replicas.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from harness.contract.history import JSON, MONITOR, F, HistoryWriter, OpType
from harness.contract.roles import Cluster

log = logging.getLogger("floodmark")


def health(states: list[dict[str, JSON]], keys: int, replication_factor: int) -> dict[int, str]:
    """Per unhealthy key, what is wrong (empty when every key has a leader and full ISR)."""
    problems: dict[int, str] = {}
    for k in range(keys):
        leaders = [s for s in states if s["key"] == k and s["role"] == "leader"]
        if not leaders:
            problems[k] = "no leader"
            continue
        top = max(leaders, key=lambda s: int(s["epoch"]))
        isr = top["isr"]
        if len(isr) < replication_factor:
            problems[k] = f"leader {top['node']} has ISR {isr}, needs {replication_factor}"
    return problems


def wait_healthy(
    cluster: Cluster,
    timeout: float,
    stop: threading.Event | None = None,
    on_sample: Callable[[dict[int, str]], None] = lambda _p: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[int, str]:
    """Poll until `health` is empty or ``timeout`` passes; returns the last problems."""
    deadline = clock() + timeout
    plan = cluster.plan
    while True:
        states = cluster.system.replica_states(cluster)
        problems = health(states, plan.keys, plan.replication_factor)
        on_sample(problems)
        if not problems or clock() >= deadline:
            return problems
        if stop is not None and stop.is_set():
            return problems
        sleep(0.1)


class Monitor(threading.Thread):
    """Samples replica states into the history until stopped."""

    def __init__(
        self,
        cluster: Cluster,
        history: HistoryWriter,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], object] | None = None,
        on_sample: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        """``clock`` and ``wait`` (default: the stop event's wait) pace the samples;
        ``on_sample`` hears each round once it is in the history (the default schedule's
        triggers: `harness.nemesis.Nemesis.observe`; it must not block)."""
        super().__init__(name="monitor", daemon=True)
        self.cluster = cluster
        self.history = history
        self.interval = interval
        self.stopping = threading.Event()
        self.samples = 0
        self.latest: list[dict[str, Any]] = []
        self.clock = clock
        self.wait = wait or self.stopping.wait
        self.on_sample = on_sample

    def run(self) -> None:
        next_at = self.clock()
        while not self.stopping.is_set():
            try:
                self.sample()
            except Exception:
                log.exception("monitor: sampling failed; will retry")
            next_at = max(next_at + self.interval, self.clock())
            self.wait(max(0.0, next_at - self.clock()))

    def sample(self) -> list[dict[str, Any]]:
        states = self.cluster.system.replica_states(self.cluster)
        for s in states:
            self.history.append(MONITOR, OpType.INFO, F.REPLICA_STATE, s, node=str(s["node"]))
        self.samples += 1
        self.latest = states
        if self.on_sample is not None:
            self.on_sample(states)
        return states

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join(timeout)
