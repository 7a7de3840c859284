"""The anomaly section names every fault a witness lived through, with its trigger."""

from __future__ import annotations

import re
from html import escape as html_escape
from pathlib import Path

import orjson

from harness.contract.history import JSON
from harness.contract.results import Witness
from reports.html import render_report
from reports.overlap import SEEDED, life, overlapping, trigger_of
from reports.scan import NS, FaultPeriod, scan_history


def period(package: str, start: float, stop: float | None, value: JSON = None) -> FaultPeriod:
    return FaultPeriod(package, start, stop, 0, None if stop is None else 1, value, None)


def op(t: float, f: str = "send") -> dict[str, JSON]:
    return {"index": 1, "time": int(t * NS), "f": f, "type": "ok"}


def test_the_life_runs_from_the_write_to_the_latest_witness_op() -> None:
    w = Witness("lost", ops=(op(5.0), op(40.0, "final-read")))
    span = life(w, written_at=4.5)
    assert span is not None and (span.start, span.end) == (4.5, 40.0)
    assert "from the write" in span.how
    alone = life(w, None)
    assert alone is not None and (alone.start, alone.end) == (5.0, 40.0)
    assert life(Witness("no ops"), None) is None
    seen_first = life(w, written_at=6.0)  # a poll saw it before the sample that dates it
    assert seen_first is not None and seen_first.start == 5.0


def test_every_fault_meeting_the_life_is_named_and_none_outside_it() -> None:
    trig = {"name": "isr-alone", "key": 1, "leader": "n2", "isr": ["n2"]}
    faults = [
        period("pause", 0.0, 3.0),  # over before the write
        period("partition", 3.0, 6.0),  # active at the write
        period("kill", 10.0, 14.0, {"nodes": ["n2"], "trigger": trig}),
        period("clock", 39.0, None),  # never stopped, began before the read
        period("link", 41.0, 45.0),  # after the read
    ]
    w = Witness("lost", ops=(op(5.0), op(40.0, "final-read")))
    got = overlapping(faults, life(w, 4.5))
    assert [f.period.package for f in got] == ["partition", "kill", "clock"]
    kill = got[1]
    assert kill.trigger == "isr-alone" and kill.state == {"key": 1, "leader": "n2", "isr": ["n2"]}
    assert got[0].trigger == SEEDED and got[0].state == {}
    assert overlapping(faults, None) == []


def test_a_trigger_that_is_not_an_object_reads_as_the_seeded_schedule() -> None:
    assert trigger_of(period("kill", 1, 2, {"trigger": "oops"})) == (SEEDED, {})
    assert trigger_of(period("kill", 1, 2, "plain"))[0] == SEEDED


def test_the_report_lists_the_faults_during_each_witness(anomaly_run: Path) -> None:
    html = render_report(anomaly_run).read_text()
    section = html[html.index('id="anomalies"') : html.index('id="plots"')]
    assert section.count("Faults during this witness") >= 2
    digest = scan_history(anomaly_run / "history.jsonl", {})
    results = orjson.loads((anomaly_run / "results.json").read_bytes())
    w = Witness.from_json(results["checkers"]["lost-write"]["witnesses"][0])
    expected = [f.period.package for f in overlapping(digest.faults, life(w, None))]
    assert expected, "the generated lost write lived through faults"
    after = section[section.index(html_escape(w.message)) :]
    table = after[after.index("Faults during this witness") : after.index("</table>")]
    assert re.findall(r"<tr><td>([a-z-]+)</td>", table) == expected
    assert SEEDED in table  # the generated run's faults recorded no trigger


def test_the_fault_schedule_says_why_each_fault_happened(anomaly_run: Path) -> None:
    html = render_report(anomaly_run).read_text()
    section = html[html.index('id="faults"') : html.index('id="run"')]
    assert "why (trigger)" in section and SEEDED in section
