"""The seeded schedules, pinned: for a fixed seed and config every registered package's
ops (``at``, ``f``, ``value``, key order included) and final heal ops are byte for byte
what they were when this test was written. A change here changes every stored run's
reproduction command, so it must be deliberate (then update the digests and say so in
the CHANGELOG)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

from faults.registry import FAULT_PACKAGES
from harness.nemesis import build_schedule, context

CONFIGS: dict[str, dict[str, Any]] = {
    "five-brokers-defaults": {
        "seed": 42,
        "brokers": ("n1", "n2", "n3", "n4", "n5"),
        "controller": "controller",
        "keys": 4,
        "limit": 120.0,
        "interval": 5.0,
        "options": {},
    },
    "three-brokers-options": {
        "seed": 7,
        "brokers": ("n1", "n2", "n3"),
        "controller": None,
        "keys": 2,
        "limit": 60.0,
        "interval": 3.0,
        "options": {
            "kill_targets": ("leader", "all"),
            "pause_targets": ("one",),
            "partition_shapes": ("leader-peers", "one", "majority"),
            "partition_modes": ("refuse",),
            "lose_unfsynced_targets": ("all",),
            "leader_crash_delay_s": ("1.5",),
        },
    },
}

PINNED = {
    "five-brokers-defaults": (
        191,
        "e48ba3c88cf9d9c011fd97090640cd452df0c05e0e6cb63de028ec0df10cef79",
        [
            ["kill", 2.754, "start-kill", {"target": "minority", "nodes": ["n4", "n5"]}],
            ["clock", 2.867, "start-clock", {"node": "n2", "mode": "shift", "offset": -2}],
            [
                "slow-disk",
                3.059,
                "start-slow-disk",
                {"node": "n5", "write_bps": 262144, "write_iops": 20},
            ],
        ],
    ),
    "three-brokers-options": (
        151,
        "dcf7ce94408c1be3dff0530f4e2a0576d81c2b15b4fb26b223bad7d3dd91ca07",
        [
            ["pause", 3.121, "start-pause", {"target": "one", "nodes": ["n3"]}],
            [
                "partition",
                3.189,
                "start-partition",
                {
                    "shape": "one",
                    "groups": [["n2"], ["n1", "n3"]],
                    "cut": [["n1", "n2"], ["n2", "n1"], ["n2", "n3"], ["n3", "n2"]],
                    "mode": "refuse",
                },
            ],
            ["leader-crash", 3.385, "start-leader-crash", {"key": 1, "delay_s": 1.5}],
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_schedule_is_pinned(name: str) -> None:
    c = CONFIGS[name]
    ctxs = {
        n: context(c["seed"], n, c["brokers"], c["controller"], c["keys"], c["limit"],
                   c["interval"], options=c["options"])
        for n in FAULT_PACKAGES
    }  # fmt: skip
    rows = [[op.package, op.at, op.f, op.value] for op in build_schedule(FAULT_PACKAGES, ctxs)]
    finals = [
        [n, op.at, op.f, op.value] for n, p in FAULT_PACKAGES.items() for op in p.final(ctxs[n])
    ]
    count, digest, head = PINNED[name]
    assert orjson.loads(orjson.dumps(rows[:3])) == head
    assert len(rows) == count
    assert hashlib.sha256(orjson.dumps(rows + finals)).hexdigest() == digest
