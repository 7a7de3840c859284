"""Liveness: unfinished final reads, recovery after the final heal, faults that acted."""

from __future__ import annotations

from collections.abc import Mapping

from checkers import CHECKERS, check_ops
from checkers.liveness import LivenessChecker
from harness.contract.glossary import Anomaly
from harness.contract.history import Op
from harness.contract.reader import Line
from harness.contract.results import CheckResult, FinalRead, Liveness
from harness.contract.verdict import Verdict
from tests.checkers.hist import History


def _liveness(h: History) -> Liveness:
    live = h.check().liveness
    assert live is not None
    return live


def test_final_reads_that_did_not_finish_are_liveness_anomalies_only() -> None:
    h = History()
    h.send(0, 0, 7, 0)
    h.final_read(5, 0, [[0, 7]])  # ok, complete
    h.final_read(6, 1, [], complete=False)  # ok but partial: finished
    h.final_read(7, 2, None, type="fail")
    h.final_read(8, 3, None, type="info")
    h.add(9, "invoke", "final-read", {"key": 4})  # never completes
    r = h.check()
    assert r.verdict is Verdict.VALID  # keys 1-4 held no acknowledged write: nothing unseen
    live = r.liveness
    assert live is not None
    assert {k: v.final_read for k, v in live.keys.items()} == {
        0: FinalRead.OK,
        1: FinalRead.PARTIAL,
        2: FinalRead.FAIL,
        3: FinalRead.INFO,
        4: FinalRead.PENDING,
    }
    assert live.unfinished_final_reads == [2, 3, 4]
    unfinished = live.anomalies[Anomaly.UNFINISHED_FINAL_READ]
    assert unfinished.verdict is Verdict.UNKNOWN and unfinished.count == 3
    assert [w.key for w in unfinished.witnesses] == [2, 3, 4]
    assert "ended info (timeout)" in unfinished.witnesses[1].message
    assert "never completed" in unfinished.witnesses[2].message
    assert [op["type"] for op in unfinished.witnesses[0].ops] == ["invoke", "fail"]


def _isr(h: History, key: int, leader: str, isr: list[str], role: str = "leader") -> Op:
    value = {"key": key, "node": leader, "role": role, "leo": 1, "hw": 1, "epoch": 1, "isr": isr}
    return h.add("monitor", "info", "replica-state", value, dt_ms=100)


def test_recovery_counts_from_the_last_fault_op_to_a_full_isr() -> None:
    h = History()
    _isr(h, 0, "n1", ["n1", "n2"])  # full: two replicas
    _isr(h, 1, "n1", ["n1", "n2"])
    _isr(h, 2, "n1", ["n1", "n2"])
    h.add("nemesis", "info", "start-partition", {"verified": True})
    _isr(h, 0, "n1", ["n1", "n2"])  # during the fault: not a recovery yet
    heal = h.add("nemesis", "info", "stop-partition", {"verified": True})
    _isr(h, 0, "n1", ["n1"])
    back = _isr(h, 0, "n1", ["n1", "n2"])
    last = _isr(h, 1, "n1", ["n1"])  # key 1 never full again
    h.send(0, 0, 7, 0)
    h.final_read(5, 0, [[0, 7]])
    r = h.check()
    assert r.verdict is Verdict.VALID
    live = r.liveness
    assert live is not None
    assert live.keys[0].recovered_s == round((back.time - heal.time) / 1e9, 3) == 0.2
    assert live.keys[1].recovered_s is None
    assert live.keys[2].recovered_s is None  # not sampled after the heal: no anomaly
    unrecovered = live.anomalies[Anomaly.UNRECOVERED]
    assert unrecovered.count == 1 and unrecovered.verdict is Verdict.UNKNOWN
    (w,) = unrecovered.witnesses
    assert w.key == 1 and [op["index"] for op in w.ops] == [heal.index, last.index]
    assert "full ISR (2 replicas)" in w.message


def test_faults_exercised_are_the_packages_that_started() -> None:
    h = History()
    h.add("nemesis", "info", "start-slow-disk", {"verified": True})
    h.add("nemesis", "info", "stop-slow-disk", None)
    h.add("nemesis", "info", "stop-kill", None)  # a heal of something that never started
    h.add("nemesis", "info", "start-partition", {"verified": True})
    h.add("nemesis", "info", "start-partition", {"verified": True})
    h.add("nemesis", "info", "heal-all", None)
    h.send(0, 0, 7, 0)
    assert _liveness(h).faults_exercised == ("partition", "slow-disk")


def test_the_longest_gap_on_any_key_is_between_two_ok_ops() -> None:
    h = History()
    h.send(0, 0, 1, 0)  # ok at 2 ms
    h.add(1, "invoke", "send", {"key": 1, "value": 2})
    h.add(1, "ok", "send", {"key": 1, "value": 2, "offset": 0}, dt_ms=50)  # ok at 53 ms
    h.send(2, 0, 3, 1, type="fail")
    live = _liveness(h)
    assert live.longest_gap_s == 0.051
    assert live.keys[0].longest_gap_s is not None and live.keys[1].longest_gap_s is not None
    none_ok = History()
    none_ok.send(0, 0, 1, type="fail")
    assert _liveness(none_ok).longest_gap_s is None


class _Broken(LivenessChecker):
    def observe(self, op: Line, invoke: Line | None) -> None:
        raise RuntimeError("boom")

    def result(self) -> Mapping[Anomaly, CheckResult]:
        return {}


def test_a_broken_liveness_checker_never_changes_the_verdict() -> None:
    h = History()
    h.send(0, 0, 7, 0)
    h.final_read(5, 0, [[0, 7]])
    r = check_ops(h.ops, {**CHECKERS, "liveness": _Broken})
    assert r.verdict is Verdict.VALID
    assert list(r.checkers) == [str(a) for a in Anomaly if a.kind.value == "safety"]
    live = r.liveness
    assert live is not None and live.error is not None and "boom" in live.error
    assert all(x.verdict is Verdict.UNKNOWN for x in live.anomalies.values())
    assert any("liveness" in n and "boom" in n for n in r.notes)


def test_without_a_liveness_checker_there_is_no_liveness_section() -> None:
    h = History()
    h.send(0, 0, 7, 0)
    checkers = {name: f for name, f in CHECKERS.items() if name != "liveness"}
    r = check_ops(h.ops, checkers)
    assert r.liveness is None and "liveness" not in r.to_json()
