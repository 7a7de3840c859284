"""Targets, results and the link mapping shared by the fault packages."""

from __future__ import annotations

import random

from faults.common import (
    NoTarget,
    StartStopFault,
    choose_target,
    target_schedule,
    unverified_reasons,
    verified,
)
from faults.network.partition import Links
from faults.schedule import heal_all
from harness.contract.history import JSON, NEMESIS, Op, OpType, Phase
from harness.contract.plan import LinkKind, ProxyPlan
from harness.contract.roles import NemesisContext, NemesisOption
from harness.nemesis import context
from tests.harness.fakes import fault_cluster


def proxy(src: str, dst: str, kind: LinkKind = LinkKind.PEER) -> ProxyPlan:
    return ProxyPlan(f"{src}-{dst}", src, dst, kind, 20000, f"{dst}:9000")


def test_verified_false_always_says_why() -> None:
    assert verified(True, x=1) == {"x": 1, "verified": True}
    bad = verified(False, "", x=1)
    assert bad["verified"] is False and bad["why"]


def test_unverified_reasons_come_from_nemesis_ops_only() -> None:
    ops = [
        Op(0, 1, NEMESIS, OpType.INFO, "start-pause", {"verified": True}),
        Op(1, 2, NEMESIS, OpType.INFO, "start-kill", {"verified": False, "why": "still up"}),
        Op(2, 3, 0, OpType.INVOKE, "send", {"key": 0, "value": 1, "verified": False}),
    ]
    assert unverified_reasons(ops) == ["start-kill (history index 1): still up"]


def test_choose_target_kinds_and_sizes() -> None:
    brokers = ["n1", "n2", "n3", "n4", "n5"]
    seen = {}
    for seed in range(200):
        t = choose_target(random.Random(seed), brokers, "controller", 3)
        seen[t["target"]] = t
    assert set(seen) == {"one", "leader", "minority", "majority", "all", "controller"}
    assert len(seen["minority"]["nodes"]) == 2 and len(seen["majority"]["nodes"]) == 3
    assert seen["controller"]["nodes"] == ["controller"]
    assert "controller" not in {
        choose_target(random.Random(s), brokers, None, 3)["target"] for s in range(100)
    }


def test_blackhole_cuts_upstream_forward_and_downstream_backward() -> None:
    links = Links([proxy("n1", "n2"), proxy("n2", "n1"), proxy("client", "n1", LinkKind.CLIENT),
                   proxy("admin", "n1", LinkKind.ADMIN)])  # fmt: skip
    assert links.blackhole([("n1", "n2")]) == {"n1-n2": ["upstream"], "n2-n1": ["downstream"]}
    both = links.blackhole([("n1", "n2"), ("n2", "n1")])
    assert both == {"n1-n2": ["downstream", "upstream"], "n2-n1": ["downstream", "upstream"]}
    assert links.blackhole([("n1", "client")]) == {"client-n1": ["downstream"]}
    assert links.refuse([("n1", "n2")]) == ["n1-n2"]
    assert links.get("admin", "n1") is None, "faults never touch the admin links"


class Toggle(StartStopFault):
    """The smallest fault: remembers what it was asked; a start on "gone" has no target."""

    def __init__(self) -> None:
        super().__init__(fault_cluster())
        self.stops: list[bool] = []

    def start(self, value: JSON) -> JSON:
        if value == "gone":
            raise NoTarget("nobody there")
        return verified(True, value={"started": value})

    def stop(self, everything: bool) -> JSON:
        self.stops.append(everything)
        return verified(True)


def test_start_stop_fault_dispatches_the_phase_and_skips_a_missing_target() -> None:
    fault = Toggle()
    assert fault.invoke(Phase.START, 1) == {"value": {"started": 1}, "verified": True}
    gone = fault.invoke(Phase.START, "gone")
    assert gone == {"skipped": "nobody there", "verified": None}
    (heal,) = heal_all(context(1, "toggle", ("n1",), None, 1, 5.0, 1.0))
    fault.invoke(Phase.STOP, {})
    fault.invoke(heal.phase, heal.value)
    assert fault.stops == [False, True], "only the final heal op asks to undo everything"


def test_target_schedule_draws_only_what_the_option_allows() -> None:
    option = NemesisOption("toggle_targets", "whom", choices=("one", "all"), default=("one",))
    generate = target_schedule(option)

    def ctx(options: dict[str, JSON]) -> NemesisContext:
        return NemesisContext("toggle", random.Random(2), ("n1", "n2", "n3"), "c", 2, 60.0, 3.0,
                              options)  # fmt: skip

    def kinds(options: dict[str, JSON]) -> set[str]:
        return {op.value["target"] for op in generate(ctx(options)) if op.phase is Phase.START}

    assert kinds({}) == {"one"}
    assert kinds({"toggle_targets": ["all"]}) == {"all"}
    assert option.problems(("all", "some")) == [
        "nemesis-options: toggle_targets has unknown value(s) ['some']; choose from ['one', 'all']"
    ]
