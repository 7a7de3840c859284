"""Workload ``log`` (the default): concurrent producers and consumers on integer keys.

Even-numbered workers are producers: each op sends a unique integer value to a random
key (``acks=all``). Odd-numbered workers are consumers: each op polls a random key from
the next offset that worker has not read yet (DESIGN.md §3: ``from`` = last offset
read + 1, starting at 0), and moves that offset on an ``ok`` poll. Values are unique per
run without coordination: worker ``w`` of ``c`` sends ``w + 1, w + 1 + c, w + 1 + 2c, ...``.

Example history of one producer (process 0) and one consumer (process 1)::

    {"process":0,"type":"invoke","f":"send","value":{"key":2,"value":1}}
    {"process":0,"type":"ok","f":"send","value":{"key":2,"value":1,"offset":0},"node":"n1"}
    {"process":1,"type":"invoke","f":"poll","value":{"key":2,"from":0}}
    {"process":1,"type":"ok","f":"poll","value":{"key":2,"from":0,"records":[[0,1]],"hw":1}}
"""

from __future__ import annotations

from harness.contract.history import JSON, F, OpType
from harness.contract.roles import Completion
from workloads.base import OpSource, Workload, WorkloadParams, worker_rng


class Producer:
    def __init__(self, worker: int, params: WorkloadParams) -> None:
        self.rng = worker_rng(params.seed, worker)
        self.keys = params.keys
        self.stride = params.concurrency
        self.next_value = worker + 1

    def next_op(self) -> tuple[str, JSON]:
        value = self.next_value
        self.next_value += self.stride
        return F.SEND.value, {"key": self.rng.randrange(self.keys), "value": value}

    def completed(self, f: str, value: JSON, completion: Completion) -> None:
        """Producers do not depend on outcomes (a failed value is never resent)."""


class Consumer:
    def __init__(self, worker: int, params: WorkloadParams) -> None:
        self.rng = worker_rng(params.seed, worker)
        self.keys = params.keys
        self.offsets = [0] * params.keys
        """Per key: the next offset this consumer has not read."""

    def next_op(self) -> tuple[str, JSON]:
        key = self.rng.randrange(self.keys)
        return F.POLL.value, {"key": key, "from": self.offsets[key]}

    def completed(self, f: str, value: JSON, completion: Completion) -> None:
        if f != F.POLL or completion.type != OpType.OK:
            return
        records = completion.value.get("records") or []
        if records:
            key = value["key"]
            self.offsets[key] = max(self.offsets[key], int(records[-1][0]) + 1)


def log_source(worker: int, params: WorkloadParams) -> OpSource:
    return Producer(worker, params) if worker % 2 == 0 else Consumer(worker, params)


LOG = Workload(
    name="log",
    source=log_source,
    doc="producers send unique integers with acks=all; consumers poll from their last offset",
)
