"""Ownership of Docker resources: who made them, and whether that process is gone.

The liveness decisions take the process table as a function (no process is started or
killed here); reaping runs against the fake engine of tests/compose/fakes.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from compose.owner import (
    LABEL_OWNER_PID,
    Liveness,
    Owner,
    boot_id,
    liveness,
    process_start,
    this_process,
)
from compose.resources import LABEL_RUN, engine_runs, reap_orphans
from tests.compose.fakes import FakeEngine

HERE = Owner("ci-1", 100, 5000, "boot-a")


@pytest.mark.parametrize(
    ("owner", "procs", "expected"),
    [
        (Owner("ci-1", 42, 777, "boot-a"), {42: 777}, Liveness.ALIVE),
        (Owner("ci-1", 42, 777, "boot-a"), {}, Liveness.GONE),  # no such pid
        (Owner("ci-1", 42, 777, "boot-a"), {42: 778}, Liveness.GONE),  # pid reused
        (Owner("ci-1", 42, 777, "boot-b"), {42: 777}, Liveness.GONE),  # rebooted since
        (Owner("ci-2", 42, 777, "boot-a"), {}, Liveness.ELSEWHERE),  # never judged
        (Owner("ci-1", 42, None, None), {42: 1}, Liveness.ALIVE),  # no start time: pid only
        (None, {}, Liveness.UNOWNED),
    ],
)
def test_owner_liveness(owner: Owner | None, procs: dict[int, int], expected: Liveness) -> None:
    assert liveness(owner, HERE, procs.get) is expected


def test_labels_round_trip_and_garbage_is_no_owner() -> None:
    assert Owner.from_labels(HERE.labels()) == HERE
    assert Owner.from_labels({"floodmark.owner.host": "h"}) is None
    assert Owner.from_labels({"floodmark.owner.host": "h", LABEL_OWNER_PID: "x"}) is None
    assert Owner.from_labels(None) is None
    assert Owner("h", 1, None).labels() == {"floodmark.owner.host": "h", LABEL_OWNER_PID: "1"}


def test_process_start_reads_field_22_and_treats_zombies_as_gone(tmp_path: Path) -> None:
    rest = " ".join(str(n) for n in range(4, 23))  # fields 4..22: starttime is 22
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "stat").write_text(f"7 (a (b) c) S {rest} 23 24\n")
    (tmp_path / "8").mkdir()
    (tmp_path / "8" / "stat").write_text(f"8 (z) Z {rest}\n")
    assert process_start(7, tmp_path) == 22
    assert process_start(8, tmp_path) is None
    assert process_start(9, tmp_path) is None
    assert boot_id(tmp_path) is None


def test_this_process_is_alive_by_its_own_judgement() -> None:
    me = this_process()
    assert me.started is not None and me.started == process_start(me.pid)
    assert liveness(me, me, process_start) is Liveness.ALIVE


def _run(fake: FakeEngine, run_id: str, owner: Owner | None, containers: int = 2) -> None:
    labels = {LABEL_RUN: run_id, **(owner.labels() if owner else {})}
    client = fake.client
    for i in range(containers):
        client.containers.create("img", name=f"fm-{run_id}-n{i}", labels=dict(labels))
    client.networks.create(f"fm-{run_id}-net", labels=dict(labels))
    client.volumes.create(f"fm-{run_id}-data", labels=dict(labels))


def test_reap_removes_only_runs_whose_owner_is_gone() -> None:
    fake = FakeEngine()
    dead = Owner("ci-1", 41, 1, "boot-a")
    live = Owner("ci-1", 42, 2, "boot-a")
    other_host = Owner("ci-2", 41, 1, "boot-a")
    _run(fake, "dead", dead, containers=5)
    _run(fake, "live", live)
    _run(fake, "elsewhere", other_host)
    _run(fake, "legacy", None)
    procs = {42: 2}

    before = {r.run_id: r.liveness for r in engine_runs(fake.client, HERE, procs.get)}
    assert before == {
        "dead": Liveness.GONE,
        "live": Liveness.ALIVE,
        "elsewhere": Liveness.ELSEWHERE,
        "legacy": Liveness.UNOWNED,
    }
    (reaped,) = reap_orphans(fake.client, HERE, procs.get)
    assert (reaped.run_id, reaped.owner, reaped.containers, reaped.networks) == ("dead", dead, 5, 1)
    assert reaped.removed == {"containers": 5, "networks": 1, "volumes": 1}
    assert "reaped run dead (owner pid 41 on ci-1 is gone)" in reaped.summary()
    names = {c.name for c in fake.containers.values()} | set(fake.networks) | set(fake.volumes)
    assert not any(n.startswith("fm-dead-") for n in names)
    for run in ("live", "elsewhere", "legacy"):
        assert {f"fm-{run}-n0", f"fm-{run}-n1", f"fm-{run}-net", f"fm-{run}-data"} <= names
    assert reap_orphans(fake.client, HERE, procs.get) == []


def test_a_run_with_any_live_resource_is_kept() -> None:
    """Mixed owners (never made by floodmark itself): any sign of life keeps the run."""
    fake = FakeEngine()
    _run(fake, "r", Owner("ci-1", 41, 1, "boot-a"))
    fake.client.containers.create(
        "img", name="fm-r-late", labels={LABEL_RUN: "r", **Owner("ci-1", 42, 2).labels()}
    )
    (run,) = engine_runs(fake.client, HERE, {42: 2}.get)
    assert run.liveness is Liveness.ALIVE and "kept run r" in run.summary()
    assert reap_orphans(fake.client, HERE, {42: 2}.get) == []
