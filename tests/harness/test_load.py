"""Workers, the rate limiter and process retirement, with scripted clients."""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from harness.contract.history import JSON, HistoryWriter, Op, OpType
from harness.contract.reader import read_history
from harness.contract.roles import Client, Completion
from harness.load import LoadStats, RateLimiter, Worker, join_workers, start_workers
from tests.harness.fakes import ScriptedClient
from workloads import WORKLOADS, WorkloadParams


def test_rate_limiter_spaces_slots_and_does_not_save_up() -> None:
    now = [100.0]
    rl = RateLimiter(10.0, clock=lambda: now[0])
    assert [rl.reserve() for _ in range(3)] == pytest.approx([100.0, 100.1, 100.2])
    now[0] = 200.0  # a long stall: no burst of missed slots afterwards
    assert rl.reserve() == 200.0
    assert abs(rl.reserve() - 200.1) < 1e-9


def run_load(
    tmp_path: Path, answer: Any, rate: float, seconds: float, workers: int = 4
) -> tuple[list[Op], list[tuple[str, int]], LoadStats, list[Worker]]:
    history = HistoryWriter(tmp_path / "history.jsonl")
    log: list[tuple[str, int]] = []
    params = WorkloadParams(keys=3, concurrency=workers, seed=1)
    sources = [WORKLOADS["log"].source(i, params) for i in range(workers)]

    def make_client(process: int) -> Client:
        return ScriptedClient(answer, log, process)

    stop = threading.Event()
    ws, stats, _ids = start_workers(sources, make_client, history, rate, stop)
    time.sleep(seconds)
    stop.set()
    assert join_workers(ws, 5.0) == []
    history.close()
    ops, _ = read_history(tmp_path / "history.jsonl")
    return ops, log, stats, ws


def test_each_invoke_gets_one_completion_and_info_retires_the_process(tmp_path: Path) -> None:
    def answer(process: int, f: str, value: JSON) -> Completion:
        if f == "send" and value["value"] % 5 == 0:
            return Completion(OpType.INFO, value, "n1", "TIMEOUT")
        if f == "send":
            return Completion(OpType.OK, {**value, "offset": value["value"]}, "n1")
        return Completion(OpType.OK, {**value, "records": [], "hw": 0}, "n1")

    ops, log, stats, ws = run_load(tmp_path, answer, rate=400, seconds=0.6)
    assert all(w.error is None for w in ws)
    pending: dict[object, object] = {}
    completions: dict[OpType, int] = defaultdict(int)
    for op in ops:
        if op.type == OpType.INVOKE:
            assert op.process not in pending, f"process {op.process} invoked twice in a row"
            pending[op.process] = op
        else:
            assert op.process in pending, f"completion without invoke: {op}"
            pending.pop(op.process)
            completions[op.type] += 1
    assert not pending
    infos = [op for op in ops if op.type == OpType.INFO]
    assert infos, "the script must have produced info completions"
    retired = {op.process for op in infos}
    for p in retired:  # a retired process never invokes again, and its client was closed
        last_info = max(op.index for op in infos if op.process == p)
        assert not [op for op in ops if op.process == p and op.index > last_info]
        assert ("close", p) in log
    opened = [p for what, p in log if what == "open"]
    assert len(opened) == len(set(opened)) == 4 + len(retired)  # fresh numbers, never reused
    assert stats.by_type()["info"] == len(infos)


def test_rate_bounds_the_total_throughput(tmp_path: Path) -> None:
    """Every worker takes its slots from one limiter, and the limiter hands out slots
    1/rate apart however many threads ask at once: the total is bounded by the rate."""

    def answer(process: int, f: str, value: JSON) -> Completion:
        if f == "send":
            return Completion(OpType.OK, {**value, "offset": 0}, "n1")
        return Completion(OpType.OK, {**value, "records": [], "hw": 0}, "n1")

    *_, ws = run_load(tmp_path, answer, rate=50, seconds=0.2, workers=8)
    limiters = {id(w.limiter) for w in ws}
    assert len(limiters) == 1 and ws[0].limiter.interval == pytest.approx(1 / 50)

    rl = RateLimiter(50.0, clock=lambda: 0.0)  # time stands still: only spacing counts
    slots: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        mine = [rl.reserve() for _ in range(50)]
        with lock:
            slots.extend(mine)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    slots.sort()
    assert len(slots) == 400
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) == pytest.approx(0.02) and max(gaps) == pytest.approx(0.02)


def test_a_client_that_raises_becomes_info_not_a_lost_op(tmp_path: Path) -> None:
    def answer(process: int, f: str, value: JSON) -> Completion:
        raise RuntimeError("client bug")

    ops, *_ = run_load(tmp_path, answer, rate=100, seconds=0.3, workers=2)
    done = [op for op in ops if op.type != OpType.INVOKE]
    assert done and all(op.type == OpType.INFO and op.error == "CLIENT_BUG:RuntimeError"
                        for op in done)  # fmt: skip
