"""Config validation and the CLI's refusals: exit code 2, before any container starts."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import compose.docker_cluster
import harness.run
from harness.cli import cli
from harness.contract.config import (
    Catalogue,
    ConfigError,
    TestConfig,
    build_config,
    load_config_file,
)

KNOWN = Catalogue(frozenset({"partition", "kill"}), frozenset({"replog"}), frozenset({"log"}))


def cfg(**raw: Any) -> TestConfig:
    return build_config(raw, KNOWN)


def test_defaults_are_filled_in() -> None:
    c = cfg()
    assert (c.system, c.nodes, c.keys, c.concurrency, c.time_limit) == ("replog", 3, 3, 10, 30.0)
    assert c.name == "replog-log"
    assert c.replication_factor == 3
    assert cfg(nodes=1).replication_factor == 1


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"nodes": 10}, "nodes: must be 1..9"),
        ({"nodes": 0}, "nodes: must be 1..9"),
        ({"nodes": "three"}, "nodes: expected an integer"),
        ({"nodes": True}, "nodes: expected an integer"),
        ({"keys": 0}, "keys"),
        ({"time_limit": -1}, "time-limit"),
        ({"rate": 0}, "rate"),
        ({"concurrency": 0}, "concurrency"),
        ({"replication_factor": 4}, "replication-factor"),
        ({"system": "cassandra"}, "system: 'cassandra' is not one of"),
        ({"nemesis": "partition,bogus"}, "unknown fault package(s) ['bogus']"),
        ({"nemesis": "kill,kill"}, "named twice"),
        ({"colour": "red"}, "unknown setting(s) ['colour']"),
        ({"settings": ["a"]}, "settings: expected a mapping"),
        ({"monitor_interval": 2.0}, "monitor-interval"),
    ],
)
def test_bad_values_are_refused_with_a_reason(raw: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        cfg(**raw)
    assert needle in str(e.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as e:
        cfg(nodes=99, rate=-1, bogus=1)
    assert len(e.value.problems) == 3


def test_config_files_yaml_and_toml(tmp_path: Path) -> None:
    y = tmp_path / "t.yaml"
    y.write_text("nodes: 5\ntime-limit: 12\nsettings:\n  min.insync.replicas: 1\n")
    t = tmp_path / "t.toml"
    t.write_text('keys = 4\nnemesis = ["kill"]\n[settings]\n"log.flush.interval.messages" = 0\n')
    cy = cfg(**load_config_file(y))
    assert (cy.nodes, cy.time_limit, cy.settings) == (5, 12.0, {"min.insync.replicas": 1})
    ct = cfg(**load_config_file(t))
    assert (ct.keys, ct.nemesis, ct.settings) == (4, ("kill",), {"log.flush.interval.messages": 0})


def test_command_reproduces_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    original = cfg(nodes=5, keys=4, rate=77.5, seed=42, settings={"min.insync.replicas": 1},
                   env={"FLOODMARK_LAZYFS": "1"}, time_limit=12)  # fmt: skip
    seen = _capture_run(monkeypatch)
    argv = shlex.split(original.command())
    assert argv[:2] == ["floodmark", "run"]
    result = CliRunner().invoke(cli, argv[1:])
    assert result.exit_code == 0, result.output
    assert seen == [original]


def _capture_run(monkeypatch: pytest.MonkeyPatch) -> list[TestConfig]:
    seen: list[TestConfig] = []

    def fake_run(config: TestConfig, ui: Any = None, t0: float | None = None) -> int:
        seen.append(config)
        return 0

    monkeypatch.setattr(harness.cli, "run", fake_run)
    return seen


def _no_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("Docker was touched although the config is invalid")

    monkeypatch.setattr(compose.docker_cluster, "docker_client", refuse)
    monkeypatch.setattr(harness.run, "docker_client", refuse)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--bogus-option"], "No such option"),
        (["--nodes", "x"], "Invalid value for '--nodes'"),
        (["--nodes", "12"], "nodes: must be 1..9"),
        (["--nemesis", "nope"], "unknown fault package"),
        (["--set", "novalue"], "expected KEY=VALUE"),
        (["--set", "no.such.setting=1"], "unknown setting 'no.such.setting'"),
        (["--profile", "kafka-9"], "unknown profile 'kafka-9'"),
        (["--system", "mystery"], "system: 'mystery'"),
    ],
)
def test_cli_refuses_bad_options_with_exit_2_before_docker(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], needle: str
) -> None:
    _no_docker(monkeypatch)
    result = CliRunner().invoke(cli, ["run", "--store", str(tmp_path), *args])
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert not any(tmp_path.iterdir()), "nothing may be stored for a refused config"


@pytest.mark.parametrize(
    ("content", "suffix", "needle"),
    [
        ("nodes: [1\n", ".yaml", "cannot parse"),
        ("nodes = \n", ".toml", "cannot parse"),
        ("- 1\n- 2\n", ".yaml", "expected a mapping"),
        ("shoe_size: 9\n", ".yaml", "unknown setting(s) ['shoe_size']"),
        ("nodes: 3\n", ".ini", "unknown file type"),
    ],
)
def test_cli_refuses_bad_config_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str, suffix: str, needle: str
) -> None:
    _no_docker(monkeypatch)
    f = tmp_path / f"c{suffix}"
    f.write_text(content)
    result = CliRunner().invoke(cli, ["run", "--config", str(f)])
    assert result.exit_code == 2
    assert needle in result.output


def test_cli_options_override_the_config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen = _capture_run(monkeypatch)
    f = tmp_path / "c.yaml"
    f.write_text("nodes: 5\nkeys: 2\nsettings: {min.insync.replicas: 1}\n")
    args = ["run", "--config", str(f), "--keys", "7", "--set", "log.flush.interval.messages=0"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    (c,) = seen
    assert (c.nodes, c.keys) == (5, 7)
    assert c.settings == {"min.insync.replicas": 1, "log.flush.interval.messages": 0}
