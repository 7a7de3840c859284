"""The workload roles: `OpSource` (one per worker thread) and `Workload` (a registry value)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from harness.contract.history import JSON
from harness.contract.roles import Completion


@dataclass(frozen=True, slots=True)
class WorkloadParams:
    """What a workload may depend on (all from the test config)."""

    keys: int
    concurrency: int
    seed: int


class OpSource(Protocol):
    """The ops of one worker thread: seeded, so a worker's choices depend only on the seed
    and on what its own ops returned."""

    def next_op(self) -> tuple[str, JSON]:
        """The next operation's ``f`` and invoke ``value``."""
        ...

    def completed(self, f: str, value: JSON, completion: Completion) -> None:
        """How that operation ended (called before the next `next_op`)."""
        ...


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    source: Callable[[int, WorkloadParams], OpSource]
    """``source(worker_index, params)`` for workers ``0..concurrency-1``."""
    doc: str


def worker_rng(seed: int, worker: int) -> random.Random:
    """The RNG of one worker: a pure function of the run's seed and the worker index."""
    return random.Random(f"{seed}/worker/{worker}")
