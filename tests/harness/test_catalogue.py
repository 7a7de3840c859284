"""The reference docs come from the registries: `floodmark list` and the README's tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from checkers.registry import CHECKERS
from faults.registry import FAULT_PACKAGES
from harness.catalogue import BEGIN, TABLES, render_readme
from harness.cli import cli
from harness.contract.glossary import GLOSSARY
from harness.suite import BUILTIN_SUITES
from harness.systems import SYSTEMS

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_tables_equal_the_registries() -> None:
    text = README.read_text()
    for name in TABLES:
        assert BEGIN.format(name=name) in text, f"README lacks the generated {name} table"
    assert render_readme(text) == text, "README tables are stale: run `make docs`"


def test_render_readme_replaces_a_stale_block() -> None:
    begin = BEGIN.format(name="faults")
    stale = f"intro\n{begin}\n| old | table |\n<!-- end of generated table -->\noutro\n"
    fresh = render_readme(stale)
    assert "| old | table |" not in fresh
    assert fresh.startswith(f"intro\n{begin}\n| package |")
    assert fresh.endswith("<!-- end of generated table -->\noutro\n")


def test_a_block_without_its_end_marker_is_refused() -> None:
    with pytest.raises(ValueError, match="no end marker"):
        render_readme(BEGIN.format(name="checkers") + "\n| a |\n")


@pytest.mark.parametrize(
    ("registry", "names"),
    [
        ("faults", list(FAULT_PACKAGES)),
        ("checkers", [a.value for a in GLOSSARY]),
        ("systems", list(SYSTEMS)),
        ("suites", list(BUILTIN_SUITES)),
    ],
)
def test_list_prints_every_entry_of_a_registry(registry: str, names: list[str]) -> None:
    table = TABLES[registry]()
    assert [row[0].strip("`") for row in table.rows] == names
    for markdown in (False, True):
        args = ["list", registry] + (["--markdown"] if markdown else [])
        result = CliRunner().invoke(cli, args, env={"COLUMNS": "1000"})
        assert result.exit_code == 0, result.output
        for name in names:
            assert name in result.output


def test_every_anomaly_names_a_registered_checker_or_the_liveness_fold() -> None:
    for anomaly, entry in GLOSSARY.items():
        assert entry.checker in CHECKERS or entry.checker == "liveness", anomaly


def test_fault_options_are_listed_with_their_package() -> None:
    rows = {row[0].strip("`"): row for row in TABLES["faults"]().rows}
    for name, pkg in FAULT_PACKAGES.items():
        for option in pkg.options:
            assert f"`{option.name}`" in rows[name][2]


def test_an_unknown_registry_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["list", "nonsense"])
    assert result.exit_code == 2
