"""The Kafka node images: one per release (`compose.kafka.releases.RELEASES`), one per
user distribution (``--kafka-dist``), all in one layout.

Names, as `compose.images` knows them (`spec_for` turns a name into its spec):

    kafka                       the default release (what ``make images`` builds)
    kafka@4.1.1                 a release from the table, jars resolved from Maven Central
    kafka-dist@/abs/path        a user's build (an archive or a directory of jars)

Inputs (their hash decides whether to rebuild): the Dockerfile, pom.xml, the start
scripts, both logging configs, the log dump tool, the fault agent, and the release's
version, Scala suffix and pom profiles (recipe entries); for a distribution, its jars
(or its archive) instead of the pom. Tags: ``floodmark/kafka:<version>-<hash12>`` and
``floodmark/kafka:<version>``; ``floodmark/kafka:dist-<hash12>`` for a distribution.
"""

from __future__ import annotations

import functools
from typing import Final

from compose.kafka.dist import ARCHIVE_NAME, Dist, DistError, inspect_dist, unpack_libs
from compose.kafka.jars import resolve_jars
from compose.kafka.releases import Release, UnsupportedRelease, default_release, release
from compose.spec import ImageSpec

FAMILY: Final = "kafka"
DIST_FAMILY: Final = "kafka-dist"
REPOSITORY: Final = "floodmark/kafka"
JRE: Final = "openjdk-17-jre-headless (Debian bookworm)"

_LAYOUT: Final = {
    "Dockerfile": "compose/kafka/Dockerfile",
    "start-kafka.sh": "compose/kafka/start-kafka.sh",
    "start-zookeeper.sh": "compose/kafka/start-zookeeper.sh",
    "log4j.properties": "compose/kafka/log4j.properties",
    "log4j2.properties": "compose/kafka/log4j2.properties",
    "kafka_logdump.py": "compose/kafka/kafka_logdump.py",
    "agent": "faults/agent",
}
"""What every Kafka image holds besides the jars."""


class KafkaImageError(ValueError):
    """A Kafka image name that names no release or distribution floodmark can build."""


def release_name(version: str) -> str:
    return f"{FAMILY}@{version}"


def dist_name(dist: Dist) -> str:
    return f"{DIST_FAMILY}@{dist.path}"


def release_spec(r: Release, name: str | None = None) -> ImageSpec:
    """The image of release ``r`` (jars resolved from Maven Central by its prepare step)."""
    return ImageSpec(
        name=name or release_name(r.version),
        repository=REPOSITORY,
        tag_prefix=f"{r.version}-",
        base="base",
        context={**_LAYOUT, "pom.xml": "compose/kafka/pom.xml"},
        recipe={"kafka": r.version, "scala": r.scala, "profiles": ",".join(r.profiles), "jre": JRE},
        prepare=functools.partial(resolve_jars, release=r),
    )


def dist_spec(dist: Dist) -> ImageSpec:
    """The image of a user's distribution: its jars (or archive) are the inputs."""
    libs = {ARCHIVE_NAME: str(dist.path)} if dist.archive else {"libs": str(dist.path)}
    return ImageSpec(
        name=dist_name(dist),
        repository=REPOSITORY,
        tag_prefix="dist-",
        base="base",
        context={**_LAYOUT, **libs},
        recipe={"kafka": dist.version, "scala": dist.scala, "jre": JRE},
        prepare=(lambda context, log: unpack_libs(context)) if dist.archive else None,
    )


SPEC: Final = release_spec(default_release(), name=FAMILY)
"""``kafka``: the default release, as `compose.images.IMAGES` lists it."""


def spec_for(name: str) -> ImageSpec | None:
    """The spec of a Kafka image name (``kafka@4.1.1``, ``kafka-dist@/path``); None when
    ``name`` is not one; `KafkaImageError` when it is one that cannot be built."""
    family, sep, variant = name.partition("@")
    if not sep:
        return None
    try:
        if family == FAMILY:
            return release_spec(release(variant))
        if family == DIST_FAMILY:
            return dist_spec(inspect_dist(variant))
    except (UnsupportedRelease, DistError) as e:
        raise KafkaImageError(f"image {name!r}: {e}") from None
    return None
