"""Configuration of replog brokers and controllers: JSON files, profiles, settings.

Broker config (``python -m replog.broker --config broker.json``)::

    {"node_id": "n1", "listen": "0.0.0.0:9092", "data_dir": "/data",
     "controller": "toxiproxy:21001",          # address THIS node uses to reach the controller
     "peers": {"n2": "toxiproxy:20012", "n3": "toxiproxy:20013"},  # ... to reach each peer
     "profile": "kafka-0.11",
     "settings": {"min.insync.replicas": 2}}

Controller config (``python -m replog.controller --config controller.json``)::

    {"listen": "0.0.0.0:9093", "data_dir": "/data",
     "brokers": {"n1": "toxiproxy:21101", ...},  # address the controller uses per broker
     "partitions": 3, "replication_factor": 3, "profile": "kafka-0.11",
     "settings": {"broker.session.timeout.ms": 3000}}

Settings are Kafka-named. A profile gives defaults, explicit ``settings`` override them.
One settings namespace serves both roles (a harness may pass the same dict to both);
each role reads the keys it needs. Unknown keys are refused with the list of known ones.

=============================================== ========= ===============================
setting                                         default   meaning
=============================================== ========= ===============================
replication.truncation                          (profile) ``hw``: truncate to own HW on
                                                          restart and on becoming follower
                                                          (Kafka < 0.11); ``leader-epoch``:
                                                          OffsetsForLeaderEpoch (KIP-101)
replica.lag.time.max.ms                         3000      follower leaves the ISR when not
                                                          caught up for this long
min.insync.replicas                             2         acks=all refused below this ISR
                                                          size (Kafka's default is 1)
unclean.leader.election.enable                  false     controller may elect a live
                                                          replica outside the ISR
log.flush.interval.messages                     1         fsync after this many appended
                                                          messages; 0 = never (OS decides)
log.segment.records                             100000    records per segment file
replica.fetch.wait.max.ms                       500       leader holds an empty follower
                                                          fetch this long (long-poll)
replica.fetch.max.records                       5000      records per follower fetch
replica.fetch.backoff.ms                        100       follower pause after a fetch error
replica.high.watermark.checkpoint.interval.ms   5000      HW checkpoint period; 0 = on
                                                          every HW change
request.timeout.ms                              5000      node-to-node request timeout
broker.heartbeat.interval.ms                    300       broker→controller heartbeat
broker.session.timeout.ms                       3000      controller declares a broker dead
                                                          after this long without heartbeat
reconnect.backoff.ms / reconnect.backoff.max.ms 50 / 1000 bounded exponential reconnect
=============================================== ========= ===============================

Profiles: ``kafka-0.10`` (``hw`` truncation, the KIP-101 bugs), ``kafka-0.11``
(``leader-epoch`` truncation). Unsafe variants are profile + settings, e.g.
``unclean.leader.election.enable: true`` or ``min.insync.replicas: 1``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from replog.wire import split_address


class ConfigError(ValueError):
    """A config file or setting that replog cannot run with."""


class Truncation(enum.StrEnum):
    """How a replica decides what to cut from its log before following a leader."""

    HW = "hw"
    LEADER_EPOCH = "leader-epoch"


@dataclass(frozen=True, slots=True)
class Settings:
    """Kafka-named settings (see the module docstring for meanings and defaults)."""

    replication_truncation: Truncation = Truncation.LEADER_EPOCH
    replica_lag_time_max_ms: int = 3000
    min_insync_replicas: int = 2
    unclean_leader_election_enable: bool = False
    log_flush_interval_messages: int = 1
    log_segment_records: int = 100_000
    replica_fetch_wait_max_ms: int = 500
    replica_fetch_max_records: int = 5000
    replica_fetch_backoff_ms: int = 100
    replica_high_watermark_checkpoint_interval_ms: int = 5000
    request_timeout_ms: int = 5000
    broker_heartbeat_interval_ms: int = 300
    broker_session_timeout_ms: int = 3000
    reconnect_backoff_ms: int = 50
    reconnect_backoff_max_ms: int = 1000


PROFILES: dict[str, dict[str, Any]] = {
    "kafka-0.10": {"replication.truncation": "hw"},
    "kafka-0.11": {"replication.truncation": "leader-epoch"},
}

_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def setting_name(field_name: str) -> str:
    """``replica_lag_time_max_ms`` → ``replica.lag.time.max.ms``."""
    return field_name.replace("_", ".")


def make_settings(profile: str, overrides: dict[str, Any]) -> Settings:
    """Settings of `profile` with Kafka-named `overrides` applied, validated."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; known profiles: {sorted(PROFILES)}")
    merged = {**PROFILES[profile], **overrides}
    values: dict[str, Any] = {}
    for key, raw in merged.items():
        name = key.replace(".", "_").replace("-", "_")
        f = _FIELDS.get(name)
        if f is None:
            known = ", ".join(sorted(setting_name(n) for n in _FIELDS))
            raise ConfigError(f"unknown setting {key!r}; known settings: {known}")
        values[name] = _coerce(key, f.type, raw)
    s = Settings(**values)
    if s.min_insync_replicas < 1:
        raise ConfigError("min.insync.replicas must be at least 1")
    if s.log_flush_interval_messages < 0:
        raise ConfigError("log.flush.interval.messages must be >= 0 (0 = never fsync)")
    if s.log_segment_records < 1 or s.replica_fetch_max_records < 1:
        raise ConfigError("log.segment.records and replica.fetch.max.records must be >= 1")
    return s


