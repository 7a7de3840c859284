"""Targets, results and the link mapping shared by the fault packages."""

from __future__ import annotations

import random

from faults.common import choose_target, unverified_reasons, verified
from faults.network.partition import Links
from harness.contract.history import NEMESIS, Op, OpType
from harness.contract.plan import LinkKind, ProxyPlan


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
