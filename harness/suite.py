"""Certification suites as data: a matrix of runs, loaded, expanded and validated.

A suite (YAML/TOML file, or a built-in one in ``harness/suites/``) names systems with
their config and expectation, fault sets, workload options and seeds; `expand` turns the
matrix into `Scenario` s, each a fully validated `TestConfig`, and reports every problem
at once (`SuiteError`) before anything runs. `harness.certify` runs them. See
`harness.certify` for the file format and the verdict rules.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from harness.contract.config import (
    Catalogue,
    ConfigError,
    TestConfig,
    build_config,
    load_config_file,
)
from harness.contract.verdict import Verdict

BUILTIN_SUITES: Final = (
    "smoke", "nightly", "release", "self-test", "self-test-default", "kafka-regressions"
)  # fmt: skip


class SuiteError(ValueError):
    """A suite file or name that cannot run; says what was expected."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """One cell of the matrix: a full run configuration plus what is expected of it."""

    name: str
    system_label: str
    faults: tuple[str, ...]
    seed: int
    config: TestConfig
    expect: Verdict = Verdict.VALID
    bug: str | None = None
    """The known bug this configuration carries (self-test), None for a safe one."""


@dataclass(frozen=True, slots=True)
class Suite:
    name: str
    scenarios: tuple[Scenario, ...]
    description: str = ""
    budget_minutes: float | None = None


def load_suite(
    name_or_path: str,
    catalogue: Catalogue,
    overrides: Mapping[str, Any] | None = None,
) -> Suite:
    """A built-in suite by name, or a suite file; every scenario validated (SuiteError)."""
    raw, base = _suite_source(name_or_path)
    return expand(raw, catalogue, overrides or {}, base)


def _suite_source(name_or_path: str) -> tuple[dict[str, Any], Path]:
    """The suite's document and the directory its relative file names are in."""
    if name_or_path in BUILTIN_SUITES:
        builtin = resources.files("harness.suites")
        text = builtin.joinpath(f"{name_or_path}.yaml").read_text()
        import yaml

        data = yaml.safe_load(text)
        base = Path(str(builtin))
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise SuiteError(
                f"suite {name_or_path!r}: expected one of the built-in suites "
                f"({', '.join(BUILTIN_SUITES)}) or a suite file, but there is no such file"
            )
        try:
            data = load_config_file(path)
        except ConfigError as e:
            raise SuiteError(f"suite file {path}: {e}") from None
        base = path.absolute().parent
    if not isinstance(data, dict):
        raise SuiteError(f"suite {name_or_path!r}: expected a mapping at the top level")
    return data, base


_SUITE_KEYS: Final = frozenset(
    {"name", "description", "budget_minutes", "defaults", "systems", "faults", "workloads",
     "seeds", "repeats", "seed"}
)  # fmt: skip


def expand(
    raw: Mapping[str, Any],
    catalogue: Catalogue,
    overrides: Mapping[str, Any],
    base: Path | None = None,
) -> Suite:
    """The matrix as scenarios, each a validated `TestConfig` (all problems at once).

    A relative ``replay`` (a schedule file aimed at a known bug) is a file beside the
    suite: ``base`` is the suite's directory (``harness/suites/`` for a built-in one)."""
    unknown = sorted(set(raw) - _SUITE_KEYS)
    if unknown:
        raise SuiteError(f"suite: unknown keys {unknown}; expected some of {sorted(_SUITE_KEYS)}")
    name = str(raw.get("name") or "suite")
    defaults = _mapping(raw.get("defaults", {}), "defaults")
    systems = _list(raw.get("systems") or [{"label": "default", "config": {}}], "systems")
    faults = _list(raw.get("faults") or [[]], "faults")
    workloads = _list(raw.get("workloads") or [{}], "workloads")
    seeds = _seeds(raw)
    problems: list[str] = []
    scenarios: list[Scenario] = []
    cells = [
        (sys_map, fault_set, workload, seed)
        for sys_map in (_mapping(s, "systems[]") for s in systems)
        for fault_set, workload, seed in itertools.product(
            _list(sys_map.get("faults", faults), "systems[].faults"), workloads, seeds
        )
    ]
    for sys_map, fault_set, workload, seed in cells:
        label = str(
            sys_map.get("label")
            or _mapping(sys_map.get("config", {}), "config").get("system", "system")
        )
        fault_names = _fault_list(fault_set)
        cell = "+".join(fault_names) or "no-faults"
        scenario_name = f"{label}/{cell}/seed-{seed}"
        merged: dict[str, Any] = {**defaults}
        for part in (_mapping(sys_map.get("config", {}), "systems[].config"),
                     _mapping(workload, "workloads[]")):  # fmt: skip
            merged = _merge(merged, part)
        merged = _merge(merged, dict(overrides))
        if base is not None and merged.get("replay"):
            merged["replay"] = str(base / str(merged["replay"]))
        merged["nemesis"] = ",".join(fault_names)
        merged["seed"] = seed
        merged["name"] = _run_name(f"certify-{name}-{label}-{cell}")
        try:
            config = build_config(merged, catalogue)
        except ConfigError as e:
            problems.extend(f"{scenario_name}: {p}" for p in e.problems)
            continue
        expect = Verdict(str(sys_map.get("expect", "valid")))
        scenarios.append(
            Scenario(
                scenario_name, label, tuple(fault_names), seed, config, expect, sys_map.get("bug")
            )
        )
    if problems:
        raise SuiteError("suite scenarios that cannot run:\n  - " + "\n  - ".join(problems))
    budget = raw.get("budget_minutes")
    return Suite(name, tuple(scenarios), str(raw.get("description", "")),
                 float(budget) if budget is not None else None)  # fmt: skip


def _run_name(text: str) -> str:
    """A store-safe test name: letters, digits, '-' and '_' (``+`` between faults → ``_``)."""
    return "".join(c if c.isalnum() or c in "-_" else ("_" if c == "+" else "-") for c in text)


def _merge(base: dict[str, Any], more: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in more.items():
        if k in ("settings", "env") and isinstance(v, Mapping):
            out[k] = {**_mapping(out.get(k, {}), k), **v}
        else:
            out[k] = v
    return out


def _seeds(raw: Mapping[str, Any]) -> list[int]:
    if "seeds" in raw:
        seeds = _list(raw["seeds"], "seeds")
        if not all(type(s) is int for s in seeds):
            raise SuiteError(f"suite: seeds must be integers, got {seeds!r}")
        return [int(s) for s in seeds]
    repeats = raw.get("repeats", 1)
    if type(repeats) is not int or repeats < 1:
        raise SuiteError(f"suite: repeats must be a positive integer, got {repeats!r}")
    base = raw.get("seed", 1)
    if type(base) is not int:
        raise SuiteError(f"suite: seed must be an integer, got {base!r}")
    return [base + i for i in range(repeats)]


def _fault_list(entry: Any) -> list[str]:
    if isinstance(entry, str):
        return [f.strip() for f in entry.split(",") if f.strip()]
    return [str(f) for f in _list(entry, "faults[]")]


def _mapping(v: Any, what: str) -> dict[str, Any]:
    if not isinstance(v, Mapping):
        raise SuiteError(f"suite: {what} must be a mapping, got {v!r}")
    return dict(v)


def _list(v: Any, what: str) -> list[Any]:
    if not isinstance(v, list):
        raise SuiteError(f"suite: {what} must be a list, got {v!r}")
    return v
