"""JUnit XML for CI: one testcase per checker of a run, or one per run of a suite.

Jenkins, GitHub Actions' JUnit reporters and GitLab read the same shape::

    <testsuites tests="3" failures="1" errors="0" skipped="1" time="61.2">
      <testsuite name="kip-101" tests="3" failures="1" errors="0" skipped="1" time="61.2"
                 timestamp="2025-01-01T02:00:00" hostname="floodmark">
        <properties><property name="seed" value="42"/>...</properties>
        <testcase classname="floodmark.kip-101" name="lost-write" time="0">
          <failure type="lost-write" message="lost-write: 3 anomalies; first: ...">...</failure>
        </testcase>
        <testcase classname="floodmark.kip-101" name="unseen">
          <skipped message="unknown: ..."/>
        </testcase>
        <system-out>reproduce: floodmark run ...</system-out>
      </testsuite>
    </testsuites>

A checker that is *invalid* is a ``<failure>``; one that is *unknown* because it raised is
an ``<error>``, otherwise unknown (e.g. ``unseen``) is ``<skipped>`` — it does not prove
data loss, and the run's own exit code (2) already fails the build. XML is built with
``xml.etree`` so any text from the history is escaped and the file is well-formed
(characters XML 1.0 cannot carry are replaced).
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import orjson

from harness.contract.layout import JUNIT, REPORT, TEST
from harness.contract.verdict import Verdict
from reports.inputs import CheckerSummary, RunInputs, load_run

MAX_MESSAGE: Final = 500
MAX_BODY_WITNESSES: Final = 5
_INVALID_XML: Final = re.compile(
    "[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


@dataclass(frozen=True, slots=True)
class SuiteCase:
    """One row of a suite-level JUnit file (e.g. one certification run).

    ``verdict`` is the run's verdict; ``message`` says why it failed (anomaly counts and
    the first witness); ``details`` goes into the element's text (e.g. the reproduce
    command and the report path).
    """

    name: str
    verdict: Verdict
    time: float = 0.0
    message: str = ""
    details: str = ""
    classname: str = "floodmark"

    @classmethod
    def from_mapping(cls, row: Mapping[str, object]) -> SuiteCase:
        """Accepts ``{"name", "verdict" (Verdict | bool | "unknown" | "valid"...), "time",
        "message", "details", "classname"}``."""
        raw = row.get("verdict", row.get("valid"))
        verdict = raw if isinstance(raw, Verdict) else _verdict(raw)
        t = row.get("time", 0.0)
        return cls(
            name=str(row.get("name", "")),
            verdict=verdict,
            time=float(t) if isinstance(t, int | float) else 0.0,
            message=str(row.get("message", "")),
            details=str(row.get("details", "")),
            classname=str(row.get("classname", "floodmark")),
        )


def write_junit(run_dir: str | os.PathLike[str]) -> Path:
    """Write ``junit.xml`` for one run: one testcase per checker. Returns its path."""
    inputs = load_run(run_dir)
    root = ET.Element("testsuites")
    suite = _run_suite(inputs)
    root.append(suite)
    for attr in ("tests", "failures", "errors", "skipped", "time"):
        root.set(attr, suite.get(attr, "0"))
    return _write(root, inputs.run_dir / JUNIT)


def write_suite_junit(
    path: str | os.PathLike[str],
    rows: Iterable[SuiteCase | Mapping[str, object]],
    name: str = "floodmark",
) -> Path:
    """Write a JUnit file with one testcase per row (e.g. per certification run)."""
    cases = [r if isinstance(r, SuiteCase) else SuiteCase.from_mapping(r) for r in rows]
    root = ET.Element("testsuites")
    suite = ET.SubElement(root, "testsuite", name=_clean(name))
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    total = 0.0
    for c in cases:
        tc = ET.SubElement(
            suite,
            "testcase",
            classname=_clean(c.classname),
            name=_clean(c.name),
            time=f"{c.time:.3f}",
        )
        total += c.time
        if c.verdict is Verdict.INVALID:
            counts["failures"] += 1
            el = ET.SubElement(
                tc, "failure", type="invalid", message=_clean(c.message or "invalid", MAX_MESSAGE)
            )
            el.text = _clean(c.details)
        elif c.verdict is Verdict.UNKNOWN:
            counts["errors"] += 1
            el = ET.SubElement(
                tc,
                "error",
                type="unknown",
                message=_clean(c.message or "verdict unknown", MAX_MESSAGE),
            )
            el.text = _clean(c.details)
        elif c.details:
            ET.SubElement(tc, "system-out").text = _clean(c.details)
    _set_counts(suite, len(cases), counts, total)
    _set_counts(root, len(cases), counts, total)
    suite.set("timestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    return _write(root, out)


def _run_suite(inputs: RunInputs) -> ET.Element:
    suite = ET.Element("testsuite", name=_clean(inputs.name), hostname="floodmark")
    suite.set("timestamp", _timestamp(inputs))
    props = ET.SubElement(suite, "properties")
    for key in ("run_id", "seed", "command"):
        if inputs.test.get(key) is not None:
            ET.SubElement(props, "property", name=key, value=_clean(_text(inputs.test[key])))
    for key in ("system", "profile", "nemesis"):
        if inputs.config.get(key) is not None:
            ET.SubElement(props, "property", name=key, value=_clean(_text(inputs.config[key])))
    classname = f"floodmark.{inputs.name}"
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    checkers = inputs.checkers
    if not checkers:
        tc = ET.SubElement(suite, "testcase", classname=_clean(classname), name="results", time="0")
        counts["errors"] += 1
        why = "; ".join(inputs.notes) or "results.json holds no checker results"
        ET.SubElement(tc, "error", type="no-results", message=_clean(why, MAX_MESSAGE))
    for c in checkers:
        tc = ET.SubElement(
            suite, "testcase", classname=_clean(classname), name=_clean(c.name), time="0"
        )
        kind = _case_element(c)
        if kind is None:
            continue
        counts[kind + "s" if kind != "skipped" else kind] += 1
        el = ET.SubElement(tc, kind, message=_clean(_message(c), MAX_MESSAGE))
        if kind != "skipped":
            el.set("type", c.name)
            el.text = _clean(_body(c))
    duration = _duration(inputs)
    _set_counts(suite, max(1, len(checkers)), counts, duration)
    command = inputs.test.get("command")
    out = [f"reproduce: {_text(command)}"] if command else []
    out += [f"report: {inputs.run_dir / REPORT}", *inputs.notes]
    ET.SubElement(suite, "system-out").text = _clean("\n".join(out))
    return suite


def _case_element(c: CheckerSummary) -> str | None:
    if c.verdict is Verdict.INVALID:
        return "failure"
    if c.verdict is Verdict.UNKNOWN:
        return "error" if c.error else "skipped"
    return None


def _message(c: CheckerSummary) -> str:
    prefix = "unknown: " if c.verdict is Verdict.UNKNOWN and not c.error else ""
    return f"{prefix}{c.name}: {c.headline}"


def _body(c: CheckerSummary) -> str:
    lines = [c.description] if c.description else []
    if c.error:
        lines.append(f"error: {c.error}")
    for w in c.witnesses[:MAX_BODY_WITNESSES]:
        where = " ".join(
            f"{k}={v}"
            for k, v in (("key", w.key), ("offset", w.offset), ("value", w.value))
            if v is not None
        )
        lines.append(f"- {w.message} ({where})" if where else f"- {w.message}")
        for op in w.ops[:10]:
            lines.append("    " + orjson.dumps(dict(op), option=orjson.OPT_NON_STR_KEYS).decode())
    if c.count > MAX_BODY_WITNESSES:
        lines.append(f"... {c.count} anomalies in all; see report.html")
    return "\n".join(lines)


def _set_counts(el: ET.Element, tests: int, counts: Mapping[str, int], time: float) -> None:
    el.set("tests", str(tests))
    for k in ("failures", "errors", "skipped"):
        el.set(k, str(counts[k]))
    el.set("time", f"{time:.3f}")


def _duration(inputs: RunInputs) -> float:
    for key in ("duration", "duration_s"):
        v = inputs.stats.get(key)
        if isinstance(v, int | float):
            return float(v)
    limit = inputs.config.get("time_limit")
    return float(limit) if isinstance(limit, int | float) else 0.0


def _timestamp(inputs: RunInputs) -> str:
    p = inputs.run_dir / TEST
    if not p.exists():
        p = inputs.run_dir
    return datetime.fromtimestamp(p.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _verdict(raw: object) -> Verdict:
    if isinstance(raw, str) and raw in Verdict.__members__.values():
        return Verdict(raw)
    return Verdict.from_json(raw)


def _text(v: object) -> str:
    return v if isinstance(v, str) else orjson.dumps(v).decode()


def _clean(s: str, limit: int | None = None) -> str:
    """Text XML 1.0 can carry (ElementTree escapes markup but not control characters)."""
    s = _INVALID_XML.sub("\ufffd", s)
    return s if limit is None or len(s) <= limit else s[: limit - 1] + "…"


def _write(root: ET.Element, path: Path) -> Path:
    ET.indent(root)
    tmp = path.with_name(f".{path.name}.tmp")
    ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, path)
    return path
