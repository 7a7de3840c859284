"""``floodmark check``: exit codes, results.json, bad input as messages (no tracebacks)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checkers.cli import check_command
from tests.checkers.hist import History


def _run_dir(tmp_path: Path, h: History) -> Path:
    run = tmp_path / "store" / "t" / "20250101T000000"
    run.mkdir(parents=True)
    h.write(run)
    return run


def _valid() -> History:
    h = History()
    h.send(0, 1, 7, 0)
    h.poll(5, 1, 0, [[0, 7]], hw=1)
    h.final_read(9, 1, [[0, 7]])
    return h


def test_valid_run_directory_exits_0_and_writes_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run_dir(tmp_path, _valid())
    assert check_command(str(run), as_json=False) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["valid"] is True
    assert set(results) == {"valid", "checkers", "stats", "liveness", "history", "checked_at"}
    assert results["checkers"]["lost-write"] == {"valid": True, "count": 0, "witnesses": []}
    assert results["stats"]["ops"] == 6
    assert results["stats"]["torn_last_line"] is False
    assert set(results["stats"]["latency"]["send"]) >= {"p50_ms", "p95_ms", "p99_ms", "max_ms"}
    out = capsys.readouterr().out
    assert "lost-write" in out and "valid" in out


def test_invalid_history_file_exits_1_with_witness_in_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    h = History()
    ack = h.send(0, 1, 7, 0)
    h.final_read(9, 1, [])
    run = _run_dir(tmp_path, h)
    assert check_command(str(run / "history.jsonl"), as_json=False) == 1
    results = json.loads((run / "results.json").read_text())
    assert results["valid"] is False
    lost = results["checkers"]["lost-write"]
    assert lost["valid"] is False and lost["count"] == 1
    w = lost["witnesses"][0]
    assert (w["key"], w["offset"], w["value"]) == (1, 0, 7)
    assert w["ops"][0] == ack.to_json()
    assert "INVALID" in capsys.readouterr().out


def test_unknown_exits_2(tmp_path: Path) -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.final_read(9, 1, None, type="info")
    run = _run_dir(tmp_path, h)
    assert check_command(str(run), as_json=False) == 2
    assert json.loads((run / "results.json").read_text())["valid"] == "unknown"


def test_json_output_is_the_results_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run_dir(tmp_path, _valid())
    assert check_command(str(run), as_json=True) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((run / "results.json").read_text())


def test_torn_last_line_is_tolerated_and_noted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run_dir(tmp_path, _valid())
    with open(run / "history.jsonl", "ab") as fh:
        fh.write(b'{"index":6,"time":99,"process":3,"ty')
    assert check_command(str(run), as_json=True) == 0
    captured = capsys.readouterr()
    results = json.loads(captured.out)
    assert results["stats"]["torn_last_line"] is True
    assert any("torn" in note for note in results["stats"]["notes"])
    assert "torn" in captured.err


def test_malformed_middle_line_exits_2_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run_dir(tmp_path, _valid())
    lines = (run / "history.jsonl").read_bytes().splitlines(keepends=True)
    lines[2] = b'{"index":2,"time":5,"process":5,"type":"invoke","f":"poll","value":{"key":1}}\n'
    (run / "history.jsonl").write_bytes(b"".join(lines))
    assert check_command(str(run), as_json=False) == 2
    err = capsys.readouterr().err
    assert ":3:" in err and "value.from must be an integer" in err
    assert "Traceback" not in err
    assert not (run / "results.json").exists()


def test_garbage_middle_line_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _run_dir(tmp_path, _valid())
    lines = (run / "history.jsonl").read_bytes().splitlines(keepends=True)
    lines[1] = b"{not json\n"
    (run / "history.jsonl").write_bytes(b"".join(lines))
    assert check_command(str(run), as_json=True) == 2
    captured = capsys.readouterr()
    assert ":2:" in captured.err and "not valid JSON" in captured.err
    assert captured.out == ""


def test_unpaired_completion_exits_2_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    h = _valid()
    h.add(3, "ok", "send", {"key": 1, "value": 9, "offset": 1})
    run = _run_dir(tmp_path, h)
    assert check_command(str(run), as_json=False) == 2
    assert ":7:" in capsys.readouterr().err


def test_missing_path_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_command(str(tmp_path / "nope"), as_json=False) == 2
    assert "does not exist" in capsys.readouterr().err


def test_directory_without_history_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check_command(str(tmp_path), as_json=False) == 2
    assert "not a run directory" in capsys.readouterr().err
