"""The HTML report, checked on its source (the browser tests look at it rendered)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import orjson
import pytest

from harness.contract.results import Witness
from harness.contract.verdict import Verdict
from reports.html import MAX_WITNESSES, _meta, render, render_report
from reports.inputs import RunInputError, RunInputs, load_run
from reports.kip101 import CellState, build_diagram, witness_windows
from reports.scan import scan_history


def _checker_rows(html: str) -> list[tuple[str, str]]:
    section = html[html.index('id="checkers"') : html.index('id="reproduce"')]
    rows = re.findall(r'<tr class="row-(\w+)">.*?<td>(?:<a [^>]*>)?([\w-]+)', section, re.S)
    return [(v, n) for v, n in rows]


def test_report_leads_with_the_verdict_and_anomalies_first(anomaly_run: Path) -> None:
    html = render_report(anomaly_run).read_text()
    assert '<header class="top v-invalid">' in html
    rows = _checker_rows(html)
    verdicts = [v for v, _ in rows]
    assert verdicts[:3] == ["invalid"] * 3 and set(verdicts[3:]) == {"valid"}
    assert {n for _, n in rows[:3]} == {"lost-write", "inconsistent-offsets", "replica-divergence"}
    assert "1 anomaly; first: value" in html
    assert "floodmark run --system replog --profile kafka-0.10 --seed 7" in html


def test_every_plot_is_inline_svg_with_content(anomaly_run: Path) -> None:
    html = render_report(anomaly_run).read_text()
    ids = re.findall(r'<figure class="plot" id="plot-([\w-]+)">', html)
    assert ids == ["latency", "throughput", "replicas-0", "replicas-1", "replicas-2"]
    for figure in html.split('<figure class="plot"')[1:]:
        svg = figure[figure.index("<svg") : figure.index("</svg>")]
        assert svg.count("<path") + svg.count("<use") > 50
    assert "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_kip101_diagram_shows_divergence_around_the_offset(anomaly_run: Path) -> None:
    results = orjson.loads((anomaly_run / "results.json").read_bytes())
    w = Witness.from_json(results["checkers"]["replica-divergence"]["witnesses"][0])
    assert w.key == 0 and w.offset is not None
    digest = scan_history(anomaly_run / "history.jsonl", witness_windows([w]))
    d = build_diagram(digest, w)
    assert d is not None and d.fault is not None and d.fault.package == "kill"
    assert d.offset in d.offsets
    titles = [p.title for p in d.panels]
    assert titles[0].startswith("before kill") and titles[1].startswith("after kill")
    dump = d.panels[-1]
    cells = {r.node: next(c for c in r.cells if c.offset == w.offset) for r in dump.rows}
    assert cells["n1"].text != cells["n2"].text == cells["n3"].text
    assert all(c.conflict and c.state is CellState.COMMITTED for c in cells.values())
    before = {r.node: r for r in d.panels[0].rows}
    assert before["n1"].role == "leader" and before["n2"].epoch == 1
    after = {r.node: r for r in d.panels[1].rows}
    assert after["n2"].role == "leader" and after["n2"].epoch == 2


def test_same_offset_is_drawn_once_and_referenced(anomaly_run: Path) -> None:
    html = render_report(anomaly_run).read_text()
    assert html.count('<div class="kip">') == 1
    assert html.count("see the diagram above") == 2


def test_fault_schedule_lists_every_period(anomaly_run: Path) -> None:
    html = render_report(anomaly_run).read_text()
    section = html[html.index('id="faults"') : html.index('id="run"')]
    for package in ("partition", "pause", "kill", "slow-disk"):
        assert f"</span>{package}</td>" in section
    assert "SIGKILL" in section and "logs/n1.log" in html


def test_witnesses_are_capped_with_the_count_shown(anomaly_run: Path) -> None:
    path = anomaly_run / "results.json"
    results = orjson.loads(path.read_bytes())
    lw = results["checkers"]["lost-write"]
    lw["witnesses"] = [dict(lw["witnesses"][0], message=f"loss {i}") for i in range(12)]
    lw["count"] = 40
    path.write_bytes(orjson.dumps(results))
    html = render_report(anomaly_run).read_text()
    assert f"showing {MAX_WITNESSES} of 40 anomalies (12 witnesses in results.json)" in html
    assert "loss 4" in html and "loss 5" not in html


def test_a_directory_holding_only_a_history_renders_as_far_as_it_can(
    anomaly_run: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "copied"
    bare.mkdir()
    shutil.copy(anomaly_run / "history.jsonl", bare)
    out = render(bare)
    html = out.path.read_text()
    assert any("test.json is missing" in n for n in out.notes)
    assert any("results.json" in n for n in out.notes)
    assert html.count("<svg") == 5 and "No logs/ directory" in html
    assert "The command is unknown" in html


def test_torn_last_line_and_malformed_history_are_reported(anomaly_run: Path) -> None:
    hist = anomaly_run / "history.jsonl"
    with open(hist, "ab") as fh:
        fh.write(b'{"index": 99999, "ti')
    out = render(anomaly_run)
    assert out.history_error is None
    assert any("torn" in n for n in out.notes)
    lines = hist.read_bytes().split(b"\n")
    lines[10] = b"{not json"
    hist.write_bytes(b"\n".join(lines))
    out = render(anomaly_run)
    assert out.history_error is not None and ":11:" in out.history_error
    assert "the history could not be read" in out.path.read_text()


def test_a_path_that_is_not_a_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RunInputError, match="does not exist"):
        load_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunInputError, match="not a run directory"):
        load_run(tmp_path / "empty")


def test_real_checkers_run_when_results_are_missing(anomaly_run: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(anomaly_run / "history.jsonl", bare)
    run = load_run(bare)
    assert run.results_computed, run.notes
    names = {c.name for c in run.checkers if c.verdict.value == "invalid"}
    assert "lost-write" in names


def test_the_header_names_the_kafka_release_and_what_a_replay_replayed(tmp_path: Path) -> None:
    config = {
        "system": "kafka",
        "profile": "safe",
        "settings": {"kafka.version": "4.1.2"},
        "replay": "/store/kafka-log/20261202T000000Z",
    }
    inputs = RunInputs(tmp_path, {"run_id": "r1", "config": config}, None, [], Verdict.VALID, [])
    line = " · ".join(_meta(inputs, None))
    assert "profile safe" in line and "version 4.1.2" in line
    assert "replay of /store/kafka-log/20261202T000000Z" in line
