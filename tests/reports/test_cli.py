"""`floodmark report` and `floodmark serve` (the functions the click CLI calls)."""

from __future__ import annotations

import io
import threading
import urllib.request
from pathlib import Path

from reports.cli import LOOPBACK, make_server, report_command
from reports.index import render_index


def test_report_rerenders_a_run_and_refreshes_the_index(anomaly_run: Path) -> None:
    store = anomaly_run.parent.parent
    render_index(store)
    out, err = io.StringIO(), io.StringIO()
    assert report_command(anomaly_run / "history.jsonl", out, err) == 0, err.getvalue()
    assert (anomaly_run / "report.html").is_file() and (anomaly_run / "junit.xml").is_file()
    assert "index:" in out.getvalue()


def test_report_refuses_a_bad_path_with_exit_2(tmp_path: Path) -> None:
    err = io.StringIO()
    assert report_command(tmp_path / "missing", io.StringIO(), err) == 2
    assert "does not exist" in err.getvalue()
    (tmp_path / "notes.txt").write_text("x")
    err = io.StringIO()
    assert report_command(tmp_path / "notes.txt", io.StringIO(), err) == 2
    assert "not a run's history.jsonl" in err.getvalue()


def test_report_of_a_malformed_history_renders_but_exits_2(anomaly_run: Path) -> None:
    hist = anomaly_run / "history.jsonl"
    lines = hist.read_bytes().split(b"\n")
    lines[3] = b'{"index": 3}'
    hist.write_bytes(b"\n".join(lines))
    err = io.StringIO()
    assert report_command(anomaly_run, io.StringIO(), err) == 2
    assert "missing field 'time'" in err.getvalue()
    assert (anomaly_run / "report.html").is_file()


def test_serve_binds_loopback_only_and_serves_the_store(anomaly_run: Path) -> None:
    store = anomaly_run.parent.parent
    render_index(store)
    server = make_server(store, 0)
    host, port = server.server_address[:2]
    assert host == LOOPBACK
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10) as r:
            body = r.read().decode()
        assert "floodmark runs" in body
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
