"""compose.kafka.releases: the table of Kafka releases, what it refuses and how it says so;
the README's copy of the table."""

from __future__ import annotations

from pathlib import Path

import pytest

from compose.kafka import releases
from compose.kafka.releases import Logging, Metadata, UnsupportedRelease
from harness.catalogue import BEGIN, END, TABLES

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_supported_release_runs_in_its_metadata_mode_and_the_default_is_one() -> None:
    assert releases.default_release().version == releases.DEFAULT_VERSION
    assert releases.default_release().metadata is Metadata.KRAFT
    for r in releases.supported():
        kraft = releases.version_key(r.version) >= releases.KRAFT_SINCE
        assert r.metadata is (Metadata.KRAFT if kraft else Metadata.ZOOKEEPER)
        assert releases.release(r.version) is r
    zookeeper = {r.version for r in releases.supported() if r.metadata is Metadata.ZOOKEEPER}
    assert zookeeper == {"0.10.2.2", "0.11.0.3", "1.1.1", "2.0.1", "2.8.2"}
    versions = [r.version for r in releases.RELEASES]
    assert len(versions) == len(set(versions))
    keys = [releases.version_key(v) for v in versions]
    assert keys == sorted(keys, reverse=True), "newest first"


def test_a_release_names_its_maven_artifact_and_logging_binding() -> None:
    r = releases.release("4.1.1")
    assert (r.artifact, r.jar, r.logging) == ("kafka_2.13", "kafka_2.13-4.1.1.jar", Logging.LOG4J2)
    assert r.profiles == ("log4j2",)
    assert releases.release("3.9.2").profiles == ("log4j1",)
    old = releases.release("0.10.2.2")
    assert old.artifact == "kafka_2.11" and old.metadata is Metadata.ZOOKEEPER
    # its pom brings its own Log4j 1.2 binding; Java 17 lacks the javax.xml.bind it uses
    assert (old.logging, old.profiles) == (Logging.BUNDLED, ("bundled", "jaxb"))
    assert releases.release("0.11.0.3").profiles == ("bundled", "jaxb")
    # from 1.1 the pom has the binding in test scope only: the profile adds it
    assert releases.release("2.0.1").profiles == ("log4j12", "jaxb", "zookeeper-3.4.10")
    assert releases.release("1.1.1").profiles == ("log4j12", "jaxb")
    assert releases.release("2.8.2").profiles == ("log4j12",)


def test_what_a_release_can_do_is_derived_from_its_version() -> None:
    assert not releases.idempotent_producer("0.10.2.2")
    assert releases.idempotent_producer("0.11.0.3") and releases.idempotent_producer("4.1.1")
    assert releases.needs_jaxb("2.0.1") and not releases.needs_jaxb("2.1.0")
    assert not releases.follower_fetching("0.11.0.3") and releases.follower_fetching("3.7.2")


NOT_YET = releases.Release("9.0.0", "2.13", releases.Metadata.KRAFT, False, "a future row")


def test_a_release_not_run_yet_says_why_and_what_would_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(releases, "RELEASES", (*releases.RELEASES, NOT_YET))
    with pytest.raises(UnsupportedRelease) as info:
        releases.release("9.0.0")
    supported = releases.supported_versions()
    assert (
        str(info.value)
        == f"Kafka 9.0.0 is not supported yet (a future row); supported: {supported}"
    )
    assert "3.9.2" in supported and "0.10.2.2" in supported and "9.0.0" not in supported


def test_an_unknown_release_lists_the_known_ones_and_the_dist_option() -> None:
    with pytest.raises(UnsupportedRelease, match=r"Kafka 9\.9\.9 is not a release") as info:
        releases.release("9.9.9")
    assert releases.supported_versions() in str(info.value)
    assert "--kafka-dist" in str(info.value)


@pytest.mark.parametrize(
    ("version", "key"),
    [("4.1.1", (4, 1, 1)), ("0.10.2.2", (0, 10, 2, 2)), ("4.2.0-SNAPSHOT", (4, 2, 0))],
)
def test_version_keys_compare_numerically(version: str, key: tuple[int, ...]) -> None:
    assert releases.version_key(version) == key


def test_a_version_without_numbers_is_refused() -> None:
    with pytest.raises(UnsupportedRelease, match="is not a Kafka version"):
        releases.version_key("latest")


def test_the_readme_table_of_releases_equals_the_registry() -> None:
    text = README.read_text()
    begin = BEGIN.format(name="kafka-releases")
    assert begin in text, "README lacks the generated kafka-releases table"
    block = text.partition(begin + "\n")[2].partition(END)[0]
    assert block == TABLES["kafka-releases"]().markdown(), "README table of releases is stale"


def test_releases_from_1_1_to_2_8_get_a_log4j_binding_and_2_0_a_zookeeper_pin() -> None:
    assert releases.logging_of("1.0.2") is Logging.BUNDLED
    assert releases.logging_of("1.1.1") is Logging.LOG4J12
    assert releases.logging_of("2.8.2") is Logging.LOG4J12
    assert releases.logging_of("3.0.0") is Logging.RELOAD4J
    assert not releases.needs_zookeeper_pin("1.1.1")
    assert releases.needs_zookeeper_pin("2.0.1") and releases.needs_zookeeper_pin("2.3.1")
    assert not releases.needs_zookeeper_pin("2.4.0")
