"""Fixtures for the report tests: generated run directories (see history_gen.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reports.history_gen import GenSpec, generate_run

PAYLOAD = (
    "\"'><script>document.title='pwned'</script>"
    "<img src=x onerror=\"document.body.id='pwned'\">&amp;</title>"
)
"""Planted in names, errors, fault values and messages by the escaping tests."""


@pytest.fixture
def anomaly_run(tmp_path: Path) -> Path:
    run = tmp_path / "store" / "kip-101" / "20250101T020000"
    generate_run(run, GenSpec())
    return run


@pytest.fixture
def payload_run(tmp_path: Path) -> Path:
    run = tmp_path / "store" / "xss" / "20250102T020000"
    generate_run(run, GenSpec(payload=PAYLOAD, nodes=("n1", "n2" + PAYLOAD, "n3"), seed=3))
    return run
