"""Properties over synthetic histories: a correct log is always valid; breaking it is caught."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from checkers import check_ops
from checkers.synthetic import Shape, write_history
from harness.contract.history import F, Op, OpType
from harness.contract.reader import read_history
from harness.contract.verdict import Verdict
from tests.checkers.hist import counts

shapes = st.builds(
    Shape,
    ops=st.integers(200, 1_500),
    keys=st.integers(1, 4),
    producers=st.integers(1, 6),
    consumers=st.integers(1, 4),
    nodes=st.integers(1, 4),
    poll_max=st.integers(1, 6),
    p_fail=st.floats(0, 0.2),
    p_info=st.floats(0, 0.2),
)


def _history(tmp: Path, shape: Shape, seed: int) -> list[Op]:
    path = tmp / f"h-{seed}-{abs(hash(shape))}.jsonl"
    write_history(path, shape, seed=seed)
    ops, _ = read_history(path)
    path.unlink()
    return ops


@settings(max_examples=30, deadline=None)
@given(shape=shapes, seed=st.integers(0, 10**6))
def test_a_correct_log_is_valid(
    tmp_path_factory: pytest.TempPathFactory, shape: Shape, seed: int
) -> None:
    tmp = tmp_path_factory.mktemp("p")
    r = check_ops(_history(tmp, shape, seed))
    assert r.verdict is Verdict.VALID, counts(r)


@settings(max_examples=30, deadline=None)
@given(shape=shapes, seed=st.integers(0, 10**6), pick=st.integers(0, 10**6))
def test_swapping_two_values_in_a_final_read_is_caught(
    tmp_path_factory: pytest.TempPathFactory, shape: Shape, seed: int, pick: int
) -> None:
    tmp = tmp_path_factory.mktemp("p")
    ops = _history(tmp, shape, seed)
    reads = [
        i
        for i, op in enumerate(ops)
        if op.f == F.FINAL_READ and op.type is OpType.OK and len(op.value["records"]) >= 2
    ]
    assume(reads)  # a history with no such read tests nothing: draw another one
    i = reads[pick % len(reads)]
    op = ops[i]
    records = [list(r) for r in op.value["records"]]
    a = pick % (len(records) - 1)
    records[a][1], records[a + 1][1] = records[a + 1][1], records[a][1]
    ops[i] = Op(op.index, op.time, op.process, op.type, op.f, {**op.value, "records": records})
    r = check_ops(ops)
    assert r.verdict is Verdict.INVALID
    # The acked/polled/dumped positions of the swapped values disagree with the final read.
    assert r.checkers["inconsistent-offsets"].count >= 1 or r.checkers["duplicate"].count >= 1
