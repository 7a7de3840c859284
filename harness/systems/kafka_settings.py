"""The Kafka system's settings: profiles, defaults, and the image they pick.

A run's settings are its profile's (`PROFILES`) over `DEFAULT_SETTINGS`, then its
``--set`` overrides. Names without a dot are floodmark's own and must be known; names
with a dot are broker properties and go to every node's server.properties, except the
two that pick the node image, `VERSION` (``--kafka-version``) and `DIST`
(``--kafka-dist``), which `build_of` checks before any container starts::

    >>> build_of(resolve_settings("safe", {"kafka.version": "0.10.2.2"}))
    Build(image='kafka@0.10.2.2', version='0.10.2.2', metadata=<Metadata.ZOOKEEPER: 'zookeeper'>)

What the release can do decides the rest: ``idempotence`` (unset: on where the brokers
serve idempotent producers, 0.11 on; asked for on 0.10: refused, `idempotence_of`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from compose.kafka.dist import DistError, inspect_dist
from compose.kafka.image import dist_name, release_name
from compose.kafka.releases import (
    DEFAULT_VERSION,
    IDEMPOTENCE_SINCE,
    Metadata,
    UnsupportedRelease,
    idempotent_producer,
    release,
)
from harness.contract.config import ConfigError

PROFILES: Final[dict[str, dict[str, Any]]] = {
    "safe": {
        "min.insync.replicas": 2,
        "unclean.leader.election.enable": False,
    },
    "unclean": {
        "min.insync.replicas": 1,
        "unclean.leader.election.enable": True,
        # KRaft elects unclean leaders from a periodic controller task (default every
        # 5 minutes, longer than most runs); check every second instead.
        "unclean.leader.election.interval.ms": 1000,
    },
    "fsync": {
        "min.insync.replicas": 2,
        "unclean.leader.election.enable": False,
        "log.flush.interval.messages": 1,
    },
    "release-defaults": {
        "min.insync.replicas": None,
        "unclean.leader.election.enable": None,
    },
}
"""Named configurations under test. ``safe``: RF=3, ``min.insync.replicas=2``, no unclean
election, Kafka's default of never fsyncing (durability by replication). ``unclean``:
``min.insync.replicas=1`` with unclean election (loses acked writes by design).
``fsync``: ``safe`` plus an fsync per message (survives power loss of every node).
``release-defaults``: the release's own election and durability defaults, neither
written to server.properties nor to the topic: ``min.insync.replicas=1`` everywhere,
unclean election on before 0.11 (KIP-106), off from 0.11 on; None means "not written".
Keys with a dot that the template does not name go to every node's server.properties."""

VERSION: Final = "kafka.version"
"""Setting: the release under test, a row of `compose.kafka.releases.RELEASES`
(``--kafka-version``); it picks the image, never reaches server.properties."""
DIST: Final = "kafka.dist"
"""Setting: a user's own build (``--kafka-dist``: a .tgz or a directory of jars) instead
of a release; its image is keyed by its content."""

DEFAULT_SETTINGS: Final[dict[str, Any]] = {
    VERSION: DEFAULT_VERSION,
    DIST: None,
    "log.flush.interval.messages": None,
    "replica.lag.time.max.ms": 10_000,
    "broker.session.timeout.ms": 6_000,
    "zookeeper.session.timeout.ms": 6_000,
    "auto.leader.rebalance.enable": False,
    "idempotence": None,
}
"""Every setting a profile or ``--set`` may change; ``idempotence`` is the producers'
(None: as the release allows, `idempotence_of`), `VERSION` and `DIST` pick the image.
``broker.session.timeout.ms`` is KRaft's failure detection,
``zookeeper.session.timeout.ms`` ZooKeeper mode's (short, so that a killed broker may
register again soon). Other keys containing a dot are passed to server.properties as
they are."""
DEFAULT_PROFILE: Final = "safe"


