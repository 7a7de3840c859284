"""junit.xml as CI systems read it (testsuites/testsuite/testcase/failure)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.contract.verdict import Verdict
from reports.junit import SuiteCase, write_junit, write_suite_junit


def test_one_testcase_per_checker_with_failures_naming_count_and_witness(
    anomaly_run: Path,
) -> None:
    root = ET.parse(write_junit(anomaly_run)).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    cases = suite.findall("testcase")
    assert int(suite.get("tests", "")) == len(cases) == 11
    assert suite.get("failures") == "3" and suite.get("errors") == "0"
    assert suite.get("skipped") == "0" and float(suite.get("time", "")) >= 0
    assert suite.get("name") == "kip-101-hw-truncation" and suite.get("timestamp")
    for c in cases:
        assert c.get("classname") == "floodmark.kip-101-hw-truncation" and c.get("name")
    failed = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert set(failed) == {"lost-write", "inconsistent-offsets", "replica-divergence"}
    lost = failed["lost-write"]
    assert lost is not None
    msg = lost.get("message", "")
    assert msg.startswith("lost-write: 1 anomaly; first: value ")
    assert "is missing from the complete final read" in msg
    assert lost.get("type") == "lost-write" and '"f":"send"' in (lost.text or "")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["seed"] == "7" and (props["command"] or "").startswith("floodmark run")
    out = suite.find("system-out")
    assert out is not None and "reproduce: floodmark run" in (out.text or "")


def test_unknown_checker_is_an_error_and_hostile_text_stays_well_formed(
    payload_run: Path,
) -> None:
    root = ET.parse(write_junit(payload_run)).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("errors") == "1" and suite.get("failures") == "3"
    unseen = next(c for c in suite.iter("testcase") if c.get("name") == "unseen")
    err = unseen.find("error")
    assert err is not None and "<script>" in err.get("message", "")


def test_suite_junit_for_many_runs(tmp_path: Path) -> None:
    rows: list[SuiteCase | dict[str, object]] = [
        SuiteCase("replog/kafka-0.10/kill", Verdict.INVALID, 61.5, "lost-write: 3", "report: a"),
        {"name": "replog/kafka-0.11/kill", "verdict": True, "time": 60.0},
        {"name": "kafka/partition\x01", "verdict": "unknown", "message": "unseen: 2"},
    ]
    path = write_suite_junit(tmp_path / "out" / "cert.xml", rows, name="certification")
    root = ET.parse(path).getroot()
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "certification"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    assert root.get("tests") == "3" and float(root.get("time", "")) == 121.5
    cases = suite.findall("testcase")
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("message") == "lost-write: 3"
    assert cases[1].find("failure") is None and cases[1].find("error") is None
    assert cases[2].get("name") == "kafka/partition\ufffd"
