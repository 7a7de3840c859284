"""Golden results: the checkers' ``results.json`` for stored histories, byte for byte.

``tests/checkers/golden/<name>.history.jsonl`` are fixed inputs; ``<name>.results.json``
is what `checkers.check_history` wrote for them *before* issue 11 moved the results
model into the contract (``harness.contract.results``) and added the liveness section:

- ``clean``: a correct log (`checkers.synthetic`, 800 ops, 3 keys, partitions), valid;
- ``kip101``: KIP-101's HW truncation (``tests/reports/history_gen``, 700 ops), invalid;
- ``anomalies``: a hand-written history with every anomaly of that time at least once
  (all ten safety anomalies, ``unseen`` and ``unverified-fault``);
- ``torn``: a prefix of ``anomalies`` whose last line is torn and whose last invoke never
  completed (both notes).

What is excluded from the comparison, exactly: ``checked_at`` (wall clock) and
``history`` (the path read) are replaced by ``"<masked>"``, and the top-level
``liveness`` object is removed. Everything else (the verdict, every checker entry with
its witnesses and their ops, ``stats`` with ``notes``, key order and indentation) must
be equal byte for byte. Never regenerate these files to make a test pass: a difference
is a change of floodmark's output that someone must decide on.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from checkers import check_history
from harness.contract.results import Results

GOLDEN = Path(__file__).parent / "golden"
NAMES = ("clean", "kip101", "anomalies", "torn")
MASKED = "<masked>"


def _render(name: str) -> tuple[bytes, dict[str, object]]:
    data = check_history(GOLDEN / f"{name}.history.jsonl").to_json()
    liveness = data.pop("liveness")
    data["checked_at"] = MASKED
    data["history"] = MASKED
    assert isinstance(liveness, dict)
    return orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n", liveness


@pytest.mark.parametrize("name", NAMES)
def test_results_equal_the_golden_file_but_for_the_liveness_section(name: str) -> None:
    rendered, _ = _render(name)
    assert rendered == (GOLDEN / f"{name}.results.json").read_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_the_one_reader_reads_back_exactly_what_the_writer_wrote(name: str, tmp_path: Path) -> None:
    written = check_history(GOLDEN / f"{name}.history.jsonl").write(tmp_path)
    again = Results.read(written).dumps()
    assert again == written.read_bytes()


def test_the_liveness_section_of_the_kip101_history() -> None:
    _, liveness = _render("kip101")
    assert liveness["faults_exercised"] == ["kill", "partition", "pause", "slow-disk"]
    keys = liveness["keys"]
    assert isinstance(keys, dict) and sorted(keys) == ["0", "1", "2"]
    assert all(k["final_read"] == "ok" for k in keys.values())
    assert all(k["recovered_s"] is not None for k in keys.values())
    anomalies = liveness["anomalies"]
    assert isinstance(anomalies, dict)
    assert {a: r["count"] for a, r in anomalies.items()} == {
        "unfinished-final-read": 0,
        "unrecovered": 0,
    }


def test_the_liveness_section_of_the_hand_written_history() -> None:
    _, liveness = _render("anomalies")
    assert liveness["faults_exercised"] == ["partition", "pause"]
    keys = liveness["keys"]
    assert isinstance(keys, dict)
    assert {k: v["final_read"] for k, v in keys.items()} == {"0": "ok", "1": "ok", "2": "info"}
    anomalies = liveness["anomalies"]
    assert isinstance(anomalies, dict)
    unfinished = anomalies["unfinished-final-read"]
    assert unfinished["valid"] == "unknown" and unfinished["count"] == 1
    assert unfinished["witnesses"][0]["key"] == 2