def resolve_settings(profile: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The profile's settings with the run's overrides; ConfigError on unknown names."""
    if profile not in PROFILES:
        raise ConfigError(
            [f"kafka: profile {profile!r} is not one of {sorted(PROFILES)} (see PROFILES)"]
        )
    settings = {**DEFAULT_SETTINGS, **PROFILES[profile]}
    problems = [
        f"kafka: setting {k!r} is unknown; known: {sorted(settings)} or any broker "
        "property (a name with a dot)"
        for k in overrides
        if k not in settings and "." not in k
    ]
    if problems:
        raise ConfigError(problems)
    settings.update(overrides)
    return settings


@dataclass(frozen=True, slots=True)
class Build:
    """What a run's settings pick: the node image and the Kafka inside it."""

    image: str
    """Its name as `compose.images` knows it (``kafka@0.10.2.2``, ``kafka-dist@/path``)."""
    version: str
    metadata: Metadata
    """How the cluster keeps metadata: the release's row; a distribution runs KRaft."""


def build_of(settings: Mapping[str, Any]) -> Build:
    """The node image the settings ask for (`VERSION` or `DIST`), checked now, before any
    container exists: ConfigError saying what would work otherwise."""
    dist, version = settings.get(DIST), str(settings.get(VERSION) or DEFAULT_VERSION)
    if dist:
        if version != DEFAULT_VERSION:
            raise ConfigError(
                [f"kafka: both a version ({version}) and a distribution ({dist}); give "
                 "--kafka-version or --kafka-dist, not both"]
            )  # fmt: skip
        try:
            d = inspect_dist(str(dist))
        except DistError as e:
            raise ConfigError([f"kafka: {e}"]) from None
        return Build(dist_name(d), d.version, Metadata.KRAFT)
    try:
        r = release(version)
    except UnsupportedRelease as e:
        raise ConfigError([f"kafka: --kafka-version {version}: {e}"]) from None
    return Build(release_name(r.version), r.version, r.metadata)


def idempotence_of(settings: Mapping[str, Any], build: Build) -> bool:
    """Whether the producers are idempotent: the ``idempotence`` setting, or where unset,
    whether the brokers serve it; asked for on brokers that cannot: ConfigError."""
    asked = settings.get("idempotence")
    able = idempotent_producer(build.version)
    if asked is None:
        return able
    if bool(asked) and not able:
        since = ".".join(map(str, IDEMPOTENCE_SINCE))
        raise ConfigError(
            [f"kafka: idempotence=true needs brokers of {since} or newer (KIP-98); Kafka "
             f"{build.version} has none: drop the setting or set idempotence=false"]
        )  # fmt: skip
    return bool(asked)


TEMPLATED: Final = frozenset(
    {
        VERSION,
        DIST,
        "min.insync.replicas",
        "unclean.leader.election.enable",
        "log.flush.interval.messages",
        "replica.lag.time.max.ms",
        "broker.session.timeout.ms",
        "zookeeper.session.timeout.ms",
        "auto.leader.rebalance.enable",
    }
)


def topic_configs(settings: Mapping[str, Any]) -> dict[str, str]:
    """The test topic's configs: ``min.insync.replicas`` and
    ``unclean.leader.election.enable`` where the profile sets them (``release-defaults``
    sets neither, so the topic keeps the release's defaults)::

        >>> topic_configs({"min.insync.replicas": None, "unclean.leader.election.enable": None})
        {}
        >>> topic_configs({"min.insync.replicas": 2, "unclean.leader.election.enable": False})
        {'min.insync.replicas': '2', 'unclean.leader.election.enable': 'false'}
    """
    min_isr = settings.get("min.insync.replicas")
    configs = {} if min_isr is None else {"min.insync.replicas": str(int(min_isr))}
    unclean = settings.get("unclean.leader.election.enable")
    if unclean is not None:
        configs["unclean.leader.election.enable"] = str(bool(unclean)).lower()
    return configs
