"""The composer: isolation of a failing checker, verdict merging, pairing, caps, stats."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar

import pytest

from checkers import CHECKERS, Checker, check_history, check_ops
from checkers.core import EVERY, RECORDS_SHOWN, WITNESS_CAP, Kept, Routed, op_json
from checkers.synthetic import Shape, write_history
from harness.contract.glossary import LIVENESS, SAFETY, Anomaly
from harness.contract.history import F, HistoryError, Op, OpType
from harness.contract.reader import Line, iter_history
from harness.contract.results import CheckResult
from harness.contract.verdict import Verdict
from tests.checkers.hist import History, counts


class Exploding:
    """A checker that breaks on its third op."""

    anomalies: ClassVar[tuple[Anomaly, ...]] = (Anomaly.DUPLICATE,)
    wants: ClassVar[dict[str, frozenset[OpType]]] = {F.SEND: EVERY}

    def __init__(self) -> None:
        self.seen = 0

    def observe(self, op: Line, invoke: Line | None) -> None:
        self.seen += 1
        if self.seen == 3:
            raise KeyError("boom")

    def result(self) -> Mapping[Anomaly, CheckResult]:
        return {Anomaly.DUPLICATE: CheckResult(Verdict.VALID)}


class ExplodingAtTheEnd(Exploding):
    def observe(self, op: Line, invoke: Line | None) -> None:
        pass

    def result(self) -> Mapping[Anomaly, CheckResult]:
        raise ZeroDivisionError("division by zero")


def _lossy() -> History:
    h = History()
    h.send(0, 1, 7, 0)
    h.send(0, 1, 8, 1)
    h.final_read(9, 1, [[0, 7]])
    return h


def test_registry_decides_every_anomaly_exactly_once() -> None:
    decided = [a for factory in CHECKERS.values() for a in factory().anomalies]
    assert sorted(decided) == sorted(Anomaly)


def test_every_anomaly_is_reported_even_when_valid() -> None:
    r = _lossy().check()
    assert list(r.checkers) == [str(a) for a in SAFETY]
    assert r.liveness is not None and list(r.liveness.anomalies) == [str(a) for a in LIVENESS]


def test_a_checker_raising_is_unknown_and_the_others_still_run() -> None:
    checkers: dict[str, Callable[[], Checker]] = {"loss": CHECKERS["loss"], "exploding": Exploding}
    r = check_ops(_lossy().ops, checkers)
    dup = r.checkers["duplicate"]
    assert dup.verdict is Verdict.UNKNOWN
    assert dup.error is not None and "KeyError" in dup.error and "op 2" in dup.error
    assert r.checkers["lost-write"].count == 1  # the loss checker carried on
    assert r.verdict is Verdict.INVALID  # invalid beats unknown
    assert r.to_json()["checkers"]["duplicate"]["error"] == dup.error


def test_a_checker_raising_in_result_is_unknown() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.final_read(9, 1, [[0, 7]])
    checkers = {"loss": CHECKERS["loss"], "late": ExplodingAtTheEnd}
    r = check_ops(h.ops, checkers)
    assert r.checkers["duplicate"].verdict is Verdict.UNKNOWN
    assert "ZeroDivisionError" in str(r.checkers["duplicate"].error)
    assert r.verdict is Verdict.UNKNOWN  # unknown beats valid


def test_an_empty_history_checks_nothing_and_is_unknown() -> None:
    r = check_ops([])
    assert r.verdict is Verdict.UNKNOWN
    assert any("nothing was checked" in n for n in r.notes)


def test_a_completion_without_its_invoke_is_malformed() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.add(0, "ok", "send", {"key": 1, "value": 8, "offset": 1})
    with pytest.raises(HistoryError) as e:
        check_ops(h.ops)
    assert e.value.line_no == 3
    assert "completes nothing" in e.value.problem


def test_an_invoke_before_the_last_completed_is_malformed() -> None:
    h = History()
    h.add(0, "invoke", "send", {"key": 1, "value": 7})
    h.add(0, "invoke", "poll", {"key": 1, "from": 0})
    with pytest.raises(HistoryError) as e:
        check_ops(h.ops)
    assert e.value.line_no == 2


def test_a_completion_of_another_f_is_malformed() -> None:
    h = History()
    h.add(0, "invoke", "send", {"key": 1, "value": 7})
    h.add(0, "ok", "poll", {"key": 1, "from": 0, "records": [], "hw": 0})
    with pytest.raises(HistoryError, match="completes a send"):
        check_ops(h.ops)


def test_unfinished_invokes_are_noted_and_indeterminate() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.add(1, "invoke", "send", {"key": 1, "value": 8})
    h.final_read(9, 1, [[0, 7], [1, 8]])
    r = h.check()
    assert r.verdict is Verdict.VALID
    assert any("never completed" in n for n in r.notes)
    assert r.stats["rates"]["send"]["pending"] == 1


def test_witnesses_are_capped_but_all_are_counted() -> None:
    h = History()
    n = WITNESS_CAP + 7
    for v in range(n):
        h.send(0, 1, v, v)
    h.final_read(9, 1, [])
    lost = h.check().checkers["lost-write"]
    assert lost.count == n
    assert len(lost.witnesses) == WITNESS_CAP
    assert [w.value for w in lost.witnesses] == list(range(WITNESS_CAP))


def test_long_records_in_witness_ops_are_excerpted_around_the_offset() -> None:
    h = History()
    records = [[o, o + 1000] for o in range(200)]
    read = h.final_read(9, 1, records)
    d = op_json(Line.from_op(read), focus=(150,))
    shown = d["value"]["records"]
    assert len(shown) <= RECORDS_SHOWN
    assert [150, 1150] in shown
    assert d["value"]["records_elided"] == 200 - len(shown)
    assert read.value["records"] == records  # the op itself is untouched
    assert op_json(Line.from_op(h.ops[0])) == h.ops[0].to_json()


def test_stats_latency_availability_and_rates() -> None:
    h = History()
    h.add(0, "invoke", "send", {"key": 1, "value": 1})
    h.add(0, "ok", "send", {"key": 1, "value": 1, "offset": 0}, dt_ms=10)  # t=11 ms
    h.add(0, "invoke", "send", {"key": 1, "value": 2}, dt_ms=1)
    h.add(0, "info", "send", {"key": 1, "value": 2}, dt_ms=1000)  # t=1013 ms
    h.add(1, "invoke", "send", {"key": 1, "value": 3}, dt_ms=1)
    h.add(1, "ok", "send", {"key": 1, "value": 3, "offset": 1}, dt_ms=30)  # t=1044 ms
    h.add(2, "invoke", "poll", {"key": 2, "from": 0}, dt_ms=1)
    h.add(2, "fail", "poll", {"key": 2, "from": 0}, dt_ms=5)  # t=1050 ms
    h.final_read(9, 1, [[0, 1], [1, 3]])
    s = h.check().stats
    assert s["keys"] == [1, 2]
    assert s["rates"]["send"] == {"ok": 2, "fail": 0, "info": 1, "pending": 0}
    lat = s["latency"]["send"]
    assert (lat["count"], lat["p50_ms"], lat["max_ms"]) == (2, 10.0, 30.0)
    av = s["availability"]
    # span: first invoke at 1 ms, last send/poll completion at 1050 ms
    assert av["1"]["longest_gap_s"] == pytest.approx(1.033, abs=0.002)
    assert av["1"]["ok"] == 2 and av["1"]["info"] == 1
    assert av["2"]["longest_gap_s"] == pytest.approx(1.049, abs=0.002)
    assert av["2"]["fail"] == 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_synthetic_correct_log_is_valid(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "history.jsonl"
    n = write_history(path, Shape(ops=6_000, keys=3, producers=8, consumers=4), seed=seed)
    r = check_history(path)
    assert r.verdict is Verdict.VALID, counts(r)
    assert r.stats["ops"] == n
    assert 6_000 <= n <= 6_001


def test_a_synthetic_log_that_lost_an_acked_write_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    write_history(path, Shape(ops=3_000, keys=2, producers=6, consumers=3), seed=4)
    ops = list(iter_history(path))
    acked = next(op for op in reversed(ops) if op.f == F.SEND and op.type == "ok")
    k, v = acked.value["key"], acked.value["value"]
    broken = []
    for op in ops:
        if op.f == F.FINAL_READ and op.type == "ok" and op.value["key"] == k:
            records = [r for r in op.value["records"] if r[1] != v]
            op = Op(op.index, op.time, op.process, op.type, op.f, {**op.value, "records": records})
        broken.append(op)
    r = check_ops(broken)
    assert r.checkers["lost-write"].count == 1
    assert r.checkers["lost-write"].witnesses[0].value == v


def test_a_checkers_handlers_cover_exactly_what_it_wants() -> None:
    for name, factory in CHECKERS.items():
        c = factory()
        if not isinstance(c, Routed):
            continue
        routed = {(t, f) for t, fs in c.handlers().items() for f in fs}
        wanted = {(t, str(f)) for f, ts in c.wants.items() for t in ts}
        assert routed == wanted, name


@pytest.mark.parametrize(
    ("records", "dense"),
    [
        ([], True),
        ([[0, 5], [1, 6], [2, 7]], True),
        ([[0, 5], [2, 6]], False),
        ([[1, 5], [2, 6]], False),
        ([[0, 2**63 + 1], [1, 6]], True),  # beyond 64 bits: kept as plain lists
        ([[0, 5], [2**63 + 1, 6]], False),
    ],
)
def test_a_kept_read_knows_whether_it_is_dense_and_gives_the_op_back_whole(
    records: list[list[int]], dense: bool
) -> None:
    value = {"key": 1, "records": records, "hw": 2, "complete": True}
    op = Line.from_op(Op(3, 0, 9, OpType.OK, F.FINAL_READ, value))
    kept = Kept.of(op)
    assert kept.dense is dense
    assert list(zip(kept.offsets, kept.values, strict=True)) == [tuple(r) for r in records]
    assert kept.op.to_json() == op.to_json()
