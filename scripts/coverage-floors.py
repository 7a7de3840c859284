#!/usr/bin/env python3
"""Line coverage per package from a coverage JSON report, against the floors in
pyproject.toml (``[tool.floodmark.coverage-floors]``).

    scripts/coverage-floors.py coverage.json [--report-only]

Prints one line per package (and ``faults/agent``, which runs inside the containers and
has no floor), and exits 1 when a package is below its floor, naming it and its five
least-covered files, so the fix starts at the right place. ``--report-only`` (a partial
run, e.g. ``make test PYTEST_ARGS=...``) prints the same and exits 0.
"""

from __future__ import annotations

import json
import sys
import tomllib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APART = ("faults/agent",)  # measured where it runs (integration tests), reported apart


def package_of(path: str) -> str:
    for apart in APART:
        if path.startswith(apart + "/"):
            return apart
    return path.split("/", 1)[0]


def main(argv: list[str]) -> int:
    report_only = "--report-only" in argv
    argv = [a for a in argv if a != "--report-only"]
    if len(argv) != 2 or not Path(argv[1]).is_file():
        print(
            f"usage: {argv[0]} COVERAGE_JSON (a file written by --cov-report=json)", file=sys.stderr
        )
        return 2
    floors: dict[str, float] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
        "floodmark"
    ]["coverage-floors"]
    files = json.loads(Path(argv[1]).read_text())["files"]
    covered: dict[str, int] = defaultdict(int)
    statements: dict[str, int] = defaultdict(int)
    per_file: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for path, data in files.items():
        pkg = package_of(path)
        s = data["summary"]
        covered[pkg] += s["covered_lines"]
        statements[pkg] += s["num_statements"]
        per_file[pkg].append((s["percent_covered"], path))
    below = []
    print("line coverage per package (floor from pyproject.toml):")
    for pkg in sorted(statements):
        pct = 100.0 * covered[pkg] / statements[pkg] if statements[pkg] else 100.0
        floor = floors.get(pkg)
        mark = "no floor" if floor is None else ("ok" if pct >= floor else "BELOW")
        print(
            f"  {pkg:14} {pct:5.1f}%  {covered[pkg]:5d}/{statements[pkg]:<5d} {mark}"
            + (f" (floor {floor}%)" if floor is not None else "")
        )
        if floor is not None and pct < floor:
            below.append(pkg)
    missing = sorted(set(floors) - set(statements))
    if missing:
        print(f"coverage-floors: no measured file in {missing}: was --cov given?", file=sys.stderr)
        return 1
    for pkg in below:
        worst = ", ".join(f"{p} {c:.0f}%" for c, p in sorted(per_file[pkg])[:5])
        print(f"coverage-floors: {pkg} is below its floor; least covered: {worst}", file=sys.stderr)
    return 1 if below and not report_only else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
