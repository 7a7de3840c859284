"""The log workload: seeded, unique values, consumers advance from their last offset."""

from __future__ import annotations

from harness.contract.history import OpType
from harness.contract.roles import Completion
from workloads import WORKLOADS, WorkloadParams

LOG = WORKLOADS["log"]


def ops(worker: int, n: int, seed: int = 1, concurrency: int = 4) -> list[tuple[str, object]]:
    src = LOG.source(worker, WorkloadParams(keys=3, concurrency=concurrency, seed=seed))
    return [src.next_op() for _ in range(n)]


def test_same_seed_same_ops_other_seed_other_keys() -> None:
    assert ops(0, 50) == ops(0, 50)
    assert ops(1, 50) == ops(1, 50)
    assert ops(0, 50) != ops(0, 50, seed=2)


def test_producers_send_unique_values_and_consumers_poll() -> None:
    params = WorkloadParams(keys=5, concurrency=6, seed=9)
    values = []
    for w in range(6):
        src = LOG.source(w, params)
        for _ in range(100):
            f, v = src.next_op()
            assert isinstance(v, dict) and 0 <= v["key"] < 5
            if w % 2 == 0:
                assert f == "send"
                values.append(v["value"])
            else:
                assert f == "poll" and v["from"] == 0  # nothing read yet
    assert len(values) == len(set(values)) == 300


def test_consumer_polls_from_last_offset_plus_one() -> None:
    src = LOG.source(1, WorkloadParams(keys=1, concurrency=2, seed=0))
    f, v = src.next_op()
    assert v == {"key": 0, "from": 0}
    src.completed(f, v, Completion(OpType.OK, {**v, "records": [[0, 5], [1, 7]], "hw": 2}))
    f, v = src.next_op()
    assert v == {"key": 0, "from": 2}
    src.completed(f, v, Completion(OpType.FAIL, v, None, "NOT_LEADER"))
    src.completed(f, v, Completion(OpType.OK, {**v, "records": [], "hw": 2}))
    assert src.next_op()[1] == {"key": 0, "from": 2}
