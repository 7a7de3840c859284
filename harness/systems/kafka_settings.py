"""The Kafka system's settings: profiles, defaults, and the image they pick.

A run's settings are its profile's (`PROFILES`) over `DEFAULT_SETTINGS`, then its
``--set`` overrides. Names without a dot are floodmark's own and must be known; names
with a dot are broker properties and go to every node's server.properties, except the
two that pick the node image, `VERSION` (``--kafka-version``) and `DIST`
(``--kafka-dist``), which `image_of` checks before any container starts::

    >>> image_of(resolve_settings("safe", {"kafka.version": "4.1.1"}))
    'kafka@4.1.1'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from compose.kafka.dist import DistError, inspect_dist
from compose.kafka.image import dist_name, release_name
from compose.kafka.releases import DEFAULT_VERSION, UnsupportedRelease, release
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
}
"""Named configurations under test. ``safe``: RF=3, ``min.insync.replicas=2``, no unclean
election, Kafka's default of never fsyncing (durability by replication). ``unclean``:
``min.insync.replicas=1`` with unclean election (loses acked writes by design).
``fsync``: ``safe`` plus an fsync per message (survives power loss of every node).
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
    "auto.leader.rebalance.enable": False,
    "idempotence": True,
}
"""Every setting a profile or ``--set`` may change; ``idempotence`` is the producers',
`VERSION` and `DIST` pick the image. Other keys containing a dot are passed to
server.properties as they are."""
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


def image_of(settings: Mapping[str, Any]) -> str:
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
            return dist_name(inspect_dist(str(dist)))
        except DistError as e:
            raise ConfigError([f"kafka: {e}"]) from None
    try:
        return release_name(release(version).version)
    except UnsupportedRelease as e:
        raise ConfigError([f"kafka: --kafka-version {version}: {e}"]) from None


TEMPLATED: Final = frozenset(
    {
        VERSION,
        DIST,
        "min.insync.replicas",
        "unclean.leader.election.enable",
        "log.flush.interval.messages",
        "replica.lag.time.max.ms",
        "broker.session.timeout.ms",
        "auto.leader.rebalance.enable",
    }
)
