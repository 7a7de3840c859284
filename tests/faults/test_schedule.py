"""The seeded schedule: every package's generator is a pure function of its context, and
the merged schedule (harness.nemesis.build_schedule) is the same op for op for the same
seed and config."""

from __future__ import annotations

import random

from faults.registry import FAULT_PACKAGES, node_env
from harness.contract.history import FaultF, Phase
from harness.contract.roles import NemesisContext
from harness.nemesis import build_schedule, context

BROKERS = ("n1", "n2", "n3", "n4", "n5")


def ctx(
    seed: int, package: str, interval: float = 5.0, time_limit: float = 120.0
) -> NemesisContext:
    return NemesisContext(
        package=package,
        rng=random.Random(seed),
        brokers=BROKERS,
        controller="controller",
        keys=4,
        time_limit=time_limit,
        interval=interval,
    )


def schedule(seed: int, names: list[str]) -> list[tuple[str, float, str, object]]:
    contexts = {n: context(seed, n, BROKERS, "controller", 4, 120.0, 5.0) for n in names}
    return [
        (op.package, op.at, op.f, op.value)
        for op in build_schedule({n: FAULT_PACKAGES[n] for n in names}, contexts)
    ]


def test_every_package_is_registered_with_heal_and_colour() -> None:
    assert set(FAULT_PACKAGES) == {
        "partition", "link", "kill", "pause", "slow-disk", "lose-unfsynced", "clock", "leader-crash"
    }  # fmt: skip
    for name, pkg in FAULT_PACKAGES.items():
        assert pkg.name == name and pkg.colour.startswith("#") and pkg.doc
        (final,) = pkg.final(ctx(1, name))
        assert final.fault == FaultF(Phase.STOP, name) and final.value == {"heal": "all"}
        assert final.f == f"stop-{name}" and final.at == 120.0


def test_generators_alternate_start_and_stop_within_the_time_limit() -> None:
    for name, pkg in FAULT_PACKAGES.items():
        ops = list(pkg.generator(ctx(7, name)))
        assert len(ops) >= 4, name
        assert all(op.phase is (Phase.STOP if i % 2 else Phase.START) for i, op in enumerate(ops))
        assert {op.package for op in ops} == {name}
        assert [op.f for op in ops[:2]] == [f"start-{name}", f"stop-{name}"]
        times = [op.at for op in ops]
        assert times == sorted(times) and all(0 < t < 120 for t in times)


def test_same_seed_same_schedule_other_seed_other_schedule() -> None:
    names = sorted(FAULT_PACKAGES)
    a, b, c = schedule(11, names), schedule(11, names), schedule(12, names)
    assert a == b
    assert a != c


def test_adding_a_package_does_not_change_another_packages_schedule() -> None:
    alone = [s for s in schedule(5, ["kill"]) if s[0] == "kill"]
    mixed = [s for s in schedule(5, ["kill", "partition", "clock"]) if s[0] == "kill"]
    assert alone == mixed


def test_partition_values_name_the_links_to_cut() -> None:
    starts = [
        op for op in FAULT_PACKAGES["partition"].generator(ctx(3, "partition"))
        if op.phase is Phase.START
    ]  # fmt: skip
    shapes_seen = {op.value["shape"] for op in starts}
    assert len(shapes_seen) >= 3
    for op in starts:
        assert op.value["mode"] in ("blackhole", "refuse")
        if op.value["shape"] == "leader":
            assert 0 <= op.value["key"] < 4
        else:
            assert op.value["cut"] and all(len(link) == 2 for link in op.value["cut"])


def test_node_env_for_layers() -> None:
    assert node_env(["kill"]) == {}
    assert node_env(["lose-unfsynced", "clock"]) == {
        "FLOODMARK_LAZYFS": "1",
        "FLOODMARK_FAKETIME": "1",
    }
    with_env = {n for n, p in FAULT_PACKAGES.items() if p.node_env}
    assert with_env == {"lose-unfsynced", "clock"}


def test_leader_peers_is_drawn_only_when_asked_for() -> None:
    default = FAULT_PACKAGES["partition"].generator(ctx(3, "partition"))
    assert all(op.value.get("shape") != "leader-peers" for op in default)
    c = ctx(3, "partition")
    c.options["partition_shapes"] = ["leader-peers"]
    starts = [op for op in FAULT_PACKAGES["partition"].generator(c) if op.phase is Phase.START]
    assert starts and all(op.value["shape"] == "leader-peers" for op in starts)
    assert all(0 <= op.value["key"] < 4 for op in starts)
