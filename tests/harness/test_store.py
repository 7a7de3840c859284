"""The store layout: store/<test>/<UTC timestamp>/, test.json, latest links."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from harness.contract.config import Catalogue, TestConfig, build_config
from harness.store import new_run_id, open_run, versions, write_test_json


def config(store: Path) -> TestConfig:
    return build_config(
        {"store": str(store), "seed": 5},
        Catalogue(frozenset(), frozenset({"replog"}), frozenset({"log"})),
    )


def test_run_directory_layout_and_latest_links(tmp_path: Path) -> None:
    c = config(tmp_path)
    t = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    run = open_run(c, new_run_id(t), now=t)
    assert run.path == tmp_path / "replog-log" / "20260102T030405Z"
    assert run.logs.is_dir()
    assert os.readlink(tmp_path / "latest") == "replog-log/20260102T030405Z"
    assert os.readlink(tmp_path / "replog-log" / "latest") == "20260102T030405Z"
    assert (tmp_path / "latest").resolve() == run.path.resolve()
    # a second run in the same second gets its own directory and takes over `latest`
    again = open_run(c, new_run_id(t), now=t)
    assert again.path.name == "20260102T030405Z-2"
    assert (tmp_path / "latest").resolve() == again.path.resolve()
    assert run.run_id != again.run_id


def test_test_json_holds_config_seed_versions_and_command(tmp_path: Path) -> None:
    c = config(tmp_path)
    run = open_run(c, new_run_id())
    write_test_json(run, c, {"versions": versions({"replog": "floodmark/replog:abc"})})
    body = json.loads(run.test_json.read_text())
    assert body["seed"] == 5
    assert body["run_id"] == run.run_id
    assert body["config"]["nodes"] == 3
    assert body["command"] == f"floodmark run --seed 5 --store {tmp_path}"
    assert body["versions"]["images"] == {"replog": "floodmark/replog:abc"}
    assert body["versions"]["python"].count(".") == 2
    assert not list(run.path.glob("*.tmp"))
