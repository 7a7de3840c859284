"""Rule 1 of issue 13: exit 1 only for a proven safety anomaly; every other failure of a
command is exit 2 with a message, never a traceback; text from a history or from the
system under test is printed as text, never read as console markup (``check``, ``run``,
``report``, ``serve``, ``certify``)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from rich.console import Console

import harness.cli
from harness.progress import Ui
from tests.checkers.hist import History

MARKUP = "[/bold]"


def _floodmark(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """The command line as the console script runs it (without its final os._exit)."""
    monkeypatch.setattr(sys, "argv", ["floodmark", *args])
    return harness.cli._main()


def _history(tmp_path: Path, h: History) -> Path:
    return h.write(tmp_path)


def _valid_with_markup() -> History:
    h = History()
    h.add("nemesis", "info", "start-partition", {"verified": True, "why": "[/red] cut"})
    h.send(0, 1, 7, 0)
    h.state(1, f"n1{MARKUP}", role="leader", leo=1, hw=1)
    h.final_read(9, 1, [[0, 7]])
    return h


def test_a_valid_history_full_of_markup_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _history(tmp_path, _valid_with_markup())
    assert _floodmark(monkeypatch, "check", str(path)) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "verdict: valid" in captured.out


def test_an_invalid_history_exits_1_and_prints_markup_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.final_read(9, 1, [[0, 7]])
    h.dump(1, f"n1{MARKUP}", [[0, 7]], hw=1)
    h.dump(1, "n2[/x]", [[0, 8]], hw=1)
    path = _history(tmp_path, h)
    assert _floodmark(monkeypatch, "check", str(path)) == 1
    out = capsys.readouterr().out
    assert "n2[/x]" in out.replace("\n", "")  # the witness, as text
    assert "INVALID" in out


def test_a_bad_line_whose_text_looks_like_markup_exits_2_with_the_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "history.jsonl"
    bad = {"index": "[/0]", "time": 0, "process": 0, "type": "invoke", "f": "send"}
    path.write_text(json.dumps(bad) + "\n")
    assert _floodmark(monkeypatch, "check", str(path)) == 2
    err = capsys.readouterr().err
    assert "[/0]" in err and "Traceback" not in err


def test_a_witness_too_deep_to_write_exits_2_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    h = _valid_with_markup()
    h.add("nemesis", "info", "start-pause", {"verified": False, "deep": "<deep>"})
    deep = b'{"a":[' * 300 + b"1" + b"]}" * 300
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"".join(op.dumps() for op in h.ops).replace(b'"<deep>"', deep))
    for as_json in ([], ["--json"]):
        assert _floodmark(monkeypatch, "check", str(path), *as_json) == 2
        err = capsys.readouterr().err
        assert "cannot be written as JSON" in err and "Traceback" not in err
        assert not (tmp_path / "results.json").exists()


def test_an_unwritable_results_file_exits_2_even_when_invalid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.final_read(9, 1, [])
    path = _history(tmp_path, h)
    (tmp_path / "results.json").mkdir()  # results.json cannot be replaced by a file
    for as_json in ([], ["--json"]):
        assert _floodmark(monkeypatch, "check", str(path), *as_json) == 2
        assert "cannot write results.json" in capsys.readouterr().err


def test_anything_unexpected_inside_check_is_exit_2_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _history(tmp_path, _valid_with_markup())

    def boom(*_: object, **__: object) -> None:
        raise RuntimeError(f"{MARKUP} broke")

    monkeypatch.setattr("checkers.cli.check_history", boom)
    assert _floodmark(monkeypatch, "check", str(path)) == 2
    err = capsys.readouterr().err
    assert f"RuntimeError: {MARKUP} broke" in err and "Traceback" not in err


def _raiser(exc: BaseException) -> object:
    def raise_it(*_: object, **__: object) -> None:
        raise exc

    return raise_it


@pytest.mark.parametrize(
    ("command", "target", "exc"),
    [
        (["run"], "harness.cli.run", RuntimeError(f"cluster {MARKUP} did not start")),
        (["run"], "harness.cli.run", ValueError(f"a bug {MARKUP}")),
        (["report", "x"], "harness.cli.report_command", ValueError(f"bad {MARKUP}")),
        (["serve"], "harness.cli.serve_command", OSError(f"port {MARKUP}")),
        (["certify", "smoke"], "harness.cli.load_suite", RuntimeError(f"suite {MARKUP}")),
        (["check", "x"], "harness.cli.check_command", KeyError(MARKUP)),
    ],
)
def test_a_failing_command_exits_2_with_its_message_as_text(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    target: str,
    exc: BaseException,
) -> None:
    monkeypatch.setattr(target, _raiser(exc))
    assert _floodmark(monkeypatch, *command) == 2
    err = capsys.readouterr().err
    assert MARKUP in err and "Traceback" not in err


def test_an_interrupt_is_130_not_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("harness.cli.check_command", _raiser(KeyboardInterrupt()))
    assert _floodmark(monkeypatch, "check", "x") == 130


def test_a_usage_error_is_2(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _floodmark(monkeypatch, "check") == 2
    assert _floodmark(monkeypatch, "no-such-command") == 2


def test_help_is_0(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert _floodmark(monkeypatch, "--help") == 0
    assert "check" in capsys.readouterr().out


def test_the_run_display_prints_what_it_is_given_as_text() -> None:
    buf = io.StringIO()
    ui = Ui(console=Console(file=buf, highlight=False, markup=True, width=200))
    ui.phase(f"starting n1{MARKUP}")
    ui.note("[red]not recovered[/x]")
    ui.load(0.0, lambda: {"ok": 1}, lambda: f"faults {MARKUP}")
    text = buf.getvalue()
    assert f"starting n1{MARKUP}" in text
    assert "[red]not recovered[/x]" in text
    assert f"faults {MARKUP}" in text
