"""history.jsonl is readable while the run goes and after a SIGKILL (torn last line at most)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.contract.history import HistoryWriter, OpType
from harness.contract.reader import read_history

WRITER = """
import sys, itertools
from harness.contract.history import HistoryWriter, OpType
w = HistoryWriter(__import__("pathlib").Path(sys.argv[1]), fsync_every=10**9)
big = list(range(300))
for i in itertools.count():
    w.append(i % 7, OpType.INVOKE, "poll", {"key": 1, "from": i, "pad": big})
"""


def test_every_append_is_visible_before_close(tmp_path: Path) -> None:
    w = HistoryWriter(tmp_path / "h.jsonl")
    w.append(0, OpType.INVOKE, "send", {"key": 0, "value": 1})
    w.append(0, OpType.OK, "send", {"key": 0, "value": 1, "offset": 0}, node="n1")
    ops, stats = read_history(tmp_path / "h.jsonl")  # another reader, writer still open
    assert [o.type for o in ops] == [OpType.INVOKE, OpType.OK]
    assert not stats.torn_last_line
    w.close()


def test_sigkill_leaves_a_parseable_prefix(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=env)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not path.exists() or path.stat().st_size < 2e6):
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    ops, stats = read_history(path)
    assert len(ops) > 100
    assert [o.index for o in ops] == list(range(len(ops)))
    assert stats.lines in (len(ops), len(ops) + 1)
    assert stats.torn_last_line == (stats.lines == len(ops) + 1)
