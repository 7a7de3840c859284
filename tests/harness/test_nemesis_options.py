"""``nemesis_options``: validated config, reproducible command line, seen by the schedules."""

from __future__ import annotations

import dataclasses
import shlex
from typing import Any

import pytest
from click.testing import CliRunner

import harness.run
from faults.common import TARGETS
from faults.network.partition import MODES
from faults.network.shapes import ALL_SHAPES, TARGETED_SHAPES
from faults.registry import FAULT_PACKAGES, OPTIONS
from harness.catalogue import CATALOGUE
from harness.cli import cli
from harness.contract.config import ConfigError, TestConfig, build_config
from harness.contract.history import Phase
from harness.contract.roles import FaultOp
from harness.nemesis import build_schedule, context

KNOWN = dataclasses.replace(CATALOGUE, systems=frozenset({"replog"}), workloads=frozenset({"log"}))


def cfg(**raw: Any) -> TestConfig:
    return build_config(raw, KNOWN)


def test_options_are_accepted_as_lists_or_comma_strings() -> None:
    c = cfg(
        nemesis="partition,kill",
        nemesis_options={"kill_targets": ["leader", "all"], "partition_shapes": "leader, one"},
    )
    assert c.nemesis_options == {
        "kill_targets": ("leader", "all"),
        "partition_shapes": ("leader", "one"),
    }
    assert c.to_json()["nemesis_options"] == {
        "kill_targets": ["leader", "all"],
        "partition_shapes": ["leader", "one"],
    }


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (
            {"nemesis": "kill", "nemesis_options": {"kill_target": ["leader"]}},
            "unknown option 'kill_target'",
        ),
        (
            {"nemesis": "kill", "nemesis_options": {"kill_targets": ["boss"]}},
            "unknown value(s) ['boss']",
        ),
        ({"nemesis": "kill", "nemesis_options": {"kill_targets": []}}, "kill_targets is empty"),
        (
            {"nemesis": "kill", "nemesis_options": {"pause_targets": ["one"]}},
            "restricts package 'pause'",
        ),
        ({"nemesis": "kill", "nemesis_options": ["kill_targets"]}, "expected a mapping"),
        ({"nemesis": "kill", "nemesis_options": {"kill_targets": [1]}}, "expected a list of names"),
        (
            {
                "nemesis": "lose-unfsynced",
                "nemesis_options": {"lose_unfsynced_targets": ["controller"]},
            },
            "unknown value(s) ['controller']",
        ),
    ],
)
def test_bad_options_are_rejected_with_what_to_do(raw: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        cfg(**raw)
    assert any(needle in p for p in e.value.problems), e.value.problems


def test_command_reproduces_the_options() -> None:
    c = cfg(
        seed=3,
        nemesis="partition,kill",
        nemesis_options={"partition_shapes": ["leader"], "kill_targets": ["leader", "all"]},
    )
    args = shlex.split(c.command())
    i = args.index("--nemesis-option")
    assert args[i : i + 4] == [
        "--nemesis-option",
        "kill_targets=leader,all",
        "--nemesis-option",
        "partition_shapes=leader",
    ]
    seen: list[TestConfig] = []

    def fake_run(config: TestConfig, *_: Any, **__: Any) -> int:
        seen.append(config)
        return 0

    mp = pytest.MonkeyPatch()
    mp.setattr(harness.cli, "run", fake_run)
    try:
        out = CliRunner().invoke(cli, args[1:])
    finally:
        mp.undo()
    assert out.exit_code == 0, out.output
    assert seen == [c]


def test_cli_rejects_a_malformed_option() -> None:
    out = CliRunner().invoke(cli, ["run", "--nemesis", "kill", "--nemesis-option", "kill_targets"])
    assert out.exit_code == 2
    assert "expected NAME=VALUE" in out.output


def _schedule(options: dict[str, tuple[str, ...]], packages: tuple[str, ...]) -> list[FaultOp]:
    pk = {n: FAULT_PACKAGES[n] for n in packages}
    ctxs = {n: context(7, n, ("n1", "n2", "n3"), "c1", 3, 300.0, 5.0, options=options) for n in pk}
    return build_schedule(pk, ctxs)


def test_schedules_draw_only_the_allowed_targets_and_shapes() -> None:
    opts = {
        "kill_targets": ("leader", "all"),
        "pause_targets": ("one",),
        "partition_shapes": ("leader",),
        "partition_modes": ("refuse",),
        "lose_unfsynced_targets": ("all",),
    }
    sched = _schedule(opts, ("kill", "pause", "partition", "lose-unfsynced"))
    starts = [op for op in sched if op.phase is Phase.START]
    by_pkg: dict[str, set[str]] = {}
    for op in starts:
        v = op.value
        assert isinstance(v, dict)
        kind = str(v.get("target", v.get("shape")))
        by_pkg.setdefault(op.package, set()).add(kind)
        if op.package == "partition":
            assert v["mode"] == "refuse"
    assert by_pkg == {
        "kill": {"leader", "all"},
        "pause": {"one"},
        "partition": {"leader"},
        "lose-unfsynced": {"all"},
    }
    # Without options every kind appears over a long schedule.
    free = {str(op.value["target"]) for op in _schedule({}, ("kill",)) if op.f == "start-kill"}
    assert free > {"leader", "all"}


def test_each_option_is_declared_by_its_package() -> None:
    declared = {o.name: p.name for p in FAULT_PACKAGES.values() for o in p.options}
    assert declared == {
        "partition_shapes": "partition",
        "partition_modes": "partition",
        "kill_targets": "kill",
        "pause_targets": "pause",
        "lose_unfsynced_targets": "lose-unfsynced",
        "leader_crash_delay_s": "leader-crash",
    }
    assert {n: (p.name, o) for n, (p, o) in OPTIONS.items()} == {
        o.name: (p.name, o) for p in FAULT_PACKAGES.values() for o in p.options
    }
    shapes, modes = OPTIONS["partition_shapes"][1], OPTIONS["partition_modes"][1]
    assert set(shapes.choices) == {*ALL_SHAPES, *TARGETED_SHAPES}
    assert shapes.default == ALL_SHAPES, "targeted shapes are drawn only when asked for"
    assert modes.choices == MODES
    for name in ("kill_targets", "pause_targets", "lose_unfsynced_targets"):
        opt = OPTIONS[name][1]
        assert set(opt.choices) <= set(TARGETS) and not opt.seconds and opt.doc
    assert OPTIONS["leader_crash_delay_s"][1].seconds
