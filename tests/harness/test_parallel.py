"""`parallel`: every call runs (more items than threads), and all finish before it raises."""

from __future__ import annotations

import threading
import time

import pytest

from compose.resources import parallel


def test_runs_every_item_even_with_few_threads() -> None:
    assert parallel(lambda x: x * 2, range(30), workers=3) == [x * 2 for x in range(30)]


def test_waits_for_the_calls_in_flight_before_raising() -> None:
    finished: list[int] = []
    lock = threading.Lock()

    def work(x: int) -> int:
        if x == 0:
            raise RuntimeError("boom")
        time.sleep(0.2)
        with lock:
            finished.append(x)
        return x

    with pytest.raises(RuntimeError, match="boom"):
        parallel(work, range(4), workers=4)
    assert sorted(finished) == [1, 2, 3]
