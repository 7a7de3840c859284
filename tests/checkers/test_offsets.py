"""inconsistent-offsets and duplicate on tiny hand-written histories."""

from __future__ import annotations

import pytest

from checkers import offsets
from harness.contract.verdict import Verdict
from tests.checkers.hist import History, counts, indexes


def test_one_offset_two_values_across_ack_and_poll() -> None:
    h = History()
    ack = h.send(0, 1, 7, 0)
    poll = h.poll(5, 1, 0, [[0, 9]], hw=1)
    r = h.check()
    assert r.checkers["inconsistent-offsets"].count == 1
    w = r.checkers["inconsistent-offsets"].witnesses[0]
    assert (w.key, w.offset) == (1, 0)
    assert w.details["values"] == [7, 9]
    assert indexes(r, "inconsistent-offsets") == [ack.index, poll.index]
    assert r.verdict is Verdict.INVALID


def test_one_conflict_seen_many_times_counts_once() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    for p in range(5, 9):
        h.poll(p, 1, 0, [[0, 9]], hw=1)
    h.final_read(20, 1, [[0, 9]])
    r = h.check()
    assert r.checkers["inconsistent-offsets"].count == 1
    assert r.checkers["lost-write"].count == 1  # 7 is gone as well


def test_agreeing_observations_are_consistent() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.send(0, 1, 8, 1)
    h.poll(5, 1, 0, [[0, 7], [1, 8]], hw=2)
    h.final_read(9, 1, [[0, 7], [1, 8]])
    h.dump(1, "n1", [[0, 7], [1, 8]], hw=2)
    assert h.check().verdict is Verdict.VALID


def test_dump_records_above_its_hw_are_uncommitted_and_ignored() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.final_read(9, 1, [[0, 7]])
    h.dump(1, "n1", [[0, 7], [1, 100]], hw=1)
    h.dump(1, "n2", [[0, 7], [1, 200], [2, 7]], hw=1)  # 7 again above the HW: not a duplicate
    r = h.check()
    assert r.verdict is Verdict.VALID, counts(r)


def test_dump_record_below_its_hw_disagreeing_with_final_read_is_inconsistent() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    ack = h.send(0, 1, 8, 1)
    h.final_read(9, 1, [[0, 7], [1, 8]])
    dump = h.dump(1, "n3", [[0, 7], [1, 300]], hw=2)
    r = h.check()
    assert counts(r) == {"inconsistent-offsets": 1}
    assert indexes(r, "inconsistent-offsets") == [ack.index, dump.index]
    assert "replica dump of n3" in r.checkers["inconsistent-offsets"].witnesses[0].message


def test_one_value_at_two_offsets_of_the_final_read_is_a_duplicate() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.send(1, 1, 8, type="info")  # the producer retried it internally: written twice
    h.send(0, 1, 9, 3)
    fr = h.final_read(9, 1, [[0, 7], [1, 8], [2, 8], [3, 9]])
    r = h.check()
    assert counts(r) == {"duplicate": 1}
    w = r.checkers["duplicate"].witnesses[0]
    assert (w.key, w.value) == (1, 8)
    assert w.details["offsets"] == [1, 2]
    assert indexes(r, "duplicate") == [fr.index, fr.index]


def test_duplicate_across_ack_and_poll() -> None:
    h = History()
    ack = h.send(0, 1, 7, 0)
    h.send(0, 1, 8, 1)
    poll = h.poll(5, 1, 1, [[1, 8], [2, 7]], hw=3)
    r = h.check()
    assert r.checkers["duplicate"].count == 1
    assert indexes(r, "duplicate") == [ack.index, poll.index]


def test_same_value_in_two_keys_is_not_a_duplicate_of_either() -> None:
    h = History()
    h.poll(5, 1, 0, [[0, 7]], hw=1)
    h.poll(5, 2, 0, [[0, 7]], hw=1)
    assert h.check().checkers["duplicate"].count == 0


def _whole_logs(n: int, bad_dump: int | None, new_in_read: int | None) -> History:
    """Sends acked at offsets 0..n-1 (one left unacked when ``new_in_read``), then a final
    read and three dumps of the whole log; one dump may hold another value at an offset."""
    h = History()
    log = [[o, 1000 + o] for o in range(n)]
    for o, v in log:
        if o != new_in_read:
            h.send(o % 7, 1, v, o)
    h.final_read(50, 1, log)
    for node in ("n1", "n2", "n3"):
        records = [[o, v + 1] if node == "n2" and o == bad_dump else [o, v] for o, v in log]
        h.dump(1, node, records, hw=n)
    return h


@pytest.mark.parametrize("bad_dump", [None, 0, 299])
@pytest.mark.parametrize("new_in_read", [None, 5])
def test_whole_logs_are_judged_as_record_by_record(
    bad_dump: int | None, new_in_read: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = _whole_logs(300, bad_dump, new_in_read)  # long reads: compared in C against `agreed`
    fast = h.check()
    monkeypatch.setattr(offsets, "_LONG", 1 << 30)  # every read record by record
    slow = h.check()
    assert counts(fast) == counts(slow)
    assert fast.checkers["inconsistent-offsets"].count == (bad_dump is not None)
    for name in ("inconsistent-offsets", "duplicate"):
        assert fast.checkers[name].to_json() == slow.checkers[name].to_json()
