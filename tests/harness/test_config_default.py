"""``nemesis``: the default schedule when no fault is named, ``none`` for none, and the
refusal of ``default`` or ``none`` mixed with packages (exit 2, before any container)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import compose.docker_cluster
import harness.run
from faults.registry import node_env
from harness.catalogue import CATALOGUE
from harness.cli import cli
from harness.contract.config import (
    DEFAULT_NEMESIS,
    NO_NEMESIS,
    ConfigError,
    TestConfig,
    build_config,
)
from harness.nemesis import plan_faults


def cfg(**raw: Any) -> TestConfig:
    return build_config(raw, CATALOGUE)


@pytest.mark.parametrize("raw", [{}, {"nemesis": ""}, {"nemesis": []}, {"nemesis": "default"}])
def test_naming_no_fault_or_default_is_the_default_schedule(raw: dict[str, Any]) -> None:
    c = cfg(**raw)
    assert c.nemesis == (DEFAULT_NEMESIS,) == TestConfig().nemesis
    assert set(plan_faults(c).packages) == set(CATALOGUE.nemeses)
    assert node_env(
        plan_faults(c).packages
    )  # the lazyfs and libfaketime layers of lose-unfsynced and clock
    assert "--nemesis" not in c.command()


def test_none_is_a_fault_free_run_and_reproduces_as_none() -> None:
    c = cfg(nemesis="none")
    packages = plan_faults(c).packages
    assert c.nemesis == () and packages == {} and node_env(packages) == {}
    assert "--nemesis none" in c.command()
    assert cfg(nemesis=["none"]).nemesis == ()


def test_named_packages_are_what_they_were() -> None:
    c = cfg(nemesis="kill,pause")
    assert c.nemesis == ("kill", "pause") and list(plan_faults(c).packages) == ["kill", "pause"]
    assert "--nemesis kill,pause" in c.command()


def test_options_narrow_the_default_schedules_packages() -> None:
    c = cfg(nemesis_options={"kill_targets": ["leader"]})
    assert c.nemesis_options == {"kill_targets": ("leader",)}
    with pytest.raises(ConfigError, match="unknown option 'nope'"):
        cfg(nemesis_options={"nope": ["x"]})


@pytest.mark.parametrize("names", ["default,kill", "kill,default", "none,kill", "default,none"])
def test_default_and_none_stand_alone(names: str) -> None:
    with pytest.raises(ConfigError, match="stands alone") as e:
        cfg(nemesis=names)
    assert "name it alone" in str(e.value)


def test_an_unknown_package_names_default_and_none_among_the_choices() -> None:
    with pytest.raises(ConfigError, match=f"'{DEFAULT_NEMESIS}' or '{NO_NEMESIS}', alone"):
        cfg(nemesis="bogus")


@pytest.mark.parametrize("names", ["default,kill", "none,pause"])
def test_cli_refuses_a_mixed_default_with_exit_2_before_docker(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, names: str
) -> None:
    def refuse(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("Docker was touched although the config is invalid")

    monkeypatch.setattr(compose.docker_cluster, "docker_client", refuse)
    monkeypatch.setattr(harness.run, "docker_client", refuse)
    result = CliRunner().invoke(cli, ["run", "--store", str(tmp_path), "--nemesis", names])
    assert result.exit_code == 2, result.output
    assert "stands alone" in result.output
    assert not any(tmp_path.iterdir())
