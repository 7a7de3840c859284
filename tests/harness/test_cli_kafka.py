"""``floodmark run`` with a system's own profiles and Kafka's releases (issue 12): what is
refused before any container starts (exit 2, a message, no traceback, no Docker call),
what a run's config says it ran, and that client-library log lines stay off the console."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pytest

import harness.cli
import harness.run
from compose.kafka.releases import DEFAULT_VERSION, supported_versions
from harness.catalogue import CATALOGUE
from harness.cli_config import config_from
from harness.contract.config import ConfigError, build_config
from harness.systems.kafka_client import LIBRDKAFKA_LOG


class NoDocker:
    """A driver that fails the test when a run gets as far as wanting images."""

    def __init__(self) -> None:
        raise AssertionError("a refused run must not reach Docker")


@pytest.fixture
def floodmark(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Any:
    monkeypatch.setattr(harness.run, "DockerDriver", NoDocker)

    def run(*args: str) -> tuple[int, str]:
        store = str(tmp_path / "store")
        monkeypatch.setattr(sys, "argv", ["floodmark", "run", "--store", store, *args])
        code = harness.cli._main()
        err = capsys.readouterr().err
        assert "Traceback" not in err, err
        assert not (tmp_path / "store").exists(), "a refused run opened a run directory"
        return code, err

    return run


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--kafka-version", "9.9.9"],
            f"Kafka 9.9.9 is not a release floodmark knows; supported: {supported_versions()}",
        ),
        (
            ["--kafka-version", "0.10.2.2", "--set", "idempotence=true"],
            "idempotence=true needs brokers of 0.11",
        ),
        (["--kafka-dist", "/no/such/kafka"], "--kafka-dist /no/such/kafka: no such file"),
        (
            ["--profile", "kafka-0.10"],
            "unknown profile 'kafka-0.10': kafka has no such profile; its profiles: safe",
        ),
        (["--kafka-version", "4.1.1", "--kafka-dist", "/tmp"], "give one of them"),
        (["--set", "kafka.version=9.9.9"], "Kafka 9.9.9 is not a release"),
    ],
    ids=[
        "unknown-version",
        "old-idempotence",
        "missing-dist",
        "replog-profile",
        "both",
        "setting",
    ],
)
def test_a_kafka_run_that_cannot_run_is_refused_before_any_container(
    floodmark: Any, args: list[str], says: str
) -> None:
    code, err = floodmark("--system", "kafka", *args)
    assert code == 2
    assert says in " ".join(err.split()), err


@pytest.mark.parametrize("flag", ["--kafka-version", "--kafka-dist"])
def test_kafka_options_on_another_system_are_refused(floodmark: Any, flag: str) -> None:
    code, err = floodmark(flag, "4.1.1")
    assert code == 2 and "only --system kafka has releases to choose" in err, err


def test_a_profile_of_kafka_is_refused_on_replog(floodmark: Any) -> None:
    code, err = floodmark("--profile", "unclean")
    assert code == 2 and "unknown profile 'unclean': replog has no such profile" in err, err


def options(**given: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"settings": (), "env": (), "nemesis_options": ()}
    base.update({"kafka_version": None, "kafka_dist": None})
    return {**base, **given}


def test_each_system_gets_its_own_default_profile_and_kafka_its_release() -> None:
    kafka = config_from(None, options(system="kafka"))
    assert kafka.profile == "safe"
    assert kafka.settings == {"kafka.version": DEFAULT_VERSION}
    assert f"--set kafka.version={DEFAULT_VERSION}" in kafka.command()
    replog = config_from(None, options())
    assert replog.profile == "kafka-0.11" and replog.settings == {}


def test_the_chosen_release_or_distribution_is_in_the_settings(tmp_path: Path) -> None:
    assert config_from(None, options(system="kafka", kafka_version="4.1.1")).settings == {
        "kafka.version": "4.1.1"
    }
    dist = config_from(None, options(system="kafka", kafka_dist=str(tmp_path / "k")))
    assert dist.settings == {"kafka.dist": str(tmp_path / "k")}


def test_a_config_file_may_name_the_release_in_its_settings(tmp_path: Path) -> None:
    f = tmp_path / "k.yaml"
    f.write_text("system: kafka\nsettings:\n  kafka.version: 3.9.2\n")
    assert config_from(str(f), options()).settings == {"kafka.version": "3.9.2"}


def test_a_catalogue_without_profiles_keeps_the_fallback() -> None:
    bare = build_config({"system": "replog"}, CATALOGUE.__class__(
        nemeses=CATALOGUE.nemeses, systems=CATALOGUE.systems, workloads=CATALOGUE.workloads,
        check_options=CATALOGUE.check_options,
    ))  # fmt: skip
    assert bare.profile == "kafka-0.11"
    with pytest.raises(ConfigError, match="unknown profile 'safe': replog has no such profile"):
        build_config({"system": "replog", "profile": "safe"}, CATALOGUE)


def test_client_library_lines_stay_off_the_console_and_reach_the_run_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = logging.getLogger("floodmark")
    monkeypatch.setattr(root, "handlers", [])
    harness.cli._logging()
    (console,) = root.handlers
    run_log = logging.FileHandler(tmp_path / "harness.log")
    root.addHandler(run_log)
    try:
        lib = logging.LogRecord(LIBRDKAFKA_LOG.name, logging.ERROR, "", 0, "FAIL refused", (), None)
        own = logging.LogRecord("floodmark", logging.WARNING, "", 0, "workers busy", (), None)
        assert not console.filter(lib) and console.filter(own)
        LIBRDKAFKA_LOG.error("FAIL [rdkafka#producer-1]: Connection refused")
    finally:
        root.removeHandler(run_log)
        run_log.close()
    assert "Connection refused" in (tmp_path / "harness.log").read_text()
