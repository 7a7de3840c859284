"""slow-disk and lose-unfsynced against the fake cluster: the blkio throttle files of
the (fake) host, the fsync probes and the lazyfs layer in the node."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.common import FaultError
from faults.disk import slow as slow_disk
from faults.disk.lose_unfsynced import LoseUnfsyncedFault
from faults.disk.slow import LAZYFS_BACKING, SlowDiskFault, data_device
from harness.contract.history import Phase
from tests.faults.fake_containers import Reply, api_error, reply
from tests.faults.fakes import FakeWorld, fake_world

BPS = "blkio.throttle.write_bps_device"
IOPS = "blkio.throttle.write_iops_device"


@pytest.fixture
def world() -> Iterator[FakeWorld]:
    with fake_world() as w:
        yield w


def slow(world: FakeWorld) -> SlowDiskFault:
    return SlowDiskFault(world.cluster, probe_writes=3, files=world.files)


def limits(world: FakeWorld, node: str) -> tuple[str, str]:
    d = world.blkio_dir(world.containers[node])
    return world.files.limit(f"{d}/{BPS}"), world.files.limit(f"{d}/{IOPS}")


# -- slow-disk ------------------------------------------------------------------------------


def test_slow_disk_throttles_the_whole_disk_measures_and_lifts(world: FakeWorld) -> None:
    fault = slow(world)
    did = fault.invoke(Phase.START, {"node": "n2", "write_bps": 65536, "write_iops": 10})
    assert isinstance(did, dict) and did["verified"] is True, did
    assert did["device"] == "8:0", "the partition 8:1 maps to its whole disk"
    assert did["fsync_ms"] == {"before": 2.0, "after": 120.0} and did["slowdown"] == 60.0
    assert limits(world, "n2") == ("8:0 65536", "8:0 10")
    assert limits(world, "n1") == ("", "")
    undo = fault.invoke(Phase.STOP, {})
    assert undo == {"lifted": ["n2"], "verified": True}
    assert limits(world, "n2") == ("", "") and fault.active == {}


def test_a_throttle_that_does_not_slow_fsync_is_unverified(world: FakeWorld) -> None:
    world.throttled_ms = 4.0
    did = slow(world).invoke(Phase.START, {"node": "n1", "write_bps": 65536, "write_iops": 10})
    assert isinstance(did, dict) and did["verified"] is False
    assert "expected fsync latency to grow ≥ 10x, it went from 2.00 ms to 4.00 ms" in str(
        did["why"]
    )


def test_under_lazyfs_the_probe_writes_to_the_real_volume() -> None:
    with fake_world(env={"FLOODMARK_LAZYFS": "1"}) as world:
        slow(world).invoke(Phase.START, {"node": "n1", "write_bps": 1, "write_iops": 1})
        probes = [c[1] for c in world.containers["n1"].calls if c[0] == "exec_run"]
        assert probes and all(argv[3] == LAZYFS_BACKING for argv in probes)


def test_a_paused_or_stopped_node_is_skipped_and_not_throttled(world: FakeWorld) -> None:
    world.containers["n1"].status = "paused"
    did = slow(world).invoke(Phase.START, {"node": "n1", "write_bps": 1, "write_iops": 1})
    assert isinstance(did, dict) and did["verified"] is None and "paused" in str(did["skipped"])
    world.containers["n2"].status = "exited"
    did = slow(world).invoke(Phase.START, {"node": "n2", "write_bps": 1, "write_iops": 1})
    assert (
        isinstance(did, dict)
        and "n2" in str(did["skipped"])
        and "not running" in str(did["skipped"])
    )
    assert world.files.writes == []


def test_a_node_paused_between_the_probes_gets_its_throttle_lifted(world: FakeWorld) -> None:
    n3 = world.containers["n3"]
    probes: list[int] = []

    def paused_on_second_probe(argv: list[str]) -> Reply | None:
        if argv[:2] == ["python3", "-c"]:
            probes.append(1)
            if len(probes) == 2:
                raise api_error(409, f"Container {n3.id} is paused, unpause it before exec")
        return None

    n3.agent_reply = paused_on_second_probe
    fault = slow(world)
    did = fault.invoke(Phase.START, {"node": "n3", "write_bps": 1024, "write_iops": 4})
    assert isinstance(did, dict) and did["verified"] is None
    assert "throttle lifted" in str(did["skipped"])
    assert limits(world, "n3") == ("", "") and fault.active == {}


def test_other_docker_errors_during_the_probe_propagate(world: FakeWorld) -> None:
    world.containers["n3"].fail["exec_run"] = [api_error(500, "exec failed")]
    with pytest.raises(Exception, match="exec failed"):
        slow(world).invoke(Phase.START, {"node": "n3", "write_bps": 1, "write_iops": 1})


def test_what_blkio_cannot_throttle_is_explained(world: FakeWorld) -> None:
    n1 = world.containers["n1"]
    source = n1.mounts[0]["Source"]
    world.files.devices[source] = (0, 51)
    with pytest.raises(FaultError, match="virtual file system"):
        data_device(n1, "/data", world.files)  # type: ignore[arg-type]
    world.files.devices[source] = (253, 0)  # a whole disk, not a partition
    assert data_device(n1, "/data", world.files) == "253:0"  # type: ignore[arg-type]
    with pytest.raises(FaultError, match="no volume mounted at /var/x"):
        data_device(n1, "/var/x", world.files)  # type: ignore[arg-type]
    world.files.files[f"/proc/{n1.pid}/cgroup"] = "0::/\n"
    with pytest.raises(FaultError, match="no blkio cgroup"):
        slow(world).invoke(Phase.START, {"node": "n1", "write_bps": 1, "write_iops": 1})
    with pytest.raises(FaultError, match="start-slow-disk expects"):
        slow(world).invoke(Phase.START, {"write_bps": 1})


def test_heal_all_lifts_running_nodes_and_skips_what_has_no_volume(world: FakeWorld) -> None:
    fault = slow(world)
    fault.invoke(Phase.START, {"node": "n1", "write_bps": 1024, "write_iops": 4})
    world.containers["n2"].status = "exited"
    world.containers["controller"].mounts = []
    undo = fault.invoke(Phase.STOP, {"heal": "all"})
    assert undo == {"lifted": ["n1", "n3"], "verified": True}
    assert limits(world, "n1") == ("", "")


def test_a_throttle_that_stays_makes_the_heal_unverified(world: FakeWorld) -> None:
    fault = slow(world)
    fault.invoke(Phase.START, {"node": "n1", "write_bps": 1024, "write_iops": 4})
    world.files.refuse_writes.add(f"{world.blkio_dir(world.containers['n1'])}/{IOPS}")
    undo = fault.invoke(Phase.STOP, {})
    assert isinstance(undo, dict) and undo["verified"] is False
    assert undo["why"] == "throttles remain after lifting: {'n1': ['8:0 4']}"


# -- lose-unfsynced -------------------------------------------------------------------------


@pytest.fixture
def lazy_world() -> Iterator[FakeWorld]:
    with fake_world(env={"FLOODMARK_LAZYFS": "1"}) as w:
        yield w


def lose(world: FakeWorld) -> LoseUnfsyncedFault:
    return LoseUnfsyncedFault(world.cluster, clock=world.clock)


def test_power_loss_drops_the_pending_writes_kills_and_restarts_fresh(
    lazy_world: FakeWorld,
) -> None:
    world = lazy_world
    n2 = world.containers["n2"]
    n2.pending = {"/p0/00000.log": {"bytes": 4096}, "/p0/checkpoint": {"bytes": 12}}
    fault = lose(world)
    did = fault.invoke(Phase.START, {"target": "one", "nodes": ["n2"]})
    assert isinstance(did, dict) and did["verified"] is True, did
    assert did["killed"] == ["n2"] and did["not_running"] == []
    assert did["lost"] == {
        "n2": {
            "files": 2,
            "bytes": 4108,
            "paths": {"/p0/00000.log": {"bytes": 4096}, "/p0/checkpoint": {"bytes": 12}},
        }
    }
    assert n2.status == "exited"
    ops = [c[1][-1] if c[0] == "exec_run" else c[0] for c in n2.calls if c[0] != "reload"]
    assert ops == ["crash", "kill"]
    undo = fault.invoke(Phase.STOP, {})
    assert undo == {"restarted": ["n2"], "lazyfs": {"n2": "lazy"}, "verified": True}
    assert n2.status == "running" and n2.lazyfs_mode == "lazy"


def test_a_node_without_the_layer_is_unverified_and_not_killed(world: FakeWorld) -> None:
    did = lose(world).invoke(Phase.START, {"target": "one", "nodes": ["n1"]})
    assert isinstance(did, dict) and did["verified"] is False and did["killed"] == []
    assert "FLOODMARK_LAZYFS=1 not set" in str(did["why"])
    assert world.containers["n1"].status == "running"


def test_a_crash_the_layer_refuses_is_unverified(lazy_world: FakeWorld) -> None:
    lazy_world.containers["n1"].lazyfs_mode = "crashed"
    did = lose(lazy_world).invoke(Phase.START, {"target": "one", "nodes": ["n1"]})
    assert isinstance(did, dict) and did["verified"] is False
    assert "n1: lazyfs crash failed: crash failed: the layer crashed" in str(did["why"])


def test_stopped_targets_are_skipped_and_a_paused_one_is_thawed_first(
    lazy_world: FakeWorld,
) -> None:
    world = lazy_world
    world.containers["n1"].status = "exited"
    gone = lose(world).invoke(Phase.START, {"target": "one", "nodes": ["n1"]})
    assert isinstance(gone, dict) and gone["verified"] is None
    assert "were not running" in str(gone["skipped"])
    world.containers["n3"].status = "paused"
    did = lose(world).invoke(Phase.START, {"target": "all", "nodes": ["n1", "n3"]})
    assert isinstance(did, dict) and did["verified"] is True
    assert did["killed"] == ["n3"] and did["not_running"] == ["n1"]


def test_a_node_that_dies_of_the_crash_before_the_kill_counts_as_killed(
    lazy_world: FakeWorld,
) -> None:
    n1 = lazy_world.containers["n1"]

    def crash_then_exit(argv: list[str]) -> Reply | None:
        if argv[-1] == "crash":
            n1.status = "exited"  # EIO everywhere: the node exits by itself
            return reply({"ok": True, "mode": "crashed", "dropped": {}})
        return None

    n1.agent_reply = crash_then_exit
    did = lose(lazy_world).invoke(Phase.START, {"target": "one", "nodes": ["n1"]})
    assert isinstance(did, dict) and did["verified"] is True and did["killed"] == ["n1"]
    n2 = lazy_world.containers["n2"]
    n2.fail["kill"] = [api_error(500, "containerd gone")]
    with pytest.raises(Exception, match="containerd gone"):
        lose(lazy_world).invoke(Phase.START, {"target": "one", "nodes": ["n2"]})


def test_heal_all_restarts_every_broker_and_checks_the_fresh_layer(
    lazy_world: FakeWorld,
) -> None:
    world = lazy_world
    world.containers["n3"].status = "exited"
    world.containers["n3"].agent_reply = lambda argv: (
        reply({"ok": True, "mode": "passthrough"}) if argv[-1] == "status" else None
    )
    undo = lose(world).invoke(Phase.STOP, {"heal": "all"})
    assert isinstance(undo, dict) and undo["verified"] is False
    assert undo["restarted"] == ["n3"] and undo["lazyfs"] == {"n3": "passthrough"}
    assert "with a fresh lazyfs" in str(undo["why"])


def _probe_here(tmp_path: Path, n: int, least: int, budget_s: float) -> list[float]:
    """The probe script as a node runs it, here, on a temporary directory."""
    argv = [sys.executable, "-c", slow_disk._PROBE, str(tmp_path), str(n), str(least)]
    out = subprocess.run([*argv, str(budget_s)], capture_output=True, check=True, timeout=60)
    reply = json.loads(out.stdout)
    assert reply["ok"] is True and not list(tmp_path.iterdir())  # its file is gone
    return list(reply["ms"])


def test_the_probe_under_a_throttle_stops_early_once_it_has_enough(tmp_path: Path) -> None:
    assert len(_probe_here(tmp_path, 5, 5, 0.0)) == 5  # the probe before: all of them
    assert len(_probe_here(tmp_path, 50, slow_disk.AFTER_LEAST, 0.0)) == slow_disk.AFTER_LEAST
    assert len(_probe_here(tmp_path, 4, 2, 60.0)) == 4  # never more than n


def test_the_probe_under_the_throttle_is_bounded_the_one_before_is_not(world: FakeWorld) -> None:
    slow(world).invoke(Phase.START, {"node": "n2", "write_bps": 65536, "write_iops": 10})
    before, after = [c[1] for c in world.containers["n2"].calls if c[0] == "exec_run"]
    assert before[4:] == ["3", "3", "0.0"]
    assert after[4:] == ["3", str(slow_disk.AFTER_LEAST), str(slow_disk.AFTER_BUDGET_S)]
