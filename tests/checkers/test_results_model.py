"""``harness.contract.results``: the one reader of results.json, tolerant of hand edits."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from harness.contract.results import (
    CheckResult,
    FinalRead,
    Liveness,
    Results,
    ResultsError,
    Witness,
)
from harness.contract.verdict import Verdict


def test_a_hand_written_file_reads_as_far_as_it_makes_sense(tmp_path: Path) -> None:
    raw = {
        "valid": False,
        "checkers": {
            "lost-write": {
                "valid": False,
                "witnesses": ["just a sentence", {"message": 7, "key": "k", "ops": [1, {}]}],
                "error": "",
            },
            "unseen": "garbage",
        },
        "stats": {"ops": 3},
        "liveness": {"keys": {"0": {"final_read": "nonsense"}, "x": {}}, "longest_gap_s": 2},
    }
    (tmp_path / "results.json").write_bytes(orjson.dumps(raw))
    r = Results.read(tmp_path)  # a run directory: its results.json
    lw = r.checkers["lost-write"]
    assert lw.verdict is Verdict.INVALID and lw.count == 2 and lw.error is None
    assert lw.witnesses[0] == Witness("just a sentence")
    assert lw.witnesses[1].message == "7" and lw.witnesses[1].key is None
    assert lw.witnesses[1].ops == ({},)
    assert r.checkers["unseen"] == CheckResult(Verdict.UNKNOWN)
    assert r.notes == () and r.history == "" and r.exit_code == 1
    assert r.liveness is not None
    assert r.liveness.longest_gap_s == 2.0 and r.liveness.keys[0].final_read is FinalRead.NONE
    assert list(r.liveness.keys) == [0]


def test_a_file_that_is_not_results_says_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text("[1, 2]")
    with pytest.raises(ResultsError, match="expected a JSON object, got list"):
        Results.read(path)
    path.write_text("{not json")
    with pytest.raises(ResultsError, match="not valid JSON"):
        Results.read(path)
    with pytest.raises(ResultsError, match="cannot be read"):
        Results.read(tmp_path / "nope" / "results.json")


def test_results_without_a_liveness_section_read_as_none() -> None:
    r = Results.from_json({"valid": True, "checkers": {}})
    assert r.liveness is None and r.verdict is Verdict.VALID
    assert "liveness" not in r.to_json()


def test_liveness_round_trips() -> None:
    live = Liveness.from_json(
        {
            "faults_exercised": ["kill"],
            "longest_gap_s": None,
            "keys": {"3": {"longest_gap_s": 1.5, "recovered_s": None, "final_read": "info"}},
            "anomalies": {"unrecovered": {"valid": True, "count": 0, "witnesses": []}},
            "error": "x",
        }
    )
    assert live.unfinished_final_reads == [3]
    assert Liveness.from_json(live.to_json()) == live
