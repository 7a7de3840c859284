"""The shared helpers' edges: the real clock and host files, waits on an injected clock,
and what the agent's replies must look like."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faults.common import (
    HOST_FILES,
    REAL_CLOCK,
    FaultError,
    agent,
    exec_json,
    followers_of,
    resolve_target,
    wait_until,
)
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


def test_followers_are_the_in_sync_replicas_in_replica_order_without_leader_or_dead() -> None:
    isr = ["n2", "n3", "n1"]
    states = [
        {"key": 0, "node": "n3", "role": "follower", "isr": isr},
        {"key": 0, "node": "n2", "role": "leader", "isr": isr},
        {"key": 0, "node": "n1", "role": "follower", "isr": isr},
        {"key": 1, "node": "n1", "role": "leader", "isr": ["n1"]},
    ]
    # the order is the states' (the system's replica order), not the ISR's
    assert followers_of(states, 0) == ["n3", "n1"]
    dead = [{**s, "role": "offline", "isr": []} if s["node"] == "n3" else s for s in states]
    assert followers_of(dead, 0) == ["n1"]
    assert followers_of(states, 1) == []  # n1 leads key 1 alone
    # the leader died, its partition not yet re-elected: both survivors still follow
    no_leader = [{**s, "role": "follower"} if s["role"] == "leader" else s for s in dead[:3]]
    assert followers_of(no_leader, 0) == ["n2", "n1"]


def test_a_follower_target_is_resolved_through_the_system_when_the_op_runs() -> None:
    with fake_world() as world:
        assert resolve_target(world.cluster, {"target": "follower", "key": 0}) == ["n2"]
        spec = {"target": "follower", "key": 0, "rank": 2}
        assert resolve_target(world.cluster, spec) == ["n3"]
        with pytest.raises(FaultError, match="rank 3"):
            resolve_target(world.cluster, {**spec, "rank": 3})