def _coerce(key: str, type_name: object, raw: Any) -> Any:
    if type_name in ("bool", bool):
        if isinstance(raw, bool):
            return raw
        if raw in ("true", "false"):
            return raw == "true"
        raise ConfigError(f"setting {key!r} must be true or false, got {raw!r}")
    if type_name in ("int", int):
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise ConfigError(f"setting {key!r} must be an integer, got {raw!r}")
        try:
            return int(raw)
        except ValueError as e:
            raise ConfigError(f"setting {key!r} must be an integer, got {raw!r}") from e
    try:
        return Truncation(raw)
    except ValueError as e:
        choices = [t.value for t in Truncation]
        raise ConfigError(f"setting {key!r} must be one of {choices}, got {raw!r}") from e


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """One broker: who it is, where it listens and stores, how it reaches the others."""

    node_id: str
    listen: str
    data_dir: Path
    controller: str
    peers: dict[str, str] = field(default_factory=dict)
    profile: str = "kafka-0.11"
    settings: Settings = field(default_factory=Settings)


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    """The controller: where it listens and stores its epoch/state, how it reaches brokers."""

    listen: str
    data_dir: Path
    brokers: dict[str, str]
    partitions: int
    replication_factor: int
    profile: str = "kafka-0.11"
    settings: Settings = field(default_factory=Settings)


def _require(doc: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in doc:
        raise ConfigError(f"{where}: missing required field {key!r}")
    v = doc[key]
    if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
        raise ConfigError(f"{where}: field {key!r} must be {kind.__name__}, got {v!r}")
    return v


def _addresses(m: dict[str, Any], where: str) -> dict[str, str]:
    for node, addr in m.items():
        try:
            split_address(str(addr))
        except ValueError as e:
            raise ConfigError(f"{where}: node {node!r}: {e}") from e
    return {str(k): str(v) for k, v in m.items()}


def _load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"cannot read config {path}: {e}") from e
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: config must be a JSON object")
    return doc


def broker_config_from_dict(doc: dict[str, Any], where: str = "broker config") -> BrokerConfig:
    """Validate a broker config document."""
    listen = _require(doc, "listen", str, where)
    controller = _require(doc, "controller", str, where)
    _addresses({"listen": listen, "controller": controller}, where)
    profile = str(doc.get("profile", "kafka-0.11"))
    return BrokerConfig(
        node_id=_require(doc, "node_id", str, where),
        listen=listen,
        data_dir=Path(_require(doc, "data_dir", str, where)),
        controller=controller,
        peers=_addresses(dict(doc.get("peers", {})), where),
        profile=profile,
        settings=make_settings(profile, dict(doc.get("settings", {}))),
    )


def controller_config_from_dict(
    doc: dict[str, Any], where: str = "controller config"
) -> ControllerConfig:
    """Validate a controller config document."""
    listen = _require(doc, "listen", str, where)
    _addresses({"listen": listen}, where)
    brokers = _addresses(dict(_require(doc, "brokers", dict, where)), where)
    partitions = _require(doc, "partitions", int, where)
    rf = _require(doc, "replication_factor", int, where)
    if partitions < 1:
        raise ConfigError(f"{where}: partitions must be >= 1, got {partitions}")
    if not 1 <= rf <= len(brokers):
        raise ConfigError(
            f"{where}: replication_factor {rf} must be between 1 and the number of brokers "
            f"({len(brokers)})"
        )
    profile = str(doc.get("profile", "kafka-0.11"))
    return ControllerConfig(
        listen=listen,
        data_dir=Path(_require(doc, "data_dir", str, where)),
        brokers=brokers,
        partitions=partitions,
        replication_factor=rf,
        profile=profile,
        settings=make_settings(profile, dict(doc.get("settings", {}))),
    )


def load_broker_config(path: Path) -> BrokerConfig:
    """Read and validate a broker config file."""
    return broker_config_from_dict(_load(path), str(path))


def load_controller_config(path: Path) -> ControllerConfig:
    """Read and validate a controller config file."""
    return controller_config_from_dict(_load(path), str(path))
