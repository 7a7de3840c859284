"""The shard split: deterministic, disjoint, complete; the plan every shard records."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from harness.catalogue import CATALOGUE
from harness.shard import Shard, digest, plan_of, shard_suite
from harness.suite import Suite, SuiteError, expand, load_suite

RAW: dict[str, Any] = {
    "name": "t",
    "systems": [{"label": "a", "config": {}}, {"label": "b", "config": {}}],
    "faults": [["kill"], ["pause"], ["partition"]],
    "seeds": [1, 2],
}


def test_parse_and_refuse_with_the_expected_form() -> None:
    assert Shard.parse("2/4") == Shard(2, 4) and str(Shard.parse(" 1 / 1 ")) == "1/1"
    for bad in ("0/2", "3/2", "2", "a/b", "1/0", "-1/2"):
        with pytest.raises(SuiteError, match=r"expected I/N with 1 ≤ I ≤ N"):
            Shard.parse(bad)


@pytest.mark.parametrize("count", [1, 2, 3, 5, 12, 13])
def test_shards_are_disjoint_and_cover_the_suite_in_order(count: int) -> None:
    suite = expand(RAW, CATALOGUE, {})
    parts = [shard_suite(suite, Shard(i, count)).scenarios for i in range(1, count + 1)]
    names = [sc.name for part in parts for sc in part]
    assert sorted(names) == sorted(sc.name for sc in suite.scenarios)
    assert len(set(names)) == len(names) == 12
    for part in parts:  # each shard keeps the suite's order
        order = [suite.scenarios.index(sc) for sc in part]
        assert order == sorted(order)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_the_split_is_the_same_for_the_same_suite_and_options_wherever_it_runs() -> None:
    one = expand(RAW, CATALOGUE, {"time_limit": 10, "store": "/machine-1/store"})
    two = expand(RAW, CATALOGUE, {"time_limit": 10, "store": "/elsewhere"})
    for i in (1, 2, 3):
        a, b = (shard_suite(s, Shard(i, 3)).scenarios for s in (one, two))
        assert [sc.name for sc in a] == [sc.name for sc in b]
    pa, pb = (plan_of(s, {"time_limit": 10, "store": "x"}, "0.1.0") for s in (one, two))
    assert pa == pb and pa.options == {"time_limit": 10}
    assert pa.to_json()["scenarios"] == [sc.name for sc in one.scenarios]


def test_the_digest_sees_options_and_suite_changes_but_not_the_store() -> None:
    base = expand(RAW, CATALOGUE, {})
    assert digest(base.scenarios) == digest(expand(RAW, CATALOGUE, {"store": "s"}).scenarios)
    assert digest(base.scenarios) != digest(expand(RAW, CATALOGUE, {"keys": 4}).scenarios)
    other = {**RAW, "seeds": [1, 3]}
    assert digest(base.scenarios) != digest(expand(other, CATALOGUE, {}).scenarios)
    flipped = dataclasses.replace(base.scenarios[0], bug="x")
    assert digest(base.scenarios) != digest((flipped, *base.scenarios[1:]))


def test_builtin_suite_split_by_name() -> None:
    smoke = load_suite("smoke", CATALOGUE)
    first, second = (shard_suite(smoke, Shard(i, 2)) for i in (1, 2))
    assert [sc.name for sc in first.scenarios] == [
        "replog-safe/partition/seed-1",
        "replog-safe/pause+link/seed-1",
    ]
    assert [sc.name for sc in second.scenarios] == ["replog-safe/kill/seed-1"]
    assert shard_suite(smoke, None) is smoke


def _aimed_suite(directory: Path, schedule: str) -> Suite:
    (directory / "aimed.json").write_text(schedule)
    suite = directory / "suite.yaml"
    suite.write_text(
        "name: aimed\nsystems: [{label: a, config: {replay: aimed.json}}]\n"
        "faults: [[kill]]\nseeds: [1]\n"
    )
    return load_suite(str(suite), CATALOGUE)


KILL_AT_3 = (
    '{"floodmark_schedule": 1, "time_limit": 20, "keys": 1, "concurrency": 2, '
    '"ops": [{"at": 3, "f": "start-kill", "value": {"target": "one"}}]}'
)


def test_a_suites_schedule_is_found_beside_it_and_its_digest_is_its_content(
    tmp_path: Path,
) -> None:
    one, two = tmp_path / "machine-1", tmp_path / "machine-2"
    one.mkdir()
    two.mkdir()
    a, b = _aimed_suite(one, KILL_AT_3), _aimed_suite(two, KILL_AT_3)
    assert a.scenarios[0].config.replay == str(one / "aimed.json")
    assert digest(a.scenarios) == digest(b.scenarios), "same schedule, another clone"
    c = _aimed_suite(tmp_path, KILL_AT_3.replace('"at": 3', '"at": 4'))
    assert digest(a.scenarios) != digest(c.scenarios)


def test_the_builtin_regressions_suite_replays_its_own_schedule_files() -> None:
    for sc in load_suite("kafka-regressions", CATALOGUE).scenarios:
        assert Path(sc.config.replay).is_file(), sc.name  # wherever floodmark is installed
