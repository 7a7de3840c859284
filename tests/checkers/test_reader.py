"""The typed reader the checkers use (`harness.contract.reader.iter_lines`): same ops and
same errors as the line-by-line schema, whatever the block boundaries."""

from __future__ import annotations

from pathlib import Path

import pytest

import harness.contract.reader as reader
from harness.contract.history import HistoryError, ReadStats
from harness.contract.reader import OtherLine, SendLine, iter_history, iter_lines
from tests.checkers.hist import History

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("name", ["clean", "anomalies", "torn", "kip101"])
@pytest.mark.parametrize("block", [7, 300, 1 << 20])
def test_any_block_size_reads_the_same_ops(
    name: str, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = GOLDEN / f"{name}.history.jsonl"
    whole = ReadStats()
    expected = [ln.to_json() for batch in iter_lines(path, whole) for ln in batch]
    monkeypatch.setattr(reader, "_BLOCK", block)  # lines longer than a block, cut anywhere
    stats = ReadStats()
    assert [ln.to_json() for batch in iter_lines(path, stats) for ln in batch] == expected
    assert stats == whole


def test_typed_and_other_lines_keep_what_the_history_says(tmp_path: Path) -> None:
    h = History()
    ack = h.send(0, 1, 7, 0)
    fault = h.add("nemesis", "info", "start-partition", {"cut": {"n1": ["n2"]}, "why": "[/x]"})
    path = h.write(tmp_path)
    lines = [ln for batch in iter_lines(path) for ln in batch]
    assert isinstance(lines[1], SendLine) and lines[1].value.offset == 0
    assert isinstance(lines[2], OtherLine) and lines[2].f == "start-partition"
    assert lines[1].to_json() == ack.to_json()
    assert lines[2].to_json() == fault.to_json()
    assert [op.to_json() for op in iter_history(path)] == [op.to_json() for op in h.ops]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (
            b'{"index":2,"time":1,"process":0,"type":"ok","f":"send","value":{"key":1,"value":3}}',
            "send ok: value.offset must be an integer",
        ),
        (
            b'{"index":2,"time":1,"process":0,"type":"ok","f":"poll","value":{"key":1,"from":0}}',
            "poll ok: value.hw must be an integer",
        ),
        (
            b'{"index":2,"time":1,"process":0,"type":"ok","f":"final-read","value":{"key":1}}',
            "final-read ok: value.records must be a list",
        ),
        (
            b'{"index":5,"time":1,"process":0,"type":"invoke","f":"send",'
            b'"value":{"key":1,"value":3}}',
            "'index' is 5",
        ),
        (b"", "empty line"),
        (b" \t", "empty line"),
        (
            b'{"index":2,"time":1,"process":0,"type":"ok","f":"replica-dump",'
            b'"value":{"key":1,"node":"n1","hw":0,"leo":0}}',
            "replica-dump ok: value.records must be a list",
        ),
    ],
)
def test_a_bad_line_is_named_with_what_is_wrong(tmp_path: Path, line: bytes, says: str) -> None:
    h = History()
    h.send(0, 1, 7, 0)
    path = h.write(tmp_path)
    with open(path, "ab") as fh:
        fh.write(line + b"\n")
        fh.write(b'{"index":3,"time":1,"process":"monitor","type":"info","f":"x"}\n')
    with pytest.raises(HistoryError) as e:
        list(iter_lines(path))
    assert e.value.line_no == 3
    assert says in str(e.value)


def test_two_ops_on_one_line_are_refused_though_each_would_decode(tmp_path: Path) -> None:
    """The block decoder takes whitespace between values as a line break; counting the
    lines is what refuses them."""
    h = History()
    h.send(0, 1, 7, 0)
    path = h.write(tmp_path)
    with open(path, "ab") as fh:
        fh.write(
            b'{"index":2,"time":1,"process":0,"type":"invoke","f":"send",'
            b'"value":{"key":1,"value":3}} {"index":3,"time":1,"process":1,"type":"invoke",'
            b'"f":"send","value":{"key":1,"value":4}}\n'
        )
    with pytest.raises(HistoryError) as e:
        list(iter_lines(path))
    assert e.value.line_no == 3
    assert "not valid JSON" in str(e.value)
