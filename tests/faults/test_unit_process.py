"""kill and pause against the fake cluster (tests/faults/fakes.py): what each op does to
the containers, what it records, and what a Docker error makes of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.common import FaultError
from faults.process import KillFault, PauseFault, freezer_state, pause_container, restart_nodes
from harness.contract.history import Phase
from tests.faults.fake_containers import FakeFiles, api_error
from tests.faults.fakes import FakeWorld, fake_world, recorded


@pytest.fixture
def world() -> Iterator[FakeWorld]:
    with fake_world() as w:
        yield w


def kill_fault(world: FakeWorld) -> KillFault:
    return KillFault(world.cluster, clock=world.clock)


def pause_fault(world: FakeWorld) -> PauseFault:
    return PauseFault(world.cluster, clock=world.clock, files=world.files)


# -- kill -----------------------------------------------------------------------------------


def test_kill_sigkills_the_target_and_stop_starts_exactly_it_again(world: FakeWorld) -> None:
    fault = kill_fault(world)
    did = fault.invoke(Phase.START, {"target": "one", "nodes": ["n2"]})
    assert did == {
        "target": "one",
        "nodes": ["n2"],
        "killed": ["n2"],
        "actions": {"n2": {"killed": True}},
        "verified": True,
    }
    n2 = world.containers["n2"]
    assert n2.status == "exited" and ("kill", "SIGKILL") in n2.calls
    assert all(("kill", "SIGKILL") not in world.containers[n].calls for n in ("n1", "n3"))
    undo = fault.invoke(Phase.STOP, {})
    assert undo == {"restarted": ["n2"], "actions": {"n2": {"started": True}}, "verified": True}
    assert n2.status == "running" and fault.down == []
    assert not any(c[0] == "start" for n in ("n1", "n3") for c in world.containers[n].calls)


def test_kill_of_a_key_leader_resolves_it_when_the_op_runs(world: FakeWorld) -> None:
    world.leaders[1] = "n3"
    did = kill_fault(world).invoke(Phase.START, {"target": "leader", "key": 1})
    assert isinstance(did, dict) and did["nodes"] == ["n3"] and did["killed"] == ["n3"]
    assert world.containers["n3"].status == "exited"


def test_kill_of_a_leaderless_key_is_skipped_and_touches_nothing(world: FakeWorld) -> None:
    world.containers["n1"].status = "exited"  # n1 leads key 0: no leader now
    did = kill_fault(world).invoke(Phase.START, {"target": "leader", "key": 0})
    assert did == {
        "target": "leader",
        "key": 0,
        "verified": None,
        "skipped": "key 0 has no leader right now, so there is nothing to target",
    }
    assert not any(c[0] == "kill" for c in world.containers["n2"].calls)


def test_kill_unpauses_a_paused_node_first_and_leaves_a_stopped_one(world: FakeWorld) -> None:
    world.containers["n1"].status = "paused"
    world.containers["n3"].status = "exited"
    did = kill_fault(world).invoke(Phase.START, {"target": "all", "nodes": ["n1", "n2", "n3"]})
    assert isinstance(did, dict) and did["verified"] is True
    assert did["actions"] == {
        "n1": {"unpaused_first": True, "killed": True},
        "n2": {"killed": True},
        "n3": {"already": "stopped"},
    }
    assert did["killed"] == ["n1", "n2"]
    calls = [c[0] for c in world.containers["n1"].calls if c[0] != "reload"]
    assert calls == ["unpause", "kill"]


def test_kill_flushes_lazyfs_first_and_the_restart_waits_for_the_layer() -> None:
    with fake_world(env={"FLOODMARK_LAZYFS": "1"}) as world:
        fault = kill_fault(world)
        did = fault.invoke(Phase.START, {"target": "one", "nodes": ["n1"]})
        assert isinstance(did, dict) and did["actions"] == {
            "n1": {"lazyfs": "passthrough", "killed": True}
        }
        n1 = world.containers["n1"]
        exec_then_kill = [c[0] for c in n1.calls if c[0] in ("exec_run", "kill")]
        assert exec_then_kill == ["exec_run", "kill"]
        assert n1.calls[[c[0] for c in n1.calls].index("exec_run")][1][-1] == "passthrough"
        n1.lazyfs_boot = 3  # the fresh layer answers on the fourth status query
        undo = fault.invoke(Phase.STOP, {})
        assert undo == {
            "restarted": ["n1"],
            "actions": {"n1": {"started": True, "lazyfs": "lazy"}},
            "verified": True,
        }
        assert world.clock.sleeps == [0.2, 0.2, 0.2]


def test_a_kill_docker_calls_not_running_while_it_runs_is_unverified(world: FakeWorld) -> None:
    n2 = world.containers["n2"]
    n2.fail["kill"] = [api_error(409, f"Cannot kill container: {n2.id}: is not running")]
    n2.status = "running"
    did = kill_fault(world).invoke(Phase.START, {"target": "one", "nodes": ["n2"]})
    # Docker said "not running" but the container still runs: the op is not verified.
    assert isinstance(did, dict) and did["verified"] is False and did["killed"] == []
    assert "expected ['n2'] stopped" in str(did["why"])


def test_a_docker_error_on_kill_is_recorded_unverified(world: FakeWorld, tmp_path: Path) -> None:
    world.containers["n2"].fail["kill"] = [api_error(500, "containerd: connection refused")]
    op = recorded(
        world,
        kill_fault(world),
        "kill",
        Phase.START,
        {"target": "one", "nodes": ["n2"]},
        str(tmp_path / "h.jsonl"),
    )
    assert isinstance(op.value, dict) and op.value["verified"] is False
    assert "containerd: connection refused" in str(op.value["why"]) and op.error == "APIError"


def test_a_node_that_does_not_die_times_out_on_the_injected_clock(world: FakeWorld) -> None:
    world.containers["n3"].dies_on_kill = False
    with pytest.raises(FaultError, match="timed out after 30 s waiting for n3 to stop"):
        kill_fault(world).invoke(Phase.START, {"target": "one", "nodes": ["n3"]})
    assert world.clock.slept == pytest.approx(30.0, abs=0.06)


def test_kill_heal_all_starts_every_stopped_node_and_only_those(world: FakeWorld) -> None:
    world.containers["n2"].status = "exited"
    world.containers["controller"].status = "exited"
    undo = kill_fault(world).invoke(Phase.STOP, {"heal": "all"})
    assert isinstance(undo, dict) and undo["verified"] is True
    assert undo["restarted"] == ["n2", "controller"]
    assert undo["actions"] == {
        "n1": {"already": "running"},
        "n2": {"started": True},
        "n3": {"already": "running"},
        "controller": {"started": True},
    }


def test_a_node_that_will_not_start_makes_the_heal_unverified(world: FakeWorld) -> None:
    n2 = world.containers["n2"]
    n2.status = "exited"
    n2.fail["start"] = [api_error(500, "no space left on device")]
    with pytest.raises(Exception, match="no space left on device"):
        restart_nodes(world.cluster, ["n2"], world.clock)


def test_kill_target_specs_are_checked(world: FakeWorld) -> None:
    fault = kill_fault(world)
    with pytest.raises(FaultError, match="expected a target spec"):
        fault.invoke(Phase.START, {"target": "some"})
    with pytest.raises(FaultError, match="names no nodes"):
        fault.invoke(Phase.START, {"target": "one", "nodes": []})
    with pytest.raises(FaultError, match=r"unknown nodes \['n9'\]"):
        fault.invoke(Phase.START, {"target": "one", "nodes": ["n9"]})


# -- pause ----------------------------------------------------------------------------------


def test_pause_freezes_reads_the_freezer_and_stop_thaws(world: FakeWorld) -> None:
    fault = pause_fault(world)
    did = fault.invoke(Phase.START, {"target": "minority", "nodes": ["n3"]})
    assert did == {
        "target": "minority",
        "nodes": ["n3"],
        "paused": ["n3"],
        "not_running": {},
        "freezer": {"n3": "FROZEN"},
        "verified": True,
    }
    assert world.containers["n3"].status == "paused"
    assert fault.invoke(Phase.STOP, {}) == {"resumed": ["n3"], "verified": True}
    assert world.containers["n3"].status == "running"
    assert world.files.read(world.freezer_file(world.containers["n3"])) == "THAWED\n"


def test_pause_leaves_a_stopped_node_out_and_skips_when_none_runs(world: FakeWorld) -> None:
    world.containers["n1"].status = "exited"
    did = pause_fault(world).invoke(Phase.START, {"target": "all", "nodes": ["n1", "n2"]})
    assert isinstance(did, dict) and did["paused"] == ["n2"]
    assert did["not_running"] == {"n1": "stopped"} and did["verified"] is True
    world.containers["n2"].status = "exited"
    gone = pause_fault(world).invoke(Phase.START, {"target": "all", "nodes": ["n1", "n2"]})
    assert isinstance(gone, dict) and gone["verified"] is None
    assert "no target could be paused" in str(gone["skipped"])


def test_pause_retries_a_transient_freeze_failure_on_the_injected_clock(
    world: FakeWorld,
) -> None:
    n1 = world.containers["n1"]
    n1.fail["pause"] = [api_error(500, "runc: unable to freeze")] * 2
    did = pause_fault(world).invoke(Phase.START, {"target": "one", "nodes": ["n1"]})
    assert isinstance(did, dict) and did["paused"] == ["n1"] and did["verified"] is True
    assert world.clock.sleeps == [0.2, 0.4]


def test_an_unfreezable_node_is_said_so_and_not_counted_paused(world: FakeWorld) -> None:
    world.containers["n1"].fail["pause"] = [api_error(500, "runc: unable to freeze")] * 6
    did = pause_fault(world).invoke(Phase.START, {"target": "one", "nodes": ["n1"]})
    assert isinstance(did, dict) and did["verified"] is None
    assert "could not be frozen in 6 attempts" in str(did["skipped"])
    assert world.containers["n1"].status == "running"


def test_other_pause_errors_propagate_unretried(world: FakeWorld) -> None:
    n1 = world.containers["n1"]
    n1.fail["pause"] = [api_error(409, f"Container {n1.id} is not running")]
    with pytest.raises(Exception, match="is not running"):
        pause_container(n1, clock=world.clock)  # type: ignore[arg-type]
    assert world.clock.sleeps == []


def test_a_freezer_that_does_not_read_frozen_is_unverified(world: FakeWorld) -> None:
    class Stuck(FakeFiles):
        def read(self, path: str) -> str:
            return "FREEZING\n" if path.endswith("freezer.state") else super().read(path)

    stuck = Stuck()
    stuck.files = world.files.files
    fault = PauseFault(world.cluster, clock=world.clock, files=stuck)
    did = fault.invoke(Phase.START, {"target": "one", "nodes": ["n2"]})
    assert isinstance(did, dict) and did["verified"] is False
    assert "expected the freezer cgroup FROZEN" in str(did["why"]) and fault.paused == ["n2"]


def test_no_freezer_cgroup_says_cgroup_v1_is_needed(world: FakeWorld) -> None:
    n1 = world.containers["n1"]
    world.files.files[f"/proc/{n1.pid}/cgroup"] = "0::/system.slice/docker.scope\n"
    with pytest.raises(FaultError, match="needs cgroup v1"):
        freezer_state(n1, world.files)  # type: ignore[arg-type]


def test_pause_heal_all_thaws_nodes_it_did_not_pause_itself(world: FakeWorld) -> None:
    world.containers["n2"].status = "paused"
    undo = pause_fault(world).invoke(Phase.STOP, {"heal": "all"})
    assert undo == {"resumed": ["n2"], "verified": True}
    assert world.containers["n2"].status == "running"


def test_a_thaw_that_docker_refuses_is_recorded_unverified(
    world: FakeWorld, tmp_path: Path
) -> None:
    fault = pause_fault(world)
    fault.invoke(Phase.START, {"target": "one", "nodes": ["n1"]})
    world.containers["n1"].fail["unpause"] = [api_error(500, "cgroup thaw failed")]
    op = recorded(world, fault, "pause", Phase.STOP, {}, str(tmp_path / "h.jsonl"))
    assert isinstance(op.value, dict) and op.value["verified"] is False
    assert "cgroup thaw failed" in str(op.value["why"])
    assert world.containers["n1"].status == "paused"
