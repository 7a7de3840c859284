"""Every package at once through the nemesis, then the final heal (issue 4, items 7 and 8).

The run's schedule is executed against a real replog cluster by `harness.nemesis.Nemesis`
(as ``floodmark run --nemesis <all>`` does). Afterwards:

- item 7: the nemesis ops in the history are the seeded schedule, op for op and target
  for target (rebuilding the schedule from the same seed gives the same list);
- item 8: after the final heal no toxic, disabled proxy, paused container, blkio
  throttle, crashed lazyfs layer or clock skew remains, and after teardown no container
  (hence no FUSE mount) of the run is left.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from docker.models.containers import Container

from compose.docker_cluster import docker_client
from faults.common import agent, unverified_reasons
from faults.disk.slow import blkio_cgroup
from faults.registry import FAULT_PACKAGES, node_env
from harness.contract.history import NEMESIS, FaultF, HistoryWriter, Phase
from harness.contract.reader import read_history
from harness.contract.roles import NemesisContext
from harness.nemesis import Nemesis, build_schedule, context
from tests.faults.docker_support import poll, replog_cluster

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

SEED = 4242
TIME_LIMIT = 30.0
INTERVAL = 4.0


def clock_at_zero(c: Container) -> dict[str, Any] | None:
    reading = agent(c, "clock.py", "verify")
    return reading if abs(float(reading["offset"])) < 1.5 else None


def test_every_package_then_heal_leaves_nothing_behind(tmp_path: Path) -> None:
    names = sorted(FAULT_PACKAGES)
    with replog_cluster(nodes=3, keys=2, env=node_env(names)) as cluster:
        run_id = cluster.run_id
        plan = cluster.plan

        def contexts_now() -> dict[str, NemesisContext]:
            """Fresh contexts: building a schedule consumes their RNGs."""
            return {
                n: context(SEED, n, plan.brokers, plan.controller, plan.keys, TIME_LIMIT,
                           INTERVAL)
                for n in names
            }  # fmt: skip

        packages = {n: FAULT_PACKAGES[n] for n in names}

        def schedule() -> list[tuple[str, str, Any]]:
            return [(op.package, op.f, op.value) for op in build_schedule(packages, contexts_now())]

        planned = schedule()
        assert planned == schedule(), "the same seed must give the same schedule"
        assert {p for p, _, _ in planned} == set(names)

        with HistoryWriter(tmp_path / "history.jsonl") as history:
            items = build_schedule(packages, contexts_now())
            nemesis = Nemesis(cluster, packages, contexts_now(), items, history)
            try:
                nemesis.begin()
                nemesis.join(600)
                assert not nemesis.is_alive(), "the schedule did not finish in 10 minutes"
            finally:
                nemesis.stop()
                nemesis.heal()
        ops, _ = read_history(tmp_path / "history.jsonl")
        nemesis_ops = [op for op in ops if op.process == NEMESIS]
        reasons = unverified_reasons(nemesis_ops)
        print(f"\n{len(nemesis_ops)} nemesis ops, {len(reasons)} unverified:", *reasons, sep="\n")

        # Item 7: executed = scheduled, op for op, target for target.
        executed = nemesis_ops[: len(planned)]
        assert [op.f for op in executed] == [f for _, f, _ in planned]
        for op, (_, _, requested) in zip(executed, planned, strict=True):
            value = op.value.get("requested", op.value) if isinstance(op.value, dict) else {}
            for k, v in (requested or {}).items():
                assert value.get(k) == v, (op.f, k, value.get(k), v)
        heals = nemesis_ops[len(planned) :]
        in_heal_order = sorted(names, key=lambda n: FAULT_PACKAGES[n].heal_order)
        assert [op.fault for op in heals] == [FaultF(Phase.STOP, n) for n in in_heal_order]
        assert all(op.value["verified"] for op in heals), [op.value for op in heals]

        # Item 8: nothing remains after the heal.
        proxies = cluster.toxiproxy.proxies()
        assert all(p.enabled and not p.toxics for p in proxies.values()), proxies
        for node in [*plan.brokers, "controller"]:
            c = cluster.container(node)
            c.reload()
            assert c.attrs["State"]["Running"] and not c.attrs["State"]["Paused"], node
            cgroup = blkio_cgroup(c)
            for name in ("blkio.throttle.write_bps_device", "blkio.throttle.write_iops_device"):
                with open(os.path.join(cgroup, name)) as fh:
                    assert fh.read().strip() == "", (node, name)
            lazy = agent(c, "lazyfs.py", "ctl", "status")
            assert lazy["ok"] and lazy["mode"] == "lazy", (node, lazy)
            clock = poll(partial(clock_at_zero, c), 5, f"{node}'s clock back to real time")
            assert clock["mapped"] and clock["file"] == "+0", (node, clock)
            strobe = c.exec_run(["test", "-e", "/run/floodmark/faketime-strobe.pid"])
            assert strobe.exit_code != 0, f"{node} still runs a clock strobe"

    left = docker_client().containers.list(all=True, filters={"label": f"floodmark.run={run_id}"})
    assert not left, f"containers left after teardown: {[c.name for c in left]}"
    with open("/proc/mounts") as fh:
        assert "LazyOps" not in fh.read(), "a lazyfs FUSE mount is visible on the host"
