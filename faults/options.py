"""Targeting options of the fault packages: ``TestConfig.nemesis_options``.

A run (or a suite entry) may restrict what a package's seeded schedule draws from, so a
known bug can be aimed at (e.g. kill only leaders, isolate only a key's leader)::

    nemesis_options:
      partition_shapes: [leader, one]     # partition: shapes drawn from these
                                          # (leader-peers only when named here)
      partition_modes: [blackhole]        # partition: blackhole and/or refuse
      kill_targets: [leader, all]         # kill: one, leader, minority, majority, all, controller
      pause_targets: [leader]             # pause: as kill
      lose_unfsynced_targets: [all]       # lose-unfsynced: as kill, no controller
      leader_crash_delay_s: "2"           # leader-crash: seconds isolated before the kill

Each option belongs to one package; `harness.contract.config` rejects an unknown option, an
unknown value, and an option whose package is not in the run's ``nemesis`` list. The
generators read ``NemesisContext.options[name]`` (a list of strings); an absent option
means "every choice the package knows".

This module is plain data (no Docker imports), so config validation can use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

TARGET_KINDS: Final = ("one", "leader", "minority", "majority", "all", "controller")
"""Same as `faults.common.TARGETS` (a unit test keeps them equal)."""


@dataclass(frozen=True, slots=True)
class NemesisOption:
    package: str
    choices: tuple[str, ...]
    doc: str
    seconds: bool = False
    """A single number of seconds instead of names from ``choices``."""


NEMESIS_OPTIONS: Final[dict[str, NemesisOption]] = {
    "partition_shapes": NemesisOption(
        "partition",
        ("one", "majority", "ring", "bridge", "one-way", "clients", "leader", "leader-peers"),
        "partition shapes to draw from",
    ),
    "partition_modes": NemesisOption(
        "partition", ("blackhole", "refuse"), "how links are cut (timeout toxic, proxy off)"
    ),
    "kill_targets": NemesisOption("kill", TARGET_KINDS, "whom kill may SIGKILL"),
    "pause_targets": NemesisOption("pause", TARGET_KINDS, "whom pause may freeze"),
    "lose_unfsynced_targets": NemesisOption(
        "lose-unfsynced",
        tuple(k for k in TARGET_KINDS if k != "controller"),
        "whom a power-loss crash may hit",
    ),
    "leader_crash_delay_s": NemesisOption(
        "leader-crash", (), "seconds the leader stays isolated before the kill", seconds=True
    ),
}
"""Option name → the package it restricts and its allowed values."""


def check_options(options: Mapping[str, tuple[str, ...]], nemesis: tuple[str, ...]) -> list[str]:
    """Problems with ``options`` for a run of the ``nemesis`` packages (empty when fine)."""
    problems: list[str] = []
    for name, values in sorted(options.items()):
        opt = NEMESIS_OPTIONS.get(name)
        if opt is None:
            problems.append(
                f"nemesis-options: unknown option {name!r}; known: {sorted(NEMESIS_OPTIONS)}"
            )
            continue
        if not values:
            problems.append(f"nemesis-options: {name} is empty; give at least one of {opt.choices}")
        if opt.seconds:
            problems += _seconds_problems(name, values)
            bad = []
        else:
            bad = [v for v in values if v not in opt.choices]
        if bad:
            problems.append(
                f"nemesis-options: {name} has unknown value(s) {bad}; "
                f"choose from {list(opt.choices)}"
            )
        if opt.package not in nemesis:
            problems.append(
                f"nemesis-options: {name} restricts package {opt.package!r}, which this run "
                f"does not use (nemesis {list(nemesis)}); add it or drop the option"
            )
    return problems


def _seconds_problems(name: str, values: tuple[str, ...]) -> list[str]:
    if len(values) != 1:
        return [f"nemesis-options: {name} takes one number of seconds, got {list(values)}"]
    try:
        seconds = float(values[0])
    except ValueError:
        return [
            f"nemesis-options: {name} must be a number of seconds such as '2', got {values[0]!r}"
        ]
    if seconds < 0:
        return [f"nemesis-options: {name} must not be negative, got {seconds:g}"]
    return []
