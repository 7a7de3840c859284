"""What ``floodmark run`` and ``floodmark list`` read: the catalogue the command line
validates against, and a run's config from its file and options.

Kafka's ``--kafka-version V`` and ``--kafka-dist PATH`` stand for the Kafka settings
``kafka.version`` and ``kafka.dist`` (`harness.systems.kafka_settings`): the run's
settings carry them to the system, test.json stores them, and the reproduce command
names them (``--set kafka.version=4.1.1``). A Kafka run that names neither gets the
default release written down, so every stored Kafka run says which release it ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from compose.kafka import releases
from harness.catalogue import CATALOGUE
from harness.contract.config import (
    ConfigError,
    TestConfig,
    build_config,
    load_config_file,
    parse_assignments,
    parse_nemesis_options,
)
from harness.shrinking import replay_base
from harness.systems.kafka import KafkaSystem
from harness.systems.kafka_client import LIBRDKAFKA_LOG
from harness.systems.kafka_settings import DIST, VERSION

QUIET_ON_CONSOLE: Final = (LIBRDKAFKA_LOG.name,)
"""Loggers that go to the run's log files only, never over the progress display: the
client libraries' own lines (connection failures are expected under faults)."""


def config_from(config_file: str | None, options: dict[str, Any]) -> TestConfig:
    """``floodmark run``'s config: defaults < the replayed run's (``--replay``) < config
    file < options (click's keyword arguments, consumed); `ConfigError` with every
    problem at once."""
    raw: dict[str, Any] = load_config_file(config_file) if config_file else {}
    replay = options.pop("replay", None)
    if replay:  # the replayed run's config comes first, then the file, then options
        raw = {**replay_base(replay), **raw}
    for name in ("settings", "env"):
        given = parse_assignments(options.pop(name) or (), f"--{name}")
        if given:
            base = raw.get(name) or {}
            if not isinstance(base, dict):
                raise ConfigError([f"{name}: expected a mapping in the config file"])
            raw[name] = {**base, **given}
    given_opts = parse_nemesis_options(options.pop("nemesis_options", None) or ())
    if given_opts:
        base_opts = raw.get("nemesis_options") or {}
        if not isinstance(base_opts, dict):
            raise ConfigError(["nemesis_options: expected a mapping in the config file"])
        raw["nemesis_options"] = {**base_opts, **given_opts}
    image = _kafka_image_settings(options.pop("kafka_version"), options.pop("kafka_dist"))
    raw.update({k: v for k, v in options.items() if v is not None})
    if image or raw.get("system") == "kafka":
        raw["settings"] = _with_kafka_image(raw, image)
    return build_config(raw, CATALOGUE)


def _kafka_image_settings(version: str | None, dist: str | None) -> dict[str, Any]:
    """``--kafka-version`` and ``--kafka-dist`` as the Kafka settings they stand for (a
    distribution's path made absolute: the stored command works from anywhere)."""
    if version and dist:
        raise ConfigError(["--kafka-version and --kafka-dist: give one of them"])
    if dist:
        return {DIST: str(Path(dist).expanduser().absolute())}
    return {VERSION: version} if version else {}


def _with_kafka_image(raw: dict[str, Any], image: dict[str, Any]) -> dict[str, Any]:
    """The settings of a Kafka run, naming its release (the default when none is given,
    so test.json and the reproduce command say which one ran)."""
    settings = raw.get("settings") or {}
    if not isinstance(settings, dict):
        raise ConfigError(["settings: expected a mapping in the config file"])
    system = raw.get("system") or TestConfig().system
    if system != KafkaSystem.name:
        flags = " and ".join(f"--kafka-{k.split('.')[1]}" for k in image)
        raise ConfigError(
            [f"{flags}: only --system kafka has releases to choose; this run's system is "
             f"{system!r} (add --system kafka, or drop {flags})"]
        )  # fmt: skip
    merged = {**settings, **image}
    if DIST not in merged and VERSION not in merged:
        merged[VERSION] = releases.DEFAULT_VERSION
    return merged
