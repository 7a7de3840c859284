"""``certify merge``: shards joined say what the unsharded run says; mismatches refused."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from harness.catalogue import CATALOGUE
from harness.certify import run_suite
from harness.cli import cli
from harness.merge import MergeRefused, find_outputs, merge, merge_dirs
from harness.shard import Shard, plan_of, shard_suite
from harness.suite import Suite, expand
from tests.harness.test_certify import FakeRunner

RAW: dict[str, Any] = {
    "name": "t",
    "description": "two systems",
    "defaults": {"time_limit": 5},
    "systems": [
        {"label": "safe", "config": {}},
        {"label": "buggy", "expect": "invalid", "bug": "the bug", "config": {}},
    ],
    "faults": [["kill"], ["pause"]],
    "seeds": [1, 2],
}
OUTCOMES = {"-safe-": {"valid": True}, "-buggy-": {"valid": False}}


def suite(store: Path, raw: dict[str, Any] | None = None, **options: Any) -> Suite:
    return expand(raw or RAW, CATALOGUE, {**options, "store": str(store)})


def certify(
    store: Path,
    shard: Shard | None,
    outcomes: dict[str, dict[str, Any]] | None = None,
    version: str = "0.1.0",
    raw: dict[str, Any] | None = None,
    **options: Any,
) -> Path:
    whole = suite(store, raw, **options)
    plan = plan_of(whole, options, version, shard)
    out, _ = run_suite(
        shard_suite(whole, shard), store, FakeRunner(outcomes or OUTCOMES), plan=plan
    )
    return out


def summary(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads((out / "summary.json").read_bytes())
    return data


def verdicts(s: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(r["scenario"], r["verdict"], r["outcome"]) for r in s["rows"]]


def test_merged_shards_say_what_the_unsharded_run_says(tmp_path: Path) -> None:
    whole = summary(certify(tmp_path / "whole", None))
    shards = [certify(tmp_path / f"s{i}", Shard(i, 3)) for i in (1, 2, 3)]
    assert all(o.name.endswith(f"-shard-{i}of3") for i, o in zip((1, 2, 3), shards, strict=True))
    merged = merge(find_outputs(shards[::-1]), tmp_path / "merged")
    s = merged.summary
    assert verdicts(s) == verdicts(whole) and len(s["rows"]) == 8
    assert (s["verdict"], whole["verdict"]) == ("valid", "valid")
    assert s["detection"] == whole["detection"]
    assert (s["missing"], s["duplicated"], s["missing_shards"]) == ([], [], [])
    assert [m["shard"] for m in s["merged_from"]] == ["1/3", "2/3", "3/3"]
    cases = [c.get("name") for c in ET.parse(merged.out / "junit.xml").getroot().iter("testcase")]
    assert cases == [r[0] for r in verdicts(whole)]
    html = (merged.out / "certificate.html").read_text()
    assert "merged from 3 shard output(s)" in html and "VALID" in html


def test_an_invalid_scenario_makes_the_merge_invalid(tmp_path: Path) -> None:
    bad = {"-safe-": {"valid": False}, "-buggy-": {"valid": False}}
    shards = [certify(tmp_path / f"s{i}", Shard(i, 2), bad) for i in (1, 2)]
    s = merge(find_outputs(shards), tmp_path / "m").summary
    assert s["verdict"] == "invalid" and len(s["invalid"]) == 4


def test_a_missing_shard_is_reported_and_makes_the_verdict_unknown(tmp_path: Path) -> None:
    first = certify(tmp_path / "s1", Shard(1, 2))
    s = merge(find_outputs([first]), tmp_path / "m").summary
    assert s["verdict"] == "unknown" and s["missing_shards"] == ["2/2"]
    assert s["missing"] == [
        "safe/kill/seed-2", "safe/pause/seed-2", "buggy/kill/seed-2", "buggy/pause/seed-2"
    ]  # fmt: skip
    assert (s["scenarios_run"], s["scenarios_planned"]) == (4, 8)
    assert "missing scenario" in (tmp_path / "m" / "certificate.html").read_text()


def test_missing_scenarios_do_not_hide_an_invalid_one(tmp_path: Path) -> None:
    bad = {"-safe-": {"valid": False}, "-buggy-": {"valid": False}}
    first = certify(tmp_path / "s1", Shard(1, 2), bad)
    s = merge(find_outputs([first]), tmp_path / "m").summary
    assert s["verdict"] == "invalid" and s["missing"]


def test_a_shard_given_twice_is_reported_duplicated_every_copy_kept(tmp_path: Path) -> None:
    one, two = (certify(tmp_path / f"s{i}", Shard(i, 2)) for i in (1, 2))
    again = certify(tmp_path / "s1-again", Shard(1, 2))
    s = merge(find_outputs([one, two, again]), tmp_path / "m").summary
    assert s["verdict"] == "unknown" and len(s["rows"]) == 12
    assert s["duplicated"] == sorted(r["scenario"] for r in summary(one)["rows"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"raw": {**RAW, "name": "other"}}, "different suites"),
        ({"time_limit": 7}, r"different options \(--set\)"),
        ({"version": "0.2.0"}, "different floodmark versions"),
        ({"raw": {**RAW, "seeds": [1, 3]}}, "different scenario lists"),
        ({"shard": Shard(2, 3)}, r"different splits \(--shard I/N\)"),
    ],
)
def test_shards_of_different_plans_are_refused(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    first = certify(tmp_path / "s1", Shard(1, 2))
    shard = change.pop("shard", Shard(2, 2))
    second = certify(tmp_path / "s2", shard, **change)
    with pytest.raises(MergeRefused, match=message):
        merge(find_outputs([first, second]), tmp_path / "m")
    assert not (tmp_path / "m").exists()
    result = CliRunner().invoke(cli, ["certify", "merge", str(first), str(second), "--out",
                                      str(tmp_path / "m")])  # fmt: skip
    assert result.exit_code == 2 and "merge refused: cannot merge shards of" in result.output


def test_a_summary_without_plan_or_no_summary_at_all_is_refused(tmp_path: Path) -> None:
    out = certify(tmp_path / "s1", Shard(1, 2))
    data = summary(out)
    del data["plan"]
    (out / "summary.json").write_bytes(orjson.dumps(data))
    with pytest.raises(MergeRefused, match="has no plan"):
        find_outputs([out])
    (tmp_path / "empty").mkdir()
    with pytest.raises(MergeRefused, match="no certify output found"):
        find_outputs([tmp_path / "empty"])


def test_stores_copied_elsewhere_are_found_and_their_runs_relocated(tmp_path: Path) -> None:
    """The CI shape: every shard's store downloaded as an artifact under shards/."""
    for i in (1, 2):
        certify(tmp_path / "runner" / "store", Shard(i, 2))  # both shards' runs, one store
        shutil.copytree(tmp_path / "runner" / "store", tmp_path / "shards" / f"shard-{i}")
        shutil.rmtree(tmp_path / "runner")
    merged = merge_dirs(
        sorted((tmp_path / "shards").iterdir()), tmp_path / "store", tmp_path / "merged"
    )
    # shard-2's store holds only shard 2 (shard 1's store was removed before it ran)
    assert merged.summary["duplicated"] == [] and merged.verdict.value == "valid"
    for row in merged.summary["rows"]:
        assert Path(row["run_dir"]).is_dir(), row["run_dir"]
        assert str(tmp_path / "shards") in row["run_dir"]
    html = (tmp_path / "merged" / "certificate.html").read_text()
    assert 'href="../shards/shard-' in html


def test_merge_cli_default_output_and_exit_code(tmp_path: Path) -> None:
    bad: dict[str, dict[str, Any]] = {"-safe-": {"valid": None}, "-buggy-": {"valid": False}}
    shards = [str(certify(tmp_path / f"s{i}", Shard(i, 2), bad)) for i in (1, 2)]
    result = CliRunner().invoke(
        cli, ["certify", "merge", *shards, "--store", str(tmp_path / "store")]
    )
    assert result.exit_code == 2, result.output
    assert "suite t (merged, 8 of 8 scenarios): UNKNOWN" in result.output
    (out,) = (tmp_path / "store" / "certify" / "t").iterdir()
    assert out.name.endswith("-merged") and summary(out)["verdict"] == "unknown"
    with pytest.raises(MergeRefused, match="no certify output found"):
        find_outputs([tmp_path / "store"])  # an earlier merge is never taken for a shard
