"""``floodmark certify`` end to end (issue 7, item 1): real runs in Docker.

- The built-in ``smoke`` suite passes (exit 0) on the safe replog configuration: every
  scenario valid, junit.xml without failures, a certificate saying so.
- The same suite plus one known-bug configuration (``kafka-0.10``, its HW truncation
  shown by kills of every broker) fails (exit 1): that scenario is invalid with a loss
  anomaly, in summary.json, junit.xml and certificate.html alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.contract.glossary import Anomaly
from tests.integration.verdicts import assert_safe_run

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
SUITES = REPO / "harness" / "suites"
LOSS: set[str] = {
    Anomaly.LOST_WRITE,
    Anomaly.LOST_READ,
    Anomaly.REPLICA_DIVERGENCE,
    Anomaly.INCONSISTENT_OFFSETS,
}


def certify(suite: str, store: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "certify", suite, "--store", str(store), *extra],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=840,
    )


def outputs(store: Path, suite: str) -> tuple[Path, dict[str, Any]]:
    """The suite's output directory (the newest) and its summary.json."""
    dirs = sorted(p for p in (store / "certify" / suite).iterdir() if p.is_dir())
    assert dirs, f"no output directory under {store / 'certify' / suite}"
    out = dirs[-1]
    for name in ("summary.json", "junit.xml", "certificate.html"):
        assert (out / name).is_file(), f"certify wrote no {name} in {out}"
    return out, json.loads((out / "summary.json").read_text())


def junit_cases(out: Path) -> dict[str, ET.Element]:
    root = ET.parse(out / "junit.xml").getroot()
    return {str(c.get("name")): c for c in root.iter("testcase")}


def test_smoke_passes_on_the_safe_configuration(tmp_path: Path) -> None:
    proc = certify("smoke", tmp_path)
    out, summary = outputs(tmp_path, "smoke")
    planned = yaml.safe_load((SUITES / "smoke.yaml").read_text())
    assert summary["scenarios_run"] == summary["scenarios_planned"] == len(planned["faults"])
    assert summary["invalid"] == [], summary["invalid"]
    verdicts = {}
    for row in summary["rows"]:
        verdicts[row["scenario"]] = assert_safe_run(Path(row["run_dir"]), row["scenario"])
        assert row["verdict"] == verdicts[row["scenario"]], row
        assert set(row["faults_exercised"]) == set(row["faults"]), row
    # The suite's verdict and exit code follow its scenarios: valid and 0 when all are,
    # unknown and 2 when one is unknown (reported above as a warning, not floodmark's own).
    suite = "valid" if set(verdicts.values()) == {"valid"} else "unknown"
    assert (summary["verdict"], proc.returncode) == (suite, {"valid": 0, "unknown": 2}[suite]), (
        f"exit {proc.returncode}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    )
    if suite == "valid":
        assert summary["liveness"] == {}
    cases = junit_cases(out)
    assert set(cases) == {r["scenario"] for r in summary["rows"]}
    assert not any(c.find("failure") is not None for c in cases.values())
    html = (out / "certificate.html").read_text()
    assert "smoke" in html and "valid" in html


def test_smoke_with_a_known_bug_configuration_fails(tmp_path: Path) -> None:
    suite = yaml.safe_load((SUITES / "smoke.yaml").read_text())
    suite["name"] = "smoke-plus-bug"
    suite["systems"].append(
        {
            "label": "replog-kafka-0-10",
            "faults": [["kill"]],
            "config": {
                "profile": "kafka-0.10",
                "settings": {"min.insync.replicas": 2, "log.flush.interval.messages": 1},
                "nemesis_interval": 5,
                "nemesis_options": {"kill_targets": ["all"]},
            },
        }
    )
    path = tmp_path / "smoke-plus-bug.yaml"
    path.write_text(yaml.safe_dump(suite))
    proc = certify(str(path), tmp_path / "store", "--set", "time_limit=20")
    assert proc.returncode == 1, (
        f"exit {proc.returncode}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    )
    out, summary = outputs(tmp_path / "store", "smoke-plus-bug")
    assert summary["verdict"] == "invalid"
    bug = "replog-kafka-0-10/kill/seed-1"
    assert summary["invalid"] == [bug], summary["invalid"]
    rows = {r["scenario"]: r for r in summary["rows"]}
    assert rows[bug]["verdict"] == "invalid" and rows[bug]["exit_code"] == 1
    assert LOSS & set(rows[bug]["anomalies"]), rows[bug]["anomalies"]
    assert rows[bug]["first_anomaly_s"] is not None
    # The safe scenarios still pass: one bad configuration does not taint the others.
    safe = [r for name, r in rows.items() if name != bug]
    assert len(safe) == len(suite["faults"]), safe
    for r in safe:
        assert r["verdict"] == assert_safe_run(Path(r["run_dir"]), r["scenario"]), r
    cases = junit_cases(out)
    failed = {n for n, c in cases.items() if c.find("failure") is not None}
    assert failed == {bug}
    html = (out / "certificate.html").read_text()
    assert bug in html and "invalid" in html
    assert any(a in html for a in rows[bug]["anomalies"])
