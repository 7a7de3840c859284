"""A test's configuration: one frozen `TestConfig`, validated in one place.

Sources, later ones winning: the defaults below, a ``--config FILE`` (YAML or TOML, keys
spelled ``time_limit`` or ``time-limit``), then command-line options. `build_config`
checks everything and raises `ConfigError` listing every problem, before any container
starts (the CLI turns that into exit code 2).

A config file::

    # floodmark.yaml
    system: replog
    nodes: 5
    keys: 4
    time-limit: 60
    rate: 200
    settings:
      min.insync.replicas: 2
      unclean.leader.election.enable: false

The run stores the effective config in ``test.json`` together with `TestConfig.command`,
the one ``floodmark run ...`` line that reproduces it (seed included).
"""

from __future__ import annotations

import dataclasses
import shlex
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from harness.contract.schedule import ScheduleError, load_schedule

MAX_NODES: Final = 9
DEFAULT_NEMESIS: Final = "default"
"""``--nemesis default`` (also what a run that names no fault gets): the default schedule,
every fault package plus the protocol-aware triggers (`faults.default`)."""
NO_NEMESIS: Final = "none"
"""``--nemesis none``: a fault-free run (``TestConfig.nemesis == ()``)."""
Scalar = str | int | float | bool


class ConfigError(ValueError):
    """A configuration that cannot run; ``problems`` lists each one with what to do."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid test configuration:\n  - " + "\n  - ".join(problems))


@dataclass(frozen=True, slots=True)
class TestConfig:
    """Everything that defines a run. Plain data: stored in test.json, reproducible."""

    __test__ = False  # not a pytest test class despite its name

    name: str = ""
    """Test name (store/<name>/...); defaults to ``<system>-<workload>``."""
    system: str = "replog"
    workload: str = "log"
    nodes: int = 3
    keys: int = 3
    replication_factor: int = 0
    """0 means min(3, nodes)."""
    time_limit: float = 30.0
    """Seconds of load (faults included); recovery and final reads come after."""
    concurrency: int = 10
    rate: float = 150.0
    """Client operations per second, over all processes together (an upper bound)."""
    seed: int | None = None
    """None picks a random seed; the run records the one it used."""
    profile: str = "kafka-0.11"
    """The system's profile (``--profile``). A config that names none gets its system's
    default from `build_config` (`Catalogue.profiles`), so test.json names the real one;
    this field default (replog's) is what a `TestConfig` built by hand gets."""
    settings: dict[str, Scalar] = field(default_factory=dict)
    """System settings overriding the profile (e.g. ``min.insync.replicas``)."""
    nemesis: tuple[str, ...] = (DEFAULT_NEMESIS,)
    """Fault packages by name; ``("default",)`` is the default schedule, ``()`` no faults
    (``--nemesis none``)."""
    nemesis_interval: float = 10.0
    nemesis_options: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Targeting of the fault packages' schedules, e.g. ``{"kill_targets": ("leader",)}``
    (each package declares its own: `harness.contract.roles.NemesisOption`); empty means
    the package's default."""
    store: str = "store"
    recovery_timeout: float = 60.0
    final_read_timeout: float = 30.0
    monitor_interval: float = 0.5
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment variables for every node container (fault layers read them)."""
    replay: str = ""
    """A schedule file (`harness.contract.schedule`, ``floodmark run --replay``): the run
    executes exactly its fault ops at their times instead of drawing a schedule; empty
    for a run that draws its own. test.json keeps it, so a replay says what it replayed."""

    def with_seed(self, seed: int) -> TestConfig:
        return dataclasses.replace(self, seed=seed)

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["nemesis"] = list(self.nemesis)
        d["nemesis_options"] = {k: list(v) for k, v in sorted(self.nemesis_options.items())}
        return d

    def command(self) -> str:
        """The ``floodmark run`` command line that reproduces this configuration."""
        args = ["floodmark", "run"]
        defaults = TestConfig()
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("settings", "env"):
                flag = "--set" if f.name == "settings" else "--env"
                for k, v in sorted(value.items()):
                    args += [flag, f"{k}={_scalar_text(v)}"]
                continue
            if f.name == "nemesis_options":
                for k, vs in sorted(value.items()):
                    args += ["--nemesis-option", f"{k}={','.join(vs)}"]
                continue
            if value == getattr(defaults, f.name) and f.name != "seed":
                continue
            if f.name == "name" and value == f"{self.system}-{self.workload}":
                continue
            if f.name == "replication_factor" and value == min(3, self.nodes):
                continue
            opt = "--" + f.name.replace("_", "-")
            if f.name == "nemesis":
                args += [opt, ",".join(value) or NO_NEMESIS]
            elif isinstance(value, float) and value.is_integer():
                args += [opt, str(int(value))]
            else:
                args += [opt, str(value)]
        return shlex.join(args)


_FIELDS: Final = {f.name: f for f in dataclasses.fields(TestConfig)}


def _scalar_text(v: Scalar) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def parse_scalar(text: str) -> Scalar:
    """``--set k=v`` values: true/false, integers, floats, else the string itself."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def parse_assignments(items: tuple[str, ...] | list[str], what: str) -> dict[str, Scalar]:
    out: dict[str, Scalar] = {}
    problems = []
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k.strip():
            problems.append(f"{what} {item!r}: expected KEY=VALUE")
            continue
        out[k.strip()] = parse_scalar(v)
    if problems:
        raise ConfigError(problems)
    return out


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (.yaml/.yml) or TOML (.toml) config file into a flat dict."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError([f"--config {p}: no such file"])
    text = p.read_text()
    try:
        if p.suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif p.suffix in (".yaml", ".yml", ".json"):
            data = yaml.safe_load(text)
        else:
            raise ConfigError(
                [f"--config {p}: unknown file type {p.suffix!r}; use .yaml, .yml or .toml"]
            )
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as e:
        raise ConfigError([f"--config {p}: cannot parse: {e}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"--config {p}: expected a mapping at top level, got {type(data)}"])
    return {str(k).replace("-", "_"): v for k, v in data.items()}


OptionCheck = Callable[[Mapping[str, tuple[str, ...]], tuple[str, ...]], list[str]]
"""``(nemesis_options, nemesis) -> problems``: the fault registry's option validation."""


def _no_options(options: Mapping[str, tuple[str, ...]], nemesis: tuple[str, ...]) -> list[str]:
    return [f"nemesis-options: no fault package declares options; got {sorted(options)}"]


@dataclass(frozen=True, slots=True)
class Catalogue:
    """What a config may name, taken from the registries by the entry points
    (`harness.catalogue.CATALOGUE`); the contract itself knows no registry."""

    nemeses: frozenset[str]
    systems: frozenset[str]
    workloads: frozenset[str]
    check_options: OptionCheck = _no_options
    profiles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """System name → its profiles, its default first. A system not listed here takes
    any profile name (its own render checks it) and `TestConfig.profile`'s default."""


def build_config(raw: Mapping[str, Any], catalogue: Catalogue) -> TestConfig:
    """Validate ``raw`` (field name → value) into a `TestConfig`; every problem at once."""
    problems: list[str] = []
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        problems.append(
            f"unknown setting(s) {unknown}; known ones are {sorted(_FIELDS)} "
            "(system settings go under 'settings')"
        )
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in _FIELDS or value is None:
            continue
        try:
            values[name] = _coerce(name, value)
        except (TypeError, ValueError) as e:
            problems.append(f"{name.replace('_', '-')}: {e}")
    cfg = TestConfig(**{k: v for k, v in values.items() if k in _FIELDS})
    if "profile" not in values:  # the system's own default, not replog's
        cfg = dataclasses.replace(
            cfg, profile=catalogue.profiles.get(cfg.system, (cfg.profile,))[0]
        )
    problems += _check(cfg, catalogue)
    if problems:
        raise ConfigError(problems)
    if not cfg.name:
        cfg = dataclasses.replace(cfg, name=f"{cfg.system}-{cfg.workload}")
    if cfg.replication_factor == 0:
        cfg = dataclasses.replace(cfg, replication_factor=min(3, cfg.nodes))
    return cfg


def _coerce(name: str, value: Any) -> Any:
    default = getattr(TestConfig(), name)
    if name == "seed":
        return _int(value)
    if name == "nemesis":
        if isinstance(value, str):
            names = tuple(v.strip() for v in value.split(",") if v.strip())
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            names = tuple(value)
        else:
            raise TypeError(f"expected a comma-separated string or a list of names, got {value!r}")
        # Naming no fault means the default schedule; "none" alone means no faults.
        return () if names == (NO_NEMESIS,) else names or (DEFAULT_NEMESIS,)
    if name == "nemesis_options":
        return _nemesis_options(value)
    if name in ("settings", "env"):
        if not isinstance(value, dict):
            raise TypeError(f"expected a mapping, got {value!r}")
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(v, str | int | float | bool):
                raise TypeError(f"{k}: expected a string, number or boolean, got {v!r}")
            out[str(k)] = str(v) if name == "env" else v
        return out
    if isinstance(default, bool):
        raise AssertionError("no boolean fields")
    if isinstance(default, int):
        return _int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise TypeError(f"expected a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {value!r}")
        return value
    raise AssertionError(f"unhandled field {name}")


def _nemesis_options(value: Any) -> dict[str, tuple[str, ...]]:
    """``{option: [values]}``; a value may also be one comma-separated string."""
    if not isinstance(value, dict):
        raise TypeError(f"expected a mapping like {{kill_targets: [leader, one]}}, got {value!r}")
    out: dict[str, tuple[str, ...]] = {}
    for k, v in value.items():
        if isinstance(v, str):
            out[str(k)] = tuple(x.strip() for x in v.split(",") if x.strip())
        elif isinstance(v, list | tuple) and all(isinstance(x, str) for x in v):
            out[str(k)] = tuple(v)
        else:
            raise TypeError(f"{k}: expected a list of names or 'a,b', got {v!r}")
    return out


def parse_nemesis_options(items: tuple[str, ...] | list[str]) -> dict[str, tuple[str, ...]]:
    """``--nemesis-option kill_targets=leader,one`` (repeatable) into a mapping."""
    out: dict[str, tuple[str, ...]] = {}
    problems = []
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k.strip():
            problems.append(f"--nemesis-option {item!r}: expected NAME=VALUE[,VALUE...]")
            continue
        out[k.strip().replace("-", "_")] = tuple(x.strip() for x in v.split(",") if x.strip())
    if problems:
        raise ConfigError(problems)
    return out


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise TypeError(f"expected an integer, got {value!r}")


def _check(cfg: TestConfig, catalogue: Catalogue) -> list[str]:
    known_systems, known_workloads = catalogue.systems, catalogue.workloads
    known_nemeses = catalogue.nemeses
    p: list[str] = []
    if cfg.system not in known_systems:
        p.append(f"system: {cfg.system!r} is not one of {sorted(known_systems)}")
    profiles = catalogue.profiles.get(cfg.system)
    if profiles is not None and cfg.profile not in profiles:
        p.append(
            f"profile: unknown profile {cfg.profile!r}: {cfg.system} has no such profile; "
            f"its profiles: {', '.join(profiles)} (default {profiles[0]}; `floodmark list "
            "systems`)"
        )
    if cfg.workload not in known_workloads:
        p.append(f"workload: {cfg.workload!r} is not one of {sorted(known_workloads)}")
    if not 1 <= cfg.nodes <= MAX_NODES:
        p.append(f"nodes: must be 1..{MAX_NODES}, got {cfg.nodes}")
    if not 1 <= cfg.keys <= 256:
        p.append(f"keys: must be 1..256, got {cfg.keys}")
    if cfg.replication_factor and not 1 <= cfg.replication_factor <= cfg.nodes:
        p.append(
            f"replication-factor: must be 1..nodes ({cfg.nodes}), got {cfg.replication_factor}"
        )
    if not 0 < cfg.time_limit <= 86400:
        p.append(f"time-limit: must be > 0 and at most 86400 seconds, got {cfg.time_limit:g}")
    if not 1 <= cfg.concurrency <= 256:
        p.append(f"concurrency: must be 1..256, got {cfg.concurrency}")
    if not 0 < cfg.rate <= 100_000:
        p.append(f"rate: must be > 0 and at most 100000 ops/s, got {cfg.rate:g}")
    if cfg.seed is not None and not 0 <= cfg.seed < 2**63:
        p.append(f"seed: must be 0..2^63-1, got {cfg.seed}")
    bad = [n for n in cfg.nemesis if n not in known_nemeses | {DEFAULT_NEMESIS, NO_NEMESIS}]
    alone = [n for n in (DEFAULT_NEMESIS, NO_NEMESIS) if n in cfg.nemesis]
    if alone and len(cfg.nemesis) > 1:
        p.append(
            f"nemesis: {alone[0]!r} stands alone, got {list(cfg.nemesis)}: '{DEFAULT_NEMESIS}' "
            f"already mixes every package with the triggers and '{NO_NEMESIS}' means no faults; "
            "name it alone, or name the packages you want without it"
        )
    if bad:
        known = ", ".join(sorted(known_nemeses)) or "none registered yet"
        p.append(
            f"nemesis: unknown fault package(s) {bad}; known: {known} "
            f"(or '{DEFAULT_NEMESIS}' or '{NO_NEMESIS}', alone)"
        )
    if cfg.nemesis_options:
        used = tuple(sorted(known_nemeses)) if cfg.nemesis == (DEFAULT_NEMESIS,) else cfg.nemesis
        p += catalogue.check_options(cfg.nemesis_options, used)
    if len(set(cfg.nemesis)) != len(cfg.nemesis):
        p.append(f"nemesis: a package is named twice in {list(cfg.nemesis)}")
    if cfg.replay:
        try:
            load_schedule(cfg.replay, known_nemeses)
        except ScheduleError as e:
            p.append(f"replay: {e}")
    for name in ("nemesis_interval", "recovery_timeout", "final_read_timeout"):
        if not getattr(cfg, name) > 0:
            p.append(f"{name.replace('_', '-')}: must be > 0, got {getattr(cfg, name)}")
    if not 0.05 <= cfg.monitor_interval <= 1.0:
        p.append(
            f"monitor-interval: must be 0.05..1 s (sampled at least once a second), "
            f"got {cfg.monitor_interval}"
        )
    if cfg.name and (not cfg.name.replace("-", "").replace("_", "").isalnum()):
        p.append(f"name: use letters, digits, '-' and '_' only, got {cfg.name!r}")
    return p
