"""The shared helpers' edges: the real clock and host files, waits on an injected clock,
and what the agent's replies must look like."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faults.common import HOST_FILES, REAL_CLOCK, FaultError, agent, exec_json, wait_until
from tests.fake_clock import FakeClock
from tests.faults.fakes import fake_world


def test_the_real_host_files_and_clock(tmp_path: Path) -> None:
    path = str(tmp_path / "limit")
    Path(path).write_text("")
    HOST_FILES.write(path, "8:0 10\n")
    assert HOST_FILES.read(path) == "8:0 10\n" and HOST_FILES.exists(path)
    assert not HOST_FILES.exists(str(tmp_path / "nope"))
    st = os.stat(path)
    assert HOST_FILES.device(path) == (os.major(st.st_dev), os.minor(st.st_dev))
    t = REAL_CLOCK.now()
    REAL_CLOCK.sleep(0)
    assert REAL_CLOCK.now() >= t


def test_wait_until_polls_on_the_clock_it_is_given() -> None:
    clock = FakeClock()
    answers = iter([None, None, "ready"])
    assert wait_until(lambda: next(answers), 5.0, "x", interval=0.5, clock=clock) == "ready"
    assert clock.sleeps == [0.5, 0.5]
    with pytest.raises(FaultError, match="timed out after 2 s waiting for the moon"):
        wait_until(lambda: None, 2.0, "the moon", interval=0.5, clock=clock)
    assert clock.sleeps[2:] == [0.5] * 4


def test_an_agent_reply_that_is_not_one_json_object_says_what_came() -> None:
    with fake_world() as world:
        c = world.containers["n1"]
        c.agent_reply = lambda argv: (2, b"Traceback (most recent call last)", b"ImportError")
        with pytest.raises(FaultError) as e:
            agent(c, "probe.py", "--deadline", "0.5")  # type: ignore[arg-type]
        msg = str(e.value)
        assert "got exit 2" in msg and "ImportError" in msg and c.name in msg
        c.agent_reply = lambda argv: (0, b"[1, 2]\n", b"")
        with pytest.raises(FaultError, match="expected a JSON object"):
            exec_json(c, ["python3", "-c", "x"])  # type: ignore[arg-type]
        with pytest.raises(FaultError, match="; try later"):
            c.agent_reply = lambda argv: (1, b"", b"")
            exec_json(c, ["true"], timeout_hint="try later")  # type: ignore[arg-type]
