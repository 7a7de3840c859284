"""The Apache Kafka releases floodmark knows: one table, `RELEASES`.

Each row is one release as Maven Central serves it: its version, the Scala suffix of its
broker artifact (``kafka_2.13``), how its cluster keeps metadata (KRaft, or a ZooKeeper
ensemble) and whether floodmark can run it yet. A supported release is resolved from
Maven Central into an image of its own (`compose.kafka.image.release_spec`) the first time
a run asks for it (``floodmark run --system kafka --kafka-version 4.1.1``); the image is
cached and rebuilt only when its inputs change (the version is one of them).

The metadata column decides the cluster's shape (`harness.systems.kafka`): a KRaft row
runs N brokers and one KRaft controller node, a ZooKeeper row N brokers and one
ZooKeeper node (``zk``, run from the same image: the ``zookeeper`` jar is a dependency of
every ZooKeeper-era broker). What else differs by release is derived from the version,
never spelled per row: the logging binding (`logging_of`), the Java EE jars Java 17 no
longer ships (`needs_jaxb`), and whether the brokers serve idempotent producers
(`idempotent_producer`) and fetches from followers (`follower_fetching`). librdkafka
needs nothing for 0.10: it asks a 0.10 broker for its API versions like any other
(measured with librdkafka 2.16.0).

Every row was checked against Maven Central on 2026-12-02 (the broker pom resolves;
``mvn dependency:get -Dartifact=org.apache.kafka:kafka_<scala>:<version>:pom``). A row
with ``supported=False`` (a release listed before floodmark runs it) is refused with its
note and the releases that do run, instead of "unknown version".
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final


class Metadata(enum.Enum):
    """Where a Kafka cluster keeps its metadata (topics, ISR, leaders, epochs)."""

    KRAFT = "kraft"
    """A KRaft controller quorum (Kafka 3.3+ production, the only mode of 4.x)."""
    ZOOKEEPER = "zookeeper"
    """A ZooKeeper ensemble and one broker elected controller (before 2.8; optional to 3.9)."""


class Logging(enum.Enum):
    """The logging backend a distribution ships; its value is the pom.xml profile that
    adds the same binding to the jars resolved from Maven Central."""

    BUNDLED = "bundled"
    """The broker's own pom brings SLF4J over Log4j 1.2 (``slf4j-log4j12``, ``log4j``):
    Kafka before 1.1 (the poms of 0.10.2.2, 0.11.0.3 and 1.0.2 say so); configured by
    log4j.properties."""
    LOG4J12 = "log4j12"
    """SLF4J over Log4j 1.2 added by the profile: from 1.1 to 2.8 the broker's pom has
    ``slf4j-log4j12`` in test scope only and excludes ``log4j`` from ZooKeeper's, while the
    distribution ships both (without them 1.1.1 and 2.0.1 exit at start, unlogged: "Failed
    to load class org.slf4j.impl.StaticLoggerBinder"); configured by log4j.properties."""
    RELOAD4J = "log4j1"
    """SLF4J over reload4j (Log4j 1.2 API), Kafka 3.x; configured by log4j.properties."""
    LOG4J2 = "log4j2"
    """Log4j 2 (KIP-653), Kafka 4.x; configured by log4j2.properties."""


@dataclass(frozen=True, slots=True)
class Release:
    """One Kafka release: ``kafka_<scala>-<version>.jar`` on Maven Central."""

    version: str
    scala: str
    metadata: Metadata
    supported: bool
    note: str = ""

    @property
    def artifact(self) -> str:
        """The broker's Maven artifact id, e.g. ``kafka_2.13``."""
        return f"kafka_{self.scala}"

    @property
    def jar(self) -> str:
        """The broker jar's file name, e.g. ``kafka_2.13-4.1.1.jar``."""
        return f"{self.artifact}-{self.version}.jar"

    @property
    def logging(self) -> Logging:
        return logging_of(self.version)

    @property
    def profiles(self) -> tuple[str, ...]:
        """The pom.xml profiles that resolve this release's image (`compose.kafka.jars`):
        its logging binding's, ``jaxb`` where it needs `needs_jaxb`, and the ZooKeeper
        client pin where `needs_zookeeper_pin`."""
        return (
            self.logging.value,
            *(["jaxb"] if needs_jaxb(self.version) else []),
            *([ZOOKEEPER_PIN] if needs_zookeeper_pin(self.version) else []),
        )

    def why_not(self) -> str:
        """Why this release cannot run yet (empty when it can)."""
        if self.supported:
            return ""
        return f"Kafka {self.version} is not supported yet ({self.note or 'not run yet'})"


K, Z = Metadata.KRAFT, Metadata.ZOOKEEPER

RELEASES: Final[tuple[Release, ...]] = (
    Release("4.4.0", "2.13", K, True, "ELR (KIP-966) on; the newest on Maven Central"),
    Release("4.3.1", "2.13", K, True, "ELR (KIP-966) on"),
    Release("4.2.2", "2.13", K, True, "ELR (KIP-966) on"),
    Release("4.1.2", "2.13", K, True, "ELR (KIP-966) on for new clusters"),
    Release("4.1.1", "2.13", K, True, "ELR (KIP-966) on for new clusters"),
    Release("4.0.2", "2.13", K, True, "KRaft only, Log4j 2; ELR off"),
    Release("3.9.2", "2.13", K, True, "the last release with ZooKeeper mode (run in KRaft)"),
    Release("3.8.1", "2.13", K, True),
    Release("3.7.2", "2.13", K, True),
    Release("2.8.2", "2.13", Z, True, "the last 2.x; run in ZooKeeper mode (KRaft early access)"),
    Release("2.0.1", "2.12", Z, True, "KIP-279's fix (leader epoch in OffsetsForLeaderEpoch)"),
    Release("1.1.1", "2.12", Z, True, "before KIP-279's fix: a fast double failover diverges"),
    Release("0.11.0.3", "2.11", Z, True, "leader epochs (KIP-101), message format v2"),
    Release("0.10.2.2", "2.11", Z, True, "HW truncation: KIP-101's data loss; format v1"),
)
"""Newest first. A ``supported`` row runs in its metadata mode: KRaft (one controller
node, N brokers) or ZooKeeper (one ZooKeeper node, N brokers)."""

DEFAULT_VERSION: Final = "4.4.0"
"""The release ``--system kafka`` runs when no ``--kafka-version`` is given."""

KRAFT_SINCE: Final = (3, 3)
"""KRaft is production-ready from 3.3 on: a user's own distribution must be at least that."""


class UnsupportedRelease(ValueError):
    """A version that is not in `RELEASES`, or one floodmark cannot run yet."""


def version_key(version: str) -> tuple[int, ...]:
    """``"4.1.1"`` -> ``(4, 1, 1)``; a suffix (``-SNAPSHOT``, ``-rc1``) is ignored."""
    numbers = re.match(r"\d+(?:\.\d+)*", version)
    if numbers is None:
        raise UnsupportedRelease(f"{version!r} is not a Kafka version (expected e.g. 4.1.1)")
    return tuple(int(n) for n in numbers.group(0).split("."))


def logging_of(version: str) -> Logging:
    """The logging backend of a release: Log4j 2 from 4.0 on (KIP-653), reload4j in 3.x,
    Log4j 1.2 added from 1.1 to 2.8, the pom's own Log4j 1.2 binding before."""
    key = version_key(version)
    if key >= (4,):
        return Logging.LOG4J2
    if key >= (3,):
        return Logging.RELOAD4J
    return Logging.LOG4J12 if key >= (1, 1) else Logging.BUNDLED


JAVA_11_SINCE: Final = (2, 1)
"""Kafka runs on Java 11+ from 2.1 (KAFKA-7264); before, it uses ``javax.xml.bind``,
which Java 11 removed from the JDK."""


def needs_jaxb(version: str) -> bool:
    """Whether the release needs ``jaxb-api`` on its classpath to start on Debian's Java 17
    (without it 0.10.2.2 dies with ``NoClassDefFoundError: javax/xml/bind/...``)."""
    return version_key(version) < JAVA_11_SINCE


ZOOKEEPER_PIN: Final = "zookeeper-3.4.10"
"""The pom.xml profile that pins the ZooKeeper jar (client and server) to 3.4.10."""


def needs_zookeeper_pin(version: str) -> bool:
    """Whether the release's own ZooKeeper (3.4.13/3.4.14, Kafka 2.0 to 2.3) must be pinned
    to 3.4.10: its client cannot connect on Java 14+ (measured with 2.0.1: every broker
    loops on "Opening socket connection to server zk/<unresolved>:2181"; ZOOKEEPER-3779)."""
    return (2, 0) <= version_key(version) < (2, 4)


IDEMPOTENCE_SINCE: Final = (0, 11)
"""The idempotent producer (KIP-98, ``InitProducerId``) needs brokers of 0.11 or newer."""


def idempotent_producer(version: str) -> bool:
    """Whether the release's brokers serve idempotent producers."""
    return version_key(version) >= IDEMPOTENCE_SINCE


FOLLOWER_FETCHING_SINCE: Final = (2, 4)
"""Brokers serve fetches from a follower in the client's rack (KIP-392,
``replica.selector.class``) from 2.4 on."""


def follower_fetching(version: str) -> bool:
    return version_key(version) >= FOLLOWER_FETCHING_SINCE


def supported() -> tuple[Release, ...]:
    return tuple(r for r in RELEASES if r.supported)


def supported_versions() -> str:
    """``"4.4.0, 4.3.1, ..."``: what an error message offers instead."""
    return ", ".join(r.version for r in supported())


def release(version: str) -> Release:
    """The row of ``version``; `UnsupportedRelease` (saying what would work) otherwise."""
    for r in RELEASES:
        if r.version == version:
            if not r.supported:
                raise UnsupportedRelease(f"{r.why_not()}; supported: {supported_versions()}")
            return r
    raise UnsupportedRelease(
        f"Kafka {version} is not a release floodmark knows; supported: {supported_versions()} "
        "(or --kafka-dist PATH for your own build)"
    )


def default_release() -> Release:
    return release(DEFAULT_VERSION)


def table() -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """`RELEASES` as (columns, rows) for ``floodmark list kafka-releases`` and the README."""
    columns = ("version", "artifact", "metadata", "runs", "notes")
    rows = tuple(
        (
            f"`{r.version}`" + (" (default)" if r.version == DEFAULT_VERSION else ""),
            f"`{r.artifact}`",
            r.metadata.value,
            f"yes ({'KRaft' if r.metadata is Metadata.KRAFT else 'ZooKeeper'})"
            if r.supported
            else "not yet",
            r.note,
        )
        for r in RELEASES
    )
    return columns, rows
