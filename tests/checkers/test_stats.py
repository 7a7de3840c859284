"""The statistics fold against a plain model of its definitions (checkers/stats.py).

The fold keeps an ok op as appends to machine-integer arrays and measures gaps and
percentiles at the end with numpy; these tests hold it to the definitions, written out the
slow and obvious way, on arbitrary workloads (times may tie, go backwards, or be too far
apart for 64-bit steps).
"""

from __future__ import annotations

import math
from array import array
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from checkers.stats import _longest_step, _percentiles
from harness.contract.history import JSON, Op, OpType
from tests.checkers.hist import History


def _model_step(times: list[int], floor: int) -> tuple[int, int]:
    best, at = floor, 0
    for a, b in pairwise(times):
        if b - a > best:  # strictly greater: the first of equal steps wins
            best, at = b - a, a
    return best, at


@given(
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=30)
    | st.lists(st.integers(-50, 50), max_size=30),
    st.sampled_from([-1, 0]),
)
@settings(max_examples=300, deadline=None)
def test_the_longest_step_is_the_first_largest_step_above_the_floor(
    times: list[int], floor: int
) -> None:
    assert _longest_step(array("q", times), floor) == _model_step(times, floor)


@given(st.lists(st.integers(0, 10**12), min_size=1, max_size=200))
@settings(max_examples=200, deadline=None)
def test_percentiles_are_nearest_rank_over_every_op(ns: list[int]) -> None:
    s = sorted(ns)

    def rank(p: float) -> float:
        return round(s[max(0, math.ceil(p * len(s)) - 1)] / 1e6, 3)

    got = _percentiles(array("q", ns))
    assert got == {
        "count": len(ns),
        "p50_ms": rank(0.5),
        "p95_ms": rank(0.95),
        "p99_ms": rank(0.99),
        "max_ms": round(s[-1] / 1e6, 3),
    }
    assert _percentiles(array("q"))["count"] == 0


# One workload op: (key, f, outcome, latency ms, ms until the next invoke).
_OPS = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.sampled_from(["send", "poll"]),
        st.sampled_from(["ok", "ok", "ok", "fail", "info"]),
        st.integers(0, 40),
        st.integers(0, 40),
    ),
    min_size=1,
    max_size=40,
)


def _workload(ops: list[tuple[int, str, str, int, int]]) -> History:
    h = History()
    for n, (key, f, outcome, latency, pause) in enumerate(ops):
        value: dict[str, JSON] = (
            {"key": key, "value": n} if f == "send" else {"key": key, "from": 0}
        )
        h.add(n, "invoke", f, value, dt_ms=pause)
        done = dict(value)
        if outcome == "ok":
            done.update({"offset": n} if f == "send" else {"records": [], "hw": 0})
        h.add(n, outcome, f, done, dt_ms=latency)
    return h


def _model_availability(ops: list[Op]) -> dict[str, JSON]:
    """stats.availability by its definition: per key, the longest window without an ok
    send or poll, from the workload's first invoke to its last completion."""
    workload = [op for op in ops if op.f in ("send", "poll")]
    start = workload[0].time
    end = [op for op in workload if op.type is not OpType.INVOKE][-1].time
    out: dict[str, JSON] = {}
    for k in sorted({op.value["key"] for op in workload if isinstance(op.value, dict)}):
        mine = [op for op in workload if isinstance(op.value, dict) and op.value["key"] == k]
        oks = [op.time for op in mine if op.type is OpType.OK]
        gap, since = _model_step(oks, -1)
        if oks and oks[0] - start >= gap:
            gap, since = oks[0] - start, start
        last = oks[-1] if oks else start
        if end - last > gap:
            gap, since = end - last, last
        gap = max(gap, 0)
        out[str(k)] = {
            "longest_gap_s": round(gap / 1e9, 3),
            "longest_gap_from_s": round(since / 1e9, 3),
            "longest_gap_to_s": round((since + gap) / 1e9, 3),
            "ok": len(oks),
            "fail": sum(op.type is OpType.FAIL for op in mine),
            "info": sum(op.type is OpType.INFO for op in mine),
        }
    return out


@given(_OPS)
@settings(max_examples=150, deadline=None)
def test_availability_rates_and_the_any_key_gap_match_their_definitions(
    ops: list[tuple[int, str, str, int, int]],
) -> None:
    h = _workload(ops)
    results = h.check()
    stats = results.stats
    assert stats["availability"] == _model_availability(h.ops)
    for f in ("send", "poll"):
        outcomes = [o for _, g, o, _, _ in ops if g == f]
        if outcomes:
            assert isinstance(stats["rates"], dict)
            assert stats["rates"][f] == {
                "ok": outcomes.count("ok"),
                "fail": outcomes.count("fail"),
                "info": outcomes.count("info"),
                "pending": 0,
            }
    oks = [op.time for op in h.ops if op.type is OpType.OK]
    gap = _model_step(oks, 0)[0]
    assert results.liveness is not None
    assert results.liveness.longest_gap_s == (round(gap / 1e9, 3) if oks else None)


def test_on_a_tie_the_window_from_the_start_comes_first() -> None:
    # first invoke at 10 ms, ok at 20 and 30 ms: two 10-ms windows, the first one wins
    h = _workload([(0, "send", "ok", 10, 10), (0, "send", "ok", 0, 10)])
    av = h.check().stats["availability"]
    assert isinstance(av, dict)
    assert av["0"] == {
        "longest_gap_s": 0.01,
        "longest_gap_from_s": 0.01,
        "longest_gap_to_s": 0.02,
        "ok": 2,
        "fail": 0,
        "info": 0,
    }


def test_a_key_beyond_64_bits_is_grouped_like_any_other() -> None:
    big = 2**63 + 1  # a JSON integer msgspec reads, which no int64 holds
    ops = [(big, "send", "ok", 5, 5), (0, "poll", "ok", 3, 2), (big, "poll", "ok", 1, 1)]
    h = _workload(ops)
    assert h.check().stats["availability"] == _model_availability(h.ops)


def test_a_time_beyond_64_bits_is_a_statistics_note_that_names_it() -> None:
    h = _workload([(0, "send", "ok", 5, 5)] * 3)
    past = 2**63 // 10**6 + 1  # ms: a completion time no int64 holds (JSON has it)
    h.add(9, "invoke", "send", {"key": 0, "value": 99}, dt_ms=1)
    h.add(9, "ok", "send", {"key": 0, "value": 99, "offset": 3}, dt_ms=past)
    result = h.check()
    assert result.verdict.value != "invalid"  # statistics are no verdict
    notes = " ".join(str(n) for n in result.stats["notes"])
    assert "statistics failed" in notes and "does not fit in 64 bits" in notes
