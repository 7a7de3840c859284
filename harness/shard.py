"""Shards of a certification suite, and the plan every shard must agree on.

``floodmark certify SUITE --shard I/N`` runs scenario number ``k`` (0-based, in the order
`harness.suite.expand` gives) when ``k % N == I - 1``: a pure function of the expanded
list, so every machine given the same suite and options runs the same split, and the
matrix's neighbours (same system, next fault set) land on different shards, which keeps
their durations even. Each shard is a complete certify run with its own store and its
own ``summary.json``; ``floodmark certify merge`` (`harness.merge`) joins them.

What the shards must share is a `Plan`, written into every ``summary.json``: the suite's
name, the options (``--set``), the floodmark version and a digest of every scenario's
configuration (store excluded: each shard has its own). Shard 2 of 3 of suite ``smoke``
with ``--set time_limit=10``::

    {"suite": "smoke", "options": {"time_limit": 10}, "floodmark": "0.1.0",
     "digest": "6c1f…", "scenarios": ["replog-safe/partition/seed-1", …],
     "shard": {"index": 2, "count": 3}}
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from harness.suite import Scenario, Suite, SuiteError

_SHARD: Final = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")

UNSHARDED_OPTIONS: Final = frozenset({"store"})
"""Options that may differ between shards (each has its own store)."""


@dataclass(frozen=True, slots=True)
class Shard:
    index: int
    """1-based."""
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        m = _SHARD.fullmatch(text)
        if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
            raise SuiteError(
                f"--shard {text!r}: expected I/N with 1 ≤ I ≤ N, e.g. --shard 2/4 "
                "(in a Kubernetes Indexed Job: --shard $((JOB_COMPLETION_INDEX + 1))/N)"
            )
        return cls(int(m.group(1)), int(m.group(2)))

    def take(self, scenarios: Sequence[Scenario]) -> tuple[Scenario, ...]:
        return tuple(sc for k, sc in enumerate(scenarios) if k % self.count == self.index - 1)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def to_json(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count}


@dataclass(frozen=True, slots=True)
class Plan:
    """What a certify run set out to do; equal across the shards of one suite run."""

    suite: str
    scenarios: tuple[str, ...]
    """Every scenario of the whole suite (not only this shard's), in order."""
    digest: str
    options: Mapping[str, Any]
    floodmark: str
    shard: Shard | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "scenarios": list(self.scenarios),
            "digest": self.digest,
            "options": dict(self.options),
            "floodmark": self.floodmark,
            "shard": self.shard.to_json() if self.shard else None,
        }


def plan_of(
    suite: Suite, options: Mapping[str, Any], floodmark: str, shard: Shard | None = None
) -> Plan:
    """The plan of the whole (unsharded) ``suite`` run with ``options``."""
    kept = {k: v for k, v in sorted(options.items()) if k not in UNSHARDED_OPTIONS}
    return Plan(
        suite.name,
        tuple(sc.name for sc in suite.scenarios),
        digest(suite.scenarios),
        kept,
        floodmark,
        shard,
    )


def digest(scenarios: Sequence[Scenario]) -> str:
    """sha256 over every scenario's name, expectation and configuration (store aside; a
    replayed schedule by its content, since its path differs between machines)."""
    h = hashlib.sha256()
    for sc in scenarios:
        replay = _content(sc.config.replay) if sc.config.replay else ""
        config = dataclasses.replace(sc.config, store="", replay=replay).to_json()
        cell = {"name": sc.name, "expect": sc.expect.value, "bug": sc.bug, "config": config}
        h.update(orjson.dumps(cell, option=orjson.OPT_SORT_KEYS) + b"\n")
    return h.hexdigest()


def _content(path: str) -> str:
    try:
        return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return path  # validated when the suite loaded; gone since, the path must match


def shard_suite(suite: Suite, shard: Shard | None) -> Suite:
    """The suite restricted to ``shard``'s scenarios (the whole suite for None)."""
    if shard is None:
        return suite
    return dataclasses.replace(suite, scenarios=shard.take(suite.scenarios))
