"""The catalogue: every registry of floodmark in one place, for validation and for docs.

`CATALOGUE` is what a config is validated against (`harness.contract.config.Catalogue`):
the registries' names and the fault options' validation. The `*_table` functions turn
the registries into reference tables, which ``floodmark list faults|checkers|systems|
suites`` prints and which the README embeds (``floodmark list faults --markdown``); a
test keeps the README's copies equal to these, so the docs come from the registries and
cannot drift from them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from compose.kafka import releases
from faults.registry import FAULT_PACKAGES, check_options
from faults.triggers.registry import reference
from harness.contract.config import Catalogue
from harness.contract.glossary import GLOSSARY, Entry, Kind
from harness.suite import BUILTIN_SUITES, load_suite
from harness.systems import SYSTEMS
from workloads import WORKLOADS

CATALOGUE: Final = Catalogue(
    nemeses=frozenset(FAULT_PACKAGES),
    systems=frozenset(SYSTEMS),
    workloads=frozenset(WORKLOADS),
    check_options=check_options,
    profiles={name: tuple(make().profiles) for name, make in SYSTEMS.items()},
)
"""What a config is validated against; each system's profiles with its default first (a
run that names no profile gets its system's default; a profile its system lacks is
refused)."""


@dataclass(frozen=True, slots=True)
class Table:
    """A reference table: a heading per column, one row per registry entry."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def markdown(self) -> str:
        """As a GitHub-flavoured Markdown table (``|`` in cells escaped)."""

        def line(cells: tuple[str, ...]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        out = [line(self.columns), line(tuple("---" for _ in self.columns))]
        out += [line(row) for row in self.rows]
        return "\n".join(out) + "\n"


def fault_table() -> Table:
    """`faults.registry.FAULT_PACKAGES`: what each package does and the options it takes."""
    rows = []
    for name, pkg in FAULT_PACKAGES.items():
        options = "; ".join(
            f"`{o.name}`: {o.doc} "
            + ("(seconds)" if o.seconds else "(" + ", ".join(o.choices) + ")")
            for o in pkg.options
        )
        rows.append((f"`{name}`", pkg.doc, options or "none"))
    return Table("fault packages (--nemesis)", ("package", "what it does", "options"), tuple(rows))


def checker_table() -> Table:
    """The glossary: every anomaly, its kind, the verdict it gives, its checker, its meaning."""
    rows = tuple(
        (f"`{a.value}`", e.kind.value, _effect(e), f"`{e.checker}`", e.meaning)
        for a, e in GLOSSARY.items()
    )
    columns = ("anomaly", "kind", "when found", "checker", "means")
    return Table("anomalies (results.json)", columns, rows)


def _effect(entry: Entry) -> str:
    if entry.kind is Kind.LIVENESS:
        return f"run verdict unchanged; a certification scenario is {entry.found.value}"
    return f"run is {entry.found.value}"


def system_table() -> Table:
    """`harness.systems.SYSTEMS`: each system and its profiles."""
    rows = []
    for name, make in SYSTEMS.items():
        system = make()
        profiles = "; ".join(f"`{p}`: {what}" for p, what in system.profiles.items())
        rows.append((f"`{name}`", system.doc, profiles))
    return Table(
        "systems (--system)", ("system", "what it is", "profiles (--profile)"), tuple(rows)
    )


def suite_table() -> Table:
    """The built-in certification suites (`harness/suites/`)."""
    rows = []
    for name in BUILTIN_SUITES:
        suite = load_suite(name, CATALOGUE)
        budget = f"{suite.budget_minutes:g} min" if suite.budget_minutes else "none"
        rows.append((f"`{name}`", str(len(suite.scenarios)), budget, suite.description))
    return Table(
        "built-in suites (floodmark certify)",
        ("suite", "scenarios", "budget", "what it certifies"),
        tuple(rows),
    )


def trigger_table() -> Table:
    """`faults.triggers.registry.TRIGGERS`: the default schedule's protocol-aware triggers."""
    return Table(
        "triggers of the default schedule (--nemesis default)",
        ("trigger", "family", "starts", "danger point, fault, bug"),
        tuple(reference()),
    )


def kafka_release_table() -> Table:
    """`compose.kafka.releases.RELEASES`: ``floodmark list kafka-releases``."""
    columns, rows = releases.table()
    return Table("Kafka releases (--kafka-version)", columns, rows)


TABLES: Final = {
    "faults": fault_table,
    "triggers": trigger_table,
    "kafka-releases": kafka_release_table,
    "checkers": checker_table,
    "systems": system_table,
    "suites": suite_table,
}
"""What ``floodmark list`` can print."""


BEGIN: Final = (
    "<!-- generated by `floodmark list {name} --markdown`: edit the registry, then `make docs` -->"
)
END: Final = "<!-- end of generated table -->"


def render_readme(text: str) -> str:
    """``text`` (the README) with every generated table block replaced by the registry's
    current table; blocks are delimited by `BEGIN` (naming the registry) and `END`."""
    for name, make in TABLES.items():
        begin = BEGIN.format(name=name)
        head, found, rest = text.partition(begin + "\n")
        if not found:
            continue
        _, ended, tail = rest.partition(END)
        if not ended:
            raise ValueError(f"README: the generated {name} table has no end marker {END!r}")
        text = head + begin + "\n" + make().markdown() + END + tail
    return text


def main() -> None:
    """``python -m harness.catalogue README.md``: rewrite the README's generated tables."""
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    path.write_text(render_readme(path.read_text()))


if __name__ == "__main__":
    main()
