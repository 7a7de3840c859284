"""The Kafka plan names the image of the release (or distribution) its settings ask for;
those settings never reach server.properties; what cannot run is refused at render."""

from __future__ import annotations

from pathlib import Path

import pytest

from compose.kafka.releases import DEFAULT_VERSION
from harness.contract.config import ConfigError
from harness.contract.plan import ClusterSpec
from harness.systems.kafka import CONFIG_PATH, KafkaSystem


def render(system: KafkaSystem, profile: str = "safe", **settings: object) -> list[str]:
    plan = system.render(ClusterSpec("t1", 3, 2, 3, profile, dict(settings)))
    for node in plan.nodes:
        assert "kafka.version" not in node.files[CONFIG_PATH]
        assert "kafka.dist" not in node.files[CONFIG_PATH]
    return sorted({node.image for node in plan.nodes})


def test_the_default_release_before_and_without_a_choice() -> None:
    system = KafkaSystem()
    assert system.images() == ["toxiproxy", f"kafka@{DEFAULT_VERSION}"]
    assert render(system) == [f"kafka@{DEFAULT_VERSION}"]
    assert render(KafkaSystem(), profile="") == [f"kafka@{DEFAULT_VERSION}"]


def test_a_chosen_release_is_every_node_image() -> None:
    system = KafkaSystem()
    assert render(system, **{"kafka.version": "3.9.2"}) == ["kafka@3.9.2"]
    assert system.images() == ["toxiproxy", "kafka@3.9.2"]


def test_a_distribution_is_every_node_image(tmp_path: Path) -> None:
    libs = tmp_path / "kafka" / "libs"
    libs.mkdir(parents=True)
    (libs / "kafka_2.13-4.0.2.jar").write_bytes(b"PK")
    system = KafkaSystem()
    assert render(system, **{"kafka.dist": str(tmp_path / "kafka")}) == [f"kafka-dist@{libs}"]


@pytest.mark.parametrize(
    ("profile", "settings", "says"),
    [
        ("kafka-0.11", {}, "profile 'kafka-0.11' is not one of"),
        ("safe", {"kafka.version": "9.9.9"}, "Kafka 9.9.9 is not a release"),
        ("safe", {"kafka.dist": "/no/such"}, "no such file or directory"),
        ("safe", {"kafka.dist": "/tmp", "kafka.version": "3.8.1"}, "not both"),
    ],
)
def test_what_cannot_run_is_refused_at_render(
    profile: str, settings: dict[str, object], says: str
) -> None:
    with pytest.raises(ConfigError, match=says):
        render(KafkaSystem(), profile, **settings)
