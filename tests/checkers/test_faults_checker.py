"""`unverified-fault`: a fault that did not take effect makes the verdict unknown."""

from __future__ import annotations

from checkers import check_ops
from harness.contract.history import JSON, Op, OpType


def _history(verified: JSON) -> list[Op]:
    ops = [
        Op(0, 10, 0, OpType.INVOKE, "send", {"key": 0, "value": 1}),
        Op(1, 20, 0, OpType.OK, "send", {"key": 0, "value": 1, "offset": 0}),
        Op(2, 30, "nemesis", OpType.INFO, "start-partition",
           {"shape": "one", "verified": verified, "why": "probe n1->n2 still answered"}),
        Op(3, 40, "nemesis", OpType.INFO, "stop-partition", {"verified": True}),
        Op(4, 50, 1, OpType.INVOKE, "final-read", {"key": 0}),
        Op(5, 60, 1, OpType.OK, "final-read",
           {"key": 0, "records": [[0, 1]], "hw": 1, "complete": True}),
    ]  # fmt: skip
    return ops


def test_unverified_fault_makes_the_verdict_unknown_with_the_reason() -> None:
    results = check_ops(_history(False)).to_json()
    assert results["valid"] == "unknown"
    c = results["checkers"]["unverified-fault"]
    assert c["valid"] == "unknown" and c["count"] == 1
    (w,) = c["witnesses"]
    assert "probe n1->n2 still answered" in w["message"] and w["ops"][0]["index"] == 2


def test_verified_and_skipped_faults_leave_the_verdict_alone() -> None:
    for verified in (True, None):
        results = check_ops(_history(verified)).to_json()
        assert results["valid"] is True, verified
        assert results["checkers"]["unverified-fault"]["count"] == 0


def test_invalid_beats_unverified() -> None:
    ops = _history(False)
    ops[5] = Op(5, 60, 1, OpType.OK, "final-read",
                {"key": 0, "records": [], "hw": 0, "complete": True})  # fmt: skip
    assert check_ops(ops).to_json()["valid"] is False
