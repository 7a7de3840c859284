"""The fault registry: package name → `harness.contract.roles.FaultPackage`.

A fault package is one module declaring one `FaultPackage` value (its mechanism, seeded
schedule, heal, options, node environment, colour); adding one is that module plus one
line in `FAULT_PACKAGES` below. Everything else here is derived from the values:

- `check_options`: ``nemesis_options`` validation (`harness.catalogue`, so a config
  error surfaces before any container starts);
- `node_env`: the environment every node container needs for a selection of packages
  (their entrypoint layers; the harness puts it in `harness.contract.plan.ClusterSpec.env`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, Protocol, TypeVar

from harness.contract.roles import FaultPackage, NemesisOption

from . import clock, leader_crash, process
from .disk import lose_unfsynced, slow
from .network import link, partition


class Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=Named)


def by_name(what: str, *values: N, reserved: Iterable[str] = ()) -> dict[str, N]:
    """A registry: ``values`` by their names, which must be unique and not ``reserved``."""
    out: dict[str, N] = {}
    taken = set(reserved)
    for v in values:
        if v.name in out or v.name in taken:
            raise ValueError(
                f"two {what} are named {v.name!r} (or it is reserved); names must be unique"
            )
        out[v.name] = v
    return out


FAULT_PACKAGES: Final = by_name(
    "fault packages",
    partition.PARTITION,
    link.LINK,
    process.KILL,
    process.PAUSE,
    slow.SLOW_DISK,
    lose_unfsynced.LOSE_UNFSYNCED,
    clock.CLOCK,
    leader_crash.LEADER_CRASH,
)
"""Every fault package by name, in the order the docs and ``floodmark list faults`` use."""


def _options_by_name() -> dict[str, tuple[FaultPackage, NemesisOption]]:
    out: dict[str, tuple[FaultPackage, NemesisOption]] = {}
    for pkg in FAULT_PACKAGES.values():
        for opt in pkg.options:
            if opt.name in out:
                raise ValueError(
                    f"nemesis option {opt.name!r} is declared by both {out[opt.name][0].name!r} "
                    f"and {pkg.name!r}; each option belongs to one package"
                )
            out[opt.name] = (pkg, opt)
    return out


OPTIONS: Final = _options_by_name()
"""Option name → the package it restricts and the option (each option has one package)."""


def check_options(options: Mapping[str, tuple[str, ...]], nemesis: tuple[str, ...]) -> list[str]:
    """Problems with ``options`` for a run of the ``nemesis`` packages (empty when fine):
    an unknown option, bad values (`NemesisOption.problems`), an option of a package the
    run does not use."""
    problems: list[str] = []
    for name, values in sorted(options.items()):
        known = OPTIONS.get(name)
        if known is None:
            problems.append(f"nemesis-options: unknown option {name!r}; known: {sorted(OPTIONS)}")
            continue
        pkg, opt = known
        problems += opt.problems(values)
        if pkg.name not in nemesis:
            problems.append(
                f"nemesis-options: {name} restricts package {pkg.name!r}, which this run "
                f"does not use (nemesis {list(nemesis)}); add it or drop the option"
            )
    return problems


def node_env(names: Iterable[str]) -> dict[str, str]:
    """The node environment the selected (registered) packages need; ``{}`` for none."""
    env: dict[str, str] = {}
    for name in names:
        env.update(FAULT_PACKAGES[name].node_env)
    return env
