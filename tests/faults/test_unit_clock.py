"""clock against the fake cluster: the agent's offset file, the reading, the reset."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from faults.clock import CLOCK, SETTLE, ClockFault
from faults.common import FaultError
from harness.contract.history import Phase
from harness.contract.roles import NemesisContext
from tests.faults.fake_containers import reply
from tests.faults.fakes import FakeWorld, fake_world


@pytest.fixture
def world() -> Iterator[FakeWorld]:
    with fake_world(env={"FLOODMARK_FAKETIME": "1"}) as w:
        yield w


def clock_fault(world: FakeWorld) -> ClockFault:
    return ClockFault(world.cluster, clock=world.clock)


def agent_commands(world: FakeWorld, node: str) -> list[str]:
    return [c[1][2] for c in world.containers[node].calls if c[0] == "exec_run"]


def test_shift_sets_the_offset_reads_it_back_and_stop_resets_it(world: FakeWorld) -> None:
    fault = clock_fault(world)
    did = fault.invoke(Phase.START, {"node": "n2", "mode": "shift", "offset": -60})
    assert did == {
        "node": "n2",
        "mode": "shift",
        "offset": -60,
        "reported_offset": -60.0,
        "verified": True,
    }
    assert world.containers["n2"].offset == -60.0
    assert agent_commands(world, "n2") == ["set", "verify"]
    undo = fault.invoke(Phase.STOP, {})
    assert undo == {"reset": {"n2": 0.0}, "verified": True}
    assert world.containers["n2"].offset == 0.0 and fault.skewed == []


def test_a_reading_that_lags_is_polled_on_the_injected_clock(world: FakeWorld) -> None:
    world.containers["n1"].clock_stale_reads = 2
    did = clock_fault(world).invoke(Phase.START, {"node": "n1", "offset": 10})
    assert isinstance(did, dict) and did["verified"] is True
    assert world.clock.sleeps == [0.25, 0.25]


def test_an_offset_that_never_shows_is_unverified_after_settling(world: FakeWorld) -> None:
    world.containers["n1"].agent_reply = lambda argv: (
        reply({"ok": True, "mapped": True, "offset": 0.01}) if argv[-1] == "verify" else None
    )
    did = clock_fault(world).invoke(Phase.START, {"node": "n1", "offset": 300})
    assert isinstance(did, dict) and did["verified"] is False
    assert did["why"] == "asked for +300 s, the node reports +0.01 s"
    assert world.clock.slept == pytest.approx(SETTLE, abs=0.26)


def test_libfaketime_not_mapped_is_said(world: FakeWorld) -> None:
    world.containers["n3"].agent_reply = lambda argv: (
        reply({"ok": True, "mapped": False, "offset": 2.0}) if argv[-1] == "verify" else None
    )
    did = clock_fault(world).invoke(Phase.START, {"node": "n3", "offset": 2})
    assert isinstance(did, dict) and did["verified"] is False
    assert "libfaketime is not mapped" in str(did["why"])


def test_a_node_without_libfaketime_is_unverified_and_not_touched() -> None:
    with fake_world() as world:
        did = ClockFault(world.cluster, clock=world.clock).invoke(
            Phase.START, {"node": "n1", "offset": 10}
        )
        assert isinstance(did, dict) and did["verified"] is False
        assert "FLOODMARK_FAKETIME=1 not set" in str(did["why"])
        assert agent_commands(world, "n1") == []


def test_a_stopped_node_is_skipped(world: FakeWorld) -> None:
    world.containers["n2"].status = "exited"
    did = clock_fault(world).invoke(Phase.START, {"node": "n2", "offset": 10})
    assert isinstance(did, dict) and did["verified"] is None
    assert did["skipped"] == "n2 is stopped, its clock cannot be set now"


def test_strobe_runs_detached_with_its_period_and_duration(world: FakeWorld) -> None:
    value = {"node": "n1", "mode": "strobe", "offset": 5, "period": 1.0, "duration": 4.0}
    did = clock_fault(world).invoke(Phase.START, value)
    assert isinstance(did, dict) and did["verified"] is True
    (strobe,) = [c[1] for c in world.containers["n1"].calls if c[0] == "exec_run"][:1]
    assert strobe[2:] == ["strobe", "--offset", "5", "--period", "1.0", "--duration", "4.0"]


def test_a_malformed_start_is_an_error(world: FakeWorld) -> None:
    with pytest.raises(FaultError, match="start-clock expects"):
        clock_fault(world).invoke(Phase.START, {"node": "n1"})


def test_heal_all_resets_every_running_faked_node(world: FakeWorld) -> None:
    world.containers["n1"].offset = 60.0
    world.containers["n3"].status = "exited"
    undo = clock_fault(world).invoke(Phase.STOP, {"heal": "all"})
    assert undo == {"reset": {"n1": 0.0, "n2": 0.0, "controller": 0.0}, "verified": True}
    assert world.containers["n1"].offset == 0.0


def test_a_clock_that_stays_skewed_makes_the_heal_unverified(world: FakeWorld) -> None:
    fault = clock_fault(world)
    fault.invoke(Phase.START, {"node": "n2", "offset": -10})
    world.containers["n2"].agent_reply = lambda argv: (
        reply({"ok": True, "mapped": True, "offset": -10.0}) if argv[-1] == "verify" else None
    )
    undo = fault.invoke(Phase.STOP, {})
    assert isinstance(undo, dict) and undo["verified"] is False
    assert undo["why"] == "clocks still skewed after reset: {'n2': -10.0}"


def test_an_agent_failing_on_a_running_node_fails_the_heal(world: FakeWorld) -> None:
    fault = clock_fault(world)
    fault.invoke(Phase.START, {"node": "n2", "offset": -10})
    world.containers["n2"].agent_reply = lambda argv: (1, b"Traceback ...", b"OSError")
    with pytest.raises(FaultError, match="expected one JSON line"):
        fault.invoke(Phase.STOP, {})


def test_a_node_that_exits_during_the_reset_is_left_out(world: FakeWorld) -> None:
    fault = clock_fault(world)
    fault.invoke(Phase.START, {"node": "n2", "offset": -10})
    n2 = world.containers["n2"]

    def dies(argv: list[str]) -> tuple[int, bytes, bytes]:
        n2.status = "exited"
        return 137, b"", b""

    n2.agent_reply = dies
    assert fault.invoke(Phase.STOP, {}) == {"reset": {}, "verified": True}


def test_the_schedule_draws_nodes_offsets_and_modes() -> None:
    ctx = NemesisContext("clock", random.Random(3), ("n1", "n2"), "controller", 1, 300.0, 5.0)
    starts = [op.value for op in CLOCK.generator(ctx) if op.phase is Phase.START]
    modes = {v["mode"] for v in starts if isinstance(v, dict)}
    assert modes == {"shift", "strobe"}
    assert CLOCK.node_env == {"FLOODMARK_FAKETIME": "1"}
